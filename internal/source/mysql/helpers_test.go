package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/mysqltest"
	"github.com/powersync-go/powersync/internal/pgtest"
	"github.com/powersync-go/powersync/internal/source"
	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

func TestMain(m *testing.M) {
	if os.Getenv(childSourceEnv) != "" {
		os.Exit(runChildReplicator())
	}
	// pgtest.Main runs the tests (Postgres bucket storage for some) and
	// stops its cluster; the MariaDB server is stopped after it.
	code := pgtest.Main(m)
	mysqltest.StopShared()
	os.Exit(code)
}

// env is a fresh database with a source connected to it as root.
type env struct {
	db  *mysqltest.Database
	sql *sql.DB
	src *mysqlsource.Source
}

func newEnv(t *testing.T, opts mysqlsource.Options, setup ...string) *env {
	t.Helper()
	return newEnvOn(t, mysqltest.NewDatabase(t), opts, setup...)
}

func newEnvOn(t *testing.T, d *mysqltest.Database, opts mysqlsource.Options, setup ...string) *env {
	t.Helper()
	db, err := sql.Open("mysql", d.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{db: d, sql: db}
	for _, q := range setup {
		e.exec(t, q)
	}
	if opts.URI == "" {
		opts.URI = d.URL("root", "")
	}
	src, err := mysqlsource.Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close(context.Background()) })
	e.src = src
	return e
}

func (e *env) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := e.sql.ExecContext(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// stream runs Stream until the test ends; its error goes to errc.
func (e *env) stream(t *testing.T, slot string, pos storage.Position, tables []*source.Table, h source.Handler) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	done := make(chan struct{})
	lookup := func(ref sqlvalue.TableRef) *source.Table {
		for _, tb := range tables {
			if tb.Ref == ref {
				return tb
			}
		}
		return nil
	}
	go func() {
		defer close(done)
		errc <- e.src.Stream(ctx, slot, pos, lookup, h)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return errc
}

// recorder is a source.Handler that records changes and commits, and
// wakes waiters on every call.
type recorder struct {
	mu        sync.Mutex
	changes   []source.Change
	txs       int
	positions []storage.Position
	keepalive []storage.Position
	wake      chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{})} }

func (r *recorder) notify() {
	close(r.wake)
	r.wake = make(chan struct{})
}

func (r *recorder) Change(ctx context.Context, c source.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
	return nil
}

func (r *recorder) Commit(ctx context.Context, pos storage.Position) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.txs++
	r.positions = append(r.positions, pos)
	r.notify()
	return nil
}

func (r *recorder) Keepalive(ctx context.Context, pos storage.Position) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keepalive = append(r.keepalive, pos)
	r.notify()
	return nil
}

// waitChanges waits until n changes were committed.
func (r *recorder) waitChanges(t *testing.T, errc <-chan error, n int) []source.Change {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		r.mu.Lock()
		got, w := len(r.changes), r.wake
		if got >= n && r.txs > 0 {
			out := append([]source.Change(nil), r.changes...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-w:
		case err := <-errc:
			t.Fatalf("stream ended: %v", err)
		case <-timeout:
			t.Fatalf("timed out waiting for %d changes (have %d)", n, got)
		}
	}
}

// waitPosition waits until a commit or keepalive reached pos.
func (r *recorder) waitPosition(t *testing.T, errc <-chan error, pos storage.Position) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		r.mu.Lock()
		reached := false
		for _, p := range append(append([]storage.Position(nil), r.positions...), r.keepalive...) {
			reached = reached || p >= pos
		}
		w := r.wake
		r.mu.Unlock()
		if reached {
			return
		}
		select {
		case <-w:
		case err := <-errc:
			t.Fatalf("stream ended: %v", err)
		case <-timeout:
			t.Fatalf("timed out waiting for position %d", pos)
		}
	}
}

// waitCommit waits until a Commit (not a Keepalive) reached pos.
func (r *recorder) waitCommit(t *testing.T, errc <-chan error, pos storage.Position) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		r.mu.Lock()
		reached := len(r.positions) > 0 && r.positions[len(r.positions)-1] >= pos
		w := r.wake
		r.mu.Unlock()
		if reached {
			return
		}
		select {
		case <-w:
		case err := <-errc:
			t.Fatalf("stream ended: %v", err)
		case <-timeout:
			t.Fatalf("timed out waiting for a commit at position %d", pos)
		}
	}
}

// rowString renders a row as sorted "col=kind:value" pairs.
func rowString(r sqlvalue.Row) string {
	var parts []string
	for k, v := range r {
		s := v.Str()
		switch v.Kind() {
		case sqlvalue.KindInteger:
			s = fmt.Sprint(v.Int64())
		case sqlvalue.KindReal:
			s = fmt.Sprint(v.Float64())
		case sqlvalue.KindBlob:
			s = fmt.Sprintf("%x", v.Str())
		}
		parts = append(parts, k+"="+v.Kind().String()+":"+s)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func isPositionLost(err error) bool { return errors.Is(err, mysqlsource.ErrPositionLost) }

type mysqlsourcePage = source.SnapshotPage

// valueString renders a value as "kind:value" (blobs in hex).
func valueString(v sqlvalue.Value) string {
	switch v.Kind() {
	case sqlvalue.KindNull:
		return "null:"
	case sqlvalue.KindInteger:
		return fmt.Sprintf("integer:%d", v.Int64())
	case sqlvalue.KindReal:
		return fmt.Sprintf("real:%v", v.Float64())
	case sqlvalue.KindBlob:
		return fmt.Sprintf("blob:%x", v.Str())
	}
	return "text:" + v.Str()
}
