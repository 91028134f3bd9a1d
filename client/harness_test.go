package client_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/internal/cli"
)

// syncBuffer is a writer safe for a command's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devService is an in-process `powersync dev`: SQLite source with the
// sample lists/todos/announcements, Pebble storage, HS256 tokens.
type devService struct {
	dir, endpoint string
	source        *sql.DB
	stderr        *syncBuffer
}

func startDev(t *testing.T) *devService { return startDevB(t) }

func startDevB(t testing.TB) *devService { return startDevConfig(t, "") }

// startDevConfig starts `powersync dev`; a non-empty syncConfig replaces
// the sample sync config (the folder is created by a first, short run).
func startDevConfig(t testing.TB, syncConfig string) *devService {
	t.Helper()
	d := &devService{dir: filepath.Join(t.TempDir(), "dev"), stderr: &syncBuffer{}}
	if syncConfig != "" {
		stop := d.run(t)
		stop()
		if err := os.WriteFile(filepath.Join(d.dir, "sync-config.yaml"), []byte(syncConfig), 0o644); err != nil {
			t.Fatal(err)
		}
		d.endpoint = ""
	}
	t.Cleanup(d.run(t))
	var err error
	d.source, err = sql.Open("sqlite", "file:"+filepath.Join(d.dir, "source.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.source.Close() })
	return d
}

// run starts the dev instance and waits for its endpoint; the returned
// function stops it.
func (d *devService) run(t testing.TB) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"dev", "--dir", d.dir, "--port", "0"}, strings.NewReader(""), out, d.stderr)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for d.endpoint == "" {
		for _, l := range strings.Split(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "Sync endpoint:"); ok {
				d.endpoint = strings.TrimSpace(rest)
			}
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("powersync dev exited with %d:\n%s", code, d.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("powersync dev printed no endpoint:\n%s", d.stderr)
		}
	}
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("powersync dev did not stop")
		}
	}
}

func (d *devService) token(t testing.TB, subject string, seconds int) string {
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), []string{"generate", "token", "-c", filepath.Join(d.dir, "service.yaml"),
		"--subject", subject, "--expires-in-seconds", fmt.Sprint(seconds)}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Errorf("generate token: %d %s", code, errb.String())
	}
	return strings.TrimSpace(out.String())
}

func (d *devService) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := d.source.Exec(q, args...); err != nil {
		t.Fatalf("source: %s: %v", q, err)
	}
}

// devConnector fetches tokens from the dev service and uploads through its
// development write endpoint. Endpoint may point at a proxy.
type devConnector struct {
	d        *devService
	t        testing.TB
	user     string
	endpoint string
	lifetime atomic.Int64 // seconds of the next token
	badNext  atomic.Int64 // how many next tokens get a broken signature
	fetches  atomic.Int64
	uploads  atomic.Int64
}

func newConnector(t testing.TB, d *devService, user string) *devConnector {
	c := &devConnector{d: d, t: t, user: user, endpoint: d.endpoint}
	c.lifetime.Store(3600)
	return c
}

func (c *devConnector) FetchCredentials(ctx context.Context) (client.Credentials, error) {
	c.fetches.Add(1)
	tok := c.d.token(c.t, c.user, int(c.lifetime.Load()))
	if c.badNext.Load() > 0 {
		c.badNext.Add(-1)
		tok = tok[:len(tok)-4] + "AAAA"
	}
	return client.Credentials{Endpoint: c.endpoint, Token: tok}, nil
}

func (c *devConnector) UploadData(ctx context.Context, db *client.DB) error {
	batch, err := db.GetCRUDBatch(ctx, 100)
	if err != nil || batch == nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"batch": batch.Entries})
	req, _ := http.NewRequestWithContext(ctx, "POST", c.d.endpoint+"/api/dev/crud", bytes.NewReader(body))
	req.Header.Set("Authorization", "Token "+c.d.token(c.t, c.user, 600))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("upload: %d %s", resp.StatusCode, b)
	}
	c.uploads.Add(1)
	return batch.Complete(ctx)
}

var testSchema = client.Schema{Tables: []client.Table{
	client.NewTable("lists", "name", client.Text, "owner_id", client.Text, "created_at", client.Text),
	client.NewTable("todos", "list_id", client.Text, "description", client.Text, "completed", client.Integer,
		"owner_id", client.Text, "created_at", client.Text),
	client.NewTable("announcements", "message", client.Text, "created_at", client.Text),
}}

func openDB(t *testing.T) *client.DB {
	t.Helper()
	db, err := client.Open(filepath.Join(t.TempDir(), "client.db"), testSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t *testing.T, db *client.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var fastRetry = client.ConnectOptions{RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 500 * time.Millisecond}
