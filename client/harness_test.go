package client_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/internal/devtest"
)

// devService is an in-process `powersync dev`: SQLite source with the
// sample lists/todos/announcements, Pebble storage, HS256 tokens.
type devService struct {
	*devtest.Instance
	dir, endpoint string
	source        *sql.DB
	stderr        *devtest.Log
}

func startDev(t *testing.T) *devService { return startDevB(t) }

func startDevB(t testing.TB) *devService { return startDevConfig(t, "") }

// startDevConfig starts `powersync dev`; a non-empty syncConfig replaces
// the sample sync config.
func startDevConfig(t testing.TB, syncConfig string) *devService {
	t.Helper()
	i := devtest.Dev(t, devtest.Options{SyncConfig: syncConfig})
	return &devService{Instance: i, dir: i.Dir, endpoint: i.Endpoint, source: i.Source(t), stderr: i.Stderr}
}

// token signs a token for subject valid for seconds; it may be called
// from the client's goroutines.
func (d *devService) token(t testing.TB, subject string, seconds int) string {
	tok, err := d.Sign(subject, time.Duration(seconds)*time.Second)
	if err != nil {
		t.Error(err)
	}
	return tok
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
	db, err := client.Open(t.Context(), client.Options{Path: filepath.Join(t.TempDir(), "client.db"), Schema: testSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
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

// waitDB waits until cond holds, checking it at every status change of db
// (a checkpoint's rows, an upload's end and a reconnect each change the
// status), for at most limit.
func waitDB(t *testing.T, db *client.DB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := db.WaitFor(ctx, func(client.SyncStatus) bool { return cond() }); err != nil {
		t.Fatalf("no %s within %s (status %+v)", what, limit, db.Status())
	}
}

var fastRetry = client.ConnectOptions{RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 500 * time.Millisecond}
