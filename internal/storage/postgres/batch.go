package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/protocol"
)

// batch is the write side of one version: one Postgres transaction from the
// first write to Commit, so nothing it wrote is visible (or survives a
// crash) before Commit. Row changes are queued and processed FlushRows at a
// time: the current data of every queued row is read in one query, the ops
// computed in order, and the results written with COPY.
type batch struct {
	s   *Storage
	vid int64

	conn *pgxpool.Conn
	tx   pgx.Tx

	queue []queued
	// latest maps a current-data key to the index in queue of the latest
	// queued change of that row (for CurrentRow).
	latest map[string]int

	// fresh tracks tables of this version that had no current data when
	// the batch first touched them (an initial snapshot): for those, only
	// keys this batch wrote can exist, so the others need no lookup.
	// Keys of an aborted transaction stay in the set, which only costs a
	// lookup. A table leaves the map when its set grows too large.
	fresh map[string]map[string]struct{}
	seen  map[string]bool // tables checkFresh has decided

	// What the uncommitted work changed (since the last Commit).
	totals  map[string]*bucketDelta
	lookups map[string]struct{}
	maxOp   int64

	closed bool
}

type queued struct {
	del   bool
	trunc bool
	u     storage.RowUpdate
}

type bucketDelta struct {
	checksum uint32
	count    int64
	maxOp    int64
}

var _ storage.Batch = (*batch)(nil)

func (s *Storage) newBatch(ctx context.Context, vid int64) (*batch, error) {
	if _, err := s.version(ctx, s.pool, vid, false); err != nil {
		return nil, fmt.Errorf("new batch: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	if s.openBatch[vid] {
		return nil, fmt.Errorf("new batch: version %d already has an open batch", vid)
	}
	s.openBatch[vid] = true
	b := &batch{s: s, vid: vid, fresh: map[string]map[string]struct{}{}}
	b.reset()
	return b, nil
}

func (b *batch) reset() {
	b.queue = b.queue[:0]
	b.latest = map[string]int{}
	b.totals = map[string]*bucketDelta{}
	b.lookups = map[string]struct{}{}
	b.maxOp = 0
}

func (b *batch) check(ctx context.Context) error {
	if b.closed {
		return errors.New("batch is closed")
	}
	if err := b.s.checkOpen(); err != nil {
		return err
	}
	return ctx.Err()
}

func ckey(table string, key []byte) string {
	return string(storage.AppendStrPart(nil, table)) + string(key)
}

func cloneUpdate(u storage.RowUpdate) storage.RowUpdate {
	c := storage.RowUpdate{
		Table:  u.Table,
		Key:    bytes.Clone(u.Key),
		OldKey: bytes.Clone(u.OldKey),
		Row:    bytes.Clone(u.Row),
		New:    u.New,
	}
	if u.Row != nil && c.Row == nil {
		c.Row = []byte{}
	}
	c.Buckets = make([]storage.BucketRow, len(u.Buckets))
	for i, br := range u.Buckets {
		c.Buckets[i] = storage.BucketRow{Bucket: br.Bucket, Table: br.Table, ID: br.ID, Data: bytes.Clone(br.Data)}
	}
	c.Lookups = make([]storage.LookupRow, len(u.Lookups))
	for i, l := range u.Lookups {
		c.Lookups[i] = storage.LookupRow{Key: bytes.Clone(l.Key), Result: bytes.Clone(l.Result)}
		if l.Result != nil && c.Lookups[i].Result == nil {
			c.Lookups[i].Result = []byte{}
		}
	}
	return c
}

// Save queues the new state of a source row.
func (b *batch) Save(ctx context.Context, u storage.RowUpdate) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	if u.Table == "" {
		return errors.New("save row: empty table name")
	}
	for _, br := range u.Buckets {
		if br.Bucket == "" {
			return fmt.Errorf("save row of %s: empty bucket name", u.Table)
		}
	}
	b.queue = append(b.queue, queued{u: cloneUpdate(u)})
	b.latest[ckey(u.Table, u.Key)] = len(b.queue) - 1
	if u.OldKey != nil && !bytes.Equal(u.OldKey, u.Key) {
		b.latest[ckey(u.Table, u.OldKey)] = -1
	}
	return b.maybeFlush(ctx)
}

// Delete queues the removal of a source row.
func (b *batch) Delete(ctx context.Context, table string, key []byte) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	b.queue = append(b.queue, queued{del: true, u: storage.RowUpdate{Table: table, Key: bytes.Clone(key)}})
	b.latest[ckey(table, key)] = -1
	return b.maybeFlush(ctx)
}

// Truncate deletes every row of a source table.
func (b *batch) Truncate(ctx context.Context, table string) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	b.queue = append(b.queue, queued{trunc: true, u: storage.RowUpdate{Table: table}})
	prefix := ckey(table, nil)
	for k := range b.latest {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			b.latest[k] = -1
		}
	}
	return b.flush(ctx)
}

// CurrentRow returns the stored row of a source row.
func (b *batch) CurrentRow(ctx context.Context, table string, key []byte) ([]byte, bool, error) {
	if err := b.check(ctx); err != nil {
		return nil, false, err
	}
	if i, ok := b.latest[ckey(table, key)]; ok {
		if i < 0 {
			return nil, false, nil
		}
		q := b.queue[i]
		if q.u.Row == nil {
			return nil, false, nil
		}
		return bytes.Clone(q.u.Row), true, nil
	}
	var q querier = b.s.pool
	if b.tx != nil {
		q = b.tx
	}
	var v []byte
	err := q.QueryRow(ctx, `SELECT record FROM powersync.current_data
		WHERE version = $1 AND source_table = $2 AND source_key = $3`, b.vid, table, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read current row of %s: %w", table, err)
	}
	rec, err := storage.DecodeCurrentRecord(v)
	if err != nil {
		return nil, false, err
	}
	if !rec.HasRow {
		return nil, false, nil
	}
	return rec.Row, true, nil
}

func (b *batch) maybeFlush(ctx context.Context) error {
	if len(b.queue) < b.s.opts.FlushRows {
		return nil
	}
	return b.flush(ctx)
}

func (b *batch) begin(ctx context.Context) error {
	if b.tx != nil {
		return nil
	}
	if b.conn == nil {
		c, err := b.s.pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("write batch: %w", err)
		}
		b.conn = c
	}
	tx, err := b.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("write batch: begin: %w", err)
	}
	b.tx = tx
	return nil
}

// flushState is the work of one flush.
type flushState struct {
	b       *batch
	cache   map[string]*storage.CurrentRecord // current-data key → record (nil: none)
	dirty   map[string]bool
	stored  map[string]bool   // keys with a row in current_data
	tables  map[string]string // current-data key → table
	keys    map[string][]byte // current-data key → source key
	ops     [][]any
	lookups [][]any
	buf     []byte
}

// flush processes the queue inside the batch's transaction.
func (b *batch) flush(ctx context.Context) error {
	if len(b.queue) == 0 {
		return nil
	}
	if err := b.begin(ctx); err != nil {
		return err
	}
	f := &flushState{b: b, cache: map[string]*storage.CurrentRecord{}, dirty: map[string]bool{}, stored: map[string]bool{},
		tables: map[string]string{}, keys: map[string][]byte{}}
	if err := f.load(ctx); err != nil {
		return err
	}
	for i := range b.queue {
		q := &b.queue[i]
		var err error
		switch {
		case q.trunc:
			err = f.truncate(ctx, q.u.Table)
		case q.del:
			err = f.delete(ctx, q.u.Table, q.u.Key)
		default:
			err = f.save(ctx, &q.u)
		}
		if err != nil {
			return err
		}
	}
	if err := f.write(ctx); err != nil {
		return err
	}
	b.queue = b.queue[:0]
	b.latest = map[string]int{}
	return nil
}

// load reads the current data of every row the queue touches.
func (f *flushState) load(ctx context.Context) error {
	var tables []string
	var keys [][]byte
	add := func(table string, key []byte, isNew bool) {
		k := ckey(table, key)
		if _, ok := f.tables[k]; ok {
			return
		}
		f.tables[k] = table
		f.keys[k] = key
		if isNew {
			return // the caller knows it is not stored: nothing to read
		}
		tables = append(tables, table)
		keys = append(keys, key)
	}
	for _, q := range f.b.queue {
		if q.trunc {
			continue
		}
		add(q.u.Table, q.u.Key, q.u.New && q.u.OldKey == nil)
		if q.u.OldKey != nil {
			add(q.u.Table, q.u.OldKey, false)
		}
	}
	for k := range f.tables {
		f.cache[k] = nil
	}
	if err := f.b.checkFresh(ctx, tables); err != nil {
		return err
	}
	n := 0
	for i := range tables {
		if set, ok := f.b.fresh[tables[i]]; ok {
			if _, written := set[string(keys[i])]; !written {
				continue // cannot exist
			}
		}
		tables[n], keys[n] = tables[i], keys[i]
		n++
	}
	tables, keys = tables[:n], keys[:n]
	if len(tables) == 0 {
		return nil
	}
	rows, err := f.b.tx.Query(ctx, `
		SELECT k.t, k.k, c.record
		FROM unnest($2::text[], $3::bytea[]) AS k(t, k)
		CROSS JOIN LATERAL (SELECT record FROM powersync.current_data
			WHERE version = $1 AND source_table = k.t AND source_key = k.k) c`, f.b.vid, tables, keys)
	if err != nil {
		return fmt.Errorf("read current data: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var key, v []byte
		if err := rows.Scan(&table, &key, &v); err != nil {
			return fmt.Errorf("read current data: %w", err)
		}
		rec, err := storage.DecodeCurrentRecord(v)
		if err != nil {
			return fmt.Errorf("current data of %s: %w", table, err)
		}
		k := ckey(table, key)
		f.cache[k] = rec
		f.stored[k] = true
	}
	return rows.Err()
}

// freshMax bounds the keys remembered per fresh table.
const freshMax = 4 << 20

// checkFresh decides, for tables this batch has not seen yet, whether the
// version has any current data of them.
func (b *batch) checkFresh(ctx context.Context, tables []string) error {
	for _, t := range tables {
		if _, ok := b.fresh[t]; ok {
			continue
		}
		if b.seen == nil {
			b.seen = map[string]bool{}
		}
		if b.seen[t] {
			continue
		}
		b.seen[t] = true
		var any bool
		err := b.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM powersync.current_data
			WHERE version = $1 AND source_table = $2)`, b.vid, t).Scan(&any)
		if err != nil {
			return fmt.Errorf("read current data: %w", err)
		}
		if !any {
			b.fresh[t] = map[string]struct{}{}
		}
	}
	return nil
}

// wrote records a key written to current data of a fresh table.
func (b *batch) wrote(table string, key []byte) {
	set, ok := b.fresh[table]
	if !ok {
		return
	}
	if len(set) >= freshMax {
		delete(b.fresh, table) // look every key up from now on
		return
	}
	set[string(key)] = struct{}{}
}

func (f *flushState) set(table string, key []byte, rec *storage.CurrentRecord) {
	k := ckey(table, key)
	f.cache[k] = rec
	f.dirty[k] = true
	f.tables[k] = table
	f.keys[k] = key
}

func (f *flushState) op(ctx context.Context) (int64, error) {
	op, err := f.b.s.nextOp(ctx, f.b.tx)
	if err != nil {
		return 0, err
	}
	f.b.maxOp = op
	return op, nil
}

func (f *flushState) addOp(bucket string, op int64, kind int16, checksum uint32, identity, wire []byte) {
	f.ops = append(f.ops, []any{f.b.vid, bucket, op, kind, int64(checksum), int64(0), identity, wire})
	d := f.b.totals[bucket]
	if d == nil {
		d = &bucketDelta{}
		f.b.totals[bucket] = d
	}
	d.checksum += checksum
	d.count++
	d.maxOp = op
}

func (f *flushState) put(ctx context.Context, br storage.BucketRow, subkey string) error {
	op, err := f.op(ctx)
	if err != nil {
		return err
	}
	sum := storage.PutChecksum(nil, br.Table, br.ID, br.Data)
	wire := storage.AppendRowOpJSON(make([]byte, 0, 128+len(br.Data)), op, storage.OpPut, br.Table, br.ID, subkey, br.Data, sum)
	id := storage.RowIdentity(br.Table, br.ID, subkey)
	f.addOp(br.Bucket, op, opPut, sum, id[:], wire)
	return nil
}

func (f *flushState) remove(ctx context.Context, m storage.Membership, subkey string) error {
	op, err := f.op(ctx)
	if err != nil {
		return err
	}
	sum := protocol.RemoveChecksum(subkey)
	wire := storage.AppendRowOpJSON(make([]byte, 0, 160), op, storage.OpRemove, m.Table, m.ID, subkey, nil, sum)
	id := storage.RowIdentity(m.Table, m.ID, subkey)
	f.addOp(m.Bucket, op, opRemove, sum, id[:], wire)
	return nil
}

func (f *flushState) setLookup(key, row []byte, op int64, result []byte) {
	f.b.lookups[string(key)] = struct{}{}
	f.lookups = append(f.lookups, []any{f.b.vid, key, row, op, result})
}

// forget emits a REMOVE for each membership and a tombstone for each lookup
// of a row that is gone.
func (f *flushState) forget(ctx context.Context, rec *storage.CurrentRecord, table string, key []byte) error {
	subkey := storage.SubkeyOf(table, key)
	for _, m := range rec.Buckets {
		if err := f.remove(ctx, m, subkey); err != nil {
			return err
		}
	}
	if len(rec.Lookups) > 0 {
		op, err := f.op(ctx)
		if err != nil {
			return err
		}
		row := sourceRow(table, key)
		for _, l := range rec.Lookups {
			f.setLookup(l, row, op, nil)
		}
	}
	return nil
}

func (f *flushState) save(ctx context.Context, u *storage.RowUpdate) error {
	if u.OldKey != nil && !bytes.Equal(u.OldKey, u.Key) {
		if old := f.cache[ckey(u.Table, u.OldKey)]; old != nil {
			if err := f.forget(ctx, old, u.Table, u.OldKey); err != nil {
				return err
			}
			f.set(u.Table, u.OldKey, nil)
		}
	}
	prev := f.cache[ckey(u.Table, u.Key)]
	subkey := storage.SubkeyOf(u.Table, u.Key)
	rec := &storage.CurrentRecord{Row: u.Row, HasRow: u.Row != nil, Buckets: make([]storage.Membership, 0, len(u.Buckets))}
	for _, br := range u.Buckets {
		if err := f.put(ctx, br, subkey); err != nil {
			return err
		}
		rec.Buckets = append(rec.Buckets, storage.Membership{Bucket: br.Bucket, Table: br.Table, ID: br.ID})
	}
	if prev != nil {
		for _, m := range prev.Buckets {
			if !storage.ContainsMembership(rec.Buckets, m) {
				if err := f.remove(ctx, m, subkey); err != nil {
					return err
				}
			}
		}
	}
	gone := storage.GoneLookups(prev, u.Lookups)
	if len(u.Lookups) > 0 || len(gone) > 0 {
		op, err := f.op(ctx)
		if err != nil {
			return err
		}
		row := sourceRow(u.Table, u.Key)
		for _, l := range u.Lookups {
			f.setLookup(l.Key, row, op, l.Result)
			rec.Lookups = append(rec.Lookups, l.Key)
		}
		for _, l := range gone {
			f.setLookup(l, row, op, nil)
		}
	}
	if rec.Empty() {
		if prev != nil {
			f.set(u.Table, u.Key, nil)
		}
	} else {
		f.set(u.Table, u.Key, rec)
	}
	return nil
}

func (f *flushState) delete(ctx context.Context, table string, key []byte) error {
	prev := f.cache[ckey(table, key)]
	if prev == nil {
		return nil // a replayed delete, or a row in no bucket
	}
	if err := f.forget(ctx, prev, table, key); err != nil {
		return err
	}
	f.set(table, key, nil)
	return nil
}

// truncate forgets every row of a table: the ones stored (as this flush
// has not changed them) and the ones this flush changed.
func (f *flushState) truncate(ctx context.Context, table string) error {
	// Write what the flush did so far, so the stored rows are current.
	if err := f.write(ctx); err != nil {
		return err
	}
	rows, err := f.b.tx.Query(ctx, `SELECT source_key, record FROM powersync.current_data
		WHERE version = $1 AND source_table = $2 ORDER BY source_key`, f.b.vid, table)
	if err != nil {
		return fmt.Errorf("truncate %s: %w", table, err)
	}
	type stored struct {
		key []byte
		rec *storage.CurrentRecord
	}
	var all []stored
	for rows.Next() {
		var key, v []byte
		if err := rows.Scan(&key, &v); err != nil {
			rows.Close()
			return fmt.Errorf("truncate %s: %w", table, err)
		}
		rec, err := storage.DecodeCurrentRecord(v)
		if err != nil {
			rows.Close()
			return fmt.Errorf("truncate %s: %w", table, err)
		}
		all = append(all, stored{key, rec})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("truncate %s: %w", table, err)
	}
	for _, r := range all {
		if err := f.forget(ctx, r.rec, table, r.key); err != nil {
			return err
		}
		f.cache[ckey(table, r.key)] = nil
		delete(f.stored, ckey(table, r.key))
		delete(f.dirty, ckey(table, r.key))
	}
	if _, err := f.b.tx.Exec(ctx, `DELETE FROM powersync.current_data WHERE version = $1 AND source_table = $2`,
		f.b.vid, table); err != nil {
		return fmt.Errorf("truncate %s: %w", table, err)
	}
	if _, ok := f.b.fresh[table]; ok {
		f.b.fresh[table] = map[string]struct{}{}
	}
	return f.write(ctx)
}

// write sends the ops, lookup entries and current data changes so far.
func (f *flushState) write(ctx context.Context) error {
	tx := f.b.tx
	if len(f.ops) > 0 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"powersync", "bucket_data"},
			[]string{"version", "bucket", "op_id", "kind", "checksum", "target_op", "identity", "wire"},
			pgx.CopyFromRows(f.ops))
		if err != nil {
			return fmt.Errorf("write ops: %w", err)
		}
		f.ops = f.ops[:0]
	}
	if len(f.lookups) > 0 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"powersync", "lookups"},
			[]string{"version", "key", "source_row", "op_id", "result"}, pgx.CopyFromRows(f.lookups))
		if err != nil {
			return fmt.Errorf("write lookup entries: %w", err)
		}
		f.lookups = f.lookups[:0]
	}
	if len(f.dirty) == 0 {
		return nil
	}
	dk := make([]string, 0, len(f.dirty))
	for k := range f.dirty {
		dk = append(dk, k)
	}
	sort.Strings(dk)
	tables := make([]string, 0, len(dk))
	keys := make([][]byte, 0, len(dk))
	var rows [][]any
	for _, k := range dk {
		if f.stored[k] {
			tables = append(tables, f.tables[k])
			keys = append(keys, f.keys[k])
		}
		if rec := f.cache[k]; rec != nil {
			f.b.wrote(f.tables[k], f.keys[k])
			f.buf = rec.Append(f.buf[:0])
			rows = append(rows, []any{f.b.vid, f.tables[k], f.keys[k], bytes.Clone(f.buf)})
			f.stored[k] = true
		} else {
			delete(f.stored, k)
		}
	}
	if len(keys) > 0 {
		if err := f.deleteStored(ctx, tables, keys); err != nil {
			return err
		}
	}
	if len(rows) > 0 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"powersync", "current_data"},
			[]string{"version", "source_table", "source_key", "record"}, pgx.CopyFromRows(rows))
		if err != nil {
			return fmt.Errorf("write current data: %w", err)
		}
	}
	f.dirty = map[string]bool{}
	return nil
}

func (f *flushState) deleteStored(ctx context.Context, tables []string, keys [][]byte) error {
	_, err := f.b.tx.Exec(ctx, `
		DELETE FROM powersync.current_data c
		WHERE (c.version, c.source_table, c.source_key) IN (
			SELECT $1::bigint, k.t, k.k FROM unnest($2::text[], $3::bytea[]) AS k(t, k))`, f.b.vid, tables, keys)
	if err != nil {
		return fmt.Errorf("write current data: %w", err)
	}
	return nil
}

// Commit writes everything and the version's new state in the batch's
// transaction, announcing a new checkpoint with NOTIFY in the same
// transaction.
func (b *batch) Commit(ctx context.Context, opts storage.CommitOptions) (storage.Checkpoint, error) {
	if err := b.check(ctx); err != nil {
		return storage.Checkpoint{}, err
	}
	if err := b.flush(ctx); err != nil {
		b.abort()
		return storage.Checkpoint{}, err
	}
	if err := b.begin(ctx); err != nil {
		return storage.Checkpoint{}, err
	}
	cp, created, activated, err := b.commitTx(ctx, opts)
	if err != nil {
		b.abort()
		return storage.Checkpoint{}, err
	}
	b.tx = nil
	b.conn.Release()
	b.conn = nil

	s := b.s
	s.mu.Lock()
	if created {
		delete(s.pending, b.vid)
	} else if len(b.totals) > 0 || len(b.lookups) > 0 {
		p := s.pending[b.vid]
		if p == nil {
			p = &pendingChanges{buckets: map[string]struct{}{}, lookups: map[string]struct{}{}}
			s.pending[b.vid] = p
		}
		for k := range b.totals {
			p.buckets[k] = struct{}{}
		}
		for k := range b.lookups {
			p.lookups[k] = struct{}{}
		}
	}
	s.mu.Unlock()
	b.reset()
	if created || activated {
		if err := s.refresh(ctx, s.pool); err != nil {
			s.log.Warn("read active checkpoint after commit", "error", err)
		}
	}
	return cp, nil
}

// abort rolls the transaction back after a failed write; the batch stays
// usable but everything since the last Commit is lost, so the caller must
// replay from its last committed position.
func (b *batch) abort() {
	if b.tx != nil {
		_ = b.tx.Rollback(context.Background())
		b.tx = nil
	}
	if b.conn != nil {
		b.conn.Release()
		b.conn = nil
	}
	b.reset()
}

const changeSetMax = 10000

func (b *batch) commitTx(ctx context.Context, opts storage.CommitOptions) (storage.Checkpoint, bool, bool, error) {
	tx := b.tx
	v, err := b.s.version(ctx, tx, b.vid, true)
	if err != nil {
		return storage.Checkpoint{}, false, false, err
	}
	prevCp := v.Checkpoint
	if err := b.writeTotals(ctx); err != nil {
		return storage.Checkpoint{}, false, false, fmt.Errorf("commit: bucket totals: %w", err)
	}
	if opts.SnapshotTable != "" {
		_, err := tx.Exec(ctx, `
			INSERT INTO powersync.snapshot_progress (version, source_table, cursor, done) VALUES ($1, $2, $3, $4)
			ON CONFLICT (version, source_table) DO UPDATE SET cursor = excluded.cursor, done = excluded.done`,
			b.vid, opts.SnapshotTable, opts.SnapshotCursor, opts.SnapshotTableDone)
		if err != nil {
			return storage.Checkpoint{}, false, false, fmt.Errorf("commit: snapshot progress: %w", err)
		}
	}

	// The checkpoint rules (reference: service.md §2.8).
	v.committedOp = max(v.committedOp, b.maxOp)
	if opts.SnapshotDone {
		v.SnapshotDone = true
		v.noCheckpointBefore = max(v.noCheckpointBefore, opts.NoCheckpointBefore)
	}
	pos := opts.Position
	created := opts.Checkpoint && v.SnapshotDone && v.Checkpoint.Position <= pos && v.noCheckpointBefore <= pos
	hadPending := v.pendingOp > 0
	if created {
		v.Checkpoint.OpID = max(v.Checkpoint.OpID, v.pendingOp, b.maxOp)
		v.Checkpoint.Position = pos
		v.pendingOp = 0
	} else {
		v.pendingOp = max(v.pendingOp, b.maxOp)
	}
	activated := created && v.State == storage.StateProcessing
	if activated {
		v.State = storage.StateActive
		if _, err := tx.Exec(ctx, `UPDATE powersync.versions SET state = 'STOP'
			WHERE id <> $1 AND state IN ('ACTIVE', 'ERRORED')`, b.vid); err != nil {
			return storage.Checkpoint{}, false, false, err
		}
	}
	var cpTime *time.Time
	timeSQL := `checkpoint_time`
	if created {
		timeSQL = `now()`
	}
	err = tx.QueryRow(ctx, `
		UPDATE powersync.versions SET state = $2, snapshot_done = $3, checkpoint_op = $4, checkpoint_pos = $5,
			checkpoint_time = `+timeSQL+`, committed_op = $6, pending_op = $7, no_checkpoint_before = $8
		WHERE id = $1 RETURNING checkpoint_time`,
		b.vid, string(v.State), v.SnapshotDone, v.Checkpoint.OpID, int64(v.Checkpoint.Position),
		v.committedOp, v.pendingOp, int64(v.noCheckpointBefore)).Scan(&cpTime)
	if cpTime != nil {
		v.Checkpoint.Time = *cpTime
	}
	if err != nil {
		return storage.Checkpoint{}, false, false, fmt.Errorf("commit: version: %w", err)
	}
	if created {
		if err := b.recordChanges(ctx, prevCp, v.Checkpoint, hadPending); err != nil {
			return storage.Checkpoint{}, false, false, err
		}
	}
	if created || activated {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel,
			notifyPayload{Version: b.vid, OpID: v.Checkpoint.OpID}.String()); err != nil {
			return storage.Checkpoint{}, false, false, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return storage.Checkpoint{}, false, false, fmt.Errorf("commit batch of version %d: %w", b.vid, err)
	}
	return v.Checkpoint, created, activated, nil
}

// recordChanges stores what the new checkpoint changed since the previous
// one: this batch's changes plus those of earlier commits that could not
// create a checkpoint. When those earlier commits were made by another
// process (or before a restart), they are unknown and the entry says All.
func (b *batch) recordChanges(ctx context.Context, prev, cp storage.Checkpoint, hadPending bool) error {
	buckets := map[string]struct{}{}
	lookups := map[string]struct{}{}
	all := false
	b.s.mu.Lock()
	p := b.s.pending[b.vid]
	if hadPending && p == nil {
		all = true
	} else if p != nil {
		all = p.all
		for k := range p.buckets {
			buckets[k] = struct{}{}
		}
		for k := range p.lookups {
			lookups[k] = struct{}{}
		}
	}
	b.s.mu.Unlock()
	for k := range b.totals {
		buckets[k] = struct{}{}
	}
	for k := range b.lookups {
		lookups[k] = struct{}{}
	}
	if len(buckets)+len(lookups) > changeSetMax {
		all = true
	}
	bl := []string{}
	ll := [][]byte{}
	if !all {
		for k := range buckets {
			bl = append(bl, k)
		}
		for k := range lookups {
			ll = append(ll, []byte(k))
		}
	}
	var seq int64
	err := b.tx.QueryRow(ctx, `
		INSERT INTO powersync.checkpoint_changes (version, prev_op, prev_pos, op, pos, all_changed, buckets, lookups)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`,
		b.vid, prev.OpID, int64(prev.Position), cp.OpID, int64(cp.Position), all, bl, ll).Scan(&seq)
	if err != nil {
		return fmt.Errorf("commit: record changes: %w", err)
	}
	// Keep the most recent entries only (checked every 64 entries).
	if seq%64 == 0 {
		_, err = b.tx.Exec(ctx, `
			DELETE FROM powersync.checkpoint_changes WHERE version = $1 AND seq < (
				SELECT min(seq) FROM (SELECT seq FROM powersync.checkpoint_changes
					WHERE version = $1 ORDER BY seq DESC LIMIT 256) r)`, b.vid)
		if err != nil {
			return fmt.Errorf("commit: prune changes: %w", err)
		}
	}
	return nil
}

// writeTotals adds each touched bucket's delta to its running totals,
// writing a cumulative row keyed by the bucket's last op of this commit.
func (b *batch) writeTotals(ctx context.Context) error {
	if len(b.totals) == 0 {
		return nil
	}
	names := make([]string, 0, len(b.totals))
	for k := range b.totals {
		names = append(names, k)
	}
	sort.Strings(names)
	type total struct {
		sum   uint32
		count int64
	}
	prev := make(map[string]total, len(names))
	rows, err := b.tx.Query(ctx, `
		SELECT DISTINCT ON (bucket) bucket, checksum, count FROM powersync.bucket_totals
		WHERE version = $1 AND bucket = ANY($2) ORDER BY bucket, op_id DESC`, b.vid, names)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		var sum, count int64
		if err := rows.Scan(&name, &sum, &count); err != nil {
			rows.Close()
			return err
		}
		prev[name] = total{uint32(sum), count}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	out := make([][]any, 0, len(names))
	for _, name := range names {
		d, p := b.totals[name], prev[name]
		out = append(out, []any{b.vid, name, d.maxOp, int64(p.sum + d.checksum), p.count + d.count})
	}
	_, err = b.tx.CopyFrom(ctx, pgx.Identifier{"powersync", "bucket_totals"},
		[]string{"version", "bucket", "op_id", "checksum", "count"}, pgx.CopyFromRows(out))
	return err
}

// Close discards anything not committed. It is safe to call twice.
func (b *batch) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.abort()
	b.s.mu.Lock()
	delete(b.s.openBatch, b.vid)
	b.s.mu.Unlock()
	return nil
}
