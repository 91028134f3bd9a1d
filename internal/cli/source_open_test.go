package cli_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenSQLiteSource runs validate and start against a service config
// whose SQLite source path is missing, a directory, or not a database. Both
// must exit 1 with an error that names the config key, where it is written
// and the file; start used to panic in the source's Close (a nil
// *sqlite.Source stored in the source.Source interface).
func TestBrokenSQLiteSource(t *testing.T) {
	clearConfigEnv(t)
	cases := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{"missing", func(*testing.T, string) {}, "database file does not exist: %s (create it first, or fix the path)"},
		{"directory", func(t *testing.T, p string) { mkdir(t, p) }, "not a regular file: %s is a directory, not a database file"},
		{"text file", func(t *testing.T, p string) { writeFile(t, p, "id,title\n1,milk\n") },
			"not a SQLite database: %s does not start with the SQLite header"},
		{"truncated header", func(t *testing.T, p string) { writeFile(t, p, "SQLite for") },
			"not a SQLite database: %s does not start with the SQLite header"},
		{"dangling symlink", func(t *testing.T, p string) {
			if err := os.Symlink(filepath.Join(filepath.Dir(p), "gone.db"), p); err != nil {
				t.Fatal(err)
			}
		}, "database file does not exist: %s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "app.db")
			tc.setup(t, db)
			cfg := filepath.Join(dir, "service.yaml")
			// The comment puts the source path on line 5.
			writeFile(t, cfg, "# a comment line\n"+sqliteGlobalConfig)
			detail := strings.ReplaceAll(tc.want, "%s", db)

			code, stdout, stderr := runCLI(t, "validate", "-c", cfg)
			want := cfg + ":5:13: error: replication.connections[0].path: sqlite source: " + detail
			if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "\n 5 |       path: app.db\n   |             ^\n") {
				t.Errorf("validate: exit %d\nstdout: %s\nstderr: %s\nwant it to contain: %s", code, stdout, stderr, want)
			}
			if strings.Contains(stdout, "OK") {
				t.Errorf("validate said OK: %s", stdout)
			}

			code, _, stderr = runCLI(t, "start", "-c", cfg)
			want = "open source database: replication.connections[0].path (" + cfg + ":5:13): sqlite source: " + detail
			if code != 1 || !strings.Contains(stderr, want) {
				t.Errorf("start: exit %d\nstderr: %s\nwant it to contain: %s", code, stderr, want)
			}
		})
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

// sqliteGlobalConfig is a service config for the SQLite source app.db
// beside it: one global bucket of todos, Pebble storage in data, and an
// HS256 client key (kid k1) for audience app. It ends inside client_auth,
// so a test can append client_auth settings and further sections.
const sqliteGlobalConfig = `replication:
  connections:
    - type: sqlite
      path: app.db
storage:
  path: data
port: 0
sync_config:
  content: |
    bucket_definitions:
      global:
        data:
          - SELECT * FROM todos
client_auth:
  audience: [app]
  jwks:
    keys:
      - {kty: oct, alg: HS256, kid: k1, k: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA}
`

// sqliteSource creates the SQLite source database at path (WAL, so the
// service can read it while the test writes), runs ddl in it and returns
// it open until the test ends.
func sqliteSource(t *testing.T, path, ddl string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(ddl); err != nil {
		t.Fatal(err)
	}
	return db
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
