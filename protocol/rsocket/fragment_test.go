package rsocket_test

import (
	"testing"

	"github.com/powersync-go/powersync/protocol/rsocket"
)

func TestAssemblerJoinsRequest(t *testing.T) {
	var a rsocket.Assembler
	frames := []rsocket.Frame{
		{StreamID: 1, Type: rsocket.TypeRequestStream, Flags: rsocket.FlagFollows | rsocket.FlagMetadata, N: 10, Metadata: []byte(`{"path":`), Data: []byte{}},
		{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagFollows | rsocket.FlagMetadata, Metadata: []byte(`"/sync/stream"}`), Data: []byte(`{"a":`)},
		{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagNext, Data: []byte(`1}`)},
	}
	for i, f := range frames {
		buf, _ := f.Append(nil)
		g, err := rsocket.Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		out, done, err := a.Add(g)
		clear(buf) // the assembler must have copied what it keeps
		if err != nil {
			t.Fatal(err)
		}
		if done != (i == len(frames)-1) {
			t.Fatalf("fragment %d: done = %v", i, done)
		}
		if done {
			if out.Type != rsocket.TypeRequestStream || out.N != 10 || out.Flags&rsocket.FlagFollows != 0 ||
				string(out.Metadata) != `{"path":"/sync/stream"}` || string(out.Data) != `{"a":1}` {
				t.Fatalf("joined frame %+v (metadata %q data %q)", out, out.Metadata, out.Data)
			}
		}
	}
	// A frame without the flag passes through.
	f := rsocket.Frame{StreamID: 3, Type: rsocket.TypeRequestN, N: 1}
	if out, done, err := a.Add(f); err != nil || !done || out.N != 1 {
		t.Fatalf("plain frame: %+v %v %v", out, done, err)
	}
}

func TestAssemblerLimits(t *testing.T) {
	a := rsocket.Assembler{Max: 10}
	if _, _, err := a.Add(rsocket.Frame{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagFollows, Data: make([]byte, 8)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Add(rsocket.Frame{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagFollows, Data: make([]byte, 8)}); err == nil {
		t.Fatal("fragments over the limit were joined")
	}
	// The stream was dropped; the budget is free again.
	if _, done, err := a.Add(rsocket.Frame{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagNext, Data: make([]byte, 8)}); err != nil || !done {
		t.Fatalf("after the drop: %v %v", done, err)
	}
	// CANCEL drops a partial request.
	if _, _, err := a.Add(rsocket.Frame{StreamID: 5, Type: rsocket.TypeRequestStream, N: 1, Flags: rsocket.FlagFollows, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if out, done, err := a.Add(rsocket.Frame{StreamID: 5, Type: rsocket.TypeCancel}); err != nil || !done || out.Type != rsocket.TypeCancel {
		t.Fatalf("cancel: %+v %v %v", out, done, err)
	}
	// On KEEPALIVE the same bit is the respond flag: not a fragment.
	ka := rsocket.Frame{Type: rsocket.TypeKeepalive, Flags: rsocket.FlagRespond, Data: []byte("x")}
	if out, done, err := a.Add(ka); err != nil || !done || out.Flags != rsocket.FlagRespond {
		t.Fatalf("keepalive: %+v %v %v", out, done, err)
	}
	// Too many streams mid-fragment.
	var b rsocket.Assembler
	var err error
	for i := uint32(1); i < 40 && err == nil; i += 2 {
		_, _, err = b.Add(rsocket.Frame{StreamID: i, Type: rsocket.TypeRequestStream, N: 1, Flags: rsocket.FlagFollows})
	}
	if err == nil {
		t.Fatal("unbounded partial streams")
	}
}
