package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/protocol"
)

func decodeError(t *testing.T, resp *http.Response) *protocol.Error {
	t.Helper()
	defer resp.Body.Close()
	var body protocol.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error == nil {
		t.Fatalf("status %d: body is not a PSYNC error (%v)", resp.StatusCode, err)
	}
	if body.Error.Status != resp.StatusCode {
		t.Errorf("error status %d, HTTP status %d", body.Error.Status, resp.StatusCode)
	}
	return body.Error
}

func TestBadRequests(t *testing.T) {
	h := newHarness(t, defaultRules, func(o *server.Options) { o.MaxRequestBytes = 4096 })
	h.store.commit()
	cases := []struct {
		name, body, details string
	}{
		{"malformed", `{"buckets":[`, "invalid JSON"},
		{"not an object", `[1,2]`, "the body must be a JSON object"},
		{"buckets wrong type", `{"buckets":"x"}`, "buckets must be an array"},
		{"bucket name wrong type", `{"buckets":[{"name":1,"after":"0"}]}`, "buckets.name must be a string"},
		{"after not a number", `{"buckets":[{"name":"a","after":"abc"}]}`, `op id "abc" is not a base-10 64-bit integer`},
		{"negative after", `{"buckets":[{"name":"a","after":"-1"}]}`, "buckets[0].after must not be negative"},
		{"empty bucket name", `{"buckets":[{"name":"","after":"0"}]}`, "buckets[0].name must be a non-empty string"},
		{"parameters array", `{"parameters":[1]}`, "parameters must be an object or null, got an array"},
		{"parameters string", `{"parameters":"x"}`, "parameters must be an object or null, got a string"},
		{"client_id number", `{"client_id":5}`, "client_id must be a string"},
		{"app_metadata value", `{"app_metadata":{"a":1}}`, "app_metadata must be a string"},
		{"stream name", `{"streams":{"subscriptions":[{"stream":""}]}}`, "streams.subscriptions[0].stream must be a non-empty string"},
		{"stream params", `{"streams":{"subscriptions":[{"stream":"s","parameters":true}]}}`, "streams.subscriptions[0].parameters must be an object or null, got a boolean"},
		{"priority", `{"streams":{"subscriptions":[{"stream":"s","override_priority":9}]}}`, "override_priority must be 0..3"},
		{"oversized", `{"buckets":[` + strings.Repeat(`{"name":"b","after":"1"},`, 400) + `{"name":"b","after":"1"}]}`, "request body is too large (limit 4096 bytes)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// No token: validation comes first, as in the reference.
			resp := h.post("/sync/stream", "", c.body)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			e := decodeError(t, resp)
			if e.Code != protocol.CodeValidation || !strings.Contains(e.Details, c.details) {
				t.Fatalf("got %s %q, want PSYNC_S2001 with %q", e.Code, e.Details, c.details)
			}
		})
	}
	// The server still works.
	l := h.stream("u1", `{"parameters":null,"streams":{"include_defaults":true,"subscriptions":[]},"unknown":1}`)
	l.next(t)
}

func TestAuthFailures(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	for _, c := range []struct {
		name, header, code string
	}{
		{"no header", "", protocol.CodeAuthMissingToken},
		{"wrong scheme", "Basic abc", protocol.CodeAuthMissingToken},
		{"bad token", "Token bad", protocol.CodeAuthSignature},
		{"bad bearer", "Bearer bad", protocol.CodeAuthSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", h.ts.URL+"/sync/stream", strings.NewReader(`{}`))
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			resp, err := h.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 401 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if e := decodeError(t, resp); e.Code != c.code || e.Name != "AuthorizationError" {
				t.Fatalf("got %+v, want %s", e, c.code)
			}
		})
	}
	if status, _ := h.get("/write-checkpoint2.json?client_id=x", "bad"); status != 401 {
		t.Errorf("write-checkpoint2 with a bad token: %d", status)
	}
}

func TestConnectionLimit(t *testing.T) {
	h := newHarness(t, defaultRules, func(o *server.Options) { o.Limits.MaxConcurrentConnections = 1 })
	h.store.commit()
	l := h.stream("u1", `{}`)
	l.next(t)
	resp := h.post("/sync/stream", "u2", `{}`)
	if resp.StatusCode != 429 {
		t.Fatalf("second stream: status %d, want 429", resp.StatusCode)
	}
	resp.Body.Close()
	l.resp.Body.Close()
	// The slot frees once the first stream ends.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp := h.post("/sync/stream", "u2", `{}`)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d after the first stream closed", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNoSyncConfig(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	resp := h.post("/sync/stream", "u1", `{}`)
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if e := decodeError(t, resp); e.Code != protocol.CodeNoSyncConfig {
		t.Fatalf("code %s", e.Code)
	}
}

func TestEndpointsAndCORS(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	if status, body := h.get("/probes/readiness", ""); status != 400 || !strings.Contains(body, `"ready":false`) {
		t.Errorf("readiness before the first checkpoint: %d %s", status, body)
	}
	h.store.commit()
	select {
	case <-h.srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the first checkpoint did not make the server ready")
	}
	for _, p := range []string{"/probes/startup", "/probes/liveness", "/probes/readiness"} {
		if status, body := h.get(p, ""); status != 200 || !strings.Contains(body, `"ready":true,"started":true`) {
			t.Errorf("%s: %d %s", p, status, body)
		}
	}
	status, body := h.get("/nope", "")
	if status != 404 || !strings.Contains(body, protocol.CodeNotFound) {
		t.Errorf("unknown route: %d %s", status, body)
	}

	req, _ := http.NewRequest("OPTIONS", h.ts.URL+"/sync/stream", nil)
	req.Header.Set("Origin", "http://localhost:5173")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-user-agent")
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	l := h.stream("u1", `{}`)
	l.next(t)
	if l.resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("stream response without CORS header")
	}
	status, body = h.get("/metrics", "")
	for _, m := range []string{"powersync_sync_connections 1", "powersync_checkpoints_total 1",
		"powersync_sync_operations_sent_total", "powersync_sync_bytes_sent_total", "powersync_replication_lag_seconds"} {
		if status != 200 || !strings.Contains(body, m) {
			t.Errorf("metrics: %d, missing %q", status, m)
		}
	}
}

func TestCheckpointRequestValidation(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	for _, body := range []string{`{"client_id":"c","checkpoint_request_id":"0"}`, `{"client_id":"c","checkpoint_request_id":"x"}`, `[]`, ``} {
		resp := h.post("/sync/checkpoint-request", "u1", body)
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d", body, resp.StatusCode)
		}
		if e := decodeError(t, resp); e.Code != protocol.CodeValidation {
			t.Errorf("%s: code %s", body, e.Code)
		}
	}
}

func TestShutdownDrainsStreams(t *testing.T) {
	store := newMemStore()
	store.commit()
	srv, err := server.New(server.Options{Storage: store, Auth: server.AuthenticatorFunc(testAuth),
		Rules: func(storage.Version) (server.Rules, error) { return defaultRules, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/sync/stream", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Token u1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 1)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	// The stream ends cleanly (the client reconnects elsewhere) and Serve returns.
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestWaitForExpectedSyncConfig(t *testing.T) {
	h := newHarness(t, defaultRules, func(o *server.Options) { o.SyncConfigExpected = true })
	// The 200 arrives before any checkpoint exists: the stream is past
	// its sync-config check and waiting when the first one is committed.
	l := h.stream("u1", `{}`)
	h.store.commit()
	l.next(t)
	l.expect(t, `{"checkpoint_complete":{"last_op_id":"0"}}`)
}

// A client that stops reading is disconnected once a write has waited for
// WriteTimeout, instead of holding its connection (and data) forever.
func TestSlowClientDisconnected(t *testing.T) {
	h := newHarness(t, memRules{static: []syncrules.BucketDescription{{Bucket: "big[]", Priority: 3}}},
		func(o *server.Options) { o.WriteTimeout = 300 * time.Millisecond })
	row := `{"pad":"` + strings.Repeat("x", 2000) + `"}`
	for i := range 20000 {
		h.store.put("big[]", "t", strconv.Itoa(i), row)
	}
	h.store.commit()
	conn, err := net.Dial("tcp", h.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /sync/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Token u1\r\nContent-Length: 2\r\n\r\n{}"); err != nil {
		t.Fatal(err)
	}
	// Read nothing: the socket buffers fill up and the server's write waits.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := h.get("/metrics", "")
		if strings.Contains(body, "powersync_sync_connections_total 1") && strings.Contains(body, "powersync_sync_connections 0") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream of a client that does not read was not ended")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestShuttingDown503(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	resp := h.post("/sync/stream", "u1", `{}`)
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if e := decodeError(t, resp); e.Code != protocol.CodeShuttingDown {
		t.Fatalf("code %s", e.Code)
	}
}

// metricValue returns the value of an unlabelled metric in a /metrics body.
func metricValue(t *testing.T, body, name string) float64 {
	t.Helper()
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metrics without %s:\n%s", name, body)
	return 0
}

func TestLagMetricDoesNotReadSource(t *testing.T) {
	var head atomic.Uint64
	var headCalls atomic.Int64
	h := newHarness(t, defaultRules, func(o *server.Options) {
		o.Head = func(context.Context) (storage.Position, error) {
			headCalls.Add(1)
			return storage.Position(head.Load()), nil
		}
	})
	lag := func() float64 {
		status, body := h.get("/metrics", "")
		if status != 200 {
			t.Fatalf("/metrics: %d", status)
		}
		return metricValue(t, body, "powersync_replication_lag_seconds")
	}
	// waitOp waits until the server saw the checkpoint with op id op.
	waitOp := func(op int64) {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			_, body := h.get("/metrics", "")
			if metricValue(t, body, "powersync_replication_checkpoint_op_id") == float64(op) &&
				metricValue(t, body, "powersync_checkpoints_total") > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the server did not see checkpoint %d", op)
			}
		}
	}
	cp := h.store.commit()
	waitOp(cp.OpID)
	if l := lag(); l != 0 {
		t.Errorf("lag before any head was read: %v", l)
	}

	// A write checkpoint reads a head ahead of the checkpoint: lag grows
	// from the checkpoint's time, and scrapes do not read the head again.
	head.Store(uint64(cp.Position) + 1)
	if status, body := h.get("/write-checkpoint2.json?client_id=c1", "u1"); status != 200 {
		t.Fatalf("write-checkpoint2: %d %s", status, body)
	}
	// No pause needed: the lag is time.Since(checkpoint time) on the
	// monotonic clock, which has moved by the write-checkpoint round trip.
	if l := lag(); l <= 0 {
		t.Errorf("lag with the source ahead: %v", l)
	}
	if n := headCalls.Load(); n != 1 {
		t.Errorf("%d head reads, want 1 (the write checkpoint's)", n)
	}

	// A checkpoint covering that head: caught up.
	h.store.put(`global[]`, "todos", "t1", `{}`)
	cp = h.store.commit()
	waitOp(cp.OpID)
	if l := lag(); l != 0 {
		t.Errorf("lag after catching up: %v", l)
	}
	if n := headCalls.Load(); n != 1 {
		t.Errorf("%d head reads after scrapes, want 1", n)
	}
}
