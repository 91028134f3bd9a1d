package pgtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/pgtest"
	"github.com/powersync-go/powersync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestClusterSettingsAndFreshDatabases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := pgtest.NewDatabase(t)
	b := pgtest.NewDatabase(t)
	if a.Name == b.Name {
		t.Fatalf("two tests got the same database %q", a.Name)
	}
	conn, err := pgx.Connect(ctx, a.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for setting, want := range map[string]string{
		"wal_level":        "logical",
		"listen_addresses": "127.0.0.1",
		"TimeZone":         "UTC",
		"server_encoding":  "UTF8",
	} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	if db != a.Name {
		t.Errorf("connected to %q, want %q", db, a.Name)
	}
	// A replication slot in the database must not stop the cleanup.
	if _, err := conn.Exec(ctx, "SELECT pg_create_logical_replication_slot('pgtest_slot', 'pgoutput')"); err != nil {
		t.Fatal(err)
	}
}

func TestRestartKeepsData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := d.Cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("after restart: %d rows, want 2", n)
	}
}

func TestFindBinDir(t *testing.T) {
	dir, err := pgtest.FindBinDir()
	if err == pgtest.ErrNotInstalled {
		testenv.Missing(t, "Postgres (initdb, pg_ctl)", "not on PATH or in /usr/lib/postgresql/*/bin")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(dir + "/" + tool); err != nil {
			t.Errorf("%s missing in %s: %v", tool, dir, err)
		}
	}
}
