package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/protocol"
)

// firstCheckpoint reads a stream up to its first checkpoint_complete and
// returns every line, decoded into generic JSON values.
func firstCheckpoint(t *testing.T, st *client.Stream) []any {
	t.Helper()
	var lines []any
	for {
		raw, err := st.NextRaw()
		if err != nil {
			t.Fatalf("after %d lines: %v", len(lines), err)
		}
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", len(lines), err, raw)
		}
		if _, ok := v["token_expires_in"]; ok {
			continue // a keepalive may fall anywhere
		}
		lines = append(lines, v)
		if _, ok := v["checkpoint_complete"]; ok {
			return lines
		}
	}
}

// TestStreamTransports: every transport delivers the same lines as NDJSON
// for the same request, and says which encoding the service answered.
func TestStreamTransports(t *testing.T) {
	d := startDev(t)
	creds := client.Credentials{Endpoint: d.endpoint, Token: d.token(t, "test-user", 3600)}
	req := func() *protocol.StreamingSyncRequest {
		return &protocol.StreamingSyncRequest{RawData: true, IncludeChecksum: true, ClientID: "transport-test",
			Parameters: json.RawMessage(`{}`)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	want := map[client.Transport]string{
		client.TransportHTTP:      "ndjson",
		client.TransportBSON:      "bson",
		client.TransportWebSocket: "bson",
	}
	var base []any
	for _, tr := range client.Transports {
		t.Run(string(tr), func(t *testing.T) {
			st, err := client.OpenStreamWith(ctx, creds, req(), client.StreamOptions{Transport: tr})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if st.Encoding() != want[tr] {
				t.Errorf("encoding %q, want %q", st.Encoding(), want[tr])
			}
			lines := firstCheckpoint(t, st)
			if st.Bytes() <= 0 {
				t.Errorf("Bytes() = %d after %d lines", st.Bytes(), len(lines))
			}
			if tr == client.TransportHTTP {
				base = lines
				return
			}
			if !reflect.DeepEqual(lines, base) {
				a, _ := json.Marshal(lines)
				b, _ := json.Marshal(base)
				t.Errorf("lines over %s differ from NDJSON:\n%s\nNDJSON:\n%s", tr, a, b)
			}
		})
	}

	t.Run("bad token", func(t *testing.T) {
		for _, tr := range client.Transports {
			bad := creds
			bad.Token = creds.Token[:len(creds.Token)-4] + "AAAA"
			st, err := client.OpenStreamWith(ctx, bad, req(), client.StreamOptions{Transport: tr})
			if err == nil {
				st.Close()
				t.Fatalf("%s: a token with a broken signature opened a stream", tr)
			}
			if !client.IsUnauthorized(err) || !strings.HasPrefix(client.ErrorCode(err), "PSYNC_S21") {
				t.Errorf("%s: %v (code %q), want an authorization error", tr, err, client.ErrorCode(err))
			}
		}
	})
}

// TestStreamHostileBSON: a service that answers with the BSON content type
// but sends broken documents gives an error, never a line or a panic.
func TestStreamHostileBSON(t *testing.T) {
	cases := map[string][]byte{
		"length below minimum":   {1, 0, 0, 0},
		"length past the end":    {100, 0, 0, 0, 2, 'a', 0},
		"negative length":        {0xff, 0xff, 0xff, 0xff, 0},
		"no terminating zero":    {5, 0, 0, 0, 1},
		"truncated prefix":       {5, 0},
		"element past the end":   {12, 0, 0, 0, 2, 'a', 0, 50, 0, 0, 0, 0},
		"unknown element type":   {8, 0, 0, 0, 0x30, 'a', 0, 0},
		"over the 16 MiB limit":  {0, 0, 0, 2, 0},
		"string without its NUL": {14, 0, 0, 0, 2, 'a', 0, 2, 0, 0, 0, 'x', 'y', 0},
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/vnd.powersync.bson-stream")
				_, _ = w.Write(body)
			}))
			defer srv.Close()
			st, err := client.OpenStreamWith(context.Background(), client.Credentials{Endpoint: srv.URL, Token: "t"},
				&protocol.StreamingSyncRequest{}, client.StreamOptions{Transport: client.TransportBSON})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			line, err := st.Next()
			if err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("line %+v, error %v; want a decoding error", line, err)
			}
		})
	}
}

// TestWebSocketSlowConsumer: a client that grants one line at a time gets
// the whole initial sync one frame per grant (the client fails the stream
// if the service ever sends beyond its credit), and streams that stop
// consuming neither block other streams nor make the service pile up the
// lines they cannot take: with 20 stalled streams and 10 MB of new lines
// for each, another stream still gets its data, and the live heap grows by
// about what replication and storage alone need (12–15 MB here, the same
// with no stalled stream at all), far from the 200 MB that buffering them
// would take.
func TestWebSocketSlowConsumer(t *testing.T) {
	d := startDev(t)
	insert := func(prefix string, n int) {
		tx, err := d.source.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if _, err := tx.Exec(`INSERT INTO todos (id, list_id, description, completed, owner_id) VALUES (?, 'l1', ?, 0, 'slow-user')`,
				fmt.Sprintf("%s-%05d", prefix, i), strings.Repeat("x", 200)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	// readOps reads st until it has n more ops, then to the next
	// checkpoint_complete.
	readOps := func(st *client.Stream, n int) {
		t.Helper()
		for have, done := 0, false; !done; {
			l, err := st.Next()
			if err != nil {
				t.Fatalf("after %d of %d ops: %v", have, n, err)
			}
			if l.Data != nil {
				have += len(l.Data.Data)
			}
			done = have >= n && l.CheckpointComplete != nil
		}
	}
	insert("first", 2000)
	creds := client.Credentials{Endpoint: d.endpoint, Token: d.token(t, "slow-user", 3600)}
	req := &protocol.StreamingSyncRequest{RawData: true, ClientID: "slow", Parameters: json.RawMessage(`{}`)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	open := func(so client.StreamOptions) *client.Stream {
		t.Helper()
		st, err := client.OpenStreamWith(ctx, creds, req, so)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}

	// A reference stream over NDJSON tells when the service has the rows
	// and how many bytes of lines they make.
	ref := open(client.StreamOptions{})
	readOps(ref, 2000)

	// Credit 1, consumed line by line: the whole initial sync arrives.
	ws := open(client.StreamOptions{Transport: client.TransportWebSocket, Credit: 1})
	readOps(ws, 2000)

	// 20 streams that read their first line and then stop consuming.
	// Twice the service's concurrent data reads (max_data_fetch_concurrency,
	// 10): a stream waiting for credit must not hold one, or the
	// reference stream below would never get its data.
	const stalled = 20
	for range stalled {
		if _, err := open(client.StreamOptions{Transport: client.TransportWebSocket, Credit: 1}).Next(); err != nil {
			t.Fatal(err)
		}
	}
	heapBefore := liveHeap()
	insert("second", 20000)
	before := ref.Bytes()
	readOps(ref, 20000)
	lines := ref.Bytes() - before
	growth := liveHeap() - heapBefore
	t.Logf("%d stalled WebSocket streams, %d bytes of new lines each: live heap grew by %d bytes", stalled, lines, growth)
	if growth > stalled*lines/4 {
		t.Errorf("live heap grew by %d bytes while %d stalled streams had %d bytes of lines each to receive", growth, stalled, lines)
	}

	// The consuming stream gets the new rows too, still one frame per grant.
	readOps(ws, 20000)
}

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// TestParseTransport: the names test-client's --transport accepts, and
// the refusal of anything else.
func TestParseTransport(t *testing.T) {
	for in, want := range map[string]client.Transport{"": client.TransportHTTP, "http": client.TransportHTTP,
		"bson": client.TransportBSON, "websocket": client.TransportWebSocket} {
		if got, err := client.ParseTransport(in); err != nil || got != want {
			t.Errorf("ParseTransport(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"HTTP", "ws", "rsocket", "http ", "ndjson"} {
		if got, err := client.ParseTransport(in); err == nil {
			t.Errorf("ParseTransport(%q) = %q, want an error", in, got)
		}
	}
	// A WebSocket needs an http(s) or ws(s) endpoint.
	_, err := client.OpenStreamWith(context.Background(), client.Credentials{Endpoint: "ftp://127.0.0.1:1", Token: "t"},
		&protocol.StreamingSyncRequest{}, client.StreamOptions{Transport: client.TransportWebSocket})
	if err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
		t.Errorf("ftp endpoint: %v", err)
	}
	if _, err := client.OpenStreamWith(context.Background(), client.Credentials{Endpoint: "http://127.0.0.1:1", Token: "t"},
		&protocol.StreamingSyncRequest{}, client.StreamOptions{Transport: "carrier-pigeon"}); err == nil {
		t.Errorf("unknown transport opened a stream")
	}
}
