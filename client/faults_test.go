package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/protocol"
)

// proxy sits between the client and the service: it records sync request
// bodies and can corrupt a data line in transit.
type proxy struct {
	*httptest.Server
	corrupt  atomic.Int64 // streams still to corrupt
	mu       sync.Mutex
	requests []protocol.StreamingSyncRequest
}

func newProxy(t *testing.T, target string) *proxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path == "/sync/stream" && resp.StatusCode == 200 && p.corrupt.Load() > 0 {
			p.corrupt.Add(-1)
			resp.Body = &corruptingBody{r: bufio.NewReader(resp.Body), c: resp.Body}
		}
		return nil
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sync/stream" {
			b, _ := io.ReadAll(r.Body)
			var req protocol.StreamingSyncRequest
			_ = json.Unmarshal(b, &req)
			p.mu.Lock()
			p.requests = append(p.requests, req)
			p.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
			// Plain NDJSON, so the proxy can edit lines.
			r.Header.Del("Accept-Encoding")
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *proxy) syncRequests() []protocol.StreamingSyncRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]protocol.StreamingSyncRequest(nil), p.requests...)
}

// corruptingBody adds 1 to the checksum of the first op of the first data
// line of the by_user bucket.
type corruptingBody struct {
	r    *bufio.Reader
	c    io.Closer
	buf  []byte
	done bool
}

func (b *corruptingBody) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		line, err := b.r.ReadBytes('\n')
		if len(line) > 0 {
			if !b.done && bytes.HasPrefix(line, []byte(`{"data":`)) && bytes.Contains(line, []byte(`by_user`)) {
				var m map[string]map[string]any
				if json.Unmarshal(line, &m) == nil {
					ops := m["data"]["data"].([]any)
					op := ops[0].(map[string]any)
					op["checksum"] = op["checksum"].(float64) + 1
					line, _ = json.Marshal(m)
					line = append(line, '\n')
					b.done = true
				}
			}
			b.buf = line
		}
		if err != nil && len(b.buf) == 0 {
			return 0, err
		}
		if err != nil {
			break
		}
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *corruptingBody) Close() error { return b.c.Close() }

func TestChecksumMismatchRedownloadsBucket(t *testing.T) {
	d := startDev(t)
	p := newProxy(t, d.endpoint)
	p.corrupt.Store(1)
	db := openDB(t)
	conn := newConnector(t, d, "test-user")
	conn.endpoint = p.URL
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := db.Connect(ctx, conn, fastRetry); err != nil {
		t.Fatal(err)
	}
	if err := db.WaitForFirstSync(ctx); err != nil {
		t.Fatalf("first sync: %v (status %+v)", err, db.Status())
	}
	s := db.Status()
	if s.ChecksumFailures != 1 {
		t.Errorf("checksum failures: %d, want 1", s.ChecksumFailures)
	}
	reqs := p.syncRequests()
	if len(reqs) < 2 {
		t.Fatalf("%d sync requests, want a second after the mismatch", len(reqs))
	}
	// The second request still has the global bucket (validated, kept) but
	// not the corrupted one: it is downloaded from the start.
	var names []string
	for _, b := range reqs[1].Buckets {
		names = append(names, b.Name)
	}
	if len(names) != 1 || strings.Contains(names[0], "by_user") {
		t.Errorf("second request buckets %v, want only the global bucket", names)
	}
	if n := count(t, db, `SELECT count(*) FROM todos`); n != 6 {
		t.Errorf("todos after re-download: %d, want 6", n)
	}
	bs, _ := db.Buckets(ctx)
	for _, b := range bs {
		if b.Checksum != b.Expected {
			t.Errorf("bucket %s: checksum %d, expected %d", b.Name, b.Checksum, b.Expected)
		}
	}
}

// TestTokenExpiryAndUnauthorized runs over every transport: a refused
// token (HTTP 401, or an RSocket ERROR with PSYNC_S21xx) and expiring
// tokens make the client fetch new credentials.
func TestTokenExpiryAndUnauthorized(t *testing.T) {
	for _, tr := range client.Transports {
		t.Run(string(tr), func(t *testing.T) { tokenExpiryAndUnauthorized(t, tr) })
	}
}

func tokenExpiryAndUnauthorized(t *testing.T, tr client.Transport) {
	d := startDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := fastRetry
	opts.Transport = tr

	t.Run("401 fetches new credentials", func(t *testing.T) {
		db := openDB(t)
		conn := newConnector(t, d, "test-user")
		conn.badNext.Store(2)
		if err := db.Connect(ctx, conn, opts); err != nil {
			t.Fatal(err)
		}
		if err := db.WaitForFirstSync(ctx); err != nil {
			t.Fatalf("first sync: %v", err)
		}
		if f := conn.fetches.Load(); f != 3 {
			t.Errorf("credential fetches: %d, want 3 (two rejected tokens, then a good one)", f)
		}
		if n := count(t, db, `SELECT count(*) FROM todos`); n != 6 {
			t.Errorf("todos: %d", n)
		}
	})

	t.Run("expiring tokens", func(t *testing.T) {
		db := openDB(t)
		conn := newConnector(t, d, "test-user")
		conn.lifetime.Store(2)
		if err := db.Connect(ctx, conn, opts); err != nil {
			t.Fatal(err)
		}
		if err := db.WaitForFirstSync(ctx); err != nil {
			t.Fatalf("first sync: %v", err)
		}
		before := conn.fetches.Load()
		waitDB(t, db, "credentials fetched again as tokens expire", 30*time.Second, func() bool {
			return conn.fetches.Load() >= before+2
		})
		d.exec(t, `INSERT INTO todos (id, description, owner_id) VALUES ('during-expiry', 'x', 'test-user')`)
		waitDB(t, db, "data still arrives", 30*time.Second, func() bool {
			return count(t, db, `SELECT count(*) FROM todos WHERE id = 'during-expiry'`) == 1
		})
		if s := db.Status(); s.Reconnects < 2 {
			t.Errorf("reconnects: %d, want ≥ 2", s.Reconnects)
		}
	})
}

var _ client.Connector = (*devConnector)(nil)
