package sqlguard_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/pgtest"
	"github.com/powersync-go/powersync/internal/sqlguard"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestPostgresAttacksRefused runs the attacks of issue 11 as the
// superuser (the strongest case: every function below would work) against
// a real Postgres: the replication slot still exists and has not moved,
// the other backend is still alive, no row, large object or file changed.
func TestPostgresAttacksRefused(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	admin := db.Connect(t)
	slot := "psg_" + db.Name
	if len(slot) > 60 {
		slot = slot[:60]
	}
	if _, err := admin.Exec(ctx, `CREATE TABLE todos (id text PRIMARY KEY, owner_id text, title text);
		INSERT INTO todos VALUES ('t1', 'u1', 'first'), ('t2', 'u1', 'second'), ('t3', 'u2', 'third');
		CREATE SEQUENCE s;
		CREATE PUBLICATION powersync FOR ALL TABLES`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot); err != nil {
		t.Fatal(err)
	}
	// A change after the slot, so that consuming or advancing it would
	// move it.
	if _, err := admin.Exec(ctx, "INSERT INTO todos VALUES ('t4', 'u2', 'fourth')"); err != nil {
		t.Fatal(err)
	}
	victim := db.Connect(t)
	var pid int
	if err := victim.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		t.Helper()
		var s string
		err := admin.QueryRow(ctx, `SELECT coalesce((SELECT confirmed_flush_lsn::text || ' ' || restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1), 'no slot')
			|| ' | ' || (SELECT string_agg(id || ':' || title, ',' ORDER BY id) FROM todos)
			|| ' | ' || (SELECT count(*) FROM pg_largeobject_metadata)
			|| ' | ' || (SELECT count(*) FROM pg_class WHERE relname = 'stolen')
			|| ' | ' || (SELECT last_value || ' ' || is_called FROM s)
			|| ' | ' || current_setting('log_min_messages')`, slot).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := state()
	if strings.HasPrefix(before, "no slot") {
		t.Fatalf("setup: %s", before)
	}
	for _, q := range []string{
		fmt.Sprintf("SELECT pg_drop_replication_slot('%s')", slot),
		fmt.Sprintf(`SELECT pg_catalog."pg_drop_replication_slot"('%s')`, slot),
		fmt.Sprintf("SELECT PG_CATALOG.PG_DROP_REPLICATION_SLOT /* x */ ('%s');", slot),
		fmt.Sprintf("SELECT * FROM pg_logical_slot_get_changes('%s', NULL, NULL, 'proto_version', '1', 'publication_names', 'powersync')", slot),
		fmt.Sprintf("SELECT pg_replication_slot_advance('%s', pg_current_wal_lsn())", slot),
		fmt.Sprintf("SELECT pg_terminate_backend(%d)", pid),
		fmt.Sprintf("SELECT pg_cancel_backend(%d)", pid),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
		"SELECT pg_reload_conf()",
		"SELECT set_config('transaction_read_only', 'off', false), set_config('log_min_messages', 'debug5', false)",
		"SELECT pg_read_file('postgresql.conf')",
		"SELECT * FROM pg_ls_dir('.')",
		"SELECT lo_import('/etc/hostname')",
		"SELECT lo_from_bytea(0, 'x')",
		"SELECT pg_advisory_lock(1)",
		"SELECT nextval('s')",
		"SELECT * INTO stolen FROM todos",
		"DELETE FROM todos",
		"WITH gone AS (DELETE FROM todos RETURNING *) SELECT * FROM gone",
		"UPDATE todos SET title = 'changed'",
		"SELECT 1; DELETE FROM todos",
		"COPY todos TO '/tmp/todos.csv'",
		"SET transaction_read_only = off",
		"EXPLAIN ANALYZE DELETE FROM todos",
		fmt.Sprintf("SELECT query_to_xml('SELECT pg_terminate_backend(%d)', true, true, '')", pid),
		"DO $$ BEGIN DELETE FROM todos; END $$",
	} {
		res, err := sqlguard.QueryPostgres(ctx, db.URL, q, nil)
		var r *sqlguard.RefusedError
		if !errors.As(err, &r) {
			t.Errorf("%q: %v %v, want refused", q, res, err)
		}
		if after := state(); after != before {
			t.Fatalf("%q changed the database: %s, was %s", q, after, before)
		}
		if err := victim.Ping(ctx); err != nil {
			t.Fatalf("%q: the other backend is gone: %v", q, err)
		}
	}
}

// TestPostgresReads: ordinary reads with arguments work, and the READ
// ONLY transaction stops a write the gate cannot see (a function).
func TestPostgresReads(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	admin := db.Connect(t)
	if _, err := admin.Exec(ctx, `CREATE TABLE todos (id text PRIMARY KEY, owner_id text, title text);
		INSERT INTO todos VALUES ('t1', 'u1', 'first'), ('t2', 'u1', 'second'), ('t3', 'u2', 'third');
		CREATE FUNCTION wipe() RETURNS int LANGUAGE sql AS 'DELETE FROM todos RETURNING 1'`); err != nil {
		t.Fatal(err)
	}
	res, err := sqlguard.QueryPostgres(ctx, db.URL, "SELECT id, title FROM todos WHERE owner_id = $1 ORDER BY id", []any{"u1"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Columns, ",") != "id,title" || len(res.Rows) != 2 || res.Rows[1][1] != "second" {
		t.Errorf("select: %v %v", res.Columns, res.Rows)
	}
	res, err = sqlguard.QueryPostgres(ctx, db.URL, `SELECT 'a\' AS backslash, E'b\'c' AS escaped, $$d$$ AS dollar`, nil)
	if err != nil || fmt.Sprint(res.Rows) != `[[a\ b'c d]]` {
		t.Errorf("literals: %v %v", res, err)
	}
	if _, err := sqlguard.QueryPostgres(ctx, db.URL, "SELECT slot_name FROM pg_replication_slots", nil); err != nil {
		t.Errorf("pg_replication_slots: %v", err)
	}
	if _, err := sqlguard.QueryPostgres(ctx, db.URL, "EXPLAIN (COSTS off) SELECT * FROM todos", nil); err != nil {
		t.Errorf("explain: %v", err)
	}
	res, err = sqlguard.QueryPostgres(ctx, db.URL, `SELECT current_setting('transaction_read_only'), current_setting('statement_timeout'),
		current_setting('lock_timeout'), current_setting('standard_conforming_strings')`, nil)
	if err != nil || fmt.Sprint(res.Rows) != "[[on 10s 10s on]]" {
		t.Errorf("the transaction's settings: %v %v", res, err)
	}
	_, err = sqlguard.QueryPostgres(ctx, db.URL, "SELECT wipe()", nil)
	if err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("a writing function: %v", err)
	}
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM todos").Scan(&n); err != nil || n != 3 {
		t.Errorf("rows after: %d %v", n, err)
	}
	if _, err := sqlguard.QueryPostgres(ctx, db.URL, "SELECT repeat('x', 1048576) FROM generate_series(1, 100)", nil); err == nil ||
		!strings.Contains(err.Error(), "result is larger than 64 MiB") {
		t.Errorf("a 100 MiB result: %v", err)
	}
	res, err = sqlguard.QueryPostgres(ctx, db.URL, "SELECT g FROM generate_series(1, 20000) g", nil)
	if err != nil || len(res.Rows) != sqlguard.MaxRows {
		t.Errorf("row limit: %v", err)
	}
}
