package client

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"sync"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/powersync-go/powersync/protocol"
)

// maxOpID is the write gate's value while local writes wait for upload.
const maxOpID = math.MaxInt64

// DefaultPriority is the priority of a bucket that has none (the lowest),
// as protocol's decoder assumes.
const DefaultPriority = protocol.DefaultPriority

// internalSQL creates the client's own tables. They are of our own design,
// modelled on what the official core keeps:
//
//   - ps_buckets: one row per bucket of the last checkpoint: how far it is
//     downloaded (last_op, the next request's after), the wrapping sum of
//     the checksums of every op received (superseded ones too, as the
//     service's bucket checksum counts them), and the checkpoint's
//     expectations for diagnostics;
//   - ps_oplog: the latest PUT of each row key of each bucket;
//   - ps_updated_rows: rows whose visible state must be recomputed at the
//     next apply, with the priority of the bucket that touched them;
//   - ps_untyped: synced rows of object types not in the schema;
//   - ps_crud: the upload queue; ps_kv: client id and the write gate;
//   - ps_sync_state: last completed sync per priority;
//   - ps_stream_subscriptions: explicit Sync Streams subscriptions.
var internalSQL = []string{
	`CREATE TABLE IF NOT EXISTS ps_buckets (
  name TEXT PRIMARY KEY NOT NULL,
  priority INTEGER NOT NULL DEFAULT 3,
  last_op INTEGER NOT NULL DEFAULT 0,
  last_applied_op INTEGER NOT NULL DEFAULT 0,
  checksum INTEGER NOT NULL DEFAULT 0,
  target_checksum INTEGER NOT NULL DEFAULT 0,
  target_count INTEGER NOT NULL DEFAULT 0,
  count_at_last INTEGER NOT NULL DEFAULT 0,
  count_since_last INTEGER NOT NULL DEFAULT 0,
  downloaded_bytes INTEGER NOT NULL DEFAULT 0
) STRICT`,
	`CREATE TABLE IF NOT EXISTS ps_oplog (
  bucket TEXT NOT NULL,
  op_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  row_type TEXT NOT NULL,
  row_id TEXT NOT NULL,
  data TEXT,
  hash INTEGER NOT NULL
) STRICT`,
	`CREATE UNIQUE INDEX IF NOT EXISTS ps_oplog_by_key ON ps_oplog (bucket, key)`,
	`CREATE INDEX IF NOT EXISTS ps_oplog_by_row ON ps_oplog (row_type, row_id, op_id)`,
	`CREATE TABLE IF NOT EXISTS ps_updated_rows (
  row_type TEXT NOT NULL, row_id TEXT NOT NULL, priority INTEGER NOT NULL,
  PRIMARY KEY (row_type, row_id, priority)) STRICT, WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS ps_untyped (type TEXT NOT NULL, id TEXT NOT NULL, data TEXT, PRIMARY KEY (type, id)) STRICT`,
	`CREATE TABLE IF NOT EXISTS ps_crud (id INTEGER PRIMARY KEY AUTOINCREMENT, tx_id INTEGER, data TEXT NOT NULL) STRICT`,
	`CREATE TABLE IF NOT EXISTS ps_kv (key TEXT PRIMARY KEY NOT NULL, value ANY) STRICT`,
	`INSERT OR IGNORE INTO ps_kv (key, value) VALUES ('tx_id', 0)`,
	`CREATE TABLE IF NOT EXISTS ps_sync_state (priority INTEGER PRIMARY KEY NOT NULL, last_synced_at TEXT NOT NULL) STRICT`,
	`CREATE TABLE IF NOT EXISTS ps_stream_subscriptions (
  stream TEXT NOT NULL, parameters TEXT NOT NULL DEFAULT 'null', override_priority INTEGER,
  PRIMARY KEY (stream, parameters)) STRICT`,
}

// DB is a local SQLite database kept in sync with a PowerSync service.
//
// Reads go through Query or SQL(); application writes go through Execute or
// WriteTx, into the views of the schema, whose triggers record every change
// in the upload queue. Connect starts the sync loop (download) and the
// upload loop; Disconnect stops them. A DB is safe for concurrent use.
type DB struct {
	path     string
	schema   Schema
	sql      *sql.DB
	clientID string
	log      *slog.Logger

	// writeMu serialises the client's own write transactions (apply of
	// downloaded data and local writes) so they never wait on SQLite's
	// busy handler. It is never held while waiting on the network.
	writeMu sync.Mutex

	status statusBox

	connMu sync.Mutex // guards conn
	conn   *connection

	// uploadWake is signalled (non-blocking) after local writes.
	uploadWake chan struct{}

	closeOnce sync.Once
}

// Options says which local database Open opens and what it holds.
type Options struct {
	// Path is the SQLite database file, created when needed. It must be a
	// file: the sync and upload loops use several connections.
	Path string
	// Schema is the tables the application sees (views over the synced
	// data). An empty schema keeps every synced row in ps_untyped.
	Schema Schema
	// Logger receives the sync and upload loops' logs (slog.Default if nil).
	Logger *slog.Logger
}

// Open opens (creating when needed) the SQLite database at opts.Path and
// installs opts.Schema: one view per table over a ps_data__<table> table,
// with triggers that queue local writes for upload. ctx bounds the
// migration; Close releases the database.
func Open(ctx context.Context, opts Options) (*DB, error) {
	path, schema := opts.Path, opts.Schema
	if err := schema.Validate(); err != nil {
		return nil, err
	}
	if path == "" || path == ":memory:" {
		return nil, errors.New("client.Open: a file path is required (the sync and upload loops use several connections)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(20000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{path: path, schema: schema, sql: sdb, log: opts.Logger.With("component", "client"), uploadWake: make(chan struct{}, 1)}
	db.status.init()
	if err := db.migrate(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.loadSyncState(ctx)
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, s := range internalSQL {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("create client tables: %w", err)
		}
	}
	// Views and triggers are recreated from the schema at every open.
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'ps\_%' ESCAPE '\'`)
	if err != nil {
		return err
	}
	var triggers []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		triggers = append(triggers, n)
	}
	rows.Close()
	for _, n := range triggers {
		if _, err := tx.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+quoteIdent(n)); err != nil {
			return err
		}
	}
	for _, t := range db.schema.Tables {
		for _, s := range t.schemaSQL() {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("create table %q: %w", t.Name, err)
			}
		}
		if !t.LocalOnly {
			// Rows of this type that arrived before the table was in the
			// schema move from ps_untyped.
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT OR REPLACE INTO %s (id, data) SELECT id, data FROM ps_untyped WHERE type = ?`,
				quoteIdent(dataTable(t.Name))), t.Name); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM ps_untyped WHERE type = ?`, t.Name); err != nil {
				return err
			}
		}
	}
	var id sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT value FROM ps_kv WHERE key = 'client_id'`).Scan(&id); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if !id.Valid || id.String == "" {
		id.String = newUUID()
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO ps_kv (key, value) VALUES ('client_id', ?)`, id.String); err != nil {
			return err
		}
	}
	db.clientID = id.String
	return tx.Commit()
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ClientID is this installation's id, sent with every sync request and
// write checkpoint so the service can scope write checkpoints to it.
func (db *DB) ClientID() string { return db.clientID }

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Schema is the schema the database was opened with.
func (db *DB) Schema() Schema { return db.schema }

// SQL returns the underlying database for reads. Writes to the schema's
// views through it are recorded for upload too, but call Execute or WriteTx
// instead so the upload loop is woken at once.
func (db *DB) SQL() *sql.DB { return db.sql }

// SetLogger sets the logger of the sync and upload loops.
func (db *DB) SetLogger(l *slog.Logger) { db.log = l.With("component", "client") }

// Execute runs one write statement in its own transaction and wakes the
// upload loop.
func (db *DB) Execute(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := db.WriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// WriteTx runs fn in a write transaction, commits it when fn returns nil,
// and wakes the upload loop. fn must use tx only, not Execute or WriteTx
// (which would wait for this transaction).
func (db *DB) WriteTx(ctx context.Context, fn func(*sql.Tx) error) error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Every write transaction gets its own id, which the triggers copy into
	// the upload-queue entries (GetNextCRUDTransaction groups by it).
	if _, err := tx.ExecContext(ctx, `UPDATE ps_kv SET value = value + 1 WHERE key = 'tx_id'`); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	db.wakeUpload()
	return nil
}

// wakeUpload tells the upload loop to look at the queue.
func (db *DB) wakeUpload() {
	select {
	case db.uploadWake <- struct{}{}:
	default:
	}
}

// Rows is the result of Query: column names and the values of each row
// (int64, float64, string, []byte or nil).
type Rows struct {
	Columns []string
	Rows    [][]any
}

// Query runs a read query and returns all its rows.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*Rows, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := &Rows{Columns: cols, Rows: [][]any{}}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out.Rows = append(out.Rows, vals)
	}
	return out, rows.Err()
}

// Maps returns the rows as maps from column name to value.
func (r *Rows) Maps() []map[string]any {
	out := make([]map[string]any, len(r.Rows))
	for i, row := range r.Rows {
		m := make(map[string]any, len(row))
		for j, c := range r.Columns {
			m[c] = row[j]
		}
		out[i] = m
	}
	return out
}

// Close disconnects (the sync and upload loops are stopped and waited for;
// they end as soon as they are cancelled) and closes the database. It is
// safe to call twice; the second call returns nil.
func (db *DB) Close(ctx context.Context) error {
	db.Disconnect()
	var err error
	db.closeOnce.Do(func() { err = db.sql.Close() })
	return err
}
