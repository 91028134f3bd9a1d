package sqlguard_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/sqlguard"
)

// sqliteSource is a SQLite database like a source: WAL mode, a writer
// connection that stays open (as replication's does), sample rows.
type sqliteSource struct {
	dir, path string
	writer    *sql.DB
	// outside is a directory next to the source, where attacks try to
	// create files.
	outside string
}

func newSQLiteSource(t testing.TB) *sqliteSource {
	t.Helper()
	s := &sqliteSource{dir: t.TempDir(), outside: t.TempDir()}
	s.path = filepath.Join(s.dir, "source.db")
	db, err := sql.Open("sqlite", "file:"+s.path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE todos (id TEXT PRIMARY KEY, owner_id TEXT, title TEXT);
		INSERT INTO todos VALUES ('t1', 'u1', 'first'), ('t2', 'u1', 'second'), ('t3', 'u2', 'third')`); err != nil {
		t.Fatal(err)
	}
	s.writer = db
	return s
}

// state is everything an attack must leave as it was: the files of both
// directories with their contents (but for the WAL index, where every
// reader marks what it reads), and the data_version the writer sees
// (it changes when any other connection commits).
func (s *sqliteSource) state(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range []string{s.dir, s.outside} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b.WriteString(e.Name() + "\n")
			if strings.HasSuffix(e.Name(), "-shm") {
				continue // readers write their read marks into it
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			b.Write(sum[:])
		}
	}
	var version int64
	if err := s.writer.QueryRow("PRAGMA data_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	var count int64
	if err := s.writer.QueryRow("SELECT count(*) FROM todos").Scan(&count); err != nil {
		t.Fatal(err)
	}
	b.WriteString(strings.Repeat("v", int(version)) + strings.Repeat("r", int(count)))
	return b.String()
}

// sqliteAttacks are the attacks of issue 11 on a SQLite source, and more
// of their kind.
func sqliteAttacks(s *sqliteSource) []string {
	other := filepath.Join(s.outside, "created.db")
	return []string{
		"PRAGMA query_only=0; ATTACH '" + s.path + "' AS w; INSERT INTO w.todos VALUES ('x', 'u1', 'injected')",
		"PRAGMA query_only=0",
		"ATTACH '" + s.path + "' AS w",
		"ATTACH '" + other + "' AS o",
		"ATTACH 'file:" + other + "?mode=rwc' AS o",
		"VACUUM INTO '" + other + "'",
		"PRAGMA query_only=0; VACUUM INTO '" + other + "'",
		"VACUUM",
		"INSERT INTO todos VALUES ('x', 'u1', 'injected')",
		"DELETE FROM todos",
		"UPDATE todos SET title = 'changed'",
		"CREATE TABLE x (a)",
		"CREATE TEMP TABLE x (a)",
		"DROP TABLE todos",
		"SELECT load_extension('" + filepath.Join(s.outside, "evil.so") + "')",
		"SELECT 1; ATTACH '" + other + "' AS o",
		"SELECT 1; DELETE FROM todos",
		"BEGIN; DELETE FROM todos; COMMIT",
		"PRAGMA journal_mode=DELETE",
		"PRAGMA writable_schema=1",
		"REINDEX",
		"ANALYZE",
		"SAVEPOINT s",
		"WITH x AS (SELECT 1) DELETE FROM todos",
		"WITH x AS (SELECT 1) REPLACE INTO todos VALUES ('t1', 'u1', 'replaced')",
		"SELECT 1 /* ; */ ; ATTACH '" + other + "' AS o",
		"SELECT $a(x'); ATTACH '" + other + "' AS o; --')",
	}
}

// TestSQLiteAttacksRefused: every attack fails through QuerySQLite, and
// also on the connection alone, without the gate: the source file, the
// file system and the data are unchanged and no file is created.
func TestSQLiteAttacksRefused(t *testing.T) {
	s := newSQLiteSource(t)
	ctx := context.Background()
	before := s.state(t)
	for _, q := range sqliteAttacks(s) {
		res, err := sqlguard.QuerySQLite(ctx, s.path, q, nil)
		var r *sqlguard.RefusedError
		if !errors.As(err, &r) {
			t.Errorf("gate %q: %v %v, want refused", q, res, err)
		}
		// The connection alone (no gate in front) refuses it too.
		conn, closeConn, auth, err := sqlguard.OpenSQLite(ctx, s.path)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := conn.QueryContext(ctx, q)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		if err == nil {
			t.Errorf("connection %q: no error", q)
		} else if auth.Denied() == "" && !strings.Contains(err.Error(), "readonly") && !strings.Contains(err.Error(), "not authorized") {
			t.Logf("connection %q: %v", q, err)
		}
		closeConn()
		if after := s.state(t); after != before {
			t.Fatalf("%q changed the source or the file system", q)
		}
	}
}

// TestSQLiteReads: ordinary reads work, with arguments, including the
// schema introspection the schema route runs.
func TestSQLiteReads(t *testing.T) {
	s := newSQLiteSource(t)
	ctx := context.Background()
	res, err := sqlguard.QuerySQLite(ctx, s.path, "SELECT id, title FROM todos WHERE owner_id = ? ORDER BY id;", []any{"u1"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Columns, ",") != "id,title" || len(res.Rows) != 2 || res.Rows[0][0] != "t1" || res.Rows[1][1] != "second" {
		t.Errorf("select: %v %v", res.Columns, res.Rows)
	}
	res, err = sqlguard.QuerySQLite(ctx, s.path, `SELECT m.name, p.name, p.type FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' ORDER BY m.name, p.cid`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 3 || res.Rows[2][1] != "title" {
		t.Errorf("schema: %v", res.Rows)
	}
	res, err = sqlguard.QuerySQLite(ctx, s.path, "EXPLAIN QUERY PLAN SELECT * FROM todos WHERE id = :id", []any{sql.Named("id", "t1")})
	if err != nil || len(res.Rows) == 0 {
		t.Errorf("explain: %v %v", res, err)
	}
	res, err = sqlguard.QuerySQLite(ctx, s.path, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 3) VALUES ((SELECT sum(x) FROM c))", nil)
	if err != nil || len(res.Rows) != 1 || res.Rows[0][0] != int64(6) {
		t.Errorf("with/values: %v %v", res, err)
	}
}

// TestSQLiteLimits: results stop at MaxRows, a value over MaxValueBytes
// fails, and a query is interrupted when its context ends.
func TestSQLiteLimits(t *testing.T) {
	s := newSQLiteSource(t)
	ctx := context.Background()
	res, err := sqlguard.QuerySQLite(ctx, s.path, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 50000) SELECT x FROM c", nil)
	if err != nil || len(res.Rows) != sqlguard.MaxRows {
		t.Errorf("row limit: %d rows, %v", len(res.Rows), err)
	}
	if _, err := sqlguard.QuerySQLite(ctx, s.path, "SELECT zeroblob(1000000000)", nil); err == nil || !strings.Contains(err.Error(), "too big") {
		t.Errorf("zeroblob(1e9): %v", err)
	}
	// 100 rows of 1 MiB pass the value limit, not the result's.
	_, err = sqlguard.QuerySQLite(ctx, s.path, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100) SELECT zeroblob(1048576) FROM c", nil)
	if err == nil || !strings.Contains(err.Error(), "result is larger than 64 MiB") {
		t.Errorf("a 100 MiB result: %v", err)
	}
	// An endless query ends with its context (the handler's, or Timeout).
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = sqlguard.QuerySQLite(short, s.path, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", nil)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("endless query: %v", err)
	}
}
