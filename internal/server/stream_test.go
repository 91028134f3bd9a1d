package server_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/protocol"
)

// harness runs a Server over a memStore on a loopback HTTP server.
type harness struct {
	t     *testing.T
	store *memStore
	srv   *server.Server
	ts    *httptest.Server
}

// testAuth accepts tokens "<user>" (valid for an hour) and
// "<user>@<milliseconds>" (expiring that soon); anything with "bad" fails.
func testAuth(ctx context.Context, token string) (server.Identity, error) {
	if strings.Contains(token, "bad") {
		return server.Identity{}, &protocol.Error{Name: protocol.NameAuthorizationError, Code: protocol.CodeAuthSignature,
			Status: 401, Description: "Could not verify the token's signature"}
	}
	user, ms, ok := strings.Cut(token, "@")
	exp := time.Now().Add(time.Hour)
	if ok {
		n, _ := strconv.Atoi(ms)
		exp = time.Now().Add(time.Duration(n) * time.Millisecond)
	}
	return server.Identity{UserID: user, Claims: []byte(`{"sub":"` + user + `"}`), ExpiresAt: exp}, nil
}

var defaultRules = memRules{static: []syncrules.BucketDescription{
	{Bucket: `by_user["{user}"]`, Priority: 3, Default: []int{0}},
	{Bucket: `global[]`, Priority: 3, Default: []int{0}},
}}

func newHarness(t *testing.T, rules memRules, mod func(*server.Options)) *harness {
	t.Helper()
	h := &harness{t: t, store: newMemStore()}
	opts := server.Options{
		Storage: h.store,
		Auth:    server.AuthenticatorFunc(testAuth),
		Rules:   func(storage.Version) (server.Rules, error) { return rules, nil },
	}
	if mod != nil {
		mod(&opts)
	}
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		h.ts.Close()
	})
	return h
}

// lines reads NDJSON lines of one response in the background.
type lines struct {
	resp *http.Response
	ch   chan string
}

func (h *harness) stream(token, body string, header ...string) *lines {
	h.t.Helper()
	resp := h.post("/sync/stream", token, body, header...)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		h.t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return readLines(h.t, resp, resp.Body)
}

func readLines(t *testing.T, resp *http.Response, r io.Reader) *lines {
	l := &lines{resp: resp, ch: make(chan string, 1000)}
	go func() {
		defer close(l.ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 8<<20)
		for sc.Scan() {
			l.ch <- sc.Text()
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return l
}

func (h *harness) post(path, token, body string, header ...string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest("POST", h.ts.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Encoding", "identity")
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func (h *harness) get(path, token string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.ts.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (l *lines) next(t *testing.T) string {
	t.Helper()
	select {
	case s, ok := <-l.ch:
		if !ok {
			t.Fatal("stream ended, expected another line")
		}
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no line within 10 s")
	}
	return ""
}

// expect reads len(want) lines and compares them exactly. Lines whose
// want is "keepalive" must be token_expires_in lines and are skipped over
// wherever they occur.
func (l *lines) expect(t *testing.T, want ...string) {
	t.Helper()
	for i, w := range want {
		got := l.next(t)
		for strings.HasPrefix(got, `{"token_expires_in":`) {
			got = l.next(t)
		}
		if got != w {
			t.Fatalf("line %d:\n got %s\nwant %s", i, got, w)
		}
	}
}

// quiet asserts that no line other than keepalives arrives for d.
func (l *lines) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case s, ok := <-l.ch:
			if !ok {
				t.Fatal("stream ended")
			}
			if !strings.HasPrefix(s, `{"token_expires_in":`) {
				t.Fatalf("unexpected line %s", s)
			}
		case <-deadline:
			return
		}
	}
}

func op(id int, kind, table, rowID, data string) string {
	s := `{"op_id":"` + strconv.Itoa(id) + `","op":"` + kind + `","object_type":"` + table + `","object_id":"` + rowID + `","subkey":"s"`
	if data != "" {
		s += `,"data":` + strconv.Quote(data)
	}
	return s + `,"checksum":` + strconv.Itoa(id) + `}`
}

const streamsJSON = `"streams":[{"name":"by_user","is_default":true,"errors":[]},{"name":"lists","is_default":true,"errors":[]}]`

func TestInitialSyncAndDiff(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.put(`global[]`, "lists", "g1", `{"id":"g1"}`)
	h.store.put(`by_user["u1"]`, "todos", "t1", `{"id":"t1"}`)
	h.store.put(`global[]`, "lists", "g2", `{"id":"g2"}`)
	h.store.put(`by_user["u2"]`, "todos", "t2", `{"id":"t2"}`)
	h.store.commit()

	l := h.stream("u1", `{"buckets":[],"include_checksum":true,"raw_data":true,"client_id":"c1","parameters":{}}`)
	if ct := l.resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	if xa := l.resp.Header.Get("X-Accel-Buffering"); xa != "no" {
		t.Errorf("X-Accel-Buffering %q", xa)
	}
	l.expect(t,
		`{"checkpoint":{"last_op_id":"4","buckets":[`+
			`{"bucket":"by_user[\"u1\"]","checksum":2,"count":1,"priority":3,"subscriptions":[{"default":0}]},`+
			`{"bucket":"global[]","checksum":4,"count":2,"priority":3,"subscriptions":[{"default":0}]}],`+streamsJSON+`}}`,
		`{"data":{"bucket":"by_user[\"u1\"]","after":"0","next_after":"2","has_more":false,"data":[`+op(2, "PUT", "todos", "t1", `{"id":"t1"}`)+`]}}`,
		`{"data":{"bucket":"global[]","after":"0","next_after":"3","has_more":false,"data":[`+
			op(1, "PUT", "lists", "g1", `{"id":"g1"}`)+`,`+op(3, "PUT", "lists", "g2", `{"id":"g2"}`)+`]}}`,
		`{"checkpoint_complete":{"last_op_id":"4"}}`,
	)

	// A change to another user's bucket: nothing for u1.
	h.store.put(`by_user["u2"]`, "todos", "t3", `{"id":"t3"}`)
	h.store.commit()
	l.quiet(t, 200*time.Millisecond)

	// A change to u1's bucket: a diff with only that bucket, then its data.
	h.store.remove(`by_user["u1"]`, "todos", "t1")
	h.store.commit()
	l.expect(t,
		`{"checkpoint_diff":{"last_op_id":"6","updated_buckets":[`+
			`{"bucket":"by_user[\"u1\"]","checksum":8,"count":2,"priority":3,"subscriptions":[{"default":0}]}],"removed_buckets":[]}}`,
		`{"data":{"bucket":"by_user[\"u1\"]","after":"4","next_after":"6","has_more":false,"data":[`+op(6, "REMOVE", "todos", "t1", "")+`]}}`,
		`{"checkpoint_complete":{"last_op_id":"6"}}`,
	)
}

func TestEmptyCheckpointStillCompletes(t *testing.T) {
	h := newHarness(t, memRules{}, nil)
	h.store.commit()
	l := h.stream("u1", `{}`)
	l.expect(t,
		`{"checkpoint":{"last_op_id":"0","buckets":[],`+streamsJSON+`}}`,
		`{"checkpoint_complete":{"last_op_id":"0"}}`,
	)
}

func TestPriorities(t *testing.T) {
	rules := memRules{static: []syncrules.BucketDescription{
		{Bucket: "low[]", Priority: 3},
		{Bucket: "high[]", Priority: 0},
		{Bucket: "mid[]", Priority: 1},
	}}
	h := newHarness(t, rules, nil)
	h.store.put("low[]", "t", "a", `{}`)
	h.store.put("high[]", "t", "b", `{}`)
	h.store.put("mid[]", "t", "c", `{}`)
	h.store.commit()
	l := h.stream("u1", `{}`)
	l.expect(t,
		`{"checkpoint":{"last_op_id":"3","buckets":[`+
			`{"bucket":"low[]","checksum":1,"count":1,"priority":3},`+
			`{"bucket":"high[]","checksum":2,"count":1,"priority":0},`+
			`{"bucket":"mid[]","checksum":3,"count":1,"priority":1}],`+streamsJSON+`}}`,
		`{"data":{"bucket":"high[]","after":"0","next_after":"2","has_more":false,"data":[`+op(2, "PUT", "t", "b", `{}`)+`]}}`,
		`{"partial_checkpoint_complete":{"last_op_id":"3","priority":0}}`,
		`{"data":{"bucket":"mid[]","after":"0","next_after":"3","has_more":false,"data":[`+op(3, "PUT", "t", "c", `{}`)+`]}}`,
		`{"partial_checkpoint_complete":{"last_op_id":"3","priority":1}}`,
		`{"data":{"bucket":"low[]","after":"0","next_after":"1","has_more":false,"data":[`+op(1, "PUT", "t", "a", `{}`)+`]}}`,
		`{"checkpoint_complete":{"last_op_id":"3"}}`,
	)
}

func TestRemovedBuckets(t *testing.T) {
	h := newHarness(t, memRules{dynamic: true}, nil)
	h.store.setLookup("lists:u1", `list["a"]`, `list["b"]`)
	h.store.put(`list["a"]`, "todos", "1", `{}`)
	h.store.put(`list["b"]`, "todos", "2", `{}`)
	h.store.commit()
	l := h.stream("u1", `{}`)
	l.expect(t,
		`{"checkpoint":{"last_op_id":"2","buckets":[`+
			`{"bucket":"list[\"a\"]","checksum":1,"count":1,"priority":3,"subscriptions":[{"default":1}]},`+
			`{"bucket":"list[\"b\"]","checksum":2,"count":1,"priority":3,"subscriptions":[{"default":1}]}],`+streamsJSON+`}}`,
		`{"data":{"bucket":"list[\"a\"]","after":"0","next_after":"1","has_more":false,"data":[`+op(1, "PUT", "todos", "1", `{}`)+`]}}`,
		`{"data":{"bucket":"list[\"b\"]","after":"0","next_after":"2","has_more":false,"data":[`+op(2, "PUT", "todos", "2", `{}`)+`]}}`,
		`{"checkpoint_complete":{"last_op_id":"2"}}`,
	)
	// The user loses list b and gains list c (a lookup change, no new ops
	// in the user's old buckets).
	h.store.setLookup("lists:u1", `list["a"]`, `list["c"]`)
	h.store.commit()
	l.expect(t,
		`{"checkpoint_diff":{"last_op_id":"2","updated_buckets":[`+
			`{"bucket":"list[\"c\"]","checksum":0,"count":0,"priority":3,"subscriptions":[{"default":1}]}],"removed_buckets":["list[\"b\"]"]}}`,
		`{"checkpoint_complete":{"last_op_id":"2"}}`,
	)
}

func TestResumeWithAfter(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.put(`global[]`, "lists", "g1", `{}`)
	h.store.put(`global[]`, "lists", "g2", `{}`)
	h.store.put(`by_user["u1"]`, "todos", "t1", `{}`)
	h.store.commit()
	l := h.stream("u1", `{"buckets":[{"name":"global[]","after":"1"},{"name":"gone[]","after":"1"}]}`)
	l.expect(t,
		`{"checkpoint":{"last_op_id":"3","buckets":[`+
			`{"bucket":"by_user[\"u1\"]","checksum":3,"count":1,"priority":3,"subscriptions":[{"default":0}]},`+
			`{"bucket":"global[]","checksum":3,"count":2,"priority":3,"subscriptions":[{"default":0}]}],`+streamsJSON+`}}`,
		`{"data":{"bucket":"by_user[\"u1\"]","after":"0","next_after":"3","has_more":false,"data":[`+op(3, "PUT", "todos", "t1", `{}`)+`]}}`,
		`{"data":{"bucket":"global[]","after":"1","next_after":"2","has_more":false,"data":[`+op(2, "PUT", "lists", "g2", `{}`)+`]}}`,
		`{"checkpoint_complete":{"last_op_id":"3"}}`,
	)
	// Resuming at the checkpoint sends no data at all.
	l2 := h.stream("u1", `{"buckets":[{"name":"global[]","after":"3"},{"name":"by_user[\"u1\"]","after":"3"}]}`)
	l2.expect(t,
		`{"checkpoint":{"last_op_id":"3","buckets":[`+
			`{"bucket":"by_user[\"u1\"]","checksum":3,"count":1,"priority":3,"subscriptions":[{"default":0}]},`+
			`{"bucket":"global[]","checksum":3,"count":2,"priority":3,"subscriptions":[{"default":0}]}],`+streamsJSON+`}}`,
		`{"checkpoint_complete":{"last_op_id":"3"}}`,
	)
}

func TestChunking(t *testing.T) {
	h := newHarness(t, memRules{static: []syncrules.BucketDescription{{Bucket: "big[]", Priority: 3}}}, nil)
	for i := range 2500 {
		h.store.put("big[]", "t", strconv.Itoa(i), `{}`)
	}
	h.store.commit()
	l := h.stream("u1", `{}`)
	l.next(t) // checkpoint
	for i, want := range []struct {
		after, next string
		more        bool
		n           int
	}{{"0", "1000", true, 1000}, {"1000", "2000", true, 1000}, {"2000", "2500", false, 500}} {
		line := l.next(t)
		prefix := `{"data":{"bucket":"big[]","after":"` + want.after + `","next_after":"` + want.next +
			`","has_more":` + strconv.FormatBool(want.more) + `,"data":[`
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("chunk %d: %.200s", i, line)
		}
		if got := strings.Count(line, `"op_id"`); got != want.n {
			t.Fatalf("chunk %d has %d ops, want %d", i, got, want.n)
		}
	}
	l.expect(t, `{"checkpoint_complete":{"last_op_id":"2500"}}`)
}

func TestTokenExpiry(t *testing.T) {
	h := newHarness(t, defaultRules, func(o *server.Options) { o.KeepaliveInterval = 300 * time.Millisecond })
	h.store.commit()
	l := h.stream("u1@1500", `{}`)
	l.next(t) // checkpoint
	l.expect(t, `{"checkpoint_complete":{"last_op_id":"0"}}`)
	var keepalives []string
	for s := range l.ch {
		if !strings.HasPrefix(s, `{"token_expires_in":`) {
			t.Fatalf("unexpected line %s", s)
		}
		keepalives = append(keepalives, s)
	}
	if len(keepalives) < 2 {
		t.Fatalf("want keepalives then 0, got %v", keepalives)
	}
	if last := keepalives[len(keepalives)-1]; last != `{"token_expires_in":0}` {
		t.Fatalf("last line %s, want token_expires_in 0", last)
	}
	for _, k := range keepalives[:len(keepalives)-1] {
		if k == `{"token_expires_in":0}` {
			t.Fatalf("0 before the end: %v", keepalives)
		}
	}
}

func TestWriteCheckpoint(t *testing.T) {
	var head storage.Position
	h := newHarness(t, defaultRules, func(o *server.Options) {
		o.Head = func(context.Context) (storage.Position, error) { return head, nil }
	})
	cp := h.store.commit()
	l := h.stream("u1", `{"client_id":"c1"}`)
	l.expect(t,
		`{"checkpoint":{"last_op_id":"0","buckets":[`+
			`{"bucket":"by_user[\"u1\"]","checksum":0,"count":0,"priority":3,"subscriptions":[{"default":0}]},`+
			`{"bucket":"global[]","checksum":0,"count":0,"priority":3,"subscriptions":[{"default":0}]}],`+streamsJSON+`}}`,
		`{"checkpoint_complete":{"last_op_id":"0"}}`)

	// The source is ahead of the checkpoint: the write checkpoint shows up
	// only with the checkpoint that covers it.
	head = cp.Position + 1
	status, body := h.get("/write-checkpoint2.json?client_id=c1", "u1")
	if status != 200 || body != `{"data":{"write_checkpoint":"1"}}`+"\n" {
		t.Fatalf("write-checkpoint2: %d %s", status, body)
	}
	l.quiet(t, 150*time.Millisecond)
	h.store.commit()
	l.expect(t,
		`{"checkpoint_diff":{"last_op_id":"0","write_checkpoint":"1","updated_buckets":[],"removed_buckets":[]}}`,
		`{"checkpoint_complete":{"last_op_id":"0"}}`)

	// The source is not ahead: the next value is reported at once.
	head = cp.Position + 1
	if _, body = h.get("/write-checkpoint2.json?client_id=c1", "u1"); body != `{"data":{"write_checkpoint":"2"}}`+"\n" {
		t.Fatalf("write-checkpoint2: %s", body)
	}
	l.expect(t,
		`{"checkpoint_diff":{"last_op_id":"0","write_checkpoint":"2","updated_buckets":[],"removed_buckets":[]}}`,
		`{"checkpoint_complete":{"last_op_id":"0"}}`)

	// A data change carries the write checkpoint too.
	h.store.put(`global[]`, "lists", "g1", `{}`)
	h.store.commit()
	l.expect(t,
		`{"checkpoint_diff":{"last_op_id":"1","write_checkpoint":"2","updated_buckets":[`+
			`{"bucket":"global[]","checksum":1,"count":1,"priority":3,"subscriptions":[{"default":0}]}],"removed_buckets":[]}}`,
		`{"data":{"bucket":"global[]","after":"0","next_after":"1","has_more":false,"data":[`+op(1, "PUT", "lists", "g1", `{}`)+`]}}`,
		`{"checkpoint_complete":{"last_op_id":"1"}}`)

	// Another client of the same user is unaffected by c1's checkpoint.
	l2 := h.stream("u1", `{"client_id":"c2","buckets":[{"name":"global[]","after":"1"},{"name":"by_user[\"u1\"]","after":"1"}]}`)
	l2.next(t)
	l2.expect(t, `{"checkpoint_complete":{"last_op_id":"1"}}`)
	h.get("/write-checkpoint2.json?client_id=c1", "u1")
	l2.quiet(t, 150*time.Millisecond)

	// Checkpoint requests: max(stored, supplied).
	resp := h.post("/sync/checkpoint-request", "u1", `{"client_id":"c2","checkpoint_request_id":"7"}`)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"data":{"checkpoint_request_id":"7"}}`+"\n" {
		t.Fatalf("checkpoint-request: %d %s", resp.StatusCode, b)
	}
	l2.expect(t,
		`{"checkpoint_diff":{"last_op_id":"1","write_checkpoint":"7","updated_buckets":[],"removed_buckets":[]}}`,
		`{"checkpoint_complete":{"last_op_id":"1"}}`)
}

func TestGzip(t *testing.T) {
	h := newHarness(t, defaultRules, nil)
	h.store.put(`global[]`, "lists", "g1", `{}`)
	h.store.commit()
	resp := h.post("/sync/stream", "u1", `{}`, "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	l := readLines(t, resp, zr)
	// Lines arrive while the stream is still open: each one was flushed.
	l.next(t)
	l.next(t)
	l.expect(t, `{"checkpoint_complete":{"last_op_id":"1"}}`)
}

// With shared write checkpoints, a value created by another process (here:
// straight in storage) reaches the stream with the next checkpoint.
func TestSharedWriteCheckpoints(t *testing.T) {
	h := newHarness(t, defaultRules, func(o *server.Options) { o.SharedWriteCheckpoints = true })
	cp := h.store.commit()
	l := h.stream("u1", `{"client_id":"c1"}`)
	l.next(t)
	l.expect(t, `{"checkpoint_complete":{"last_op_id":"0"}}`)
	if _, err := h.store.WriteCheckpoints().Create(context.Background(), "u1", "c1", cp.Position+1); err != nil {
		t.Fatal(err)
	}
	h.store.commit()
	l.expect(t,
		`{"checkpoint_diff":{"last_op_id":"0","write_checkpoint":"1","updated_buckets":[],"removed_buckets":[]}}`,
		`{"checkpoint_complete":{"last_op_id":"0"}}`)
}
