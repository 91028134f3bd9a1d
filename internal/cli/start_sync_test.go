package cli_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/devtest"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
)

// TestStartSyncRole runs `powersync start -r sync` on a SQLite source with
// Pebble storage: it replicates existing rows and later writes, and stops
// on cancellation with the data committed.
func TestStartSyncRole(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	db := sqliteSource(t, dbPath, `CREATE TABLE todos (id INTEGER PRIMARY KEY, owner_id TEXT, title TEXT);
		INSERT INTO todos VALUES (1, 'u1', 'first'), (2, 'u2', 'second')`)
	cfg := filepath.Join(dir, "service.yaml")
	yaml := `replication:
  connections:
    - type: sqlite
      path: app.db
storage:
  type: pebble
  path: data
` + byOwnerSyncConfig + `client_auth:
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

	inst := devtest.Start(t, cfg, devtest.Options{Args: []string{"-r", "sync"}})

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
			case <-inst.Done():
				t.Fatalf("start -r sync exited:\n%s", inst.Stderr)
			case <-time.After(10 * time.Millisecond):
				// SQLite has no change notification to wait on.
			}
			if time.Now().After(deadline) {
				t.Fatalf("no commit past %d; log:\n%s", min, inst.Stderr)
			}
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
	if code := inst.Stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, inst.Stderr)
	}

	st, err := pebble.Open(t.Context(), pebble.Options{Dir: filepath.Join(dir, "data")})
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
		t.Errorf("ops per bucket: %+v; log:\n%s", sums, inst.Stderr)
	}
}

func bucketID(v storage.Version, b string) string {
	return strconv.FormatInt(v.ID, 10) + "#" + b
}
