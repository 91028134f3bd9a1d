package sqlguard_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/pgtest"
	"github.com/powersync-go/powersync/internal/sqlguard"
)

// FuzzStatementGatePostgres: what the gate accepts for Postgres, executed
// as the superuser on a plain connection in autocommit (no READ ONLY, no
// rollback), changes nothing: a replication slot stays where it is,
// another backend stays alive, and no row, sequence, large object, table,
// advisory lock or setting of the session changes. It checks the gate
// alone; QueryPostgres adds the read-only transaction on top.
//
//	go test ./internal/sqlguard -run '^$' -fuzz FuzzStatementGatePostgres -fuzztime 60s -fuzzminimizetime 2s
func FuzzStatementGatePostgres(f *testing.F) {
	for _, s := range []string{
		"SELECT 1", "SELECT * FROM t WHERE a = $1", "WITH x AS (SELECT 1) SELECT * FROM x", "VALUES (1)",
		"EXPLAIN SELECT * FROM t", "SELECT slot_name FROM pg_replication_slots", "SELECT $$;$$, E'\\';', 'a\\'",
		"SELECT pg_drop_replication_slot('fuzz_slot')", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
		"SELECT set_config('statement_timeout', '0', false)", "SELECT nextval('s')", "SELECT lo_from_bytea(0, 'x')",
		"SELECT pg_advisory_lock(1)", "SELECT * INTO t2 FROM t", "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
		"SELECT 1 /* /* */ ; DELETE FROM t */", "SELECT pg_catalog.\"pg_drop_replication_slot\"('fuzz_slot')",
		"SELECT query_to_xml('DELETE FROM t', true, true, '')", "SELECT * FROM t FOR UPDATE",
	} {
		f.Add(s)
	}
	db := pgtest.NewDatabase(f)
	ctx := context.Background()
	admin := db.Connect(f)
	if _, err := admin.Exec(ctx, `CREATE TABLE t (a int PRIMARY KEY, b text);
		INSERT INTO t VALUES (1, 'one'), (2, 'two');
		CREATE SEQUENCE s`); err != nil {
		f.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "SELECT pg_create_logical_replication_slot('fuzz_slot', 'pgoutput')"); err != nil {
		f.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "INSERT INTO t VALUES (3, 'three')"); err != nil {
		f.Fatal(err)
	}
	victim := db.Connect(f)
	var plain *pgx.Conn
	connect := func(t testing.TB) {
		if plain != nil {
			plain.Close(ctx)
		}
		var err error
		plain, err = pgx.Connect(ctx, db.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plain.Exec(ctx, "SET statement_timeout = 300"); err != nil {
			t.Fatal(err)
		}
	}
	connect(f)
	defer func() { plain.Close(ctx) }()
	state := func(t *testing.T) string {
		// A hang here is a failure with a message, not a stuck run.
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		var s string
		err := admin.QueryRow(ctx, `SELECT
			coalesce((SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'fuzz_slot'), 'no slot')
			|| ' | ' || (SELECT string_agg(a || ':' || b, ',' ORDER BY a) FROM t)
			|| ' | ' || (SELECT last_value || ' ' || is_called FROM s)
			|| ' | ' || (SELECT count(*) FROM pg_largeobject_metadata)
			|| ' | ' || (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public')
			|| ' | ' || (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		var settings string
		if err := plain.QueryRow(ctx, `SELECT current_setting('statement_timeout') || ' ' || current_setting('transaction_read_only')
			|| ' ' || current_setting('search_path')`).Scan(&settings); err != nil {
			connect(t) // a query that failed badly may have closed it
			return s
		}
		if err := victim.Ping(ctx); err != nil {
			t.Fatalf("the other backend is gone: %v", err)
		}
		return s + " | " + settings
	}
	before := ""
	f.Fuzz(func(t *testing.T, query string) {
		if before == "" {
			before = state(t)
		}
		run, err := sqlguard.Check(sqlguard.Postgres, query)
		if err != nil {
			return
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		// The simple protocol runs every statement of a query string, so
		// a second statement the gate let through would run too.
		rows, err := plain.Query(qctx, run, pgx.QueryExecModeSimpleProtocol)
		if err == nil {
			for n := 0; n < 1000 && rows.Next(); n++ {
			}
			rows.Close()
		}
		cancel()
		if plain.IsClosed() {
			connect(t)
		}
		if after := state(t); after != before {
			t.Fatalf("%q: accepted, and executed as the superuser it changed the database: %s, was %s", query, after, before)
		}
		if strings.Contains(before, "no slot") {
			t.Fatal("setup: no slot")
		}
	})
}
