// Package sqlite is the embedded replication source: an application's SQLite
// database file, followed through triggers.
//
// Start installs, per synced table, AFTER INSERT/UPDATE/DELETE triggers that
// append the changed row's id to the changes table _powersync_changes (seq
// INTEGER PRIMARY KEY AUTOINCREMENT). SQLite has one writer at a time, so
// seqs are handed out in commit order: once a reader sees seq N, every change
// up to N is committed and visible. That makes the change seq the source
// position, with no gaps that fill in later.
//
// Stream reads the changes after its position in one read transaction and
// re-reads each changed row from its table in that same transaction, so the
// rows it delivers are exactly the database's state at the newest seq it
// saw, and it commits that position once (one Handler.Commit per drain of
// everything visible: many small transactions become one storage commit; a
// large transaction is never split). A row changed several times in one
// drain is delivered once. A changed row that no longer exists is a delete.
// Rows are acknowledged per slot (one per sync config version) in
// _powersync_slots after storage committed them, and the changes every slot
// has acknowledged are trimmed.
//
// SQLite has no TRUNCATE: `DELETE FROM t` fires the row triggers (SQLite
// turns off its truncate optimisation when a table has triggers), so it
// replicates as one delete per row.
//
// Other processes may write to the file at any time: the triggers live in
// the database schema, so every writer records its changes. The stream
// wakes within a few milliseconds of a commit by any process, by watching
// PRAGMA data_version on its own connection, and in-process writers can
// call Notify.
//
// Every synced table needs a column named id; a row whose id is NULL is not
// replicated.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	sqlite3 "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// Sentinel errors.
var (
	// ErrNoFile is returned when the database file does not exist.
	ErrNoFile = errors.New("sqlite source: database file does not exist")
	// ErrLocked is returned when another connection kept the database
	// locked for longer than the busy timeout.
	ErrLocked = errors.New("sqlite source: database is locked")
	// ErrNoID is returned for a synced table without an id column.
	ErrNoID = errors.New("sqlite source: table has no id column")

	errNoTable = errors.New("sqlite source: table does not exist")
)

// Names of the objects the source creates in the application's database.
const (
	changesTable  = "_powersync_changes"
	slotsTable    = "_powersync_slots"
	triggerPrefix = "_powersync_"
)

// Options configure a Source.
type Options struct {
	// Path is the SQLite database file; it must exist.
	Path string
	// Logger receives the source's logs (default slog.Default()).
	Logger *slog.Logger
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection (default 5s).
	BusyTimeout time.Duration
	// WatchInterval is how often the stream checks PRAGMA data_version for
	// commits by other connections (default 5ms).
	WatchInterval time.Duration
	// PollInterval is the fallback interval of a full read of the changes
	// table (default 1s).
	PollInterval time.Duration
	// PageRows is the number of rows of one snapshot page (default 10,000).
	PageRows int
	// AckInterval bounds how often the stream records its acknowledged
	// position and trims the changes table (default 1s).
	AckInterval time.Duration
}

// Source is a replication source over one SQLite database file. It is safe
// for concurrent use; several slots may stream at once.
type Source struct {
	path string
	db   *sql.DB
	log  *slog.Logger
	opts Options

	notifyMu sync.Mutex
	notifyCh chan struct{} // closed and replaced by Notify

	// mu guards tables and refs.
	mu sync.Mutex
	// tables caches per-table column lists, keyed by table name, valid for
	// schemaVersion.
	tables        map[string]*tableInfo
	schemaVersion int64
	// refs maps a table name to the TableRef handed out by Tables.
	refs map[string]sqlvalue.TableRef

	closeOnce sync.Once
}

var _ source.Source = (*Source)(nil)

// tableInfo is what the source knows about one table's columns.
type tableInfo struct {
	name    string
	columns []string
	// selectList is `+"c1" AS "c1", ...`: expressions, so the driver keeps
	// TEXT as text whatever the declared column type.
	selectList string
}

// Open opens the SQLite database at opts.Path for replication. The file
// must exist; it is switched to WAL mode.
func Open(ctx context.Context, opts Options) (*Source, error) {
	path := opts.Path
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.WatchInterval <= 0 {
		opts.WatchInterval = 5 * time.Millisecond
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.PageRows <= 0 {
		opts.PageRows = 10000
	}
	if opts.AckInterval <= 0 {
		opts.AckInterval = time.Second
	}
	if path == "" {
		return nil, errors.New("sqlite source: no database path configured (replication.connections[].path)")
	}
	if err := CheckFile(path); err != nil {
		return nil, err
	}
	dsn := fmt.Sprintf("file:%s?mode=rw&_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)",
		path, opts.BusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite source: open %s: %w", path, err)
	}
	s := &Source{
		path:     path,
		db:       db,
		log:      opts.Logger.With("component", "source.sqlite"),
		opts:     opts,
		notifyCh: make(chan struct{}),
		tables:   map[string]*tableInfo{},
		refs:     map[string]sqlvalue.TableRef{},
	}
	if err := s.Check(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Check verifies that the file is a SQLite database in WAL mode.
func (s *Source) Check(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return s.wrap("read journal mode", err)
	}
	if !strings.EqualFold(mode, "wal") {
		// The DSN asks for WAL; another process in rollback mode may have
		// kept it from switching. Try once more, explicitly.
		if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
			return s.wrap("switch to WAL mode", err)
		}
		if !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("sqlite source: %s: cannot switch to WAL mode (journal_mode is %q)", s.path, mode)
		}
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return s.wrap("read schema", err)
	}
	return nil
}

// wrap turns a driver error into ours, naming the file and what was done.
func (s *Source) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return fmt.Errorf("%w: %s: %s: another connection held a lock for more than %s (%v)",
				ErrLocked, s.path, what, s.opts.BusyTimeout, err)
		case 26: // SQLITE_NOTADB
			return fmt.Errorf("sqlite source: %s is not a SQLite database: %s: %w", s.path, what, err)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("sqlite source: %s: %s: %w", s.path, what, err)
}

// Notify wakes the streams at once, for writers in this process (the
// development write endpoint). Writers in other processes are noticed
// through PRAGMA data_version within Options.WatchInterval.
func (s *Source) Notify() {
	s.notifyMu.Lock()
	close(s.notifyCh)
	s.notifyCh = make(chan struct{})
	s.notifyMu.Unlock()
}

func (s *Source) notified() <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	return s.notifyCh
}

// DB returns the source's database handle, for in-process writers (the
// development write endpoint) that then call Notify.
func (s *Source) DB() *sql.DB { return s.db }

// Tables resolves the sync config's table patterns against the tables of
// the database. A pattern whose name ends in % matches every table with
// that prefix. Every resolved table must have an id column.
func (s *Source) Tables(ctx context.Context, patterns []sqlvalue.TablePattern) ([]*source.Table, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT LIKE '\_powersync\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, s.wrap("list tables", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, s.wrap("list tables", err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list tables", err)
	}

	var out []*source.Table
	seen := map[string]bool{}
	for _, p := range patterns {
		if !schemaMatches(p.Schema) {
			s.log.Warn("table pattern names a schema a SQLite source does not have; skipped",
				"schema", p.Schema, "table", p.Name)
			continue
		}
		matched := false
		for _, n := range names {
			if !nameMatches(p.Name, n) {
				continue
			}
			matched = true
			if seen[n] {
				continue
			}
			if _, err := s.tableInfo(ctx, n); err != nil {
				return nil, err
			}
			seen[n] = true
			ref := sqlvalue.TableRef{Schema: p.Schema, Name: n}
			s.mu.Lock()
			s.refs[n] = ref
			s.mu.Unlock()
			out = append(out, &source.Table{Ref: ref, ID: n, KeyColumns: []string{"id"}})
		}
		if !matched {
			s.log.Warn("the sync config reads a table the database does not have; it is not replicated until replication restarts after the table is created",
				"table", p.Name)
		}
	}
	return out, nil
}

// schemaMatches reports whether a pattern's schema can name a table of the
// main SQLite database: none, SQLite's "main", or "public" (sync configs
// written for Postgres) — see source.DefaultSchema.
func schemaMatches(schema string) bool {
	switch strings.ToLower(schema) {
	case "", source.SQLiteSchemaName, source.PostgresDefaultSchema:
		return true
	}
	return false
}

// nameMatches matches a table name against a pattern (a trailing % is a
// prefix wildcard). SQLite table names are case-insensitive.
func nameMatches(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "%"); ok {
		return len(name) >= len(p) && strings.EqualFold(name[:len(p)], p)
	}
	return strings.EqualFold(pattern, name)
}

// tableInfo returns the column list of a table, reloading it when the
// database schema changed.
func (s *Source) tableInfo(ctx context.Context, name string) (*tableInfo, error) {
	var ver int64
	if err := s.db.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&ver); err != nil {
		return nil, s.wrap("read schema version", err)
	}
	s.mu.Lock()
	if ver != s.schemaVersion {
		s.tables = map[string]*tableInfo{}
		s.schemaVersion = ver
	}
	if ti := s.tables[name]; ti != nil {
		s.mu.Unlock()
		return ti, nil
	}
	s.mu.Unlock()

	rows, err := s.db.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", name)
	if err != nil {
		return nil, s.wrap("read columns of "+name, err)
	}
	defer rows.Close()
	ti := &tableInfo{name: name}
	hasID := false
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, s.wrap("read columns of "+name, err)
		}
		ti.columns = append(ti.columns, c)
		if c == "id" {
			hasID = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("read columns of "+name, err)
	}
	if len(ti.columns) == 0 {
		return nil, fmt.Errorf("%w: %s: table %q", errNoTable, s.path, name)
	}
	if !hasID {
		return nil, fmt.Errorf("%w: %s: table %q (columns %s); every synced table needs a column named id that identifies its rows, such as `id INTEGER PRIMARY KEY` or `id TEXT PRIMARY KEY`",
			ErrNoID, s.path, name, strings.Join(ti.columns, ", "))
	}
	parts := make([]string, len(ti.columns))
	for i, c := range ti.columns {
		q := quoteIdent(c)
		parts[i] = "+t." + q + " AS " + q
	}
	ti.selectList = strings.Join(parts, ", ")
	s.mu.Lock()
	s.tables[name] = ti
	s.mu.Unlock()
	return ti, nil
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteString quotes an SQL string literal.
func quoteString(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

// Close closes the database handle. It is safe to call twice.
func (s *Source) Close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() { err = s.db.Close() })
	return err
}
