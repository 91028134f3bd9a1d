package server_test

import (
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstd is used for a client that offers it without gzip; every line is one
// zstd frame, so each arrives at once and the body is one zstd stream.
func TestZstd(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.put(`global[]`, "lists", "g1", `{"id":"g1"}`)
	h.store.commit()
	for _, tc := range []struct{ accept, want string }{
		{"gzip, deflate, br, zstd", "gzip"}, // what Chromium sends: unchanged
		{"zstd;q=0", ""},
		{"br", ""},
	} {
		resp := h.post("/sync/stream", "u1", `{}`, "Accept-Encoding", tc.accept)
		resp.Body.Close()
		if got := resp.Header.Get("Content-Encoding"); got != tc.want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", tc.accept, got, tc.want)
		}
	}
	for _, accept := range []string{"", sdkAccept} {
		resp := h.post("/sync/stream", "u1", `{}`, "Accept-Encoding", "zstd", "Accept", accept)
		if resp.Header.Get("Content-Encoding") != "zstd" {
			t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		zr, err := zstd.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var l *lines
		if accept == "" {
			l = readLines(t, resp, zr)
		} else {
			l = readBSONLines(t, resp, zr)
		}
		t.Cleanup(func() {
			// The reader goroutine ends with the body; only then may the
			// decoder be closed.
			resp.Body.Close()
			for range l.ch {
			}
			zr.Close()
		})
		l.next(t)
		l.expect(t,
			`{"data":{"bucket":"global[]","after":"0","next_after":"1","has_more":false,"data":[`+op(1, "PUT", "lists", "g1", `{"id":"g1"}`)+`]}}`,
			`{"checkpoint_complete":{"last_op_id":"1"}}`)
	}
}
