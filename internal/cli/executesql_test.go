package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/devtest"
)

// sqlAnswer is an execute-sql response.
type sqlAnswer struct {
	Success bool
	Results struct {
		Columns []string
		Rows    [][]any
	}
	Error string
}

// executeSQL posts one query to an instance's execute-sql route.
func executeSQL(t *testing.T, endpoint, adminToken, query string, args ...any) sqlAnswer {
	t.Helper()
	if args == nil {
		args = []any{}
	}
	body, _ := json.Marshal(map[string]any{"sql": map[string]any{"query": query, "args": args}})
	req, _ := http.NewRequest(http.MethodPost, endpoint+"/api/admin/v1/execute-sql", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct{ Data sqlAnswer }
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil {
		t.Fatalf("execute-sql %.60q: %d %s", query, resp.StatusCode, b)
	}
	return out.Data
}

// listFiles names every file under the directories, recursively.
func listFiles(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(out)
	return out
}

// TestExecuteSQLDevAttacks: on `powersync dev` (whose service.yaml turns
// debug_api on), the attacks of issue 11 on the SQLite source are refused
// with an error that names what was refused, no row reaches the source (so
// none replicates), no file is created, and ordinary SELECTs with
// arguments still work.
func TestExecuteSQLDevAttacks(t *testing.T) {
	i := devtest.Dev(t, devtest.Options{})
	outside := t.TempDir()
	source := filepath.Join(i.Dir, "source.db")
	// The dev folder's storage changes as the instance runs; the source
	// folder's and the outside directory's list of files must not.
	files := listFiles(t, outside)
	count := func() string {
		a := executeSQL(t, i.Endpoint, i.AdminToken, "SELECT (SELECT count(*) FROM todos), (SELECT count(*) FROM lists), (SELECT count(*) FROM todos WHERE id LIKE 'evil%')")
		if !a.Success {
			t.Fatalf("count: %s", a.Error)
		}
		return fmt.Sprint(a.Results.Rows)
	}
	before := count()
	for _, q := range []string{
		"PRAGMA query_only=0; ATTACH '" + source + "' AS w; INSERT INTO w.todos (id, list_id, owner_id, description) VALUES ('evil1', 'x', 'test-user', 'injected')",
		"PRAGMA query_only=0",
		"ATTACH '" + source + "' AS w",
		"ATTACH '" + filepath.Join(outside, "attached.db") + "' AS o",
		"VACUUM INTO '" + filepath.Join(outside, "copy.db") + "'",
		"PRAGMA query_only=0; VACUUM INTO '" + filepath.Join(outside, "copy2.db") + "'",
		"INSERT INTO todos (id, list_id, owner_id, description) VALUES ('evil2', 'x', 'test-user', 'injected')",
		"DELETE FROM todos",
		"SELECT load_extension('" + filepath.Join(outside, "evil.so") + "')",
		"SELECT 1; ATTACH '" + filepath.Join(outside, "second.db") + "' AS o",
		"SELECT 1 /* ; */ ; DELETE FROM todos",
		"SELECT 1 -- ;\n; DELETE FROM todos",
		"SELECT 'unterminated",
		"SELECT 1\x00; DELETE FROM todos",
		"WITH x AS (SELECT 1) DELETE FROM todos",
		"SELECT '" + strings.Repeat("x", 200_000) + "'",
		"SELECT 1;;",
	} {
		a := executeSQL(t, i.Endpoint, i.AdminToken, q)
		if a.Success || !strings.HasPrefix(a.Error, "execute-sql: refused ") {
			t.Errorf("%.70q: success %v, error %q; want refused", q, a.Success, a.Error)
		}
	}
	if after := count(); after != before {
		t.Errorf("the source changed: %s, was %s", after, before)
	}
	if after := listFiles(t, outside); !slices.Equal(after, files) {
		t.Errorf("files were created: %v", after)
	}
	a := executeSQL(t, i.Endpoint, i.AdminToken, "SELECT id, completed FROM todos WHERE owner_id = ? ORDER BY id LIMIT 1;", "test-user")
	if !a.Success || strings.Join(a.Results.Columns, ",") != "id,completed" || fmt.Sprint(a.Results.Rows) != "[[test-user-list-1-todo-1 1]]" {
		t.Errorf("select: %+v", a)
	}
	a = executeSQL(t, i.Endpoint, i.AdminToken, "SELECT 'héllo ✓' AS \"grüße\", ? AS arg -- ; DELETE FROM todos", "✓")
	if !a.Success || a.Results.Columns[0] != "grüße" || fmt.Sprint(a.Results.Rows) != "[[héllo ✓ ✓]]" {
		t.Errorf("unicode: %+v", a)
	}
}

// TestExecuteSQLNeedsDebugAPI: without debug_api on the source connection
// execute-sql runs nothing, and says which setting turns it on.
func TestExecuteSQLNeedsDebugAPI(t *testing.T) {
	first := devtest.Dev(t, devtest.Options{})
	dir := first.Dir
	if code := first.Stop(t); code != 0 {
		t.Fatalf("dev exited with %d", code)
	}
	cfg := filepath.Join(dir, "service.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Without the line debug_api is false, its default.
	if err := os.WriteFile(cfg, bytes.ReplaceAll(b, []byte("debug_api: true"), nil), 0o600); err != nil {
		t.Fatal(err)
	}
	i := devtest.Dev(t, devtest.Options{Dir: dir})
	a := executeSQL(t, i.Endpoint, i.AdminToken, "SELECT count(*) FROM todos")
	if a.Success || !strings.Contains(a.Error, "SQL querying is not enabled") || !strings.Contains(a.Error, "debug_api: true") ||
		len(a.Results.Rows) != 0 {
		t.Errorf("debug_api false: %+v", a)
	}
}

// TestExecuteSQLPostgresAttacks: a unified process on a real Postgres
// source with debug_api on. Dropping or advancing the service's own slot
// and terminating backends through execute-sql are refused: the slot is
// still there, unmoved, the other backend is alive, replication still
// delivers a new row to the sync stream, and SELECTs with arguments work.
func TestExecuteSQLPostgresAttacks(t *testing.T) {
	c, conn := todosPostgres(t)
	ctx := context.Background()
	const admin = "pg-admin-token"
	cfg := filepath.Join(t.TempDir(), "service.yaml")
	writeTodosPostgresConfig(t, cfg, c, `  audience: [app]
  jwks:
    keys:
      - {kty: oct, alg: HS256, kid: k1, k: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA}
`, admin)
	i := devtest.Start(t, cfg, devtest.Options{})
	// Once a client has a complete checkpoint, the snapshot is done and
	// the service streams from its slot.
	stream := i.OpenStream(t, i.Token(t, "u1", time.Hour), `{"raw_data":true}`)
	stream.UntilComplete(t)

	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	slots := func() string {
		t.Helper()
		var s string
		if err := conn.QueryRow(ctx, "SELECT coalesce(string_agg(slot_name || ' ' || confirmed_flush_lsn::text, ','), 'none') FROM pg_replication_slots").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := executeSQL(t, i.Endpoint, admin, "SELECT slot_name FROM pg_replication_slots WHERE database = $1", "app")
	if !a.Success || len(a.Results.Rows) != 1 {
		t.Fatalf("the service's slot: %+v", a)
	}
	slot := a.Results.Rows[0][0].(string)
	before := slots()
	for _, q := range []string{
		// First what would stop the service's walsender, which holds the
		// slot; then the slot itself.
		fmt.Sprintf("SELECT pg_terminate_backend(%d)", pid),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
		"SELECT pg_cancel_backend(pid) FROM pg_stat_activity",
		"SELECT pg_terminate_backend(active_pid), pg_drop_replication_slot(slot_name) FROM pg_replication_slots",
		fmt.Sprintf("SELECT pg_drop_replication_slot('%s')", slot),
		fmt.Sprintf(`SELECT pg_catalog."pg_drop_replication_slot"('%s')`, slot),
		"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots",
		fmt.Sprintf("SELECT * FROM pg_logical_slot_get_changes('%s', NULL, NULL)", slot),
		fmt.Sprintf("SELECT pg_replication_slot_advance('%s', pg_current_wal_lsn())", slot),
		"SELECT pg_read_file('postgresql.conf')",
		"SELECT lo_import('/etc/hostname')",
		"SELECT set_config('transaction_read_only', 'off', false)",
		"DELETE FROM todos",
		"WITH x AS (DELETE FROM todos RETURNING *) SELECT * FROM x",
		"SELECT 1; DELETE FROM todos",
	} {
		a := executeSQL(t, i.Endpoint, admin, q)
		if a.Success || !strings.HasPrefix(a.Error, "execute-sql: refused ") {
			t.Errorf("%.70q: success %v, error %q; want refused", q, a.Success, a.Error)
		}
	}
	if after := slots(); after != before {
		t.Fatalf("the replication slots changed: %s, was %s", after, before)
	}
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("the other backend is gone: %v", err)
	}
	// Replication still runs: a new row reaches a client.
	if _, err := conn.Exec(ctx, "INSERT INTO todos VALUES ('t3', 'u1', 'after the attacks')"); err != nil {
		t.Fatal(err)
	}
	stream.Until(t, "the row inserted after the attacks", func(line string) bool { return strings.Contains(line, "after the attacks") })
	a = executeSQL(t, i.Endpoint, admin, "SELECT id, title FROM todos WHERE owner_id = $1 ORDER BY id", "u1")
	if !a.Success || fmt.Sprint(a.Results.Rows) != "[[t1 first] [t3 after the attacks]]" {
		t.Errorf("select: %+v", a)
	}
}
