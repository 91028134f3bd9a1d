package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/pgtest"
	"github.com/powersync-go/powersync/internal/source"
	pgsource "github.com/powersync-go/powersync/internal/source/postgres"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

func TestMain(m *testing.M) {
	if os.Getenv(childSourceEnv) != "" {
		os.Exit(runChildReplicator())
	}
	if args := os.Getenv(childCLIEnv); args != "" {
		os.Exit(runChildCLI(args))
	}
	os.Exit(pgtest.Main(m))
}

// env is a source database with a connection and a Source.
type env struct {
	db   *pgtest.Database
	conn *pgx.Conn
	src  *pgsource.Source
}

func newEnv(t testing.TB, opts pgsource.Options, setup string) *env {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if setup != "" {
		if _, err := conn.Exec(ctx, setup); err != nil {
			t.Fatalf("setup: %v", err)
		}
	}
	opts.ConnString = db.URL
	src, err := pgsource.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close(context.Background()) })
	return &env{db: db, conn: conn, src: src}
}

func (e *env) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := e.conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// recorder is a Handler that records transactions.
type recorder struct {
	mu        sync.Mutex
	pending   []source.Change
	txs       [][]source.Change
	positions []storage.Position
	keepalive storage.Position
	notify    chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) Change(ctx context.Context, c source.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, c)
	return nil
}

func (r *recorder) Commit(ctx context.Context, pos storage.Position) error {
	r.mu.Lock()
	r.txs = append(r.txs, r.pending)
	r.pending = nil
	r.positions = append(r.positions, pos)
	r.mu.Unlock()
	r.wake()
	return nil
}

func (r *recorder) Keepalive(ctx context.Context, pos storage.Position) error {
	r.mu.Lock()
	if pos > r.keepalive {
		r.keepalive = pos
	}
	r.mu.Unlock()
	r.wake()
	return nil
}

func (r *recorder) wake() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// waitChanges waits until n changes have been committed and returns them.
func (r *recorder) waitChanges(t testing.TB, n int) []source.Change {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		var all []source.Change
		for _, tx := range r.txs {
			all = append(all, tx...)
		}
		r.mu.Unlock()
		if len(all) >= n {
			return all
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %d changes, have %d", n, len(all))
		}
	}
}

// stream runs Stream in the background until the test ends.
func (e *env) stream(t testing.TB, slot string, from storage.Position, tables []*source.Table, h source.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	byRef := map[sqlvalue.TableRef]*source.Table{}
	for _, tb := range tables {
		byRef[tb.Ref] = tb
	}
	go func() {
		done <- e.src.Stream(ctx, slot, from, func(r sqlvalue.TableRef) *source.Table { return byRef[r] }, h)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("stream: %v", err)
		}
	})
}

func TestCheckReportsProblemsWithFix(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pgsource.Options{}, `CREATE TABLE todos (id text primary key, title text)`)
	err := e.src.Check(ctx)
	var ce *pgsource.CheckError
	if !errors.As(err, &ce) || !strings.Contains(ce.Problem, `publication "powersync" does not exist`) ||
		!strings.Contains(ce.Fix, "CREATE PUBLICATION powersync") {
		t.Fatalf("without publication: %v", err)
	}
	e.exec(t, `CREATE PUBLICATION powersync FOR TABLE todos WITH (publish = 'insert, update')`)
	if err := e.src.Check(ctx); !errors.As(err, &ce) || !strings.Contains(ce.Fix, "publish = 'insert, update, delete, truncate'") {
		t.Fatalf("partial publication: %v", err)
	}
	e.exec(t, `ALTER PUBLICATION powersync SET (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`)
	if err := e.src.Check(ctx); !errors.As(err, &ce) || !strings.Contains(ce.Problem, "publish_via_partition_root") {
		t.Fatalf("via root: %v", err)
	}
	e.exec(t, `ALTER PUBLICATION powersync SET (publish_via_partition_root = false)`)
	if err := e.src.Check(ctx); err != nil {
		t.Fatalf("good setup: %v", err)
	}

	// A role without REPLICATION.
	e.exec(t, `CREATE ROLE plain LOGIN`)
	u := strings.Replace(e.db.URL, "postgres@", "plain@", 1)
	src2, err := pgsource.Open(ctx, pgsource.Options{ConnString: u})
	if err != nil {
		t.Fatal(err)
	}
	defer src2.Close(context.Background())
	if err := src2.Check(ctx); !errors.As(err, &ce) || !strings.Contains(ce.Fix, "WITH REPLICATION") {
		t.Fatalf("plain role: %v", err)
	}
	// ... nor SELECT on the table.
	if _, err := src2.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}}); !errors.As(err, &ce) || !strings.Contains(ce.Fix, "GRANT SELECT") {
		t.Fatalf("no select: %v", err)
	}
}

func TestTablesResolvesPatternsAndIdentity(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pgsource.Options{}, `
		CREATE TABLE todos (id text primary key, title text);
		CREATE TABLE todo_lists (a int, b int, name text, primary key (b, a));
		CREATE TABLE other (x int);
		CREATE TABLE nokey (x int);
		CREATE TABLE full_ident (x int, y text);
		ALTER TABLE full_ident REPLICA IDENTITY FULL;
		CREATE PUBLICATION powersync FOR ALL TABLES;`)
	got, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "todo%"}, {Schema: "public", Name: "full_ident"}, {Name: "missing"}})
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, tb := range got {
		desc = append(desc, tb.ID+"("+strings.Join(tb.KeyColumns, ",")+")")
	}
	want := "public.todo_lists(b,a) public.todos(id) public.full_ident(x,y)"
	if strings.Join(desc, " ") != want {
		t.Fatalf("tables = %v, want %s", desc, want)
	}
	var ce *pgsource.CheckError
	if _, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "nokey"}}); !errors.As(err, &ce) || !strings.Contains(ce.Fix, "REPLICA IDENTITY FULL") {
		t.Fatalf("nokey: %v", err)
	}
}

func rowString(r sqlvalue.Row) string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := r[k]
		fmt.Fprintf(&b, "%s=%s:%s ", k, v.Kind(), valueString(v))
	}
	return strings.TrimSpace(b.String())
}

func valueString(v sqlvalue.Value) string {
	switch v.Kind() {
	case sqlvalue.KindInteger:
		return fmt.Sprint(v.Int64())
	case sqlvalue.KindReal:
		return fmt.Sprint(v.Float64())
	case sqlvalue.KindBlob:
		return fmt.Sprintf("%x", v.Bytes())
	case sqlvalue.KindNull:
		return "null"
	}
	return v.Str()
}

// TestStartChecksFirst: replication start reports a configuration problem
// with its fix instead of a driver error.
func TestStartChecksFirst(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pgsource.Options{}, `CREATE TABLE todos (id text primary key)`)
	_, _, err := e.src.Start(ctx, "powersync_8_aaaa", 0)
	var ce *pgsource.CheckError
	if !errors.As(err, &ce) || !strings.Contains(ce.Fix, "CREATE PUBLICATION powersync") {
		t.Fatalf("start without publication: %v", err)
	}
	e.exec(t, `CREATE PUBLICATION powersync FOR ALL TABLES`)
	if _, fresh, err := e.src.Start(ctx, "powersync_8_aaaa", 0); err != nil || !fresh {
		t.Fatalf("start: %v %v", fresh, err)
	}
	// Restarting on its own existing slot passes the checks.
	if _, _, err := e.src.Start(ctx, "powersync_8_aaaa", 0); err != nil {
		t.Fatalf("restart on the existing slot: %v", err)
	}
}
