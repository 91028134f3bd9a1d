package client_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/protocol"
)

// scripted is a fake sync service whose stream lines the test writes one
// by one; each /sync/stream connection reads from lines until it closes.
type scripted struct {
	*httptest.Server
	lines    chan string
	requests chan protocol.StreamingSyncRequest
	wcp      atomic.Int64 // value of the next write-checkpoint2 answer
}

func newScripted(t *testing.T) *scripted {
	s := &scripted{lines: make(chan string, 100), requests: make(chan protocol.StreamingSyncRequest, 10)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/write-checkpoint2.json":
			fmt.Fprintf(w, `{"data":{"write_checkpoint":"%d"}}`, s.wcp.Load())
			return
		case "/sync/stream":
		default:
			http.NotFound(w, r)
			return
		}
		var req protocol.StreamingSyncRequest
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &req)
		s.requests <- req
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.(http.Flusher).Flush()
		for {
			select {
			case l := <-s.lines:
				if l == "EOF" {
					return
				}
				fmt.Fprintln(w, l)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) send(format string, args ...any) { s.lines <- fmt.Sprintf(format, args...) }

func (s *scripted) request(t *testing.T) protocol.StreamingSyncRequest {
	t.Helper()
	select {
	case r := <-s.requests:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no sync request")
	}
	return protocol.StreamingSyncRequest{}
}

type op struct {
	id       int64
	kind     string
	typ, row string
	data     string
}

// line builds a data line for bucket from ops, with correct checksums, and
// returns it with the ops' checksum sum.
func dataLine(bucket string, ops ...op) (string, uint32) {
	var sum uint32
	var list []map[string]any
	for _, o := range ops {
		m := map[string]any{"op_id": fmt.Sprint(o.id), "op": o.kind}
		var c uint32
		switch o.kind {
		case "PUT":
			c = protocol.PutChecksum(o.typ, o.row, o.data)
			m["object_type"], m["object_id"], m["subkey"], m["data"] = o.typ, o.row, "s", o.data
		case "REMOVE":
			c = protocol.RemoveChecksum(o.typ + o.row)
			m["object_type"], m["object_id"], m["subkey"] = o.typ, o.row, "s"
		default:
			c = uint32(o.id * 7919)
		}
		m["checksum"] = c
		sum += c
		list = append(list, m)
	}
	b, _ := json.Marshal(map[string]any{"data": map[string]any{"bucket": bucket, "data": list}})
	return string(b), sum
}

type staticConnector struct {
	endpoint string
	fetches  atomic.Int64
	uploaded atomic.Int64
	mu       sync.Mutex
	batches  [][]client.CRUDEntry
}

func (c *staticConnector) FetchCredentials(context.Context) (client.Credentials, error) {
	c.fetches.Add(1)
	return client.Credentials{Endpoint: c.endpoint, Token: "t"}, nil
}

func (c *staticConnector) UploadData(ctx context.Context, db *client.DB) error {
	b, err := db.GetCRUDBatch(ctx, 10)
	if err != nil || b == nil {
		return err
	}
	c.mu.Lock()
	c.batches = append(c.batches, b.Entries)
	c.mu.Unlock()
	c.uploaded.Add(int64(len(b.Entries)))
	return b.Complete(ctx)
}

var todoSchema = client.Schema{Tables: []client.Table{client.NewTable("todos", "title", client.Text)}}

func titles(t *testing.T, db *client.DB) string {
	t.Helper()
	r, err := db.Query(context.Background(), `SELECT id || '=' || coalesce(title, '') FROM todos ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, row := range r.Rows {
		out += row[0].(string) + " "
	}
	return out
}

func waitTitles(t *testing.T, db *client.DB, want string) {
	t.Helper()
	var got string
	waitDB(t, db, "todos "+want, 10*time.Second, func() bool {
		got = titles(t, db)
		return got == want
	})
}

// bucketLastOp is the op id bucket is validated up to (0 when unknown).
func bucketLastOp(t *testing.T, db *client.DB, bucket string) int64 {
	t.Helper()
	bs, err := db.Buckets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Name == bucket {
			return b.LastOp
		}
	}
	return 0
}

// TestProtocolSequences drives the client through scripted streams:
// priorities, diffs, REMOVE/MOVE/CLEAR, the write-checkpoint gate and
// resumption with after.
func TestProtocolSequences(t *testing.T) {
	s := newScripted(t)
	db, err := client.Open(t.Context(), client.Options{Path: filepath.Join(t.TempDir(), "c.db"), Schema: todoSchema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	conn := &staticConnector{endpoint: s.URL}
	ctx := context.Background()
	if err := db.Connect(ctx, conn, fastRetry); err != nil {
		t.Fatal(err)
	}
	req := s.request(t)
	if !req.RawData || req.ClientID != db.ClientID() || len(req.Buckets) != 0 || req.Streams == nil || !req.Streams.IncludesDefaults() {
		t.Errorf("first request %+v", req)
	}

	// Two buckets of different priorities: the priority-1 bucket is
	// published by partial_checkpoint_complete before the rest arrives.
	hi, hiSum := dataLine("hi", op{1, "PUT", "todos", "a", `{"title":"A"}`})
	lo, loSum := dataLine("lo", op{2, "PUT", "todos", "b", `{"title":"B"}`}, op{3, "PUT", "todos", "c", `{"title":"C"}`})
	s.send(`{"checkpoint":{"last_op_id":"3","buckets":[{"bucket":"hi","checksum":%d,"count":1,"priority":1},{"bucket":"lo","checksum":%d,"count":2}]}}`,
		int32(hiSum), int32(loSum))
	s.send("%s", hi)
	s.send(`{"partial_checkpoint_complete":{"last_op_id":"3","priority":1}}`)
	waitTitles(t, db, "a=A ")
	// The rows are visible a moment before the status records the
	// partial sync, so wait for the status too.
	waitDB(t, db, "status after the partial checkpoint", 10*time.Second, func() bool {
		st := db.Status()
		return !st.HasSynced && len(st.Priorities) == 1 && st.Priorities[0].Priority == 1
	})
	s.send("%s", lo)
	waitDB(t, db, "progress of lo", 10*time.Second, func() bool {
		d, tot := db.Status().Totals(-1)
		return d == 3 && tot == 3
	})
	s.send(`{"checkpoint_complete":{"last_op_id":"3"}}`)
	if err := db.WaitForFirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	waitTitles(t, db, "a=A b=B c=C ")
	if st := db.Status(); len(st.Priorities) != 4 || st.Priorities[1].LastSyncedAt != st.LastSyncedAt {
		t.Errorf("after the full checkpoint every priority is synced: %+v", st.Priorities)
	}

	// A diff: c is replaced, b removed, and bucket hi dropped entirely.
	lo2, lo2Sum := dataLine("lo", op{4, "PUT", "todos", "c", `{"title":"C2"}`}, op{5, "REMOVE", "todos", "b", ""}, op{6, "MOVE", "", "", ""})
	// The bucket checksum is the sum of every op ever, superseded or not.
	s.send(`{"checkpoint_diff":{"last_op_id":"6","updated_buckets":[{"bucket":"lo","checksum":%d,"count":5}],"removed_buckets":["hi"]}}`,
		int32(loSum+lo2Sum))
	s.send("%s", lo2)
	s.send(`{"checkpoint_complete":{"last_op_id":"6"}}`)
	waitTitles(t, db, "c=C2 ")

	// A local write closes the gate: downloaded data waits until the
	// upload's write checkpoint is in a validated checkpoint.
	s.wcp.Store(7)
	if _, err := db.Execute(ctx, `INSERT INTO todos (id, title) VALUES ('local', 'mine')`); err != nil {
		t.Fatal(err)
	}
	waitDB(t, db, "upload", 10*time.Second, func() bool { return conn.uploaded.Load() == 1 })
	conn.mu.Lock()
	e := conn.batches[0][0]
	conn.mu.Unlock()
	if e.Op != "PUT" || e.Table != "todos" || e.ID != "local" || e.Data["title"] != "mine" {
		t.Errorf("uploaded entry %+v", e)
	}
	lo3, lo3Sum := dataLine("lo", op{7, "PUT", "todos", "d", `{"title":"D"}`})
	s.send(`{"checkpoint_diff":{"last_op_id":"7","write_checkpoint":"6","updated_buckets":[{"bucket":"lo","checksum":%d,"count":6}],"removed_buckets":[]}}`,
		int32(loSum+lo2Sum+lo3Sum))
	s.send("%s", lo3)
	s.send(`{"checkpoint_complete":{"last_op_id":"7"}}`)
	// The checkpoint is validated (its position recorded) but not
	// published.
	waitDB(t, db, "checkpoint 7 validated", 10*time.Second, func() bool { return bucketLastOp(t, db, "lo") == 7 })
	if got := titles(t, db); got != "c=C2 local=mine " {
		t.Fatalf("applied before the write checkpoint was seen: %s", got)
	}
	// The service confirms the write (and drops the local row, which the
	// backend did not keep): now everything is published.
	s.send(`{"checkpoint_diff":{"last_op_id":"7","write_checkpoint":"7","updated_buckets":[],"removed_buckets":[]}}`)
	s.send(`{"checkpoint_complete":{"last_op_id":"7"}}`)
	waitTitles(t, db, "c=C2 d=D ")

	// CLEAR resets the bucket; then the stream ends and the client resumes
	// with after = the last checkpoint.
	clr, clrSum := dataLine("lo", op{8, "CLEAR", "", "", ""}, op{9, "PUT", "todos", "e", `{"title":"E"}`})
	s.send(`{"checkpoint_diff":{"last_op_id":"9","write_checkpoint":"7","updated_buckets":[{"bucket":"lo","checksum":%d,"count":2}],"removed_buckets":[]}}`,
		int32(clrSum))
	s.send("%s", clr)
	s.send(`{"checkpoint_complete":{"last_op_id":"9"}}`)
	waitTitles(t, db, "e=E ")
	s.send("EOF")
	req = s.request(t)
	if len(req.Buckets) != 1 || req.Buckets[0].Name != "lo" || req.Buckets[0].After != 9 {
		t.Errorf("resume request buckets %+v", req.Buckets)
	}
	if st := db.Status(); st.Checkpoint != 9 || st.ChecksumFailures != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestStreamSubscriptionsInRequest(t *testing.T) {
	s := newScripted(t)
	db, err := client.Open(t.Context(), client.Options{Path: filepath.Join(t.TempDir(), "c.db"), Schema: todoSchema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	ctx := context.Background()
	one := 1
	if err := db.Subscribe(ctx, "list_todos", map[string]any{"list": "L1"}, &one); err != nil {
		t.Fatal(err)
	}
	if err := db.Subscribe(ctx, "list_todos", map[string]any{"list": "L2"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Subscribe(ctx, "x", nil, func() *int { p := 9; return &p }()); err == nil {
		t.Error("priority 9 accepted")
	}
	no := false
	if err := db.Connect(ctx, &staticConnector{endpoint: s.URL}, client.ConnectOptions{IncludeDefaultStreams: &no, RetryDelay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	req := s.request(t)
	subs := req.Streams.Subscriptions
	if req.Streams.IncludesDefaults() || len(subs) != 2 || subs[0].Stream != "list_todos" || string(subs[0].Parameters) != `{"list":"L1"}` ||
		subs[0].OverridePriority == nil || *subs[0].OverridePriority != 1 || subs[1].OverridePriority != nil {
		t.Errorf("streams %+v", req.Streams)
	}
	s.send(`{"checkpoint":{"last_op_id":"0","buckets":[],"streams":[{"name":"list_todos","is_default":false,"errors":[{"subscription":1,"message":"no access"}]}]}}`)
	s.send(`{"checkpoint_complete":{"last_op_id":"0"}}`)
	if err := db.WaitForFirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	if st := db.Status(); len(st.Streams) != 1 || st.Streams[0].Errors[0].Message != "no access" {
		t.Errorf("streams status %+v", st.Streams)
	}
	// Unsubscribing reconnects with the remaining subscription.
	if err := db.Unsubscribe(ctx, "list_todos", map[string]any{"list": "L1"}); err != nil {
		t.Fatal(err)
	}
	req = s.request(t)
	if subs := req.Streams.Subscriptions; len(subs) != 1 || string(subs[0].Parameters) != `{"list":"L2"}` {
		t.Errorf("after unsubscribe: %+v", subs)
	}
}

func TestLocalWritesQueue(t *testing.T) {
	db, err := client.Open(t.Context(), client.Options{Path: filepath.Join(t.TempDir(), "c.db"), Schema: client.Schema{Tables: []client.Table{
		client.NewTable("todos", "title", client.Text, "n", client.Integer, "x", client.Real),
		{Name: "drafts", Columns: []client.Column{{Name: "body", Type: client.Text}}, LocalOnly: true},
		{Name: "events", Columns: []client.Column{{Name: "what", Type: client.Text}}, InsertOnly: true},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO todos (title, n, x) VALUES ('generated id', 2, 1.5)`,
		`UPDATE todos SET n = 3`,
		`DELETE FROM todos`,
		`INSERT INTO drafts (id, body) VALUES ('d1', 'local only')`,
		`INSERT INTO events (id, what) VALUES ('e1', 'clicked')`,
	} {
		if _, err := db.Execute(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.Execute(ctx, `UPDATE todos SET id = 'other'`); err != nil {
		t.Fatal(err) // no rows left: nothing to refuse
	}
	b, err := db.GetCRUDBatch(ctx, 2)
	if err != nil || b == nil || len(b.Entries) != 2 || !b.HasMore {
		t.Fatalf("batch %+v %v", b, err)
	}
	id := b.Entries[0].ID
	if len(id) != 36 || id[14] != '4' {
		t.Errorf("generated id %q is not a v4 UUID", id)
	}
	if e := b.Entries[0]; e.Op != "PUT" || e.Data["title"] != "generated id" || fmt.Sprint(e.Data["n"]) != "2" || fmt.Sprint(e.Data["x"]) != "1.5" {
		t.Errorf("put %+v", e)
	}
	if e := b.Entries[1]; e.Op != "PATCH" || e.ID != id || fmt.Sprint(e.Data["n"]) != "3" {
		t.Errorf("patch %+v", e)
	}
	if err := b.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ = db.GetCRUDBatch(ctx, 10)
	if b == nil || len(b.Entries) != 2 || b.Entries[0].Op != "DELETE" || b.Entries[0].ID != id ||
		b.Entries[1].Table != "events" || b.Entries[1].Data["what"] != "clicked" {
		t.Fatalf("rest of the queue %+v", b)
	}
	if n := count(t, db, `SELECT count(*) FROM drafts`); n != 1 {
		t.Errorf("local-only row: %d", n)
	}
	if n := count(t, db, `SELECT count(*) FROM events`); n != 0 {
		t.Errorf("insert-only table keeps rows: %d", n)
	}
	if n := count(t, db, `SELECT count(*) FROM ps_updated_rows WHERE row_id = ?`, id); n != 1 {
		t.Errorf("the generated row is not marked for recomputation")
	}
	if err := b.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	// One transaction's writes come out together.
	err = db.WriteTx(ctx, func(tx *sql.Tx) error {
		for _, id := range []string{"t1", "t2"} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO todos (id, title) VALUES (?, 'in a transaction')`, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Execute(ctx, `INSERT INTO todos (id, title) VALUES ('k', 'a')`); err != nil {
		t.Fatal(err)
	}
	txb, err := db.GetNextCRUDTransaction(ctx)
	if err != nil || txb == nil || len(txb.Entries) != 2 || !txb.HasMore || txb.Entries[0].ID != "t1" || txb.Entries[1].ID != "t2" ||
		txb.Entries[0].TransactionID != txb.Entries[1].TransactionID {
		t.Fatalf("next transaction %+v %v", txb, err)
	}
	if err := txb.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	txb, _ = db.GetNextCRUDTransaction(ctx)
	if txb == nil || len(txb.Entries) != 1 || txb.Entries[0].ID != "k" || txb.HasMore {
		t.Fatalf("last transaction %+v", txb)
	}
	if _, err := db.Execute(ctx, `UPDATE todos SET id = 'other' WHERE id = 'k'`); err == nil {
		t.Error("changing an id was accepted")
	}
}

func TestIdleStreamReconnects(t *testing.T) {
	s := newScripted(t)
	db, err := client.Open(t.Context(), client.Options{Path: filepath.Join(t.TempDir(), "c.db"), Schema: todoSchema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	opts := fastRetry
	opts.IdleTimeout = 200 * time.Millisecond
	if err := db.Connect(context.Background(), &staticConnector{endpoint: s.URL}, opts); err != nil {
		t.Fatal(err)
	}
	s.request(t)
	// The service says nothing: the client gives up on the stream and
	// opens a new one.
	s.request(t)
	if st := db.Status(); st.DownloadError == nil || !strings.Contains(st.DownloadError.Error(), "nothing received") {
		t.Errorf("status after idle stream: %+v", st)
	}
}

func TestTokenExpiresInLines(t *testing.T) {
	s := newScripted(t)
	db, err := client.Open(t.Context(), client.Options{Path: filepath.Join(t.TempDir(), "c.db"), Schema: todoSchema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	conn := &staticConnector{endpoint: s.URL}
	if err := db.Connect(context.Background(), conn, fastRetry); err != nil {
		t.Fatal(err)
	}
	s.request(t)
	tests := []struct {
		line       string
		reconnects bool
	}{
		{`{"token_expires_in":3600}`, false}, // keepalive
		{`{"token_expires_in":25}`, true},    // prefetch, then a new stream
		{`{"token_expires_in":0}`, true},     // expired
	}
	for _, tt := range tests {
		before := conn.fetches.Load()
		s.send("%s", tt.line)
		if !tt.reconnects {
			select {
			case <-s.requests:
				t.Fatalf("%s: reconnected", tt.line)
			case <-time.After(300 * time.Millisecond):
			}
			if conn.fetches.Load() != before {
				t.Errorf("%s: fetched credentials", tt.line)
			}
			continue
		}
		s.request(t)
		if conn.fetches.Load() != before+1 {
			t.Errorf("%s: %d credential fetches, want 1", tt.line, conn.fetches.Load()-before)
		}
	}
}

// TestOpenRefusesAndCloseTwice checks Open's refusals (no file, an invalid
// schema, a done context) and that Close may be called twice.
func TestOpenRefusesAndCloseTwice(t *testing.T) {
	for _, path := range []string{"", ":memory:"} {
		if _, err := client.Open(t.Context(), client.Options{Path: path, Schema: todoSchema}); err == nil {
			t.Errorf("Open(%q): no error", path)
		}
	}
	bad := client.Schema{Tables: []client.Table{client.NewTable("bad name\"", "x", client.Text)}}
	if _, err := client.Open(t.Context(), client.Options{Path: filepath.Join(t.TempDir(), "bad.db"), Schema: bad}); err == nil {
		t.Error("Open with an invalid table name: no error")
	}
	done, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := client.Open(done, client.Options{Path: filepath.Join(t.TempDir(), "done.db"), Schema: todoSchema}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context: %v, want context.Canceled", err)
	}
	db, err := client.Open(t.Context(), client.Options{Path: filepath.Join(t.TempDir(), "c.db"), Schema: todoSchema})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(t.Context()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
