package devtest_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/devtest"
)

// TestDev starts a dev instance, syncs test-user's rows with a minted
// token, sees a source write arrive, and stops it twice.
func TestDev(t *testing.T) {
	d := devtest.Dev(t, devtest.Options{})
	if !strings.HasPrefix(d.Endpoint, "http://127.0.0.1:") || d.AdminToken == "" || d.DevToken == "" {
		t.Fatalf("instance %+v", d.Instance)
	}
	if !strings.Contains(d.Stdout.String(), "Sync endpoint:      "+d.Endpoint) {
		t.Errorf("the banner does not name the reported endpoint:\n%s", d.Stdout)
	}
	s := d.OpenStream(t, d.Token(t, "test-user", time.Hour), `{"raw_data":true}`)
	if all := strings.Join(s.UntilComplete(t), "\n"); !strings.Contains(all, "test-user-list-1") {
		t.Fatalf("first sync without test-user's list:\n%s", all)
	}
	d.Exec(t, `INSERT INTO lists (id, name, owner_id) VALUES ('from-test', 'x', 'test-user')`)
	if all := strings.Join(s.UntilComplete(t), "\n"); !strings.Contains(all, `"object_id":"from-test"`) {
		t.Fatalf("the source write did not arrive:\n%s", all)
	}
	if code := d.Stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, d.Stderr)
	}
	if code := d.Stop(t); code != 0 {
		t.Fatalf("second Stop: exit %d", code)
	}
}

// TestDevSyncConfig replaces the sample sync config before the start.
func TestDevSyncConfig(t *testing.T) {
	d := devtest.Dev(t, devtest.Options{SyncConfig: "bucket_definitions:\n  global:\n    data:\n      - SELECT * FROM announcements\n"})
	s := d.OpenStream(t, d.DevToken, `{"raw_data":true}`)
	all := strings.Join(s.UntilComplete(t), "\n")
	if !strings.Contains(all, "welcome") || strings.Contains(all, "test-user-list-1") {
		t.Fatalf("want only the announcements:\n%s", all)
	}
}

// TestStartReportsEndpoint runs start with a config that reads the
// environment given, and syncs from it.
func TestStartReportsEndpoint(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT); INSERT INTO t VALUES ('r1', 'one')`); err != nil {
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
port: 0
sync_config:
  content: |
    bucket_definitions:
      global:
        data:
          - SELECT * FROM t
client_auth:
  audience: [test]
  jwks:
    keys:
      - {kty: oct, alg: HS256, kid: k1, k: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA}
api:
  tokens: [` + "!env PS_ADMIN" + `]
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	i := devtest.Start(t, cfg, devtest.Options{Env: map[string]string{"PS_ADMIN": "admin-secret"}})
	if i.Role != "unified" || i.AdminToken != "admin-secret" || !strings.HasPrefix(i.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("instance %+v", i.Instance)
	}
	s := i.OpenStream(t, i.Token(t, "u1", time.Minute), `{}`)
	if all := strings.Join(s.UntilComplete(t), "\n"); !strings.Contains(all, `"object_id":"r1"`) {
		t.Fatalf("first sync without row r1:\n%s", all)
	}
}
