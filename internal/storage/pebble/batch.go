package pebble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/cockroachdb/pebble/v2"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/protocol"
)

// batch is the write side of one version. Everything it writes goes into a
// Pebble batch; current data it changed is also kept in pending so later
// saves of the same row in the batch see it.
//
// When the Pebble batch grows past Options.SpillBytes it is spilled: written
// to the database together with undo entries that restore what it
// overwrote. Spilled ops and lookup entries have op ids above the version's
// checkpoint and current data is read only by this batch, so a spill is
// invisible to readers. Commit writes the rest, the version record and the
// deletion of the undo entries in one synced Pebble batch; Close, or Open
// after a crash, applies the undo entries instead (see rollback).
type batch struct {
	s   *Storage
	vid int64
	b   *pebble.Batch

	pending map[string]*storage.CurrentRecord // current-data key → record (nil: deleted)
	// pendingBytes estimates pending's size; it counts toward SpillBytes
	// (rows in no bucket produce no ops but may carry large row data).
	pendingBytes int
	// orig holds the stored record of each current-data key read since the
	// last spill (nil: not stored), so a spill writes its undo entry
	// without reading the key again.
	orig map[string]*storage.CurrentRecord

	// Spill bookkeeping, reset by Commit.
	spilled        bool
	undoSeq        uint64
	baseOp         int64               // version's CommittedOp when this batch's work began
	spilledBuckets map[string]struct{} // buckets with a range undo entry
	newLookupKeys  [][]byte            // lookup entry keys written since the last spill

	// storedMax caches, per source table, an upper bound of the table's
	// current-data keys in the database (nil: none), read once per table
	// with a reverse seek: a key above it is certainly not stored, so its
	// lookup is skipped (rows appended with growing keys, the usual insert,
	// cost no read). It stays an upper bound while the batch is open: only
	// this batch writes the version's current data, every key it stores
	// raises the bound (noteStored), and deletes, truncates and a rollback
	// (which ends the batch) only remove keys. Kept across commits.
	storedMax map[string]*storedBound

	// What the uncommitted work changed.
	totals  map[string]*bucketDelta
	lookups map[string]struct{}
	maxOp   int64

	buf    []byte // value scratch (Pebble copies keys and values on Set)
	kbuf   []byte // key scratch
	hbuf   []byte // checksum input scratch
	closed bool
}

type storedBound struct{ max []byte }

type bucketDelta struct {
	checksum uint32
	count    int64
	maxOp    int64
}

var _ storage.Batch = (*batch)(nil)

// batchRetainBytes bounds the buffer an open batch keeps between commits.
const batchRetainBytes = 8 << 20

// Undo entry kinds.
const (
	undoDelete      byte = 1 // key did not exist: delete it
	undoRestore     byte = 2 // key had value: set it back
	undoDeleteRange byte = 3 // delete [key, end)
)

func (s *Storage) newBatch(vid int64) (*batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	v, ok := s.versions[vid]
	if !ok {
		return nil, fmt.Errorf("new batch: version %d: %w", vid, storage.ErrNotFound)
	}
	if s.openBatch[vid] {
		return nil, fmt.Errorf("new batch: version %d already has an open batch", vid)
	}
	s.openBatch[vid] = true
	// The Pebble batch keeps its buffer across commits up to a few MB, so
	// that every snapshot page or transaction does not grow it again from
	// scratch (by doubling and copying).
	retain := min(s.opts.SpillBytes, batchRetainBytes)
	b := &batch{s: s, vid: vid, b: s.db.NewBatch(pebble.WithMaxRetainedSizeBytes(retain)), baseOp: v.CommittedOp,
		storedMax: map[string]*storedBound{}}
	b.reset()
	return b, nil
}

func (b *batch) reset() {
	b.pending = map[string]*storage.CurrentRecord{}
	b.pendingBytes = 0
	b.orig = map[string]*storage.CurrentRecord{}
	b.spilled = false
	b.undoSeq = 0
	b.spilledBuckets = map[string]struct{}{}
	b.newLookupKeys = nil
	b.totals = map[string]*bucketDelta{}
	b.lookups = map[string]struct{}{}
	b.maxOp = 0
}

// enter checks the batch as check does and enters the storage; the caller
// calls done when it has finished.
func (b *batch) enter(ctx context.Context) (done func(), err error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	return b.s.enter()
}

func (b *batch) check(ctx context.Context) error {
	if b.closed {
		return errors.New("batch is closed")
	}
	return ctx.Err()
}

// current returns the current record of a key of table as this batch
// sees it.
func (b *batch) current(table string, key []byte) (*storage.CurrentRecord, error) {
	if r, ok := b.pending[string(key)]; ok {
		return r, nil
	}
	bound, err := b.bound(table)
	if err != nil {
		return nil, err
	}
	if bound.max == nil || bytes.Compare(key, bound.max) > 0 {
		b.orig[string(key)] = nil
		return nil, nil
	}
	v, closer, err := b.s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		b.orig[string(key)] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	rec, err := storage.DecodeCurrentRecord(v)
	if err != nil {
		return nil, err
	}
	b.orig[string(key)] = rec
	return rec, nil
}

// bound returns the upper bound of table's stored current-data keys.
func (b *batch) bound(table string) (*storedBound, error) {
	if sb, ok := b.storedMax[table]; ok {
		return sb, nil
	}
	p := tablePrefix(b.vid, table)
	it, err := b.s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	sb := &storedBound{}
	if it.Last() {
		sb.max = bytes.Clone(it.Key())
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("read the last current-data key of %s: %w", table, err)
	}
	b.storedMax[table] = sb
	return sb, nil
}

// noteStored raises table's bound to key, which the batch stores (now in
// pending, in the database once pending is written).
func (b *batch) noteStored(table string, key []byte) error {
	sb, err := b.bound(table)
	if err != nil {
		return err
	}
	if sb.max == nil || bytes.Compare(key, sb.max) > 0 {
		sb.max = append(sb.max[:0], key...)
	}
	return nil
}

func (b *batch) setPending(key string, rec *storage.CurrentRecord) {
	b.pending[key] = rec
	b.pendingBytes += len(key) + 16
	if rec != nil {
		b.pendingBytes += len(rec.Row) + 48*len(rec.Buckets)
		for _, l := range rec.Lookups {
			b.pendingBytes += len(l)
		}
	}
}

func (b *batch) nextOp() int64 {
	op := b.s.opSeq.Add(1)
	b.maxOp = op
	return op
}

func (b *batch) addOp(bucket string, op int64, checksum uint32) {
	d := b.totals[bucket]
	if d == nil {
		d = &bucketDelta{}
		b.totals[bucket] = d
	}
	d.checksum += checksum
	d.count++
	d.maxOp = op
}

func (b *batch) put(br storage.BucketRow, subkey string) error {
	op := b.nextOp()
	sum := storage.PutChecksum(&b.hbuf, br.Table, br.ID, br.Data)
	b.buf = appendRowOp(b.buf[:0], op, opPut, br.Table, br.ID, subkey, br.Data, sum)
	b.addOp(br.Bucket, op, sum)
	return b.b.Set(b.opKey(br.Bucket, op), b.buf, nil)
}

func (b *batch) remove(m storage.Membership, subkey string) error {
	op := b.nextOp()
	sum := protocol.RemoveChecksum(subkey)
	b.buf = appendRowOp(b.buf[:0], op, opRemove, m.Table, m.ID, subkey, nil, sum)
	b.addOp(m.Bucket, op, sum)
	return b.b.Set(b.opKey(m.Bucket, op), b.buf, nil)
}

// opKey builds the key of op in bucket in the key scratch buffer (valid
// until the next use of it).
func (b *batch) opKey(bucket string, op int64) []byte {
	k := append(b.kbuf[:0], spaceOp)
	k = appendU64(k, uint64(b.vid))
	k = storage.AppendStrPart(k, bucket)
	k = appendU64(k, uint64(op))
	b.kbuf = k
	return k
}

func (b *batch) setLookup(key, row []byte, op int64, result []byte) error {
	k := lookupEntryKey(b.vid, key, row, op)
	if len(b.lookups) <= changeSetMax { // past it, Changes says All anyway
		b.lookups[string(key)] = struct{}{}
	}
	b.newLookupKeys = append(b.newLookupKeys, k)
	return b.b.Set(k, result, nil)
}

// forget emits a REMOVE for each membership and a tombstone for each lookup
// of a row that is gone.
func (b *batch) forget(rec *storage.CurrentRecord, table string, key []byte) error {
	subkey := storage.SubkeyOf(table, key)
	for _, m := range rec.Buckets {
		if err := b.remove(m, subkey); err != nil {
			return err
		}
	}
	if len(rec.Lookups) > 0 {
		op := b.nextOp()
		row := sourceRow(table, key)
		for _, l := range rec.Lookups {
			if err := b.setLookup(l, row, op, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Save records the new state of a source row.
func (b *batch) Save(ctx context.Context, u storage.RowUpdate) error {
	done, err := b.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	if u.Table == "" {
		return errors.New("save row: empty table name")
	}
	if u.OldKey != nil && !bytes.Equal(u.OldKey, u.Key) {
		ok := currentKey(b.vid, u.Table, u.OldKey)
		old, err := b.current(u.Table, ok)
		if err != nil {
			return fmt.Errorf("save row of %s: %w", u.Table, err)
		}
		if old != nil {
			if err := b.forget(old, u.Table, u.OldKey); err != nil {
				return err
			}
			b.setPending(string(ok), nil)
		}
	}
	ck := currentKey(b.vid, u.Table, u.Key)
	var prev *storage.CurrentRecord
	if u.New && u.OldKey == nil {
		// Known not to be stored: only this batch can have seen it.
		if r, ok := b.pending[string(ck)]; ok {
			prev = r
		} else {
			b.orig[string(ck)] = nil
		}
	} else {
		var err error
		if prev, err = b.current(u.Table, ck); err != nil {
			return fmt.Errorf("save row of %s: %w", u.Table, err)
		}
	}
	subkey := storage.SubkeyOf(u.Table, u.Key)
	rec := &storage.CurrentRecord{Row: u.Row, HasRow: u.Row != nil}
	rec.Buckets = make([]storage.Membership, 0, len(u.Buckets))
	for _, br := range u.Buckets {
		if br.Bucket == "" {
			return fmt.Errorf("save row of %s: empty bucket name", u.Table)
		}
		if err := b.put(br, subkey); err != nil {
			return err
		}
		rec.Buckets = append(rec.Buckets, storage.Membership{Bucket: br.Bucket, Table: br.Table, ID: br.ID})
	}
	if prev != nil {
		for _, m := range prev.Buckets {
			if !storage.ContainsMembership(rec.Buckets, m) {
				if err := b.remove(m, subkey); err != nil {
					return err
				}
			}
		}
	}
	gone := storage.GoneLookups(prev, u.Lookups)
	if len(u.Lookups) > 0 || len(gone) > 0 {
		op := b.nextOp()
		row := sourceRow(u.Table, u.Key)
		for _, l := range u.Lookups {
			if err := b.setLookup(l.Key, row, op, l.Result); err != nil {
				return err
			}
			rec.Lookups = append(rec.Lookups, bytes.Clone(l.Key))
		}
		for _, l := range gone {
			if err := b.setLookup(l, row, op, nil); err != nil {
				return err
			}
		}
	}
	if rec.Empty() {
		if prev != nil {
			b.setPending(string(ck), nil)
		}
	} else {
		if rec.HasRow {
			rec.Row = bytes.Clone(rec.Row)
		}
		if err := b.noteStored(u.Table, ck); err != nil {
			return fmt.Errorf("save row of %s: %w", u.Table, err)
		}
		b.setPending(string(ck), rec)
	}
	return b.maybeSpill()
}

// Delete removes a source row.
func (b *batch) Delete(ctx context.Context, table string, key []byte) error {
	done, err := b.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	ck := currentKey(b.vid, table, key)
	prev, err := b.current(table, ck)
	if err != nil {
		return fmt.Errorf("delete row of %s: %w", table, err)
	}
	if prev == nil {
		// Not there: a replayed delete, or a row in no bucket.
		return nil
	}
	if err := b.forget(prev, table, key); err != nil {
		return err
	}
	b.setPending(string(ck), nil)
	return b.maybeSpill()
}

// Truncate deletes every row of a source table.
func (b *batch) Truncate(ctx context.Context, table string) error {
	done, err := b.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	p := tablePrefix(b.vid, table)
	// Rows this batch already changed: handled from pending, after the
	// stored ones (a spill during the scan flushes pending).
	mine := map[string]*storage.CurrentRecord{}
	for k, r := range b.pending {
		if bytes.HasPrefix([]byte(k), p) {
			mine[k] = r
		}
	}
	it, err := b.s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, seen := mine[string(it.Key())]; seen {
			continue
		}
		rec, err := storage.DecodeCurrentRecord(it.Value())
		if err != nil {
			return fmt.Errorf("truncate %s: %w", table, err)
		}
		k := bytes.Clone(it.Key())
		b.orig[string(k)] = rec
		if err := b.forget(rec, table, k[len(p):]); err != nil {
			return err
		}
		b.setPending(string(k), nil)
		if err := b.maybeSpill(); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	keys := make([]string, 0, len(mine))
	for k := range mine {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if rec := mine[k]; rec != nil {
			if err := b.forget(rec, table, []byte(k[len(p):])); err != nil {
				return err
			}
		}
		b.setPending(k, nil)
	}
	return b.maybeSpill()
}

// CurrentRow returns the stored row of a source row.
func (b *batch) CurrentRow(ctx context.Context, table string, key []byte) ([]byte, bool, error) {
	done, err := b.enter(ctx)
	if err != nil {
		return nil, false, err
	}
	defer done()
	rec, err := b.current(table, currentKey(b.vid, table, key))
	if err != nil {
		return nil, false, err
	}
	if rec == nil || !rec.HasRow {
		return nil, false, nil
	}
	return rec.Row, true, nil
}

// writePending moves pending current data into the Pebble batch, with undo
// entries when spilling.
func (b *batch) writePending(withUndo bool) error {
	// Each key once, in any order: the batch is applied atomically and
	// every undo entry of one spill is about a different key.
	for k, rec := range b.pending {
		key := append(b.kbuf[:0], k...)
		b.kbuf = key
		if withUndo {
			if err := b.undoForKey(key); err != nil {
				return err
			}
		}
		var err error
		if rec == nil {
			err = b.b.Delete(key, nil)
		} else {
			b.buf = rec.Append(b.buf[:0])
			err = b.b.Set(key, b.buf, nil)
		}
		if err != nil {
			return err
		}
	}
	b.pending = map[string]*storage.CurrentRecord{}
	b.pendingBytes = 0
	b.orig = map[string]*storage.CurrentRecord{}
	return nil
}

func (b *batch) addUndo(kind byte, key, val []byte) error {
	b.undoSeq++
	// Both scratch buffers: Set copies, and callers pass keys that are not
	// in them (writePending's key is in kbuf, so the undo key goes to hbuf).
	e := append(b.buf[:0], kind)
	e = storage.AppendPart(e, key)
	e = storage.AppendPart(e, val)
	b.buf = e
	k := append(b.hbuf[:0], spaceUndo)
	k = appendU64(k, uint64(b.vid))
	k = appendU64(k, b.undoSeq)
	b.hbuf = k
	return b.b.Set(k, e, nil)
}

func (b *batch) undoForKey(key []byte) error {
	if rec, ok := b.orig[string(key)]; ok {
		if rec == nil {
			return b.addUndo(undoDelete, key, nil)
		}
		return b.addUndo(undoRestore, key, rec.Append(nil))
	}
	v, closer, err := b.s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return b.addUndo(undoDelete, key, nil)
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	return b.addUndo(undoRestore, key, v)
}

func (b *batch) maybeSpill() error {
	if int(b.b.Len())+b.pendingBytes < b.s.opts.SpillBytes {
		return nil
	}
	return b.spill()
}

// spill writes the batch so far to the database with its undo entries.
func (b *batch) spill() error {
	if err := b.writePending(true); err != nil {
		return err
	}
	for bucket := range b.totals {
		if _, ok := b.spilledBuckets[bucket]; ok {
			continue
		}
		p := bucketPrefix(spaceOp, b.vid, bucket)
		if err := b.addUndo(undoDeleteRange, appendU64(bytes.Clone(p), uint64(b.baseOp+1)), bucketEnd(p)); err != nil {
			return err
		}
		b.spilledBuckets[bucket] = struct{}{}
	}
	for _, k := range b.newLookupKeys {
		if err := b.addUndo(undoDelete, k, nil); err != nil {
			return err
		}
	}
	b.newLookupKeys = nil
	b.s.commitMu.Lock()
	defer b.s.commitMu.Unlock()
	if err := b.s.checkOpen(); err != nil {
		return err
	}
	if err := b.b.Set(metaOpSeq, appendU64(nil, uint64(b.s.opSeq.Load())), nil); err != nil {
		return err
	}
	if err := b.b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("spill batch of version %d: %w", b.vid, err)
	}
	b.b.Reset()
	b.spilled = true
	return nil
}

// Commit writes everything and the version's new state atomically.
func (b *batch) Commit(ctx context.Context, opts storage.CommitOptions) (storage.Checkpoint, error) {
	done, err := b.enter(ctx)
	if err != nil {
		return storage.Checkpoint{}, err
	}
	defer done()
	if err := b.writePending(false); err != nil {
		return storage.Checkpoint{}, err
	}
	s := b.s
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	v, err := s.version(b.vid)
	if err != nil {
		return storage.Checkpoint{}, err
	}
	prevCp := v.checkpoint()

	if err := b.writeTotals(); err != nil {
		return storage.Checkpoint{}, fmt.Errorf("commit: bucket totals: %w", err)
	}
	if opts.SnapshotTable != "" {
		st := storage.TableSnapshot{Cursor: opts.SnapshotCursor, Done: opts.SnapshotTableDone}
		val := storage.AppendPart(nil, st.Cursor)
		if st.Done {
			val = append(val, 1)
		} else {
			val = append(val, 0)
		}
		if err := b.b.Set(snapshotKey(b.vid, opts.SnapshotTable), val, nil); err != nil {
			return storage.Checkpoint{}, err
		}
	}

	// The version's new state (reference: checkpoint rules in service.md §2.8).
	v.CommittedOp = max(v.CommittedOp, b.maxOp)
	if opts.SnapshotDone {
		v.SnapshotDone = true
		v.NoCheckpointBefore = max(v.NoCheckpointBefore, uint64(opts.NoCheckpointBefore))
	}
	pos := uint64(opts.Position)
	created := opts.Checkpoint && v.SnapshotDone && v.CheckpointPos <= pos && v.NoCheckpointBefore <= pos
	if created {
		v.CheckpointOp = max(v.CheckpointOp, v.PendingOp, b.maxOp)
		v.CheckpointPos = pos
		v.CheckpointTime = s.now().UTC()
		v.PendingOp = 0
	} else {
		v.PendingOp = max(v.PendingOp, b.maxOp)
	}
	changed := []*versionRecord{&v}
	activated := false
	if created && v.State == storage.StateProcessing {
		v.State = storage.StateActive
		activated = true
		changed = append(changed, s.stopOthers(b.vid)...)
	}
	for _, c := range changed {
		if err := putVersion(b.b, c); err != nil {
			return storage.Checkpoint{}, err
		}
	}
	if err := b.b.Set(metaOpSeq, appendU64(nil, uint64(s.opSeq.Load())), nil); err != nil {
		return storage.Checkpoint{}, err
	}
	if b.spilled {
		p := versionPrefix(spaceUndo, b.vid)
		if err := b.b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return storage.Checkpoint{}, err
		}
	}
	if err := s.checkOpen(); err != nil {
		return storage.Checkpoint{}, err
	}
	if err := b.b.Commit(pebble.Sync); err != nil {
		return storage.Checkpoint{}, fmt.Errorf("commit batch of version %d: %w", b.vid, err)
	}

	s.mu.Lock()
	for _, c := range changed {
		s.versions[c.ID] = c
	}
	cl := s.changes[b.vid]
	if cl == nil {
		cl = &changeLog{}
		s.changes[b.vid] = cl
	}
	cl.add(b.totals, b.lookups)
	// A checkpoint equal to the previous one (a repeated keepalive) wakes
	// nobody.
	advanced := created && !sameCheckpoint(prevCp, v.checkpoint())
	if advanced {
		cl.checkpoint(prevCp, v.checkpoint())
	}
	if advanced || activated {
		s.wakeLocked()
	}
	s.mu.Unlock()

	b.b.Reset()
	b.reset()
	b.baseOp = v.CommittedOp
	return v.checkpoint(), nil
}

// writeTotals adds each touched bucket's delta to its running totals,
// writing a cumulative record keyed by the bucket's last op of this commit.
func (b *batch) writeTotals() error {
	if len(b.totals) == 0 {
		return nil
	}
	it, err := b.s.db.NewIter(nil)
	if err != nil {
		return err
	}
	defer it.Close()
	for bucket, d := range b.totals {
		var sum uint32
		var count int64
		v, ok, err := recordAsOf(it, spaceTotals, b.vid, bucket, math.MaxInt64)
		if err != nil {
			return err
		}
		if ok {
			if sum, count, err = decodeTotals(v); err != nil {
				return err
			}
		}
		val := encodeTotals(sum+d.checksum, count+d.count)
		if err := b.b.Set(recordKey(spaceTotals, b.vid, bucket, d.maxOp), val, nil); err != nil {
			return err
		}
	}
	return nil
}

func encodeTotals(sum uint32, count int64) []byte {
	v := make([]byte, 0, 12)
	v = append(v, byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum))
	return appendU64(v, uint64(count))
}

func decodeTotals(v []byte) (uint32, int64, error) {
	if len(v) != 12 {
		return 0, 0, errCorrupt
	}
	return uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3]), int64(tailU64(v)), nil
}

// Close discards anything not committed, rolling back spilled work.
func (b *batch) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	defer func() {
		b.s.mu.Lock()
		delete(b.s.openBatch, b.vid)
		b.s.mu.Unlock()
	}()
	_ = b.b.Close()
	if !b.spilled {
		return nil
	}
	done, err := b.s.enter()
	if err != nil {
		// Closed storage: the next Open rolls the batch back.
		return nil
	}
	defer done()
	b.s.commitMu.Lock()
	defer b.s.commitMu.Unlock()
	if err := b.s.rollback(b.vid); err != nil {
		return fmt.Errorf("roll back batch of version %d: %w", b.vid, err)
	}
	return nil
}

// rollback applies the undo entries of a version newest first and deletes
// them, in one synced write.
func (s *Storage) rollback(vid int64) error {
	p := versionPrefix(spaceUndo, vid)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	defer it.Close()
	wb := s.db.NewBatch()
	defer wb.Close()
	n := 0
	for ok := it.Last(); ok; ok = it.Prev() {
		r := storage.PartReader{B: it.Value()}
		if len(r.B) == 0 {
			return errCorrupt
		}
		kind := r.B[0]
		r.B = r.B[1:]
		key := r.Part()
		val := r.Part()
		if r.Bad {
			return errCorrupt
		}
		switch kind {
		case undoDelete:
			err = wb.Delete(key, nil)
		case undoRestore:
			err = wb.Set(key, val, nil)
		case undoDeleteRange:
			err = wb.DeleteRange(key, val, nil)
		default:
			return errCorrupt
		}
		if err != nil {
			return err
		}
		n++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if err := wb.DeleteRange(p, prefixEnd(p), nil); err != nil {
		return err
	}
	if err := wb.Commit(pebble.Sync); err != nil {
		return err
	}
	s.log.Info("rolled back an uncommitted batch", "version", vid, "undo_entries", n)
	return nil
}
