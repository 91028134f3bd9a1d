package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/protocol/bson"
	"github.com/powersync-go/powersync/protocol/rsocket"
)

// rsClient is a minimal RSocket-over-WebSocket client for the tests, built
// on the same frame package the service uses; the official SDKs are tested
// against the service in compat/.
type rsClient struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan rsocket.Frame
	done   chan struct{}
	err    error // why reading ended; read after done is closed
}

func (h *harness) dialRS(t *testing.T) *rsClient {
	t.Helper()
	return h.dialRSWith(t, websocket.CompressionNoContextTakeover)
}

func (h *harness) dialRSWith(t *testing.T, mode websocket.CompressionMode) *rsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(h.ts.URL, "http") + "/sync/stream"
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: mode})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(rsocket.MaxFrameSize)
	c := &rsClient{t: t, ws: ws, frames: make(chan rsocket.Frame, 10000), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, msg, err := ws.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			f, err := rsocket.Decode(msg)
			if err != nil {
				c.err = err
				return
			}
			c.frames <- f
		}
	}()
	t.Cleanup(func() { ws.CloseNow() })
	return c
}

func (c *rsClient) send(f rsocket.Frame) {
	c.t.Helper()
	b, err := f.Append(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(websocket.MessageBinary, b)
}

func (c *rsClient) sendRaw(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, typ, b); err != nil {
		c.t.Fatal(err)
	}
}

// setup sends SETUP as @powersync/web does: JSON metadata and data,
// keepalive 20 s, lifetime 90 s.
func (c *rsClient) setup(token string) {
	c.setupWith(rsocket.Frame{Type: rsocket.TypeSetup, MajorVersion: 1, KeepaliveMS: 20000, LifetimeMS: 90000,
		MetadataMIME: "application/json", DataMIME: "application/json",
		Metadata: []byte(`{"token":"Token ` + token + `","user_agent":"test"}`)})
}

func (c *rsClient) setupWith(f rsocket.Frame) { c.send(f) }

func (c *rsClient) requestStream(id, n uint32, body string) {
	c.send(rsocket.Frame{StreamID: id, Type: rsocket.TypeRequestStream, N: n,
		Metadata: []byte(`{"path":"/sync/stream"}`), Data: []byte(body)})
}

// next returns the next frame from the service.
func (c *rsClient) next() rsocket.Frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.done:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("connection ended, expected another frame: %v", c.err)
	case <-time.After(10 * time.Second):
		c.t.Fatal("no frame within 10 s")
	}
	return rsocket.Frame{}
}

// line returns the next PAYLOAD's sync line as JSON, answering nothing.
func (c *rsClient) line() string {
	c.t.Helper()
	f := c.next()
	if f.Type != rsocket.TypePayload || f.Flags&rsocket.FlagNext == 0 {
		c.t.Fatalf("want PAYLOAD(NEXT), got %v flags %#x data %q", f.Type, f.Flags, f.Data)
	}
	j, err := bson.ToJSON(nil, f.Data)
	if err != nil {
		c.t.Fatalf("payload is not one BSON document: %v", err)
	}
	return string(j)
}

// barrier sends a KEEPALIVE asking for an answer and returns the frames
// that arrived before the answer. The service handles frames in order, so
// afterwards it has seen everything sent before.
func (c *rsClient) barrier(tag string) []rsocket.Frame {
	c.t.Helper()
	c.send(rsocket.Frame{Type: rsocket.TypeKeepalive, Flags: rsocket.FlagRespond, Data: []byte(tag)})
	var before []rsocket.Frame
	for {
		f := c.next()
		if f.Type == rsocket.TypeKeepalive && string(f.Data) == tag {
			if f.Flags&rsocket.FlagRespond != 0 {
				c.t.Fatal("the echo asks for an answer")
			}
			return before
		}
		before = append(before, f)
	}
}

// closed waits for the service to end the connection and returns the
// WebSocket close status.
func (c *rsClient) closed() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Fatal("connection still open after 10 s")
	}
	return websocket.CloseStatus(c.err)
}

func expectError(t *testing.T, f rsocket.Frame, stream uint32, code rsocket.ErrorCode, contains string) {
	t.Helper()
	if f.Type != rsocket.TypeError || f.StreamID != stream || f.Code != code || !strings.Contains(string(f.Data), contains) {
		t.Fatalf("want ERROR %v on stream %d containing %q, got %v stream %d code %v %q",
			code, stream, contains, f.Type, f.StreamID, f.Code, f.Data)
	}
}

// The same session over HTTP NDJSON and RSocket gives the same lines.
func TestWebSocketStreamEqualsNDJSON(t *testing.T) {
	rules := memRules{static: []syncrules.BucketDescription{
		{Bucket: `by_user["{user}"]`, Priority: 3, Default: []int{0}},
		{Bucket: `high[]`, Priority: 0, Default: []int{1}},
	}}
	session := func(ws bool) [][]string {
		h := newHarness(t, rules, nil)
		h.store.put(`high[]`, "lists", "h1", `{"id":"h1","name":"caf\u00e9 \"q\" ✓"}`)
		for i := range 20 {
			h.store.put(`by_user["u1"]`, "todos", fmt.Sprint("t", i), `{"v":"`+strings.Repeat("x", i)+`"}`)
		}
		h.store.commit()
		var next func() string
		if ws {
			c := h.dialRS(t)
			c.setup("u1")
			c.requestStream(1, rsocket.MaxRequestN, `{"client_id":"c1","raw_data":true}`)
			next = c.line
		} else {
			l := h.stream("u1", `{"client_id":"c1","raw_data":true}`)
			next = func() string { return l.next(t) }
		}
		until := func() []string {
			var out []string
			for {
				s := next()
				if strings.HasPrefix(s, `{"token_expires_in":`) {
					continue
				}
				out = append(out, s)
				if strings.HasPrefix(s, `{"checkpoint_complete":`) {
					return out
				}
			}
		}
		out := [][]string{until()}
		h.store.remove(`by_user["u1"]`, "todos", "t3")
		h.store.commit()
		out = append(out, until())
		if status, _ := h.get("/write-checkpoint2.json?client_id=c1", "u1"); status != 200 {
			t.Fatalf("write-checkpoint2: %d", status)
		}
		h.store.commit()
		return append(out, until())
	}
	a, b := session(false), session(true)
	for i := range a {
		if strings.Join(a[i], "\n") != strings.Join(b[i], "\n") {
			t.Fatalf("checkpoint %d differs\nHTTP:\n%s\nWebSocket:\n%s", i, strings.Join(a[i], "\n"), strings.Join(b[i], "\n"))
		}
	}
	if len(a[0]) < 4 {
		t.Fatalf("session too short: %v", a[0])
	}
}

// BSON metadata and a BSON request body are accepted too.
func TestWebSocketBSONSetup(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.put(`by_user["u1"]`, "todos", "t1", `{}`)
	h.store.commit()
	doc := func(j string) []byte {
		b, err := bson.AppendJSON(nil, []byte(j))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	c := h.dialRS(t)
	c.setupWith(rsocket.Frame{Type: rsocket.TypeSetup, MajorVersion: 1, KeepaliveMS: 15000, LifetimeMS: 120000,
		MetadataMIME: "application/bson", DataMIME: "application/bson", Metadata: doc(`{"token":"Bearer u1"}`)})
	c.send(rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestStream, N: 10,
		Metadata: doc(`{"path":"/sync/stream"}`), Data: doc(`{"buckets":[{"name":"by_user[\"u1\"]","after":"0"}],"raw_data":true}`)})
	if l := c.line(); !strings.HasPrefix(l, `{"checkpoint":{"last_op_id":"1"`) {
		t.Fatalf("first line %s", l)
	}
	if l := c.line(); !strings.HasPrefix(l, `{"data":{"bucket":"by_user[\"u1\"]","after":"0"`) {
		t.Fatalf("second line %s", l)
	}
}

func TestWebSocketAuthErrors(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	for _, tc := range []struct {
		name, meta, want string
	}{
		{"bad signature", `{"token":"Token bad"}`, "[PSYNC_S2102]"},
		{"no token", `{"user_agent":"x"}`, "[PSYNC_S2106] No token provided"},
		{"no scheme", `{"token":"u1"}`, "[PSYNC_S2106]"},
		{"metadata not JSON", `{"token":`, "[PSYNC_S2001]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dialRS(t)
			c.setupWith(rsocket.Frame{Type: rsocket.TypeSetup, MajorVersion: 1, KeepaliveMS: 20000, LifetimeMS: 90000,
				MetadataMIME: "application/json", DataMIME: "application/json", Metadata: []byte(tc.meta)})
			// As the JS SDK does, the request follows at once (the service
			// may have closed already).
			b, _ := (&rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestStream, N: 10,
				Metadata: []byte(`{"path":"/sync/stream"}`), Data: []byte(`{}`)}).Append(nil)
			_ = c.ws.Write(context.Background(), websocket.MessageBinary, b)
			f := c.next()
			expectError(t, f, 0, rsocket.ErrRejectedSetup, tc.want)
			if tc.want != "[PSYNC_S2001]" && !strings.Contains(string(f.Data), "PSYNC_S21") {
				t.Fatalf("clients refresh credentials on PSYNC_S21, message %q", f.Data)
			}
			c.closed()
		})
	}
}

func TestWebSocketSetupRefusals(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	base := rsocket.Frame{Type: rsocket.TypeSetup, MajorVersion: 1, KeepaliveMS: 20000, LifetimeMS: 90000,
		MetadataMIME: "application/json", DataMIME: "application/json", Metadata: []byte(`{"token":"Token u1"}`)}
	for _, tc := range []struct {
		name string
		mod  func(*rsocket.Frame)
		code rsocket.ErrorCode
		want string
	}{
		{"resume", func(f *rsocket.Frame) { f.Flags |= rsocket.FlagResume; f.ResumeToken = []byte("r") }, rsocket.ErrUnsupportedSetup, "Resumption"},
		{"lease", func(f *rsocket.Frame) { f.Flags |= rsocket.FlagLease }, rsocket.ErrUnsupportedSetup, "Leases"},
		{"version 2", func(f *rsocket.Frame) { f.MajorVersion = 2 }, rsocket.ErrUnsupportedSetup, "version 2.0"},
		{"MIME", func(f *rsocket.Frame) { f.MetadataMIME = "text/plain" }, rsocket.ErrUnsupportedSetup, "[PSYNC_S2004]"},
		{"not SETUP", func(f *rsocket.Frame) { *f = rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestN, N: 1} }, rsocket.ErrInvalidSetup, "must be SETUP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dialRS(t)
			f := base
			tc.mod(&f)
			c.setupWith(f)
			expectError(t, c.next(), 0, tc.code, tc.want)
			c.closed()
		})
	}
	t.Run("garbage", func(t *testing.T) {
		c := h.dialRS(t)
		c.sendRaw(websocket.MessageBinary, []byte{1, 2, 3})
		expectError(t, c.next(), 0, rsocket.ErrInvalidSetup, "malformed frame")
		c.closed()
	})
}

// Malformed or refused frames after SETUP end the connection with an
// ERROR frame that says why, then a WebSocket close.
func TestWebSocketMalformedFrames(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	for _, tc := range []struct {
		name string
		send func(c *rsClient)
		code rsocket.ErrorCode
		want string
	}{
		{"short frame", func(c *rsClient) { c.sendRaw(websocket.MessageBinary, []byte{0, 0}) }, rsocket.ErrConnectionError, "malformed frame"},
		{"length lie", func(c *rsClient) {
			c.sendRaw(websocket.MessageBinary, []byte{0, 0, 0, 1, 0x19, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff})
		}, rsocket.ErrConnectionError, "metadata"},
		{"text message", func(c *rsClient) { c.sendRaw(websocket.MessageText, []byte("hello")) }, rsocket.ErrConnectionError, "binary"},
		{"second SETUP", func(c *rsClient) { c.setup("u1") }, rsocket.ErrConnectionError, "SETUP was already received"},
		{"LEASE", func(c *rsClient) {
			c.send(rsocket.Frame{Type: rsocket.TypeLease, TTL: 1000, N: 1})
		}, rsocket.ErrConnectionError, "LEASE is not supported"},
		{"METADATA_PUSH", func(c *rsClient) {
			c.send(rsocket.Frame{Type: rsocket.TypeMetadataPush, Metadata: []byte("x")})
		}, rsocket.ErrConnectionError, "METADATA_PUSH is not supported"},
		{"unknown type", func(c *rsClient) {
			c.sendRaw(websocket.MessageBinary, []byte{0, 0, 0, 1, 0x78, 0})
		}, rsocket.ErrConnectionError, "Unsupported frame type"},
		{"fragments over the limit", func(c *rsClient) {
			// Fragments may add up to what one frame may hold (the 1 MiB
			// request limit and some room); the service may close before
			// the last ones are written.
			big := bytes.Repeat([]byte("x"), 512<<10)
			first, _ := (&rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestStream, N: 1, Flags: rsocket.FlagFollows, Data: big}).Append(nil)
			more, _ := (&rsocket.Frame{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagFollows, Data: big}).Append(nil)
			for _, m := range [][]byte{first, more, more, more} {
				if c.ws.Write(context.Background(), websocket.MessageBinary, m) != nil {
					break
				}
			}
		}, rsocket.ErrConnectionError, "fragments add up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dialRS(t)
			c.setup("u1")
			tc.send(c)
			var f rsocket.Frame
			for f = c.next(); f.Type == rsocket.TypeKeepalive; f = c.next() {
			}
			expectError(t, f, 0, tc.code, tc.want)
			if st := c.closed(); st != websocket.StatusProtocolError {
				t.Fatalf("close status %v, want %v", st, websocket.StatusProtocolError)
			}
		})
	}
	// An unknown frame marked ignorable is ignored.
	c := h.dialRS(t)
	c.setup("u1")
	c.sendRaw(websocket.MessageBinary, []byte{0, 0, 0, 1, 0x7a, 0})
	if fs := c.barrier("after-ignored"); len(fs) != 0 {
		t.Fatalf("frames for an ignorable frame: %v", fs)
	}
}

// Errors of one request are ERROR frames on its stream; the connection
// stays usable.
func TestWebSocketRequestErrors(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	c := h.dialRS(t)
	c.setup("u1")
	c.send(rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestStream, N: 1, Metadata: []byte(`{"path":"/nope"}`), Data: []byte(`{}`)})
	expectError(t, c.next(), 1, rsocket.ErrApplicationError, "[PSYNC_S2002] No route for \"/nope\"")
	c.send(rsocket.Frame{StreamID: 3, Type: rsocket.TypeRequestStream, N: 1, Data: []byte(`{}`)})
	expectError(t, c.next(), 3, rsocket.ErrApplicationError, "[PSYNC_S2001]")
	c.requestStream(5, 1, `{"buckets":[{"name":"","after":"0"}]}`)
	expectError(t, c.next(), 5, rsocket.ErrApplicationError, "buckets[0].name")
	c.requestStream(7, 1, `{"buckets":`)
	expectError(t, c.next(), 7, rsocket.ErrApplicationError, "[PSYNC_S2001]")
	c.send(rsocket.Frame{StreamID: 9, Type: rsocket.TypeRequestResponse, Data: []byte(`{}`)})
	expectError(t, c.next(), 9, rsocket.ErrRejected, "request-stream")
	// A fragmented request is joined.
	c.send(rsocket.Frame{StreamID: 11, Type: rsocket.TypeRequestStream, N: 5, Flags: rsocket.FlagFollows,
		Metadata: []byte(`{"path":"/sync`), Data: []byte(`{"client`)})
	c.send(rsocket.Frame{StreamID: 11, Type: rsocket.TypePayload, Flags: rsocket.FlagNext,
		Metadata: []byte(`/stream"}`), Data: []byte(`_id":"x"}`)})
	if l := c.line(); !strings.HasPrefix(l, `{"checkpoint":`) {
		t.Fatalf("line %s", l)
	}
}

func TestWebSocketConnectionLimit(t *testing.T) {
	h := newHarness(t, defaultRules, func(o *server.Options) { o.Limits.MaxConcurrentConnections = 1 })
	h.store.commit()
	c := h.dialRS(t)
	c.setup("u1")
	c.requestStream(1, 10, `{}`)
	c.line()
	c.requestStream(3, 10, `{}`)
	var f rsocket.Frame
	for f = c.next(); f.Type == rsocket.TypePayload && f.StreamID == 1; f = c.next() {
	}
	expectError(t, f, 3, rsocket.ErrApplicationError, "[PSYNC_S2304]")
}

func TestWebSocketKeepaliveAndLifetime(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	c := h.dialRS(t)
	c.setup("u1")
	c.send(rsocket.Frame{Type: rsocket.TypeKeepalive, Flags: rsocket.FlagRespond, Position: 5, Data: []byte("ping")})
	f := c.next()
	if f.Type != rsocket.TypeKeepalive || f.Flags&rsocket.FlagRespond != 0 || string(f.Data) != "ping" {
		t.Fatalf("keepalive answer %v flags %#x %q", f.Type, f.Flags, f.Data)
	}
	// A keepalive without the respond flag gets no answer.
	c.send(rsocket.Frame{Type: rsocket.TypeKeepalive, Data: []byte("quiet")})
	if fs := c.barrier("b"); len(fs) != 0 {
		t.Fatalf("answered a keepalive without the respond flag: %v", fs)
	}

	// A client that sends nothing for its max lifetime is disconnected.
	c2 := h.dialRS(t)
	c2.setupWith(rsocket.Frame{Type: rsocket.TypeSetup, MajorVersion: 1, KeepaliveMS: 100, LifetimeMS: 300,
		MetadataMIME: "application/json", DataMIME: "application/json", Metadata: []byte(`{"token":"Token u1"}`)})
	expectError(t, c2.next(), 0, rsocket.ErrConnectionError, "keepalive lifetime")
	c2.closed()
}

func TestWebSocketCancel(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	for i := range 50 {
		h.store.put(`global[]`, "lists", fmt.Sprint("g", i), `{}`)
	}
	h.store.commit()
	c := h.dialRS(t)
	c.setup("u1")
	c.requestStream(1, 1, `{}`)
	c.line()
	c.send(rsocket.Frame{StreamID: 1, Type: rsocket.TypeCancel})
	// Credit after the cancel produces nothing: the stream is gone.
	c.send(rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestN, N: 100})
	if fs := c.barrier("after-cancel"); len(fs) != 0 {
		t.Fatalf("frames after CANCEL: %v", fs)
	}
	waitMetric(t, h, "powersync_sync_connections", 0)
	// The connection is still usable for a new stream.
	c.requestStream(3, 10, `{}`)
	f := c.next()
	if f.StreamID != 3 {
		t.Fatalf("frame on stream %d after the cancel of stream 1", f.StreamID)
	}
	if j, _ := bson.ToJSON(nil, f.Data); !strings.HasPrefix(string(j), `{"checkpoint":`) {
		t.Fatalf("line %s", j)
	}
}

// waitMetric polls /metrics until the gauge has the value (the stream's
// goroutine ends asynchronously after CANCEL).
func waitMetric(t *testing.T, h *harness, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := h.get("/metrics", "")
		if metricValue(t, body, name) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became %v", name, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWebSocketTokenExpiry(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	// With credit: the last line is token_expires_in 0, then COMPLETE.
	c := h.dialRS(t)
	c.setup("u1@1500")
	c.requestStream(1, 100, `{}`)
	c.line() // checkpoint
	if l := c.line(); l != `{"checkpoint_complete":{"last_op_id":"0"}}` {
		t.Fatalf("line %s", l)
	}
	var last string
	var f rsocket.Frame
	for f = c.next(); f.Type == rsocket.TypePayload; f = c.next() {
		j, _ := bson.ToJSON(nil, f.Data)
		last = string(j)
		if !strings.HasPrefix(last, `{"token_expires_in":`) {
			t.Fatalf("unexpected line %s", last)
		}
	}
	if last != `{"token_expires_in":0}` {
		t.Fatalf("last line before the end %q, want token_expires_in 0", last)
	}
	// Then an ERROR the SDKs read as "fetch new credentials" (PSYNC_S21…):
	// they may drop the queued line when the stream ends.
	expectError(t, f, 1, rsocket.ErrApplicationError, "[PSYNC_S2103]")

	// Without credit the stream still ends at expiry, with the ERROR alone.
	c2 := h.dialRS(t)
	c2.setup("u1@1500")
	c2.requestStream(1, 2, `{}`)
	c2.line()
	c2.line()
	expectError(t, c2.next(), 1, rsocket.ErrApplicationError, "[PSYNC_S2103]")
}

// A client granting one frame at a time gets exactly one frame per grant,
// and while it grants nothing the stream is parked waiting for credit
// without buffering what it has not sent.
func TestWebSocketCredit(t *testing.T) {
	row := `{"v":"` + strings.Repeat("y", 100<<10) + `"}` // ~100 KiB per op
	const buckets = 100                                   // one data line each: ~10 MiB in all
	rules := memRules{}
	for i := range buckets {
		rules.static = append(rules.static, syncrules.BucketDescription{Bucket: fmt.Sprintf("b%02d[]", i), Priority: 3})
	}
	h := newHarness(t, rules, nil)
	for _, d := range rules.static {
		h.store.put(d.Bucket, "t", "r", row)
	}
	h.store.commit()

	// Without compression, so the compressors' state does not count.
	c := h.dialRSWith(t, websocket.CompressionDisabled)
	c.setup("u1")
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	c.requestStream(1, 1, `{}`)
	granted, received := 1, 0
	for {
		f := c.next()
		if f.Type != rsocket.TypePayload {
			t.Fatalf("unexpected %v", f.Type)
		}
		received++
		if received > granted {
			t.Fatalf("frame %d arrived with only %d granted", received, granted)
		}
		if received == 5 {
			// Parked: the producer waits for credit.
			waitParked(t)
			runtime.GC()
			var during runtime.MemStats
			runtime.ReadMemStats(&during)
			grew := int64(during.HeapInuse) - int64(before.HeapInuse)
			t.Logf("heap in use grew by %d KiB while the stream waits for credit (data %d KiB)", grew>>10, buckets*len(row)>>10)
			// A stream that buffered would hold most of the 10 MiB; one
			// waiting for credit holds the line it could not send (about
			// 100 KiB), and the test client holds the 5 frames it read
			// (measured: 0.2-0.4 MiB). The bound leaves room for whatever
			// else the test process allocates meanwhile.
			if grew > int64(buckets*len(row)/3) {
				t.Fatalf("heap grew by %d bytes while the client granted nothing: the stream buffers", grew)
			}
		}
		// Nothing more may arrive until the next grant.
		if extra := c.barrier(fmt.Sprint("k", received)); len(extra) > 0 {
			t.Fatalf("%d frames beyond the credit after frame %d", len(extra), received)
		}
		j, _ := bson.ToJSON(nil, f.Data)
		if strings.HasPrefix(string(j), `{"checkpoint_complete":`) {
			break
		}
		c.send(rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestN, N: 1})
		granted++
	}
	if received != buckets+2 {
		t.Fatalf("received %d frames, want %d (checkpoint, %d data, complete)", received, buckets+2, buckets)
	}
}

// waitParked waits until a stream goroutine is blocked waiting for credit.
func waitParked(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
		if strings.Contains(buf.String(), "(*rsStream).wait") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no stream is waiting for credit")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Shutdown ends every WebSocket stream with COMPLETE, then closes the
// socket with "going away"; the SDK reconnects (to another process).
func TestWebSocketShutdown(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	c := h.dialRS(t)
	c.setup("u1")
	c.requestStream(1, 10, `{}`)
	c.line()
	c.line()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- h.srv.Close(ctx)
	}()
	f := c.next()
	if f.Type != rsocket.TypePayload || f.Flags&rsocket.FlagComplete == 0 {
		t.Fatalf("want COMPLETE at shutdown, got %v flags %#x %q", f.Type, f.Flags, f.Data)
	}
	if st := c.closed(); st != websocket.StatusGoingAway {
		t.Fatalf("close status %v, want going away", st)
	}
	if err := <-done; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// A failure inside the stream is an ERROR frame with the PSYNC code and
// message, as the HTTP stream would log it and end.
func TestWebSocketStreamError(t *testing.T) {
	h := newHarness(t, defaultRules, func(o *server.Options) { o.Limits.MaxBucketsPerConnection = 1 })
	h.store.commit()
	c := h.dialRS(t)
	c.setup("u1")
	c.requestStream(1, 10, `{}`)
	expectError(t, c.next(), 1, rsocket.ErrApplicationError, "[PSYNC_S2305] Too many buckets")
}

// Hostile BSON in the SETUP metadata and in the request are refused with
// a validation error, never a crash.
func TestWebSocketHostileBSON(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	bsonSetup := func(meta []byte) rsocket.Frame {
		return rsocket.Frame{Type: rsocket.TypeSetup, MajorVersion: 1, KeepaliveMS: 20000, LifetimeMS: 90000,
			MetadataMIME: "application/bson", DataMIME: "application/bson", Metadata: meta}
	}
	for _, meta := range [][]byte{
		{0xff, 0xff, 0xff, 0x7f, 0},                  // length far beyond the frame
		{5, 0, 0, 0, 1},                              // no terminator
		{12, 0, 0, 0, 2, 't', 0, 9, 0, 0, 0, 'x', 0}, // string length lie
		{},
	} {
		c := h.dialRS(t)
		c.setupWith(bsonSetup(meta))
		f := c.next()
		if f.Type != rsocket.TypeError || f.Code != rsocket.ErrRejectedSetup || !strings.Contains(string(f.Data), "PSYNC_S2") {
			t.Fatalf("metadata %x: %v %v %q", meta, f.Type, f.Code, f.Data)
		}
		c.closed()
	}
	good, _ := bson.AppendJSON(nil, []byte(`{"token":"Token u1"}`))
	path, _ := bson.AppendJSON(nil, []byte(`{"path":"/sync/stream"}`))
	deep := []byte{5, 0, 0, 0, 0}
	for range 200 {
		b, top := bson.StartDocument(nil)
		b = append(b, bson.TypeDocument, 'a', 0)
		b = append(b, deep...)
		deep = bson.EndDocument(b, top)
	}
	c := h.dialRS(t)
	c.setupWith(bsonSetup(good))
	for i, data := range [][]byte{{9, 0, 0, 0}, deep, {5, 0, 0, 0, 0, 0}} {
		id := uint32(2*i + 1)
		c.send(rsocket.Frame{StreamID: id, Type: rsocket.TypeRequestStream, N: 1, Metadata: path, Data: data})
		expectError(t, c.next(), id, rsocket.ErrApplicationError, "[PSYNC_S2001]")
	}
}

// GET /sync/stream without a valid upgrade is refused over plain HTTP.
func TestWebSocketBadUpgrade(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.commit()
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
	}{
		{"plain GET", nil, 404},
		{"no key", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}, 400},
		{"wrong version", map[string]string{"Connection": "keep-alive, Upgrade", "Upgrade": "websocket",
			"Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, 400},
	} {
		req, _ := http.NewRequest("GET", h.ts.URL+"/sync/stream", nil)
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := h.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
}

// A client that grants no credit must not hold one of the process's data
// reads: with one read slot, another client still syncs while it stalls
// before a data line (it waits for credit outside the slot), and one that
// stalls between the data lines of one read is ended after the write
// timeout with COMPLETE, as an HTTP client that stops reading would be.
func TestWebSocketStalledClientHoldsNoReadSlot(t *testing.T) {
	rules := memRules{static: []syncrules.BucketDescription{
		{Bucket: "a[]", Priority: 3}, {Bucket: "b[]", Priority: 3}, {Bucket: "c[]", Priority: 3},
	}}
	h := newHarness(t, rules, func(o *server.Options) {
		o.Limits.MaxDataFetchConcurrency = 1
		o.WriteTimeout = 300 * time.Millisecond
	})
	for _, b := range []string{"a[]", "b[]", "c[]"} {
		h.store.put(b, "t", "r", `{}`)
	}
	h.store.commit()
	httpSync := func() {
		l := h.stream("u2", `{}`)
		if got := len(l.untilComplete(t)); got != 5 {
			t.Fatalf("HTTP client got %d lines, want checkpoint, 3 data, complete", got)
		}
	}

	// Stalled before the first data line: the stream waits outside the slot.
	a := h.dialRS(t)
	a.setup("u1")
	a.requestStream(1, 1, `{}`)
	a.line() // checkpoint; no credit left
	waitParked(t)
	httpSync()
	// The stalled stream was not ended on the way: with credit it goes on.
	a.send(rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestN, N: 10})
	if l := a.line(); !strings.HasPrefix(l, `{"data":{"bucket":"a[]"`) {
		t.Fatalf("after the stall: %s", l)
	}

	// Stalled between two data lines of one read: ended after the write
	// timeout, and the slot is free again.
	b := h.dialRS(t)
	b.setup("u3")
	b.requestStream(1, 2, `{}`)
	b.line() // checkpoint
	b.line() // the first data line; the second waits inside the read
	f := b.next()
	if f.Type != rsocket.TypePayload || f.Flags&rsocket.FlagComplete == 0 {
		t.Fatalf("want COMPLETE for the stalled stream, got %v flags %#x %q", f.Type, f.Flags, f.Data)
	}
	httpSync()
}
