package rsocket_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/protocol/rsocket"
)

// h builds bytes from hex groups and ASCII in single quotes: h(`0001 'ab'`).
func h(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \n\t|")
		if s == "" {
			break
		}
		if s[0] == '\'' {
			end := strings.IndexByte(s[1:], '\'') + 1
			out = append(out, s[1:end]...)
			s = s[end+1:]
			continue
		}
		end := strings.IndexAny(s, " \n\t|'")
		if end < 0 {
			end = len(s)
		}
		b, err := hex.DecodeString(s[:end])
		if err != nil {
			t.Fatalf("bad hex %q: %v", s[:end], err)
		}
		out = append(out, b...)
		s = s[end:]
	}
	return out
}

// Goldens worked out by hand from the RSocket 1.0 specification: a header
// is the 31-bit stream id, then 6 bits of type and 10 bits of flags
// (I=0x200, M=0x100, then per type F/R=0x80, C/L=0x40, N=0x20).
var goldens = []struct {
	name  string
	hex   string
	frame rsocket.Frame
}{
	{"SETUP as @powersync/web sends it",
		`00000000 0500 | 0001 0000 | 00004e20 | 00015f90 | 10 'application/json' | 10 'application/json' | 000013 '{"token":"Token x"}'`,
		rsocket.Frame{Type: rsocket.TypeSetup, Flags: rsocket.FlagMetadata, MajorVersion: 1, KeepaliveMS: 20000, LifetimeMS: 90000,
			MetadataMIME: "application/json", DataMIME: "application/json", Metadata: []byte(`{"token":"Token x"}`), Data: []byte{}}},
	{"SETUP with a resume token and data",
		`00000000 0480 | 0001 0000 | 000003e8 | 00007530 | 0002 abcd | 10 'application/bson' | 00 | '{}'`,
		rsocket.Frame{Type: rsocket.TypeSetup, Flags: rsocket.FlagResume, MajorVersion: 1, KeepaliveMS: 1000, LifetimeMS: 30000,
			ResumeToken: []byte{0xab, 0xcd}, MetadataMIME: "application/bson", Data: []byte("{}")}},
	{"REQUEST_STREAM",
		`00000001 1900 | 0000000a | 000017 '{"path":"/sync/stream"}' | '{}'`,
		rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestStream, Flags: rsocket.FlagMetadata, N: 10,
			Metadata: []byte(`{"path":"/sync/stream"}`), Data: []byte("{}")}},
	{"REQUEST_N", `00000001 2000 | 0000000a`,
		rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestN, N: 10}},
	{"PAYLOAD next", `00000001 2820 | 'ab'`,
		rsocket.Frame{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagNext, Data: []byte("ab")}},
	{"PAYLOAD complete", `00000001 2840`,
		rsocket.Frame{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagComplete, Data: []byte{}}},
	{"PAYLOAD with empty metadata", `00000003 2920 | 000000 | 'x'`,
		rsocket.Frame{StreamID: 3, Type: rsocket.TypePayload, Flags: rsocket.FlagNext | rsocket.FlagMetadata, Metadata: []byte{}, Data: []byte("x")}},
	{"ERROR", `00000001 2c00 | 00000201 | '[PSYNC_S2103] JWT has expired'`,
		rsocket.Frame{StreamID: 1, Type: rsocket.TypeError, Code: rsocket.ErrApplicationError, Data: []byte("[PSYNC_S2103] JWT has expired")}},
	{"connection ERROR", `00000000 2c00 | 00000003 | 'no'`,
		rsocket.Frame{Type: rsocket.TypeError, Code: rsocket.ErrRejectedSetup, Data: []byte("no")}},
	{"KEEPALIVE respond", `00000000 0c80 | 0000000000000000`,
		rsocket.Frame{Type: rsocket.TypeKeepalive, Flags: rsocket.FlagRespond, Data: []byte{}}},
	{"KEEPALIVE answer with data", `00000000 0c00 | 0000000000000007 | 'd'`,
		rsocket.Frame{Type: rsocket.TypeKeepalive, Position: 7, Data: []byte("d")}},
	{"CANCEL", `00000005 2400`,
		rsocket.Frame{StreamID: 5, Type: rsocket.TypeCancel}},
	{"LEASE", `00000000 0900 | 00000064 | 00000002 | 'm'`,
		rsocket.Frame{Type: rsocket.TypeLease, Flags: rsocket.FlagMetadata, TTL: 100, N: 2, Metadata: []byte("m")}},
	{"METADATA_PUSH", `00000000 3100 | 'meta'`,
		rsocket.Frame{Type: rsocket.TypeMetadataPush, Flags: rsocket.FlagMetadata, Metadata: []byte("meta")}},
	{"EXT", `00000001 fe00 | 00000009 | 'd'`,
		rsocket.Frame{StreamID: 1, Type: rsocket.TypeExt, Flags: rsocket.FlagIgnore, ExtType: 9, Data: []byte("d")}},
}

func TestGoldenFrames(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			b := h(t, g.hex)
			f, err := rsocket.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !equalFrames(f, g.frame) {
				t.Fatalf("Decode\n got %+v\nwant %+v", f, g.frame)
			}
			enc, err := g.frame.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, b) {
				t.Fatalf("Append\n got %x\nwant %x", enc, b)
			}
		})
	}
}

// equalFrames compares frames treating nil and empty Data alike (Decode
// returns the empty rest of the buffer).
func equalFrames(a, b rsocket.Frame) bool {
	if len(a.Data) == 0 && len(b.Data) == 0 {
		a.Data, b.Data = nil, nil
	}
	if len(a.ResumeToken) == 0 && len(b.ResumeToken) == 0 {
		a.ResumeToken, b.ResumeToken = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func TestHelpersMatchAppend(t *testing.T) {
	for _, tc := range []struct {
		got  []byte
		want rsocket.Frame
	}{
		{rsocket.AppendError(nil, 1, rsocket.ErrApplicationError, "boom"), rsocket.Frame{StreamID: 1, Type: rsocket.TypeError, Code: rsocket.ErrApplicationError, Data: []byte("boom")}},
		{rsocket.AppendKeepalive(nil, true, 3, []byte("x")), rsocket.Frame{Type: rsocket.TypeKeepalive, Flags: rsocket.FlagRespond, Position: 3, Data: []byte("x")}},
		{rsocket.AppendRequestN(nil, 7, 1), rsocket.Frame{StreamID: 7, Type: rsocket.TypeRequestN, N: 1}},
		{rsocket.AppendCancel(nil, 7), rsocket.Frame{StreamID: 7, Type: rsocket.TypeCancel}},
		{rsocket.AppendComplete(nil, 7), rsocket.Frame{StreamID: 7, Type: rsocket.TypePayload, Flags: rsocket.FlagComplete}},
		{append(rsocket.AppendHeader(nil, 9, rsocket.TypePayload, rsocket.FlagNext), "doc"...), rsocket.Frame{StreamID: 9, Type: rsocket.TypePayload, Flags: rsocket.FlagNext, Data: []byte("doc")}},
	} {
		want, err := tc.want.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tc.got, want) {
			t.Errorf("%v: helper %x, Append %x", tc.want.Type, tc.got, want)
		}
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	for _, tc := range []struct{ name, hex string }{
		{"empty", ``},
		{"short header", `0000000104`},
		{"SETUP on a stream", `00000001 0400 0001 0000 00004e20 00015f90 00 00`},
		{"SETUP truncated", `00000000 0400 0001 0000 00004e20`},
		{"SETUP keepalive 0", `00000000 0400 0001 0000 00000000 00015f90 00 00`},
		{"SETUP lifetime 0", `00000000 0400 0001 0000 00004e20 80000000 00 00`},
		{"SETUP MIME length lies", `00000000 0400 0001 0000 00004e20 00015f90 10 'app'`},
		{"SETUP MIME not ASCII", `00000000 0400 0001 0000 00004e20 00015f90 01 ff 00`},
		{"SETUP resume token lies", `00000000 0480 0001 0000 00004e20 00015f90 0010 ab`},
		{"SETUP metadata length lies", `00000000 0500 0001 0000 00004e20 00015f90 00 00 0000ff 'x'`},
		{"SETUP metadata length cut", `00000000 0500 0001 0000 00004e20 00015f90 00 00 00`},
		{"REQUEST_STREAM on stream 0", `00000000 1800 0000000a`},
		{"REQUEST_STREAM initial n 0", `00000001 1800 00000000`},
		{"REQUEST_STREAM truncated n", `00000001 1800 0000`},
		{"REQUEST_N 0", `00000001 2000 00000000`},
		{"REQUEST_N with trailing bytes", `00000001 2000 00000001 00`},
		{"REQUEST_N truncated", `00000001 2000 0001`},
		{"CANCEL with a body", `00000001 2400 00`},
		{"PAYLOAD on stream 0", `00000000 2820 'x'`},
		{"PAYLOAD metadata lies", `00000001 2920 000009 'x'`},
		{"ERROR truncated code", `00000001 2c00 0002`},
		{"KEEPALIVE on a stream", `00000001 0c80 0000000000000000`},
		{"KEEPALIVE truncated", `00000000 0c80 00000000`},
		{"LEASE ttl 0", `00000000 0800 00000000 00000001`},
		{"LEASE trailing without metadata", `00000000 0800 00000001 00000001 00`},
		{"METADATA_PUSH without the flag", `00000000 3000 'm'`},
		{"METADATA_PUSH on a stream", `00000001 3100 'm'`},
	} {
		_, err := rsocket.Decode(h(t, tc.hex))
		var fe *rsocket.FrameError
		if !errors.As(err, &fe) {
			t.Errorf("%s: err = %v, want a FrameError", tc.name, err)
		}
	}
	if _, err := rsocket.Decode(make([]byte, rsocket.MaxFrameSize+1)); !errors.Is(err, rsocket.ErrFrameTooLarge) {
		t.Errorf("oversized frame: %v", err)
	}
}

func TestUnknownTypeKeepsHeader(t *testing.T) {
	f, err := rsocket.Decode(h(t, `00000001 7a00 'zz'`)) // type 0x1e, Ignore flag
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != 0x1e || f.Flags&rsocket.FlagIgnore == 0 || string(f.Data) != "zz" {
		t.Fatalf("got %+v", f)
	}
}

func TestAppendRejectsOutOfRange(t *testing.T) {
	for _, f := range []rsocket.Frame{
		{Type: rsocket.TypePayload, StreamID: 1 << 31},
		{Type: rsocket.TypeSetup, MetadataMIME: strings.Repeat("a", 256)},
		{Type: rsocket.TypeSetup, Flags: rsocket.FlagResume, ResumeToken: make([]byte, 1<<16)},
		{Type: rsocket.TypePayload, StreamID: 1, Metadata: make([]byte, 1<<24)},
		{Type: rsocket.TypePayload, StreamID: 1, Data: make([]byte, rsocket.MaxFrameSize)},
	} {
		out, err := f.Append([]byte("keep"))
		if err == nil {
			t.Errorf("%v accepted", f.Type)
		}
		if string(out) != "keep" {
			t.Errorf("%v: dst changed on error", f.Type)
		}
	}
}
