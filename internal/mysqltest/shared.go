package mysqltest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/testenv"
)

// shared is the one server of a test binary. It is process-wide on purpose:
// TestMain owns it (Main stops it after the tests) and tests only borrow it.
var shared struct {
	mu      sync.Mutex
	server  *Server
	err     error
	started bool
	seq     atomic.Int64
}

// Main runs the tests of a package and stops the shared server afterwards.
// Use it as `func TestMain(m *testing.M) { os.Exit(mysqltest.Main(m)) }`.
func Main(m *testing.M) int {
	code := m.Run()
	StopShared()
	return code
}

// StopShared stops the shared server if one was started: for a TestMain
// that runs the tests through another helper's Main (pgtest.Main).
func StopShared() {
	shared.mu.Lock()
	s := shared.server
	shared.server = nil
	shared.mu.Unlock()
	if s != nil {
		if err := s.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "mysqltest: stop server:", err)
		}
	}
}

// missing ends the test when MariaDB is not installed.
func missing(t testing.TB) {
	t.Helper()
	testenv.Missing(t, "mariadb-server (mariadbd, mariadb-install-db)", "tests against a real MariaDB server")
}

// Shared returns the test binary's server, starting it on first use. Without
// MariaDB installed the test skips (or fails under `make test`).
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.started {
		shared.started = true
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		shared.server, shared.err = Start(ctx)
		cancel()
	}
	if shared.err == ErrNotInstalled {
		missing(t)
	}
	if shared.err != nil {
		t.Fatalf("start mariadb server: %v", shared.err)
	}
	return shared.server
}

// Database is a fresh database of the shared server.
type Database struct {
	Server *Server
	Name   string
	// DSN connects as the superuser (go-sql-driver/mysql form).
	DSN string
}

// NewDatabase creates a fresh database for the test in the shared server;
// it is dropped when the test ends.
func NewDatabase(t testing.TB) *Database {
	t.Helper()
	return NewDatabaseOn(t, Shared(t))
}

// NewDatabaseOn creates a fresh database for the test in server s (a
// Private one, for example); it is dropped when the test ends.
func NewDatabaseOn(t testing.TB, s *Server) *Database {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", shared.seq.Add(1), sanitize(t.Name()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Exec(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Exec(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return &Database{Server: s, Name: name, DSN: s.DSN(name)}
}

// URL returns the database's mysql:// URL for user and password.
func (d *Database) URL(userName, password string) string {
	return d.Server.URL(userName, password, d.Name)
}

func sanitize(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Private starts a server of the test's own, stopped when the test ends:
// for tests that restart, kill or reconfigure the server (binary logs purged
// under a running replication, for example), and for packages that cannot
// own TestMain.
func Private(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx)
	if err == ErrNotInstalled {
		missing(t)
	}
	if err != nil {
		t.Fatalf("start mariadb server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop mariadb server: %v", err)
		}
	})
	return s
}
