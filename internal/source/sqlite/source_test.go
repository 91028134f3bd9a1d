package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/logtest"
	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/source/sqlite"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

// newDB creates a database file with the given schema and returns its path
// and a writer connection (like another application would use).
func newDB(t *testing.T, schema string) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	return path, db
}

func open(t *testing.T, path string) *sqlite.Source {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path, PageRows: 3, AckInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// recorder is a Handler that records what it is given, as text.
type recorder struct {
	mu      sync.Mutex
	pending []string
	commits [][]string // sorted changes per commit
	pos     []storage.Position
	wake    chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 100)} }

func (r *recorder) Change(_ context.Context, c source.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch c.Kind {
	case source.Delete:
		r.pending = append(r.pending, fmt.Sprintf("delete %s %x", c.Table.ID, c.Key))
	default:
		cols := make([]string, 0, len(c.Row))
		for k, v := range c.Row {
			cols = append(cols, fmt.Sprintf("%s=%s:%s", k, v.Kind(), valueText(v)))
		}
		sort.Strings(cols)
		r.pending = append(r.pending, fmt.Sprintf("save %s %s", c.Table.ID, strings.Join(cols, ",")))
	}
	return nil
}

func valueText(v sqlvalue.Value) string {
	switch v.Kind() {
	case sqlvalue.KindInteger:
		return fmt.Sprint(v.Int64())
	case sqlvalue.KindReal:
		return fmt.Sprint(v.Float64())
	case sqlvalue.KindText, sqlvalue.KindBlob:
		return v.Str()
	}
	return "null"
}

func (r *recorder) Commit(_ context.Context, pos storage.Position) error {
	r.mu.Lock()
	sort.Strings(r.pending)
	r.commits = append(r.commits, r.pending)
	r.pending = nil
	r.pos = append(r.pos, pos)
	r.mu.Unlock()
	r.wake <- struct{}{}
	return nil
}

func (r *recorder) Keepalive(_ context.Context, pos storage.Position) error {
	r.mu.Lock()
	r.pos = append(r.pos, pos)
	r.mu.Unlock()
	r.wake <- struct{}{}
	return nil
}

// next waits for the next commit with changes and returns them.
func (r *recorder) next(t *testing.T) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		if len(r.commits) > 0 {
			c := r.commits[0]
			r.commits = r.commits[1:]
			r.mu.Unlock()
			return c
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatal("no commit within 10s")
		}
	}
}

func startStream(t *testing.T, s *sqlite.Source, slot string, from storage.Position, tables []*source.Table) *recorder {
	t.Helper()
	byRef := map[sqlvalue.TableRef]*source.Table{}
	for _, tb := range tables {
		byRef[tb.Ref] = tb
	}
	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Stream(ctx, slot, from, func(ref sqlvalue.TableRef) *source.Table { return byRef[ref] }, r)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("stream: %v", err)
		}
	})
	return r
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "missing.db")})
	if !errors.Is(err, sqlite.ErrNoFile) || !strings.Contains(err.Error(), "missing.db") {
		t.Errorf("missing file: got %v", err)
	}
	if _, err := sqlite.Open(ctx, sqlite.Options{}); err == nil || !strings.Contains(err.Error(), "no database path") {
		t.Errorf("no path: got %v", err)
	}

	path, _ := newDB(t, `CREATE TABLE noid (key TEXT PRIMARY KEY, v TEXT); CREATE TABLE good (id INTEGER PRIMARY KEY)`)
	s := open(t, path)
	_, err = s.Tables(ctx, []sqlvalue.TablePattern{{Name: "noid"}})
	if !errors.Is(err, sqlite.ErrNoID) || !strings.Contains(err.Error(), `"noid"`) {
		t.Errorf("table without id: got %v", err)
	}
	tables, err := s.Tables(ctx, []sqlvalue.TablePattern{{Name: "go%"}, {Name: "absent"}})
	if err != nil || len(tables) != 1 || tables[0].ID != "good" {
		t.Errorf("pattern: got %v, %v", tables, err)
	}
}

func TestLockedDatabase(t *testing.T) {
	ctx := context.Background()
	path, db := newDB(t, `CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT)`)
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path, BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	tables, err := s.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = tables
	// Another connection holds the write lock.
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Start(ctx, "slot1", 0)
	if !errors.Is(err, sqlite.ErrLocked) {
		t.Errorf("start while locked: got %v", err)
	}
	if _, err := c.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Start(ctx, "slot1", 0); err != nil {
		t.Errorf("start after unlock: %v", err)
	}
}

func TestSnapshotPages(t *testing.T) {
	ctx := context.Background()
	path, db := newDB(t, `CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER, r REAL, b BLOB, d DATETIME)`)
	for i := range 7 {
		if _, err := db.Exec("INSERT INTO items VALUES (?, ?, ?, ?, ?)", fmt.Sprintf("k%d", i), i, float64(i)+0.5, []byte{byte(i)}, "2024-01-02 03:04:05"); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, path)
	tables, err := s.Tables(ctx, []sqlvalue.TablePattern{{Schema: "public", Name: "items"}})
	if err != nil {
		t.Fatal(err)
	}
	var pages []int
	var got []string
	var cursor []byte
	err = s.Snapshot(ctx, tables[0], nil, func(p source.SnapshotPage) error {
		pages = append(pages, len(p.Rows))
		for _, r := range p.Rows {
			got = append(got, r["id"].Str())
		}
		if cursor == nil {
			cursor = p.Cursor
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(pages) != "[3 3 1]" || len(got) != 7 {
		t.Errorf("pages %v rows %v", pages, got)
	}
	// Resume after the first page.
	var rest []string
	var first sqlvalue.Row
	err = s.Snapshot(ctx, tables[0], cursor, func(p source.SnapshotPage) error {
		for _, r := range p.Rows {
			if first == nil {
				first = r
			}
			rest = append(rest, r["id"].Str())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rest) != "[k3 k4 k5 k6]" {
		t.Errorf("resumed: %v", rest)
	}
	// Values keep their storage class; DATETIME text stays text.
	want := map[string]sqlvalue.Kind{"id": sqlvalue.KindText, "n": sqlvalue.KindInteger, "r": sqlvalue.KindReal, "b": sqlvalue.KindBlob, "d": sqlvalue.KindText}
	for c, k := range want {
		if first[c].Kind() != k {
			t.Errorf("column %s: kind %v, want %v", c, first[c].Kind(), k)
		}
	}
	if first["d"].Str() != "2024-01-02 03:04:05" {
		t.Errorf("datetime text changed: %q", first["d"].Str())
	}
}

func TestStreamChanges(t *testing.T) {
	ctx := context.Background()
	path, db := newDB(t, `CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT); CREATE TABLE other (id INTEGER PRIMARY KEY)`)
	s := open(t, path)
	tables, err := s.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}})
	if err != nil {
		t.Fatal(err)
	}
	pos, fresh, err := s.Start(ctx, "slot1", 0)
	if err != nil || !fresh {
		t.Fatalf("start: %v %v", fresh, err)
	}
	r := startStream(t, s, "slot1", pos, tables)

	mustExec(t, db, "INSERT INTO todos VALUES (1, 'a'), (2, 'b')")
	if got := fmt.Sprint(r.next(t)); got != "[save todos id=integer:1,title=text:a save todos id=integer:2,title=text:b]" {
		t.Errorf("insert: %s", got)
	}
	// Several transactions between drains arrive as one commit at most
	// once per row; tables not synced are ignored.
	mustExec(t, db, "UPDATE todos SET title = 'a2' WHERE id = 1")
	mustExec(t, db, "INSERT INTO other VALUES (1)")
	mustExec(t, db, "DELETE FROM todos WHERE id = 2")
	seen := map[string]bool{}
	for len(seen) < 2 {
		for _, c := range r.next(t) {
			seen[c] = true
		}
	}
	if !seen["save todos id=integer:1,title=text:a2"] || !seen["delete todos 698000000000000002"] {
		t.Errorf("update/delete: %v", seen)
	}
	// Changing an id deletes the old one.
	mustExec(t, db, "UPDATE todos SET id = 5 WHERE id = 1")
	if got := fmt.Sprint(r.next(t)); got != "[delete todos 698000000000000001 save todos id=integer:5,title=text:a2]" {
		t.Errorf("id change: %s", got)
	}
	// DELETE without WHERE (SQLite's truncate) deletes row by row.
	mustExec(t, db, "INSERT INTO todos VALUES (6, 'x')")
	r.next(t)
	mustExec(t, db, "DELETE FROM todos")
	if got := fmt.Sprint(r.next(t)); got != "[delete todos 698000000000000005 delete todos 698000000000000006]" {
		t.Errorf("truncate: %s", got)
	}
}

func TestHeadAndResume(t *testing.T) {
	ctx := context.Background()
	path, db := newDB(t, `CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT)`)
	s := open(t, path)
	tables, err := s.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}})
	if err != nil {
		t.Fatal(err)
	}
	pos, _, err := s.Start(ctx, "slot1", 0)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "INSERT INTO todos VALUES (1, 'a')")
	head, err := s.Head(ctx)
	if err != nil || head <= pos {
		t.Fatalf("head %d after %d: %v", head, pos, err)
	}
	// A restart with the slot existing resumes at storage's position.
	pos2, fresh, err := s.Start(ctx, "slot1", head)
	if err != nil || fresh || pos2 != head {
		t.Fatalf("restart: %d %v %v", pos2, fresh, err)
	}
	mustExec(t, db, "INSERT INTO todos VALUES (2, 'b')")
	r := startStream(t, s, "slot1", pos2, tables)
	if got := fmt.Sprint(r.next(t)); got != "[save todos id=integer:2,title=text:b]" {
		t.Errorf("after resume: %s", got)
	}
	// A marker alone moves the position through Keepalive.
	h2, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		last := r.pos[len(r.pos)-1]
		r.mu.Unlock()
		if last >= h2 {
			break
		}
		select {
		case <-r.wake: // a commit or keepalive moved the position
		case <-timeout:
			t.Fatalf("stream did not pass head %d (at %d)", h2, last)
		}
	}
	// Acknowledged changes are trimmed (each write below makes the stream
	// read, and trim, again; the next commit is the event).
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM _powersync_changes").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d changes not trimmed", n)
		}
		mustExec(t, db, "UPDATE todos SET title = title")
		r.next(t)
	}
	if err := s.Drop(ctx, "slot1"); err != nil {
		t.Fatal(err)
	}
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestRecreatedTableIsFollowedAgain(t *testing.T) {
	ctx := context.Background()
	path, db := newDB(t, `CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT)`)
	// The source logs once it has re-installed change capture: that record
	// is the event to wait for.
	logs := logtest.NewRecorder()
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path, PageRows: 3, AckInterval: time.Millisecond, Logger: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	tables, err := s.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}})
	if err != nil {
		t.Fatal(err)
	}
	pos, _, err := s.Start(ctx, "slot1", 0)
	if err != nil {
		t.Fatal(err)
	}
	r := startStream(t, s, "slot1", pos, tables)
	mustExec(t, db, "DROP TABLE todos")
	mustExec(t, db, "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT, done INTEGER)")
	logs.Wait(t, "synced tables were dropped and created again", 10*time.Second)
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'todos'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d triggers on the re-created table", n)
	}
	mustExec(t, db, "INSERT INTO todos VALUES (1, 'a', 0)")
	if got := fmt.Sprint(r.next(t)); got != "[save todos done=integer:0,id=integer:1,title=text:a]" {
		t.Errorf("after re-create: %s", got)
	}
}

func TestDroppedTableChangesReadAsDeletes(t *testing.T) {
	ctx := context.Background()
	path, db := newDB(t, `CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT)`)
	s := open(t, path)
	tables, err := s.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}})
	if err != nil {
		t.Fatal(err)
	}
	pos, _, err := s.Start(ctx, "slot1", 0)
	if err != nil {
		t.Fatal(err)
	}
	r := startStream(t, s, "slot1", pos, tables)
	// Rows changed in the transaction that drops the table cannot be read
	// back; the stream goes on with them deleted.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"INSERT INTO todos VALUES (1, 'a')", "DROP TABLE todos"} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r.next(t)); got != "[delete todos 698000000000000001]" {
		t.Errorf("dropped table: %s", got)
	}
}
