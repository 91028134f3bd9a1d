package server_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/protocol/bson"
)

// The Accept header the JS v2, Dart and Rust SDKs send.
const sdkAccept = "application/vnd.powersync.bson-stream;q=0.9,application/x-ndjson;q=0.8"

// readBSONLines reads a BSON sync stream: each document becomes its JSON
// text, so the same expectations apply as to NDJSON.
func readBSONLines(t *testing.T, resp *http.Response, r io.Reader) *lines {
	l := &lines{resp: resp, ch: make(chan string, 1000)}
	go func() {
		defer close(l.ch)
		br := bson.NewReader(r, 0)
		for {
			doc, err := br.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					l.ch <- "read error: " + err.Error()
				}
				return
			}
			j, err := bson.ToJSON(nil, doc)
			if err != nil {
				l.ch <- "decode error: " + err.Error()
				return
			}
			l.ch <- string(j)
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return l
}

// untilComplete reads lines up to and including checkpoint_complete,
// skipping keepalives.
func (l *lines) untilComplete(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		s := l.next(t)
		if strings.HasPrefix(s, `{"token_expires_in":`) {
			continue
		}
		out = append(out, s)
		if strings.HasPrefix(s, `{"checkpoint_complete":`) {
			return out
		}
	}
}

// A BSON stream carries exactly the lines of the NDJSON stream: the same
// session (initial sync over three priorities, a diff, a removal, a write
// checkpoint) over both, compared line by line after decoding.
func TestBSONStreamEqualsNDJSON(t *testing.T) {
	rules := memRules{static: []syncrules.BucketDescription{
		{Bucket: `by_user["{user}"]`, Priority: 3, Default: []int{0}},
		{Bucket: `high[]`, Priority: 0, Default: []int{1}},
		{Bucket: `mid[]`, Priority: 1, Default: []int{1}},
	}}
	session := func(bsonStream bool) [][]string {
		h := newHarness(t, rules, nil)
		h.store.put(`high[]`, "lists", "h1", `{"id":"h1","name":"caf\u00e9 \"q\" \\ \n ✓"}`)
		h.store.put(`mid[]`, "lists", "m1", `{"id":"m1","n":12345678901,"f":1.5}`)
		for i := range 30 {
			h.store.put(`by_user["u1"]`, "todos", "t"+string(rune('a'+i%26))+string(rune('0'+i/26)), `{"v":"`+strings.Repeat("x", i)+`"}`)
		}
		h.store.commit()
		var l *lines
		if bsonStream {
			resp := h.post("/sync/stream", "u1", `{"client_id":"c1","raw_data":true,"binary_data":true}`, "Accept", sdkAccept)
			if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.powersync.bson-stream" {
				t.Fatalf("Content-Type %q, want exactly application/vnd.powersync.bson-stream", ct)
			}
			l = readBSONLines(t, resp, resp.Body)
		} else {
			resp := h.post("/sync/stream", "u1", `{"client_id":"c1","raw_data":true}`, "Accept", "application/x-ndjson")
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
				t.Fatalf("Content-Type %q", ct)
			}
			l = readLines(t, resp, resp.Body)
		}
		var out [][]string
		out = append(out, l.untilComplete(t))
		h.store.remove(`by_user["u1"]`, "todos", "ta0")
		h.store.put(`high[]`, "lists", "h2", `{}`)
		h.store.commit()
		out = append(out, l.untilComplete(t))
		if status, _ := h.get("/write-checkpoint2.json?client_id=c1", "u1"); status != 200 {
			t.Fatalf("write-checkpoint2: %d", status)
		}
		h.store.commit()
		out = append(out, l.untilComplete(t))
		return out
	}
	ndjson, bsonLines := session(false), session(true)
	if len(ndjson[0]) < 5 {
		t.Fatalf("initial sync too short to be a test: %v", ndjson[0])
	}
	for i := range ndjson {
		if len(ndjson[i]) != len(bsonLines[i]) {
			t.Fatalf("checkpoint %d: %d NDJSON lines, %d BSON lines\n%v\n%v", i, len(ndjson[i]), len(bsonLines[i]), ndjson[i], bsonLines[i])
		}
		for j := range ndjson[i] {
			if ndjson[i][j] != bsonLines[i][j] {
				t.Fatalf("checkpoint %d line %d:\nNDJSON %s\n  BSON %s", i, j, ndjson[i][j], bsonLines[i][j])
			}
		}
	}
}

// Content negotiation: BSON only when Accept ranks it above NDJSON.
func TestContentNegotiation(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	for _, tc := range []struct {
		accept string
		want   string
	}{
		{"", "application/x-ndjson"},
		{"*/*", "application/x-ndjson"},
		{"application/x-ndjson", "application/x-ndjson"},
		{sdkAccept, "application/vnd.powersync.bson-stream"},
		{"application/vnd.powersync.bson-stream", "application/vnd.powersync.bson-stream"},
		{"application/vnd.powersync.bson-stream;q=0.5, application/x-ndjson", "application/x-ndjson"},
		{"application/vnd.powersync.bson-stream;q=0.8,application/x-ndjson;q=0.8", "application/x-ndjson"}, // tie → NDJSON
		{"application/vnd.powersync.bson-stream;q=0, */*", "application/x-ndjson"},
		{"application/*;q=0.9, application/x-ndjson;q=0.1", "application/vnd.powersync.bson-stream"},
		{"APPLICATION/VND.POWERSYNC.BSON-STREAM", "application/vnd.powersync.bson-stream"},
		{"application/vnd.powersync.bson-stream;q=bogus", "application/x-ndjson"},
		{"text/html", "application/x-ndjson"},
	} {
		resp := h.post("/sync/stream", "u1", `{}`, "Accept", tc.accept)
		resp.Body.Close()
		if got := resp.Header.Get("Content-Type"); got != tc.want {
			t.Errorf("Accept %q: Content-Type %q, want %q", tc.accept, got, tc.want)
		}
	}
}

func TestBSONWithGzip(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.put(`global[]`, "lists", "g1", `{"id":"g1"}`)
	h.store.commit()
	resp := h.post("/sync/stream", "u1", `{}`, "Accept", sdkAccept, "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "application/vnd.powersync.bson-stream" {
		t.Fatalf("headers %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	l := readBSONLines(t, resp, zr)
	// Each document is flushed: they arrive while the stream stays open.
	l.next(t)
	l.expect(t,
		`{"data":{"bucket":"global[]","after":"0","next_after":"1","has_more":false,"data":[`+op(1, "PUT", "lists", "g1", `{"id":"g1"}`)+`]}}`,
		`{"checkpoint_complete":{"last_op_id":"1"}}`)
}
