// Package postgres is the bucket storage kept in a Postgres database (schema
// `powersync`), shared by several service processes: one replicating
// process writes (holding the replication lease), any number of API
// processes read. New checkpoints are announced with NOTIFY in the
// transaction that commits them; every process LISTENs on one connection
// that is re-established when it drops, and re-reads the active checkpoint
// after each (re)connect so nothing is missed.
//
// The layout follows the embedded backend: ops are stored as their wire
// JSON, per-bucket running totals make checksums one index probe per
// bucket, and a batch is one Postgres transaction, so an interrupted batch
// leaves nothing behind.
package postgres

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/powersync-go/powersync/internal/storage"
)

// NotifyChannel is the LISTEN/NOTIFY channel of new checkpoints.
const NotifyChannel = "powersync_checkpoints"

// ListenApplicationName is the application_name of the LISTEN connection
// (to find it in pg_stat_activity).
const ListenApplicationName = "powersync-listen"

// Options configure a Storage.
type Options struct {
	// ConnString is a libpq URL or key=value connection string.
	ConnString string
	// CACert is a PEM CA certificate to verify the server with, when the
	// connection string asks for TLS (for example a cloud provider's
	// bundle).
	CACert string
	// MaxConns bounds the pool (default 8).
	MaxConns int
	// FlushRows is the number of queued row changes a batch writes at once
	// (default 2,000).
	FlushRows int
	// SkipMigrate skips running migrations in Open (API processes; the
	// reference runs them only in sync and unified processes).
	SkipMigrate bool
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// ListenRetry is the pause before re-establishing the LISTEN
	// connection (default 1 s).
	ListenRetry time.Duration
}

// Storage is the Postgres bucket storage. It is safe for concurrent use.
//
// Lock order: mu is never held while talking to Postgres, except opMu which
// only guards the op id block.
type Storage struct {
	opts Options
	log  *slog.Logger
	pool *pgxpool.Pool

	opMu            sync.Mutex
	opNext, opLimit int64 // op ids [opNext, opLimit) are ours to hand out

	mu        sync.Mutex
	closed    bool
	notify    chan struct{}
	active    storage.Checkpoint
	haveCp    bool
	openBatch map[int64]bool
	// pending tracks, per version, what commits without a checkpoint
	// changed since the last checkpoint made by this process.
	pending map[int64]*pendingChanges

	stop context.CancelFunc
	wg   sync.WaitGroup
}

var _ storage.Storage = (*Storage)(nil)

type pendingChanges struct {
	all     bool
	buckets map[string]struct{}
	lookups map[string]struct{}
}

// Open connects, migrates the schema (unless SkipMigrate) and starts the
// checkpoint listener.
func Open(ctx context.Context, opts Options) (*Storage, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = 8
	}
	if opts.FlushRows <= 0 {
		opts.FlushRows = 2000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ListenRetry <= 0 {
		opts.ListenRetry = time.Second
	}
	cfg, err := pgxpool.ParseConfig(opts.ConnString)
	if err != nil {
		return nil, fmt.Errorf("postgres storage: connection string: %w", err)
	}
	if err := applyCACert(&cfg.ConnConfig.Config, opts.CACert); err != nil {
		return nil, fmt.Errorf("postgres storage: %w", err)
	}
	cfg.MaxConns = int32(opts.MaxConns)
	cfg.ConnConfig.RuntimeParams["application_name"] = "powersync-storage"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres storage: %w", err)
	}
	if !opts.SkipMigrate {
		err := pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
			_, err := Migrate(ctx, c.Conn())
			return err
		})
		if err != nil {
			pool.Close()
			return nil, err
		}
	} else {
		var have, want int
		err := pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
			var err error
			have, want, err = SchemaVersion(ctx, c.Conn())
			return err
		})
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres storage: %w", err)
		}
		if have < want {
			pool.Close()
			return nil, fmt.Errorf("postgres storage: schema version %d, need %d: run `powersync migrate up` (or start a sync process)", have, want)
		}
	}
	s := &Storage{
		opts:      opts,
		log:       opts.Logger.With("component", "storage/postgres"),
		pool:      pool,
		notify:    make(chan struct{}),
		openBatch: map[int64]bool{},
		pending:   map[int64]*pendingChanges{},
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Add(1)
	go s.listen(lctx)
	return s, nil
}

// Close stops the listener and closes the pool. It is safe to call twice.
func (s *Storage) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.notify)
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	s.pool.Close()
	return nil
}

func (s *Storage) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	return nil
}

// nextOps hands out n consecutive op ids from blocks of the op_id_seq
// sequence (which steps by 1000). Ids never rewind, across processes and
// restarts, and uncommitted ids are simply skipped.
func (s *Storage) nextOp(ctx context.Context, q querier) (int64, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.opNext >= s.opLimit {
		var start int64
		if err := q.QueryRow(ctx, `SELECT nextval('powersync.op_id_seq')`).Scan(&start); err != nil {
			return 0, fmt.Errorf("allocate op ids: %w", err)
		}
		s.opNext, s.opLimit = start, start+1000
	}
	op := s.opNext
	s.opNext++
	return op, nil
}

// querier is what pgx connections, pools and transactions share.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// listen keeps one LISTEN connection, re-established when it drops, and
// wakes watchers on every notification. After each (re)connect it re-reads
// the active checkpoint, since notifications sent while it was away are
// lost; while idle it re-reads every 30 s as a safety net.
func (s *Storage) listen(ctx context.Context) {
	defer s.wg.Done()
	var lastErr time.Time
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(lastErr) > 30*time.Second {
			s.log.Warn("checkpoint listener connection lost; reconnecting", "error", err)
			lastErr = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.ListenRetry):
		}
	}
}

func (s *Storage) listenOnce(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(s.opts.ConnString)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = ListenApplicationName
	if err := applyCACert(&cfg.Config, s.opts.CACert); err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return err
	}
	if err := s.refresh(ctx, conn); err != nil {
		return err
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if err := s.refresh(ctx, conn); err != nil {
			return err
		}
	}
}

// refresh re-reads the active checkpoint and wakes watchers when it (or
// anything, after a notification) changed.
func (s *Storage) refresh(ctx context.Context, q querier) error {
	cp, err := activeCheckpoint(ctx, q)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.active, s.haveCp = cp, true
	// Every notification is a commit of some checkpoint or an activation:
	// wake everyone; watchers re-check what changed.
	close(s.notify)
	s.notify = make(chan struct{})
	return nil
}

func activeCheckpoint(ctx context.Context, q querier) (storage.Checkpoint, error) {
	var cp storage.Checkpoint
	var pos int64
	var t *time.Time
	err := q.QueryRow(ctx, `
		SELECT id, checkpoint_op, checkpoint_pos, checkpoint_time FROM powersync.versions
		WHERE state IN ('ACTIVE', 'ERRORED') ORDER BY id DESC LIMIT 1`).Scan(&cp.VersionID, &cp.OpID, &pos, &t)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Checkpoint{}, nil
	}
	if err != nil {
		return storage.Checkpoint{}, fmt.Errorf("read active checkpoint: %w", err)
	}
	cp.Position = storage.Position(uint64(pos))
	if t != nil {
		cp.Time = *t
	}
	return cp, nil
}

// Watch returns the latest checkpoint of the active version (zero when
// there is none) and a channel closed when a newer checkpoint of any
// version is committed (by any process), a version is activated, or the
// storage is closed.
func (s *Storage) Watch(ctx context.Context) (storage.Checkpoint, <-chan struct{}, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return storage.Checkpoint{}, nil, storage.ErrClosed
	}
	if s.haveCp {
		cp, ch := s.active, s.notify
		s.mu.Unlock()
		return cp, ch, nil
	}
	ch := s.notify
	s.mu.Unlock()
	// The listener has not read it yet: read it now. A commit after this
	// read closes ch, so the caller cannot miss it.
	cp, err := activeCheckpoint(ctx, s.pool)
	if err != nil {
		return storage.Checkpoint{}, nil, err
	}
	return cp, ch, nil
}

// versionCols are the columns scanVersion reads.
const versionCols = `id, state, content, slot_name, snapshot_done, checkpoint_op, checkpoint_pos,
	checkpoint_time, last_error, created_at, committed_op, pending_op, no_checkpoint_before`

// versionRow is a version as stored.
type versionRow struct {
	storage.Version
	committedOp, pendingOp int64
	noCheckpointBefore     storage.Position
}

func scanVersion(row pgx.Row) (versionRow, error) {
	var v versionRow
	var state string
	var pos, ncb int64
	var t *time.Time
	err := row.Scan(&v.ID, &state, &v.Content, &v.SlotName, &v.SnapshotDone, &v.Checkpoint.OpID, &pos,
		&t, &v.LastError, &v.CreatedAt, &v.committedOp, &v.pendingOp, &ncb)
	if err != nil {
		return versionRow{}, err
	}
	v.State = storage.VersionState(state)
	v.Checkpoint.VersionID = v.ID
	v.Checkpoint.Position = storage.Position(uint64(pos))
	if t != nil {
		v.Checkpoint.Time = *t
	}
	v.noCheckpointBefore = storage.Position(uint64(ncb))
	return v, nil
}

func (s *Storage) version(ctx context.Context, q querier, id int64, forUpdate bool) (versionRow, error) {
	sql := `SELECT ` + versionCols + ` FROM powersync.versions WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	v, err := scanVersion(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return versionRow{}, fmt.Errorf("version %d: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return versionRow{}, fmt.Errorf("read version %d: %w", id, err)
	}
	return v, nil
}

// Versions returns every version not yet cleared, oldest first.
func (s *Storage) Versions(ctx context.Context) ([]storage.Version, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+versionCols+` FROM powersync.versions ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read versions: %w", err)
	}
	defer rows.Close()
	var out []storage.Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("read versions: %w", err)
		}
		out = append(out, v.Version)
	}
	return out, rows.Err()
}

// Deploy stores a new sync config as a PROCESSING version; a PROCESSING
// version already there moves to STOP.
func (s *Storage) Deploy(ctx context.Context, content string) (storage.Version, error) {
	if err := s.checkOpen(); err != nil {
		return storage.Version{}, err
	}
	var v versionRow
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE powersync.versions SET state = 'STOP' WHERE state = 'PROCESSING'`); err != nil {
			return err
		}
		var err error
		v, err = scanVersion(tx.QueryRow(ctx, `
			INSERT INTO powersync.versions (id, state, content) VALUES (nextval('powersync.version_seq'), 'PROCESSING', $1)
			RETURNING `+versionCols, content))
		return err
	})
	if err != nil {
		return storage.Version{}, fmt.Errorf("deploy sync config: %w", err)
	}
	return v.Version, nil
}

// SetSlotName records the source-side stream name of a version.
func (s *Storage) SetSlotName(ctx context.Context, versionID int64, slot string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE powersync.versions SET slot_name = $2 WHERE id = $1`, versionID, slot)
	if err != nil {
		return fmt.Errorf("set slot name of version %d: %w", versionID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("version %d: %w", versionID, storage.ErrNotFound)
	}
	return nil
}

// SetState changes a version's state. Making a version ACTIVE stops every
// other ACTIVE or ERRORED version.
func (s *Storage) SetState(ctx context.Context, versionID int64, state storage.VersionState, errMsg string) error {
	switch state {
	case storage.StateProcessing, storage.StateActive, storage.StateErrored, storage.StateStop:
	default:
		return fmt.Errorf("set state of version %d: unknown state %q", versionID, state)
	}
	if err := s.checkOpen(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var sql string
		args := []any{versionID, string(state)}
		if state == storage.StateErrored {
			sql = `UPDATE powersync.versions SET state = $2, last_error = $3 WHERE id = $1`
			args = append(args, errMsg)
		} else {
			sql = `UPDATE powersync.versions SET state = $2 WHERE id = $1`
		}
		tag, err := tx.Exec(ctx, sql, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("version %d: %w", versionID, storage.ErrNotFound)
		}
		if state == storage.StateActive {
			if _, err := tx.Exec(ctx, `UPDATE powersync.versions SET state = 'STOP'
				WHERE id <> $1 AND state IN ('ACTIVE', 'ERRORED')`, versionID); err != nil {
				return err
			}
		}
		return notify(ctx, tx, versionID)
	})
	if err != nil {
		return fmt.Errorf("set state of version %d: %w", versionID, err)
	}
	return s.refresh(ctx, s.pool)
}

func notify(ctx context.Context, tx pgx.Tx, versionID int64) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, fmt.Sprint(versionID))
	return err
}

// Clear deletes all data of a STOP version and the version itself.
func (s *Storage) Clear(ctx context.Context, versionID int64) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	s.mu.Lock()
	busy := s.openBatch[versionID]
	s.mu.Unlock()
	if busy {
		return fmt.Errorf("clear version %d: a batch is open", versionID)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		v, err := s.version(ctx, tx, versionID, true)
		if err != nil {
			return err
		}
		if v.State != storage.StateStop {
			return fmt.Errorf("it is %s, only a STOP version can be cleared", v.State)
		}
		for _, t := range []string{"bucket_data", "bucket_totals", "current_data", "lookups",
			"snapshot_progress", "checkpoint_changes", "versions"} {
			col := "version"
			if t == "versions" {
				col = "id"
			}
			if _, err := tx.Exec(ctx, `DELETE FROM powersync.`+t+` WHERE `+col+` = $1`, versionID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clear version %d: %w", versionID, err)
	}
	s.mu.Lock()
	delete(s.pending, versionID)
	s.mu.Unlock()
	return nil
}

// Bucket returns the bucket storage of one version.
func (s *Storage) Bucket(versionID int64) storage.BucketStorage {
	return &bucketStorage{s: s, vid: versionID}
}

// Active returns the newest ACTIVE or ERRORED version.
func (s *Storage) Active(ctx context.Context) (storage.Version, error) {
	if err := s.checkOpen(); err != nil {
		return storage.Version{}, err
	}
	v, err := scanVersion(s.pool.QueryRow(ctx, `SELECT `+versionCols+` FROM powersync.versions
		WHERE state IN ('ACTIVE', 'ERRORED') ORDER BY id DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Version{}, fmt.Errorf("active version: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.Version{}, fmt.Errorf("active version: %w", err)
	}
	return v.Version, nil
}

// Settings is the instance settings area.
func (s *Storage) Settings() storage.Settings { return settings{s} }

// WriteCheckpoints returns the write checkpoint store.
func (s *Storage) WriteCheckpoints() storage.WriteCheckpoints { return writeCheckpoints{s} }

type settings struct{ s *Storage }

// Get returns a setting's value or storage.ErrNotFound.
func (st settings) Get(ctx context.Context, key string) ([]byte, error) {
	if err := st.s.checkOpen(); err != nil {
		return nil, err
	}
	var v []byte
	err := st.s.pool.QueryRow(ctx, `SELECT value FROM powersync.settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("setting %q: %w", key, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read setting %q: %w", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Put stores a setting.
func (st settings) Put(ctx context.Context, key string, value []byte) error {
	if err := st.s.checkOpen(); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	_, err := st.s.pool.Exec(ctx, `INSERT INTO powersync.settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("write setting %q: %w", key, err)
	}
	return nil
}

// writeCheckpoints keeps one row per recorded value of (user, client) with
// the source position it was recorded at.
type writeCheckpoints struct{ s *Storage }

// writeCpLock serialises read-modify-write of one (user, client) across
// processes (a transaction-scoped advisory lock on a hash of the key).
const writeCpLockSQL = `SELECT pg_advisory_xact_lock(hashtextextended(length($1)::text || ':' || $1 || $2, 7))`

// Create increments the counter of (user, client) and records it at head.
func (w writeCheckpoints) Create(ctx context.Context, user, client string, head storage.Position) (int64, error) {
	if err := w.s.checkOpen(); err != nil {
		return 0, err
	}
	var v int64
	err := pgx.BeginFunc(ctx, w.s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, writeCpLockSQL, user, client); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(value), 0) + 1 FROM powersync.write_checkpoints
			WHERE user_id = $1 AND client_id = $2`, user, client).Scan(&v); err != nil {
			return err
		}
		return recordWriteCheckpoint(ctx, tx, user, client, v, head)
	})
	if err != nil {
		return 0, fmt.Errorf("create write checkpoint: %w", err)
	}
	return v, nil
}

// Request records id at head when it exceeds the current value and returns
// the maximum of both.
func (w writeCheckpoints) Request(ctx context.Context, user, client string, id int64, head storage.Position) (int64, error) {
	if err := w.s.checkOpen(); err != nil {
		return 0, err
	}
	if id < 0 {
		return 0, fmt.Errorf("checkpoint request id %d is negative", id)
	}
	var out int64
	err := pgx.BeginFunc(ctx, w.s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, writeCpLockSQL, user, client); err != nil {
			return err
		}
		var cur int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(value), 0) FROM powersync.write_checkpoints
			WHERE user_id = $1 AND client_id = $2`, user, client).Scan(&cur); err != nil {
			return err
		}
		if id <= cur {
			out = cur
			return nil
		}
		out = id
		return recordWriteCheckpoint(ctx, tx, user, client, id, head)
	})
	if err != nil {
		return 0, fmt.Errorf("record checkpoint request: %w", err)
	}
	return out, nil
}

// writeCheckpointsKept is how many recorded values of one (user, client)
// are kept: a checkpoint older than the oldest of them is long gone.
const writeCheckpointsKept = 64

// recordWriteCheckpoint records value of (user, client) at head and prunes
// the values past writeCheckpointsKept, in tx.
func recordWriteCheckpoint(ctx context.Context, tx pgx.Tx, user, client string, value int64, head storage.Position) error {
	_, err := tx.Exec(ctx, `INSERT INTO powersync.write_checkpoints (user_id, client_id, value, position)
		VALUES ($1, $2, $3, $4)`, user, client, value, int64(head))
	if err != nil {
		return err
	}
	return pruneWriteCheckpoints(ctx, tx, user, client, value)
}

func pruneWriteCheckpoints(ctx context.Context, tx pgx.Tx, user, client string, latest int64) error {
	if latest%16 != 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `DELETE FROM powersync.write_checkpoints WHERE user_id = $1 AND client_id = $2 AND value IN (
		SELECT value FROM powersync.write_checkpoints WHERE user_id = $1 AND client_id = $2
		ORDER BY value DESC OFFSET $3)`, user, client, writeCheckpointsKept)
	return err
}

// At returns the greatest value of (user, client) recorded at a position
// ≤ pos. Positions are unsigned; they are compared in Go.
func (w writeCheckpoints) At(ctx context.Context, user, client string, pos storage.Position) (int64, bool, error) {
	if err := w.s.checkOpen(); err != nil {
		return 0, false, err
	}
	rows, err := w.s.pool.Query(ctx, `SELECT value, position FROM powersync.write_checkpoints
		WHERE user_id = $1 AND client_id = $2 ORDER BY value DESC`, user, client)
	if err != nil {
		return 0, false, fmt.Errorf("read write checkpoint: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v, p int64
		if err := rows.Scan(&v, &p); err != nil {
			return 0, false, err
		}
		if storage.Position(uint64(p)) <= pos {
			return v, true, nil
		}
	}
	return 0, false, rows.Err()
}

// leaseName is the one replication lease of an instance.
const leaseName = "replication"

type lease struct {
	s     *Storage
	token string
	ttl   time.Duration
}

// AcquireLease takes the replication lease unless another holder has one
// that has not expired (by the database clock, so the processes' clocks do
// not matter). The same holder name takes its own lease over.
func (s *Storage) AcquireLease(ctx context.Context, holder string, ttl time.Duration) (storage.Lease, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("acquire lease: ttl %v is not positive", ttl)
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(tok[:])
	var got string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO powersync.leases AS l (name, holder, token, expires_at)
		VALUES ($1, $2, $3, clock_timestamp() + $4 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at
		WHERE l.expires_at <= clock_timestamp() OR l.holder = excluded.holder
		RETURNING token`, leaseName, holder, token, ttl.Microseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		var cur string
		var until time.Time
		_ = s.pool.QueryRow(ctx, `SELECT holder, expires_at FROM powersync.leases WHERE name = $1`, leaseName).Scan(&cur, &until)
		return nil, fmt.Errorf("%w (holder %q until %s)", storage.ErrLeaseHeld, cur, until.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}
	return &lease{s: s, token: token, ttl: ttl}, nil
}

// Renew extends the lease by its TTL; storage.ErrLeaseHeld when it was
// taken over.
func (l *lease) Renew(ctx context.Context) error {
	if err := l.s.checkOpen(); err != nil {
		return err
	}
	tag, err := l.s.pool.Exec(ctx, `UPDATE powersync.leases SET expires_at = clock_timestamp() + $3 * interval '1 microsecond'
		WHERE name = $1 AND token = $2`, leaseName, l.token, l.ttl.Microseconds())
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("renew lease: %w", storage.ErrLeaseHeld)
	}
	return nil
}

// Release gives the lease up if it is still held.
func (l *lease) Release(ctx context.Context) error {
	if err := l.s.checkOpen(); err != nil {
		return err
	}
	if _, err := l.s.pool.Exec(ctx, `DELETE FROM powersync.leases WHERE name = $1 AND token = $2`, leaseName, l.token); err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	return nil
}

// applyCACert makes every TLS configuration of cfg verify the server with
// the PEM CA certificate caPEM (nothing when empty or without TLS).
func applyCACert(cfg *pgconn.Config, caPEM string) error {
	if caPEM == "" {
		return nil
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(caPEM)) {
		return errors.New("cacert: no PEM certificate found")
	}
	if cfg.TLSConfig != nil {
		cfg.TLSConfig.RootCAs = roots
	}
	for _, f := range cfg.Fallbacks {
		if f.TLSConfig != nil {
			f.TLSConfig.RootCAs = roots
		}
	}
	return nil
}

// notifyPayload is what a checkpoint notification carries (informational:
// listeners re-read the active checkpoint).
type notifyPayload struct {
	Version int64 `json:"version"`
	OpID    int64 `json:"op_id"`
}

func (p notifyPayload) String() string {
	b, _ := json.Marshal(p)
	return string(b)
}
