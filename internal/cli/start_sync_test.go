package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/cli"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
)

// syncBuffer is a writer safe for the command's goroutines and the test.
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

// TestStartSyncRole runs `powersync start -r sync` on a SQLite source with
// Pebble storage: it replicates existing rows and later writes, and stops
// on cancellation with the data committed.
func TestStartSyncRole(t *testing.T) {
	clearConfigEnv(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE todos (id INTEGER PRIMARY KEY, owner_id TEXT, title TEXT);
		INSERT INTO todos VALUES (1, 'u1', 'first'), (2, 'u2', 'second')`); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "service.yaml")
	yaml := `replication:
  connections:
    - type: sqlite
      path: app.db
storage:
  type: pebble
  path: data
sync_config:
  content: |
    bucket_definitions:
      by_owner:
        parameters: SELECT request.user_id() AS owner_id
        data:
          - SELECT * FROM todos WHERE owner_id = bucket.owner_id
client_auth:
  jwks:
    keys:
      - kty: oct
        alg: HS256
        kid: k1
        k: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"start", "-r", "sync", "-c", cfg}, strings.NewReader(""), &stderr, &stderr)
	}()

	// Replication acknowledges a position to the source only after bucket
	// storage committed it.
	waitAcked := func(min int64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			var p sql.NullInt64
			_ = db.QueryRow("SELECT min(position) FROM _powersync_slots").Scan(&p)
			if p.Valid && p.Int64 >= min {
				return
			}
			select {
			case code := <-done:
				t.Fatalf("start -r sync exited with %d:\n%s", code, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no commit past %d; log:\n%s", min, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitAcked(1)
	if _, err := db.Exec("INSERT INTO todos VALUES (3, 'u1', 'third')"); err != nil {
		t.Fatal(err)
	}
	var seq int64
	if err := db.QueryRow("SELECT max(seq) FROM _powersync_changes").Scan(&seq); err != nil {
		t.Fatal(err)
	}
	waitAcked(seq)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("start -r sync did not stop")
	}

	st, err := pebble.Open(filepath.Join(dir, "data"), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	v, err := st.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sums, err := st.Bucket(v.ID).Checksums(context.Background(), v.Checkpoint, []string{
		bucketID(v, `by_owner["u1"]`), bucketID(v, `by_owner["u2"]`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if sums[0].Count != 2 || sums[1].Count != 1 {
		t.Errorf("ops per bucket: %+v; log:\n%s", sums, stderr.String())
	}
}

func bucketID(v storage.Version, b string) string {
	return strconv.FormatInt(v.ID, 10) + "#" + b
}
