// Package compat_test runs the official PowerSync Node SDK (@powersync/node,
// pinned in package.json, with better-sqlite3) against our service, started
// the way a user starts it (`powersync dev`) with tokens from our
// `powersync generate token`. `make test` installs the npm packages; under
// plain `go test` the test skips when node or the packages are missing.
package compat_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/devtest"
	"github.com/powersync-go/powersync/internal/testenv"
)

// requireSDK returns the node binary, or ends the test when node or the
// SDK packages are not installed.
func requireSDK(t *testing.T) string {
	t.Helper()
	node := testenv.LookPath(t, "node")
	for _, f := range []string{
		"node_modules/@powersync/node/package.json",
		"node_modules/better-sqlite3/build/Release/better_sqlite3.node",
	} {
		if _, err := os.Stat(f); err != nil {
			testenv.Missing(t, "compat/node/"+f, "npm packages of compat/node; `make test-deps` installs them")
		}
	}
	return node
}

// devInstance is `powersync dev` running in this process (devtest), the
// way a user starts it; the SDK clients are child processes.
type devInstance struct {
	*devtest.Instance
	dir, endpoint string
	stderr        *devtest.Log
	source        *sql.DB
}

func startDev(t *testing.T) *devInstance {
	t.Helper()
	i := devtest.Dev(t, devtest.Options{})
	return &devInstance{Instance: i, dir: i.Dir, endpoint: i.Endpoint, stderr: i.Stderr, source: i.Source(t)}
}

// token signs a token with the instance's config key (what `powersync
// generate token -c` does); it may be called from a server's goroutine.
func (d *devInstance) token(t testing.TB, subject string, seconds int) string {
	tok, err := d.Sign(subject, time.Duration(seconds)*time.Second)
	if err != nil {
		t.Error(err)
	}
	return tok
}

func (d *devInstance) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	d.Exec(t, query, args...)
}

// tokenServer is what a client's fetchCredentials() calls. Its mode says
// which token the next sync credentials get.
type tokenServer struct {
	*httptest.Server
	mode    atomic.Value // "valid", "short", "wrong"
	fetches atomic.Int64 // sync credential fetches
}

func newTokenServer(t *testing.T, d *devInstance, subject string) *tokenServer {
	ts := &tokenServer{}
	ts.mode.Store("valid")
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tok string
		mode := ts.mode.Load().(string)
		if r.URL.Query().Get("purpose") != "sync" {
			mode = "valid"
		} else {
			ts.fetches.Add(1)
		}
		switch mode {
		case "short":
			tok = d.token(t, subject, 3)
		case "prefetch":
			tok = d.token(t, subject, 25)
		case "wrong":
			tok = d.token(t, subject, 3600)
			tok = tok[:len(tok)-4] + "AAAA" // a signature that does not verify
		default:
			tok = d.token(t, subject, 3600)
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
	}))
	t.Cleanup(ts.Close)
	return ts
}

// sdkClient is one node process running sdk-client.mjs.
type sdkClient struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies chan map[string]any
	nextID  int
	stderr  *devtest.Log
}

func startClient(t *testing.T, node string, d *devInstance, ts *tokenServer, name string) *sdkClient {
	t.Helper()
	return startClientOver(t, node, d.endpoint, "http", ts, name)
}

// startClientOver starts an SDK client that syncs from endpoint with the
// SyncStreamConnectionMethod method ("http" or "web-socket").
func startClientOver(t *testing.T, node, endpoint, method string, ts *tokenServer, name string) *sdkClient {
	t.Helper()
	c := &sdkClient{name: name, replies: make(chan map[string]any, 16), stderr: &devtest.Log{}}
	c.cmd = exec.Command(node, "sdk-client.mjs")
	c.cmd.Env = append(os.Environ(), "ENDPOINT="+endpoint, "METHOD="+method, "TOKEN_URL="+ts.URL+"/", "DB_DIR="+t.TempDir())
	c.cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.replies)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				c.replies <- m
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.stdin.Close()
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("client %s stderr:\n%s", c.name, tail(c.stderr.String(), 4000))
		}
	})
	return c
}

func (c *sdkClient) call(t *testing.T, msg map[string]any) map[string]any {
	t.Helper()
	c.nextID++
	msg["id"] = c.nextID
	b, _ := json.Marshal(msg)
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("client %s: %v\n%s", c.name, err, tail(c.stderr.String(), 4000))
	}
	select {
	case r, ok := <-c.replies:
		if !ok {
			t.Fatalf("client %s exited:\n%s", c.name, tail(c.stderr.String(), 4000))
		}
		if e, _ := r["error"].(string); e != "" {
			t.Fatalf("client %s: %s", c.name, e)
		}
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("client %s did not answer", c.name)
	}
	return nil
}

func (c *sdkClient) query(t *testing.T, q string, args ...any) []map[string]any {
	t.Helper()
	if args == nil {
		args = []any{}
	}
	r := c.call(t, map[string]any{"cmd": "query", "sql": q, "params": args})
	rows, _ := r["rows"].([]any)
	out := make([]map[string]any, len(rows))
	for i, x := range rows {
		out[i], _ = x.(map[string]any)
	}
	return out
}

func (c *sdkClient) execute(t *testing.T, q string, args ...any) {
	t.Helper()
	c.call(t, map[string]any{"cmd": "execute", "sql": q, "params": args})
}

func (c *sdkClient) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	rows := c.query(t, q, args...)
	if len(rows) != 1 {
		t.Fatalf("count query returned %d rows", len(rows))
	}
	for _, v := range rows[0] {
		n, _ := v.(float64)
		return int(n)
	}
	return -1
}

// eventually waits until cond holds, checking it again at every event of
// the SDK client (a sync status change, a change to a synced table, a
// credential fetch) for at most timeout.
func (c *sdkClient) eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		// Read the counter before checking: an event after the check ends
		// the wait at once.
		n, _ := c.call(t, map[string]any{"cmd": "changes"})["changes"].(float64)
		if cond() {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("client %s: timed out after %s waiting for: %s", c.name, timeout, what)
		}
		c.call(t, map[string]any{"cmd": "wait", "after": n, "timeout_ms": min(left, 20*time.Second).Milliseconds()})
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// sdkTransport is one way the SDK reaches the service.
type sdkTransport struct {
	name   string // subtest name
	method string // the SDK's SyncStreamConnectionMethod
	// accept, when set, replaces the Accept header of the SDK's POST
	// /sync/stream (which always prefers BSON) on its way to the service.
	accept string
	// answer is what the service must answer every /sync/stream with: the
	// Content-Type of a 200, or "websocket" for a 101 upgrade.
	answer string
}

var sdkTransports = []sdkTransport{
	{name: "ndjson", method: "http", accept: "application/x-ndjson", answer: "application/x-ndjson"},
	{name: "bson", method: "http", answer: "application/vnd.powersync.bson-stream"},
	{name: "websocket", method: "web-socket", answer: "websocket"},
}

// transportProxy stands between the SDK clients and the service: it sets
// the Accept header a transport asks for and records how the service
// answered each sync stream, so a test knows which transport carried it.
type transportProxy struct {
	*httptest.Server
	mu      sync.Mutex
	answers map[string]int // Content-Type of a 200 /sync/stream, or "websocket", or "POST 401"…
}

func newTransportProxy(t *testing.T, endpoint string, tr sdkTransport) *transportProxy {
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &transportProxy{answers: map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			if tr.accept != "" && r.In.Method == http.MethodPost && r.In.URL.Path == "/sync/stream" {
				r.Out.Header.Set("Accept", tr.accept)
			}
		},
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.URL.Path != "/sync/stream" {
				return nil
			}
			answer := fmt.Sprintf("%s %d", resp.Request.Method, resp.StatusCode)
			switch resp.StatusCode {
			case http.StatusOK:
				answer = resp.Header.Get("Content-Type")
			case http.StatusSwitchingProtocols:
				answer = "websocket"
			}
			p.mu.Lock()
			p.answers[answer]++
			p.mu.Unlock()
			return nil
		},
	}
	p.Server = httptest.NewServer(rp)
	t.Cleanup(p.Close)
	return p
}

// check fails the test unless every sync stream the service accepted was
// answered the transport's way (and at least one was).
func (p *transportProxy) check(t *testing.T, tr sdkTransport) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.answers[tr.answer] == 0 {
		t.Errorf("%s: no sync stream answered with %s; answers %v", tr.name, tr.answer, p.answers)
	}
	for a, n := range p.answers {
		if a != tr.answer && !strings.HasSuffix(a, " 401") {
			t.Errorf("%s: %d sync streams answered %q, want only %q", tr.name, n, a, tr.answer)
		}
	}
}

// TestOfficialNodeSDK runs the same scenarios with the SDK on each
// transport: HTTP with NDJSON, HTTP with BSON (what the SDK asks for by
// default) and RSocket over WebSocket.
func TestOfficialNodeSDK(t *testing.T) {
	node := requireSDK(t)
	for _, tr := range sdkTransports {
		t.Run(tr.name, func(t *testing.T) { sdkScenarios(t, node, tr) })
	}
	// Each transport ran the same scenario on its own instance: the
	// client's final tables must be the same, row for row.
	base, ok := finalTables.Load(sdkTransports[0].name)
	for _, tr := range sdkTransports[1:] {
		if other, ok2 := finalTables.Load(tr.name); ok && ok2 && other != base {
			t.Errorf("the final todos over %s differ from those over %s", tr.name, sdkTransports[0].name)
		}
	}
}

func sdkScenarios(t *testing.T, node string, tr sdkTransport) {
	d := startDev(t)
	proxy := newTransportProxy(t, d.endpoint, tr)
	defer proxy.check(t, tr)
	start := func(ts *tokenServer, name string) *sdkClient {
		return startClientOver(t, node, proxy.URL, tr.method, ts, name)
	}

	// 10,000 rows for user u1, inserted into the source while running.
	tx, err := d.source.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10000 {
		if _, err := tx.Exec(`INSERT INTO todos (id, list_id, description, completed, owner_id) VALUES (?, 'l1', ?, ?, 'u1')`,
			fmt.Sprintf("todo-%05d", i), fmt.Sprintf("Todo number %d with some text to make it realistic", i), i%2); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	ts1 := newTokenServer(t, d, "u1")
	c1 := start(ts1, "c1")

	t.Run("initial sync of 10000 rows", func(t *testing.T) {
		c1.eventually(t, "10000 todos in the SDK's database", 90*time.Second, func() bool {
			return c1.count(t, `SELECT count(*) AS n FROM todos`) == 10000
		})
		if n := c1.count(t, `SELECT count(*) AS n FROM announcements`); n != 1 {
			t.Errorf("announcements: %d, want 1 (the global bucket)", n)
		}
		rows := c1.query(t, `SELECT description, completed, owner_id FROM todos WHERE id = 'todo-00007'`)
		if len(rows) != 1 || rows[0]["description"] != "Todo number 7 with some text to make it realistic" ||
			rows[0]["completed"] != float64(1) || rows[0]["owner_id"] != "u1" {
			t.Errorf("row todo-00007: %v", rows)
		}
	})

	t.Run("insert, update and delete reach the client", func(t *testing.T) {
		d.exec(t, `INSERT INTO todos (id, description, owner_id) VALUES ('new-1', 'inserted in the source', 'u1')`)
		c1.eventually(t, "inserted row", 20*time.Second, func() bool {
			return c1.count(t, `SELECT count(*) FROM todos WHERE id = 'new-1' AND description = 'inserted in the source'`) == 1
		})
		d.exec(t, `UPDATE todos SET description = 'updated in the source', completed = 1 WHERE id = 'new-1'`)
		c1.eventually(t, "updated row", 20*time.Second, func() bool {
			return c1.count(t, `SELECT count(*) FROM todos WHERE id = 'new-1' AND description = 'updated in the source' AND completed = 1`) == 1
		})
		d.exec(t, `DELETE FROM todos WHERE id = 'new-1'`)
		c1.eventually(t, "deleted row gone", 20*time.Second, func() bool {
			return c1.count(t, `SELECT count(*) FROM todos WHERE id = 'new-1'`) == 0
		})
	})

	t.Run("rows leave when the owner changes", func(t *testing.T) {
		d.exec(t, `UPDATE todos SET owner_id = 'u2' WHERE id IN ('todo-00001', 'todo-00002')`)
		c1.eventually(t, "rows of the new owner gone", 20*time.Second, func() bool {
			return c1.count(t, `SELECT count(*) FROM todos WHERE id IN ('todo-00001', 'todo-00002')`) == 0
		})
		if n := c1.count(t, `SELECT count(*) FROM todos`); n != 9998 {
			t.Errorf("todos: %d, want 9998", n)
		}
	})

	t.Run("client writes round-trip to every client of the user", func(t *testing.T) {
		ts2 := newTokenServer(t, d, "u1")
		c2 := start(ts2, "c2")
		c2.eventually(t, "second client synced", 90*time.Second, func() bool {
			return c2.count(t, `SELECT count(*) FROM todos`) == 9998
		})
		c1.execute(t, `INSERT INTO todos (id, description, completed, owner_id) VALUES (?, ?, 0, 'u1')`, "client-1", "written on c1")
		c1.execute(t, `UPDATE todos SET completed = 1 WHERE id = ?`, "todo-00010")
		// Uploaded through the dev write endpoint, applied to the source,
		// replicated, and confirmed to c1 by write-checkpoint2 plus the next
		// checkpoint: the rows are then synced data (ps_oplog), not only
		// local writes, and the upload queue is empty.
		c1.eventually(t, "c1's write confirmed by the service", 30*time.Second, func() bool {
			return c1.count(t, `SELECT count(*) FROM ps_crud`) == 0 &&
				c1.count(t, `SELECT count(*) FROM ps_oplog WHERE row_id = 'client-1'`) == 1 &&
				c1.count(t, `SELECT count(*) FROM todos WHERE id = 'todo-00010' AND completed = 1`) == 1
		})
		var desc string
		if err := d.source.QueryRow(`SELECT description FROM todos WHERE id = 'client-1'`).Scan(&desc); err != nil || desc != "written on c1" {
			t.Errorf("source row: %q, %v", desc, err)
		}
		c2.eventually(t, "c1's write on c2", 20*time.Second, func() bool {
			return c2.count(t, `SELECT count(*) FROM todos WHERE id = 'client-1' AND description = 'written on c1'`) == 1 &&
				c2.count(t, `SELECT count(*) FROM todos WHERE id = 'todo-00010' AND completed = 1`) == 1
		})
	})

	t.Run("expiring tokens are refreshed and sync goes on", func(t *testing.T) {
		// prefetch: 25 s tokens, so the stream says token_expires_in 20
		// after ~5 s and the SDK fetches new credentials ahead of time.
		// short: 3 s tokens, so the stream sends token_expires_in 0 and ends;
		// the SDK fetches new credentials and reconnects.
		for _, mode := range []string{"prefetch", "short"} {
			ts := newTokenServer(t, d, "u1")
			ts.mode.Store(mode)
			c := start(ts, mode)
			c.eventually(t, mode+": initial sync", 90*time.Second, func() bool {
				return c.count(t, `SELECT count(*) FROM todos WHERE owner_id = 'u1'`) > 9000
			})
			before := ts.fetches.Load()
			c.eventually(t, mode+": credentials fetched again as tokens expire", 60*time.Second, func() bool {
				return ts.fetches.Load() >= before+2
			})
			id := "during-" + mode
			d.exec(t, `INSERT INTO todos (id, description, owner_id) VALUES (?, 'while tokens expire', 'u1')`, id)
			c.eventually(t, mode+": data still arrives", 30*time.Second, func() bool {
				return c.count(t, `SELECT count(*) FROM todos WHERE id = ?`, id) == 1
			})
		}
	})

	t.Run("a wrong token gets 401 and the SDK retries with new credentials", func(t *testing.T) {
		ts3 := newTokenServer(t, d, "u1")
		ts3.mode.Store("wrong")
		// The service answers 401 to this token.
		req, _ := http.NewRequestWithContext(context.Background(), "POST", d.endpoint+"/sync/stream", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Token "+d.token(t, "u1", 3600)[:10]+"x.y.z")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("wrong token: status %d, want 401", resp.StatusCode)
		}
		c3 := start(ts3, "c3")
		c3.eventually(t, "SDK fetched credentials again after 401", 30*time.Second, func() bool {
			return ts3.fetches.Load() >= 2
		})
		if n := c3.count(t, `SELECT count(*) FROM todos`); n != 0 {
			t.Fatalf("synced %d rows with a wrong token", n)
		}
		ts3.mode.Store("valid")
		c3.eventually(t, "synced once the credentials are valid", 90*time.Second, func() bool {
			return c3.count(t, `SELECT count(*) FROM todos WHERE owner_id = 'u1'`) > 9000
		})
	})

	t.Run("the final tables equal the source", func(t *testing.T) {
		want := sourceTodos(t, d, "u1")
		var got string
		c1.eventually(t, "c1's todos equal the source's", 30*time.Second, func() bool {
			got = sdkTodos(t, c1)
			return got == want
		})
		finalTables.Store(tr.name, got)
	})

	if strings.Contains(d.stderr.String(), "panic") {
		t.Errorf("service log has a panic:\n%s", tail(d.stderr.String(), 4000))
	}
}

// finalTables holds each transport's final todos of c1, for
// TestOfficialNodeSDK to compare across transports.
var finalTables sync.Map

// todoColumns are the columns compared between source and client (created_at
// is set by the source's clock, so it is left out of comparisons across runs).
const todoColumns = `id, ifnull(list_id, '') AS list, ifnull(description, '') AS descr, ifnull(completed, 0) AS done, owner_id AS own`

// sourceTodos renders the user's todos in the source, one row a line.
func sourceTodos(t *testing.T, d *devInstance, owner string) string {
	t.Helper()
	rows, err := d.source.Query(`SELECT `+todoColumns+` FROM todos WHERE owner_id = ? ORDER BY id`, owner)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, list, desc, own string
		var done int64
		if err := rows.Scan(&id, &list, &desc, &done, &own); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s|%s|%s|%d|%s\n", id, list, desc, done, own)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// sdkTodos renders the SDK database's todos the same way.
func sdkTodos(t *testing.T, c *sdkClient) string {
	t.Helper()
	var b strings.Builder
	rows := c.query(t, `SELECT `+todoColumns+` FROM todos ORDER BY id`)
	for _, r := range rows {
		done, _ := r["done"].(float64)
		fmt.Fprintf(&b, "%v|%v|%v|%d|%v\n", r["id"], r["list"], r["descr"], int64(done), r["own"])
	}
	return b.String()
}
