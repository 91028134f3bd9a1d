package sqlguard_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/powersync-go/powersync/internal/sqlguard"
)

// FuzzStatementGate: the gate never panics, what it accepts it accepts
// again unchanged (and it is a prefix of the query), and — the independent
// check — a statement it accepts for SQLite, executed on a plain WRITABLE
// connection with no authorizer and query_only off, changes nothing: the
// database file, its data_version and the files of the directory stay as
// they were. A gate that let through a write, an ATTACH, a VACUUM INTO or
// a second statement fails here even though the real connection would
// have stopped it.
//
//	go test ./internal/sqlguard -run '^$' -fuzz FuzzStatementGate -fuzztime 60s -fuzzminimizetime 2s
//
// (A short -fuzzminimizetime: each execution queries SQLite, and minimizing
// every new input for the default minute stalls the run.)
func FuzzStatementGate(f *testing.F) {
	for _, s := range []string{
		"SELECT 1", "SELECT * FROM t WHERE a = ?;", "WITH x AS (SELECT 1) SELECT * FROM x", "VALUES (1)",
		"EXPLAIN QUERY PLAN SELECT * FROM t", "SELECT 'a;b', \"c;d\", [e;f], `g;h` -- ;",
		"SELECT 1 /* ; */", "SELECT $a(x'); ATTACH 'f' AS y; --')", "SELECT x'00', :a, @b, $c::d, #e, ?1",
		"PRAGMA query_only=0; ATTACH 'x.db' AS w; INSERT INTO w.t VALUES (1)", "VACUUM INTO 'copy.db'",
		"ATTACH 'other.db' AS o", "SELECT 1; DELETE FROM t", "WITH x AS (SELECT 1) DELETE FROM t",
		"SELECT pg_drop_replication_slot('s')", `SELECT pg_catalog."pg_terminate_backend"(1)`,
		"SELECT $$ ; $$, E'\\'; DELETE'", "SELECT 1 /* /* */ ; DELETE FROM t */", "SELECT U&\"x\"",
		"SELECT load_extension('x')", "SELECT * FROM pragma_table_info('t')", "(SELECT 1)", "SELECT (((1)))",
		"SELECT 'unterminated", "SELECT\x00", "SELECT 'é✓'", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "fuzz.db")
	setup, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(DELETE)")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := setup.Exec(`CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT);
		INSERT INTO t VALUES (1, 'one'), (2, 'two');
		CREATE VIEW v AS SELECT a FROM t`); err != nil {
		f.Fatal(err)
	}
	setup.Close()
	// The watcher sees data_version change when any other connection
	// commits to the file.
	watcher, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		f.Fatal(err)
	}
	watcher.SetMaxOpenConns(1)
	defer watcher.Close()
	plainDB, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(0)")
	if err != nil {
		f.Fatal(err)
	}
	defer plainDB.Close()
	plainDB.SetMaxOpenConns(1)
	plain, err := plainDB.Conn(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	defer plain.Close()
	// Bounds that keep a fuzz run's memory in check; they stop no write.
	if _, err := sqlite.Limit(plain, sqlite3.SQLITE_LIMIT_LENGTH, 1<<20); err != nil {
		f.Fatal(err)
	}
	state := func(t *testing.T) string {
		var version int64
		if err := watcher.QueryRow("PRAGMA data_version").Scan(&version); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, e := range entries {
			b.WriteString(e.Name() + "\n")
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		b.Write(sum[:])
		b.WriteString(strings.Repeat("v", int(version)))
		return b.String()
	}
	before := ""
	f.Fuzz(func(t *testing.T, query string) {
		// Relative paths an accepted ATTACH or VACUUM INTO would create
		// land in the watched directory.
		t.Chdir(dir)
		if before == "" {
			before = state(t)
		}
		for _, d := range []sqlguard.Dialect{sqlguard.SQLite, sqlguard.Postgres} {
			run, err := sqlguard.Check(d, query)
			if err != nil {
				if _, ok := err.(*sqlguard.RefusedError); !ok {
					t.Fatalf("%s: error of type %T: %v", d, err, err)
				}
				continue
			}
			if !strings.HasPrefix(query, run) || run == "" {
				t.Fatalf("%s %q: runs %q, not a prefix of the query", d, query, run)
			}
			again, err := sqlguard.Check(d, run)
			if err != nil || again != run {
				t.Fatalf("%s %q: accepted, but what it runs (%q) then gives %q, %v", d, query, run, again, err)
			}
			if d != sqlguard.SQLite {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			rows, err := plain.QueryContext(ctx, run)
			if err == nil {
				for n := 0; n < 1000 && rows.Next(); n++ {
				}
				rows.Close()
			}
			cancel()
			if after := state(t); after != before {
				t.Fatalf("SQLite %q: accepted, and on a writable connection it changed the database or the directory", query)
			}
		}
	})
}
