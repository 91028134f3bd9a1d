package sqlguard_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/sqlguard"
)

// TestCheckAccepts: ordinary reads pass the gate, in both dialects, and
// the statement handed on is the query without its trailing ';'.
func TestCheckAccepts(t *testing.T) {
	for _, c := range []struct {
		d          sqlguard.Dialect
		query, run string
	}{
		{sqlguard.SQLite, "SELECT 1", "SELECT 1"},
		{sqlguard.SQLite, "  select * from todos where owner_id = ? ;  -- done\n", "  select * from todos where owner_id = ?"},
		{sqlguard.SQLite, "SELECT ';' AS semi, \"a;b\", [c;d], `e;f` FROM t -- ; DELETE FROM t", ""},
		{sqlguard.SQLite, "SELECT 'it''s' /* ; DROP TABLE t */ FROM t", ""},
		{sqlguard.SQLite, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5) SELECT * FROM c", ""},
		{sqlguard.SQLite, "VALUES (1, 'a'), (2, 'b')", ""},
		{sqlguard.SQLite, "EXPLAIN QUERY PLAN SELECT * FROM t WHERE a = :a", ""},
		{sqlguard.SQLite, "EXPLAIN SELECT 1", ""},
		{sqlguard.SQLite, "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p", ""},
		{sqlguard.SQLite, "SELECT replace(title, 'a', 'b'), x'00ff' FROM todos", ""},
		{sqlguard.SQLite, "SELECT 'héllo ✓', \"列\" FROM t", ""},
		{sqlguard.Postgres, "SELECT id, title FROM todos WHERE owner_id = $1", ""},
		{sqlguard.Postgres, "SELECT * FROM pg_replication_slots", ""},
		{sqlguard.Postgres, "SELECT slot_name, active FROM pg_catalog.pg_replication_slots;", "SELECT slot_name, active FROM pg_catalog.pg_replication_slots"},
		{sqlguard.Postgres, "SELECT $$ ; pg_terminate_backend(1) $$, $x$ it's $x$", ""},
		{sqlguard.Postgres, "SELECT E'it\\'s ; DELETE', 'back\\slash' /* a /* nested ; */ comment */", ""},
		{sqlguard.Postgres, "(SELECT 1) UNION (SELECT 2)", ""},
		{sqlguard.Postgres, "WITH x AS MATERIALIZED (SELECT 1 AS a) SELECT a FROM x", ""},
		{sqlguard.Postgres, "EXPLAIN (VERBOSE, COSTS off, FORMAT json) SELECT * FROM todos", ""},
		{sqlguard.Postgres, "EXPLAIN VERBOSE SELECT 1", ""},
		{sqlguard.Postgres, "SELECT substring('abc' FROM 1 FOR 2), now()::text, a$b FROM t", ""},
		{sqlguard.Postgres, "SELECT E'a\\'; DELETE FROM todos; --'", ""},
		{sqlguard.Postgres, "SELECT U&'d\\0061t\\+000061' AS data", ""},
	} {
		run, err := sqlguard.Check(c.d, c.query)
		if err != nil {
			t.Errorf("%s %q: refused: %v", c.d, c.query, err)
			continue
		}
		want := c.run
		if want == "" {
			want = c.query
		}
		if run != want {
			t.Errorf("%s %q: runs %q, want %q", c.d, c.query, run, want)
		}
	}
}

// TestCheckRefuses: every attack of issue 11 and the hostile shapes
// around them are refused, with an error that names what and why.
func TestCheckRefuses(t *testing.T) {
	both := []sqlguard.Dialect{sqlguard.SQLite, sqlguard.Postgres}
	pg := []sqlguard.Dialect{sqlguard.Postgres}
	lite := []sqlguard.Dialect{sqlguard.SQLite}
	for _, c := range []struct {
		ds        []sqlguard.Dialect
		query     string
		what, why string
	}{
		// The attacks of the issue.
		{lite, "PRAGMA query_only=0; ATTACH '/tmp/source.db' AS w; INSERT INTO w.todos VALUES (1)", "PRAGMA", "only SELECT"},
		{lite, "VACUUM INTO '/tmp/copy.db'", "VACUUM", "only SELECT"},
		{lite, "ATTACH '/etc/passwd' AS p", "ATTACH", "only SELECT"},
		{pg, "SELECT pg_drop_replication_slot('powersync_1_abcd')", "pg_drop_replication_slot", "replication slots"},
		{pg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "pg_terminate_backend", "signals other sessions"},
		// Name matching: case, quoting, schema qualification, spacing.
		{pg, `SELECT pg_catalog."PG_DROP_REPLICATION_SLOT"('s')`, `"PG_DROP_REPLICATION_SLOT"`, "replication slots"},
		{pg, `SELECT PG_CATALOG . Pg_Terminate_Backend /* hi */ (1)`, "Pg_Terminate_Backend", "signals"},
		{pg, "SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)", "pg_logical_slot_get_changes", "replication slots"},
		{pg, "SELECT pg_logical_slot_peek_changes('s', NULL, NULL)", "pg_logical_slot_peek_changes", "replication slots"},
		{pg, "SELECT pg_replication_slot_advance('s', '0/0')", "pg_replication_slot_advance", "replication slots"},
		{pg, "SELECT pg_create_logical_replication_slot('x', 'pgoutput')", "pg_create_logical_replication_slot", "replication slots"},
		{pg, "SELECT pg_copy_logical_replication_slot('a', 'b')", "pg_copy_logical_replication_slot", "replication slots"},
		{pg, "SELECT pg_cancel_backend(1)", "pg_cancel_backend", "signals"},
		{pg, "SELECT pg_reload_conf()", "pg_reload_conf", "controls the server"},
		{pg, "SELECT pg_rotate_logfile()", "pg_rotate_logfile", "controls the server"},
		{pg, "SELECT pg_promote()", "pg_promote", "controls the server"},
		{pg, "SELECT pg_switch_wal()", "pg_switch_wal", "WAL"},
		{pg, "SELECT pg_stat_reset()", "pg_stat_reset", "resets statistics"},
		{pg, "SELECT pg_stat_statements_reset()", "pg_stat_statements_reset", "resets statistics"},
		{pg, "SELECT pg_read_file('/etc/passwd')", "pg_read_file", "files"},
		{pg, "SELECT pg_read_binary_file('global/pg_control')", "pg_read_binary_file", "files"},
		{pg, "SELECT * FROM pg_ls_dir('.')", "pg_ls_dir", "files"},
		{pg, "SELECT pg_stat_file('postgresql.conf')", "pg_stat_file", "files"},
		{pg, "SELECT lo_import('/etc/passwd')", "lo_import", "large objects"},
		{pg, "SELECT lo_export(1, '/tmp/x')", "lo_export", "large objects"},
		{pg, "SELECT * FROM pg_largeobject", "pg_largeobject", "large objects"},
		{pg, "SELECT set_config('transaction_read_only', 'off', true)", "set_config", "settings"},
		{pg, "SELECT dblink_exec('dbname=x', 'DELETE FROM t')", "dblink_exec", "other databases"},
		{pg, "SELECT pg_advisory_lock(1)", "pg_advisory_lock", "advisory locks"},
		{pg, "SELECT pg_try_advisory_xact_lock(1)", "pg_try_advisory_xact_lock", "advisory locks"},
		{pg, "SELECT pg_sleep(100)", "pg_sleep", "waits"},
		{pg, "SELECT query_to_xml('SELECT pg_terminate_backend(1)', true, true, '')", "query_to_xml", "SQL given as text"},
		{pg, "SELECT nextval('s')", "nextval", "sequence"},
		{pg, "SELECT * FROM crosstab('SELECT pg_terminate_backend(1)')", "crosstab", "SQL given as text"},
		{pg, "SELECT pg_background_launch('DELETE FROM todos')", "pg_background_launch", "SQL given as text"},
		{pg, "SELECT heap_force_kill('todos'::regclass, ARRAY['(0,1)'::tid])", "heap_force_kill", "pages"},
		{pg, "SELECT pg_notify('c', 'x')", "pg_notify", "notifications"},
		{pg, `SELECT U&"pg\005fsleep"(1)`, `U&"pg\005fsleep"(1)`, "unicode-escaped identifiers"},
		{lite, "SELECT load_extension('/tmp/evil.so')", "load_extension", "loads code"},
		{lite, `SELECT "LOAD_EXTENSION"('x')`, `"LOAD_EXTENSION"`, "loads code"},
		{lite, "SELECT writefile('/tmp/x', 'y')", "writefile", "files"},
		// Statement kinds.
		{both, "DELETE FROM todos", "DELETE", "only SELECT"},
		{both, "UPDATE todos SET title = 'x'", "UPDATE", "only SELECT"},
		{both, "INSERT INTO todos VALUES ('x')", "INSERT", "only SELECT"},
		{both, "CREATE TABLE x (a)", "CREATE", "only SELECT"},
		{both, "DROP TABLE todos", "DROP", "only SELECT"},
		{lite, "REPLACE INTO todos VALUES ('x')", "REPLACE", "only SELECT"},
		{pg, "SET transaction_read_only = off", "SET", "only SELECT"},
		{pg, "COPY todos TO '/tmp/x'", "COPY", "only SELECT"},
		{pg, "DO $$ BEGIN PERFORM 1; END $$", "DO", "only SELECT"},
		{pg, "CALL p()", "CALL", "only SELECT"},
		{pg, "TABLE todos", "TABLE", "only SELECT"},
		{both, "BEGIN", "BEGIN", "only SELECT"},
		{pg, "SHOW ALL", "SHOW", "only SELECT"},
		// Data-modifying WITH, SELECT INTO, row locks, EXPLAIN ANALYZE.
		{pg, "WITH x AS (DELETE FROM todos RETURNING *) SELECT * FROM x", "DELETE", "data-modifying WITH"},
		{pg, "WITH x AS (SELECT 1) DELETE FROM todos", "DELETE", "only SELECT"},
		{lite, "WITH x AS (SELECT 1) REPLACE INTO todos SELECT * FROM x", "REPLACE", "only SELECT"},
		{pg, "WITH x AS (SELECT 1)", "WITH", "no main SELECT"},
		{pg, "SELECT * INTO newtable FROM todos", "INTO", "creates a table"},
		{pg, "SELECT * FROM todos FOR UPDATE", "UPDATE", "writes or locks rows"},
		{pg, "SELECT * FROM todos FOR SHARE", "FOR SHARE", "locks rows"},
		{pg, "SELECT * FROM todos FOR NO KEY UPDATE", "FOR NO", "locks rows"},
		{pg, "EXPLAIN ANALYZE SELECT 1", "ANALYZE", "runs the statement"},
		{pg, "EXPLAIN (ANALYZE) DELETE FROM todos", "DELETE", "only SELECT"},
		{pg, "EXPLAIN (ANALYSE true) SELECT 1", "ANALYSE", "runs the statement"},
		{pg, "EXPLAIN DELETE FROM todos", "DELETE", "only SELECT"},
		{lite, "EXPLAIN QUERY PLAN DELETE FROM todos", "DELETE", "only SELECT"},
		{both, "EXPLAIN", "EXPLAIN", "no statement"},
		// More than one statement, however it is hidden.
		{both, "SELECT 1; SELECT 2", "SELECT", "only one statement"},
		{both, "SELECT 1;;", ";", "only one statement"},
		{both, "SELECT 1; -- fine\nDELETE FROM todos", "DELETE", "only one statement"},
		{both, "SELECT 1 /* ; */ ; DELETE FROM todos", "DELETE", "only one statement"},
		{lite, "SELECT 1 /* /* */ ; ATTACH 'x' AS y /* */", "ATTACH", "only one statement"},
		{pg, "SELECT 1 /* /* */ ; pg_sleep(1) */ ; SELECT pg_sleep(1)", "SELECT", "only one statement"},
		{lite, "SELECT $a(x'); ATTACH 'f' AS y; --')", "ATTACH", "only one statement"},
		{pg, "SELECT 'a\\'; DELETE FROM todos; --'", "DELETE", "only one statement"},
		// Unterminated literals and comments, bad bytes, size.
		{both, "SELECT 'abc", "'abc", "unterminated string"},
		{both, "SELECT '" + strings.Repeat("y", 40), "'" + strings.Repeat("y", 23) + "…", "unterminated string (at byte 7)"},
		{both, `SELECT "abc`, `"abc`, "unterminated quoted identifier"},
		{both, "SELECT 1 /* comment", "/* comment", "unterminated /* comment"},
		{pg, "SELECT $x$ abc $y$", "$x$ abc $y$", "unterminated dollar-quoted string"},
		{lite, "SELECT [abc", "[abc", "unterminated [identifier]"},
		{both, "SELECT 1\x00; DELETE FROM todos", "NUL", "NUL byte"},
		{both, "SELECT '\xff\xfe'", "query", "not valid UTF-8"},
		{both, "SELECT '" + strings.Repeat("x", sqlguard.MaxQueryBytes) + "'", "query", "at most"},
		{both, "", "query", "no statement"},
		{both, "  -- only a comment\n", "query", "no statement"},
		{both, ";", "query", "no statement"},
		{both, "SELECT (1", "(", "left open"},
		{both, "SELECT 1)", ")", "not opened"},
		{both, "(((", "query", "no statement"},
		{both, "SELECT ((1)", "(", "left open"},
	} {
		for _, d := range c.ds {
			run, err := sqlguard.Check(d, c.query)
			var r *sqlguard.RefusedError
			if !errors.As(err, &r) {
				t.Errorf("%s %.80q: accepted (runs %.80q), want refused", d, c.query, run)
				continue
			}
			if r.What != c.what || !strings.Contains(r.Why, c.why) {
				t.Errorf("%s %.80q: refused %q: %q, want %q: …%s…", d, c.query, r.What, r.Why, c.what, c.why)
			}
			if !strings.HasPrefix(err.Error(), "execute-sql: refused ") {
				t.Errorf("%s %.80q: error %q does not start with execute-sql: refused", d, c.query, err)
			}
		}
	}
}
