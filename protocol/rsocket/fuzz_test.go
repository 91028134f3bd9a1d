package rsocket_test

import (
	"testing"

	"github.com/powersync-go/powersync/protocol/rsocket"
)

// FuzzDecodeFrame: Decode never panics, and a frame it accepts encodes to
// bytes that decode to the same frame.
func FuzzDecodeFrame(f *testing.F) {
	for _, g := range goldens {
		f.Add(h(f, g.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := rsocket.Decode(b)
		if err != nil {
			return
		}
		enc, err := fr.Append(nil)
		if err != nil {
			t.Fatalf("Append of a decoded frame: %v (%+v)", err, fr)
		}
		again, err := rsocket.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Append(Decode(b))): %v\n in %x\nout %x", err, b, enc)
		}
		if !equalFrames(fr, again) {
			t.Fatalf("frame changed\n%+v\n%+v", fr, again)
		}
		var a rsocket.Assembler
		_, _, _ = a.Add(fr)
	})
}
