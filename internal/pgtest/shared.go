package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/testenv"
)

// shared is the one cluster of a test binary. It is process-wide on purpose:
// TestMain owns it (Main stops it after the tests) and tests only borrow it.
var shared struct {
	mu      sync.Mutex
	cluster *Cluster
	err     error
	started bool
	seq     atomic.Int64
}

// Main runs the tests of a package and stops the shared cluster afterwards.
// Use it as `func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }`.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	c := shared.cluster
	shared.cluster = nil
	shared.mu.Unlock()
	if c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop cluster:", err)
		}
	}
	return code
}

// Shared returns the test binary's cluster, starting it on first use. Without
// Postgres installed the test skips (or fails under `make test`).
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.started {
		shared.started = true
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		shared.cluster, shared.err = Start(ctx)
		cancel()
	}
	if shared.err == ErrNotInstalled {
		testenv.Missing(t, "postgres (initdb, pg_ctl)", "tests against a real Postgres server")
	}
	if shared.err != nil {
		t.Fatalf("start postgres cluster: %v", shared.err)
	}
	return shared.cluster
}

// Database is a fresh database of the shared cluster.
type Database struct {
	Cluster *Cluster
	Name    string
	// URL connects as the superuser.
	URL string
}

// NewDatabase creates a fresh database for the test in the shared cluster;
// it is dropped (with its replication slots) when the test ends.
func NewDatabase(t testing.TB) *Database {
	t.Helper()
	c := Shared(t)
	name := fmt.Sprintf("t%d_%s", shared.seq.Add(1), sanitize(t.Name()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.CreateDatabase(ctx, name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return &Database{Cluster: c, Name: name, URL: c.URL(name)}
}

// Connect opens a connection to the database as the superuser; it is
// closed when the test ends.
func (d *Database) Connect(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), d.URL)
	if err != nil {
		t.Fatalf("connect to database %s: %v", d.Name, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func sanitize(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}

// Private starts a cluster of the test's own, stopped when the test ends:
// for packages that cannot own TestMain (one cluster start, about a
// second, per call).
func Private(t testing.TB) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx)
	if err == ErrNotInstalled {
		testenv.Missing(t, "postgres (initdb, pg_ctl)", "tests against a real Postgres server")
	}
	if err != nil {
		t.Fatalf("start postgres cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop postgres cluster: %v", err)
		}
	})
	return c
}
