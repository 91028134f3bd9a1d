package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/powersync-go/powersync/protocol"
)

// checkpoint is the client's view of the latest checkpoint line of the
// current connection, updated by diffs.
type checkpoint struct {
	lastOpID        int64
	writeCheckpoint *int64
	buckets         map[string]BucketChecksum
	streams         []protocol.StreamDescription
}

func newCheckpoint(l *CheckpointLine) *checkpoint {
	cp := &checkpoint{lastOpID: int64(l.LastOpID), buckets: make(map[string]BucketChecksum, len(l.Buckets)), streams: l.Streams}
	if l.WriteCheckpoint != nil {
		w := int64(*l.WriteCheckpoint)
		cp.writeCheckpoint = &w
	}
	for _, b := range l.Buckets {
		cp.buckets[b.Bucket] = b
	}
	return cp
}

func (cp *checkpoint) applyDiff(d *CheckpointDiffLine) *checkpoint {
	next := &checkpoint{lastOpID: int64(d.LastOpID), buckets: make(map[string]BucketChecksum, len(cp.buckets)), streams: cp.streams}
	// Absent means none: the service repeats it on every diff.
	if d.WriteCheckpoint != nil {
		w := int64(*d.WriteCheckpoint)
		next.writeCheckpoint = &w
	}
	for k, v := range cp.buckets {
		next.buckets[k] = v
	}
	for _, b := range d.UpdatedBuckets {
		next.buckets[b.Bucket] = b
	}
	for _, r := range d.RemovedBuckets {
		delete(next.buckets, r)
	}
	return next
}

// inScope lists the checkpoint's buckets of priority ≤ prio (all when prio
// is nil), sorted by name.
func (cp *checkpoint) inScope(prio *int) []BucketChecksum {
	var out []BucketChecksum
	for _, b := range cp.buckets {
		if prio == nil || b.EffectivePriority() <= *prio {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bucket < out[j].Bucket })
	return out
}

// ChecksumError reports buckets whose downloaded operations do not add up
// to the checkpoint's checksum. The client deletes them and downloads them
// again from the start.
type ChecksumError struct {
	CheckpointID int64
	Buckets      []BucketMismatch
}

// BucketMismatch is one bucket that failed checksum validation.
type BucketMismatch struct {
	Bucket         string
	Expected, Have uint32
}

func (e *ChecksumError) Error() string {
	var parts []string
	for _, b := range e.Buckets {
		parts = append(parts, fmt.Sprintf("%s (expected %d, have %d)", b.Bucket, int32(b.Expected), int32(b.Have)))
	}
	return fmt.Sprintf("checkpoint %d: checksum mismatch in %s; downloading again", e.CheckpointID, strings.Join(parts, ", "))
}

// saveCheckpoint records a new full checkpoint: buckets the client holds
// that are not in it are deleted, the others get their expectations.
func saveCheckpoint(ctx context.Context, tx *sql.Tx, cp *checkpoint) error {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM ps_buckets`)
	if err != nil {
		return err
	}
	var drop []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		if _, ok := cp.buckets[n]; !ok {
			drop = append(drop, n)
		}
	}
	rows.Close()
	if err := deleteBuckets(ctx, tx, drop); err != nil {
		return err
	}
	return saveExpectations(ctx, tx, cp.inScope(nil))
}

func saveExpectations(ctx context.Context, tx *sql.Tx, bs []BucketChecksum) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO ps_buckets (name, priority, target_checksum, target_count) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET priority = excluded.priority, target_checksum = excluded.target_checksum, target_count = excluded.target_count`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, b := range bs {
		if _, err := stmt.ExecContext(ctx, b.Bucket, b.EffectivePriority(), int64(int32(b.Checksum)), b.Count); err != nil {
			return err
		}
	}
	return nil
}

// deleteBuckets removes buckets and their stored ops; their rows are marked
// for recomputation at the next apply.
func deleteBuckets(ctx context.Context, tx *sql.Tx, names []string) error {
	for _, n := range names {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO ps_updated_rows (row_type, row_id, priority)
SELECT row_type, row_id, (SELECT priority FROM ps_buckets WHERE name = ?1) FROM ps_oplog WHERE bucket = ?1`, n); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ps_oplog WHERE bucket = ?`, n); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ps_buckets WHERE name = ?`, n); err != nil {
			return err
		}
	}
	return nil
}

// dataStmts are the prepared statements of saveData, per transaction.
type dataStmts struct {
	put, remove, touch *sql.Stmt
}

func prepareData(ctx context.Context, tx *sql.Tx) (*dataStmts, error) {
	var s dataStmts
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = tx.PrepareContext(ctx, q)
		return st
	}
	// (bucket, key) is unique: a PUT replaces the older op of its row key.
	s.put = prep(`INSERT OR REPLACE INTO ps_oplog (bucket, op_id, key, row_type, row_id, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	s.remove = prep(`DELETE FROM ps_oplog WHERE bucket = ? AND key = ?`)
	s.touch = prep(`INSERT OR IGNORE INTO ps_updated_rows (row_type, row_id, priority) VALUES (?, ?, ?)`)
	if err != nil {
		s.close()
		return nil, err
	}
	return &s, nil
}

func (s *dataStmts) close() {
	for _, st := range []*sql.Stmt{s.put, s.remove, s.touch} {
		if st != nil {
			st.Close()
		}
	}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// saveData stores one data line: PUTs into the op log (replacing the older
// op of the same row key), REMOVEs by deleting it, and every op's checksum
// into the bucket's running sum. A bucket's checksum is the wrapping sum of
// all its ops, superseded or not, so validation never re-reads the ops.
func saveData(ctx context.Context, tx *sql.Tx, st *dataStmts, d *DataLine, lineBytes int) error {
	if len(d.Data) == 0 {
		return nil
	}
	var prio int64 = DefaultPriority
	var sum uint32
	var lastApplied int64
	var found bool
	row := tx.QueryRowContext(ctx, `SELECT priority, checksum, last_applied_op FROM ps_buckets WHERE name = ?`, d.Bucket)
	var c0 int64
	switch err := row.Scan(&prio, &c0, &lastApplied); {
	case err == nil:
		found = true
		sum = uint32(c0)
	case errors.Is(err, sql.ErrNoRows):
	default:
		return err
	}
	for _, op := range d.Data {
		c := uint32(op.Checksum)
		switch op.Op {
		case protocol.OpPut, protocol.OpRemove:
			typ, id := str(op.ObjectType), str(op.ObjectID)
			key := typ + "/" + id + "/"
			if op.Subkey != nil {
				key += *op.Subkey
			} else {
				key += "null"
			}
			if op.Op == protocol.OpPut {
				data := "{}"
				if op.Data != nil {
					data = *op.Data
				}
				if _, err := st.put.ExecContext(ctx, d.Bucket, int64(op.OpID), key, typ, id, data, int64(c)); err != nil {
					return err
				}
			} else if _, err := st.remove.ExecContext(ctx, d.Bucket, key); err != nil {
				return err
			}
			sum += c
			if _, err := st.touch.ExecContext(ctx, typ, id, prio); err != nil {
				return err
			}
		case protocol.OpClear:
			// CLEAR stands for every op before it; its checksum is theirs.
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO ps_updated_rows (row_type, row_id, priority)
SELECT row_type, row_id, ? FROM ps_oplog WHERE bucket = ?`, prio, d.Bucket); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM ps_oplog WHERE bucket = ?`, d.Bucket); err != nil {
				return err
			}
			sum, lastApplied = c, 0
		default:
			// MOVE carries only a checksum; unknown op types are skipped
			// like the official core does, their checksum still counts.
			sum += c
		}
	}
	last := int64(d.Data[len(d.Data)-1].OpID)
	if !found {
		_, err := tx.ExecContext(ctx, `INSERT INTO ps_buckets (name, priority, last_op, checksum, count_since_last, downloaded_bytes)
VALUES (?, ?, ?, ?, ?, ?)`, d.Bucket, prio, last, int64(int32(sum)), len(d.Data), lineBytes)
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE ps_buckets SET last_op = ?, checksum = ?, last_applied_op = ?,
count_since_last = count_since_last + ?, downloaded_bytes = downloaded_bytes + ? WHERE name = ?`,
		last, int64(int32(sum)), lastApplied, len(d.Data), lineBytes, d.Bucket)
	return err
}

// validate compares the accumulated checksum of every bucket in scope with
// the checkpoint. A bucket never downloaded counts as checksum 0.
func validate(ctx context.Context, tx *sql.Tx, cp *checkpoint, prio *int) (*ChecksumError, error) {
	stmt, err := tx.PrepareContext(ctx, `SELECT checksum FROM ps_buckets WHERE name = ?`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var ce *ChecksumError
	for _, b := range cp.inScope(prio) {
		var c int64
		if err := stmt.QueryRowContext(ctx, b.Bucket).Scan(&c); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		have := uint32(c)
		if have != uint32(b.Checksum) {
			if ce == nil {
				ce = &ChecksumError{CheckpointID: cp.lastOpID}
			}
			ce.Buckets = append(ce.Buckets, BucketMismatch{Bucket: b.Bucket, Expected: uint32(b.Checksum), Have: have})
		}
	}
	return ce, nil
}

// markValidated moves every bucket in scope to the checkpoint's op id (the
// next request's after) and records the write checkpoint it carried.
func markValidated(ctx context.Context, tx *sql.Tx, cp *checkpoint, prio *int) error {
	stmt, err := tx.PrepareContext(ctx, `UPDATE ps_buckets SET last_op = max(last_op, ?) WHERE name = ?`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, b := range cp.inScope(prio) {
		if _, err := stmt.ExecContext(ctx, cp.lastOpID, b.Bucket); err != nil {
			return err
		}
	}
	if prio == nil {
		var v any
		if cp.writeCheckpoint != nil {
			v = *cp.writeCheckpoint
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO ps_kv (key, value) VALUES ('last_seen_write_checkpoint', ?)`, v); err != nil {
			return err
		}
	}
	return nil
}

// canApply reports whether downloaded data may be published: no local
// writes wait for upload, and the write checkpoint of the last upload (if
// any) has been seen in a validated checkpoint. A priority-0 partial
// checkpoint is published regardless.
func canApply(ctx context.Context, tx *sql.Tx, prio *int) (bool, error) {
	if prio != nil && *prio == 0 {
		return true, nil
	}
	var pending int
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM ps_crud)`).Scan(&pending); err != nil {
		return false, err
	}
	if pending != 0 {
		return false, nil
	}
	var target, seen sql.NullInt64
	_ = tx.QueryRowContext(ctx, `SELECT value FROM ps_kv WHERE key = 'target_op'`).Scan(&target)
	_ = tx.QueryRowContext(ctx, `SELECT value FROM ps_kv WHERE key = 'last_seen_write_checkpoint'`).Scan(&seen)
	if !target.Valid {
		return true, nil
	}
	return seen.Valid && target.Int64 <= seen.Int64, nil
}

// applyRows publishes the downloaded state of every row touched since the
// last apply (of buckets in scope): the newest op across all buckets wins;
// a row no bucket has any more is deleted.
func (db *DB) applyRows(ctx context.Context, tx *sql.Tx, cp *checkpoint, prio *int) error {
	// Set-based, one pair of statements per row type, so SQLite does the
	// work without a round trip per row.
	scope, args := "", []any{}
	if prio != nil {
		scope = " AND priority <= ?"
		args = append(args, *prio)
	}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT row_type FROM ps_updated_rows WHERE 1`+scope, args...)
	if err != nil {
		return err
	}
	var types []string
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ); err != nil {
			rows.Close()
			return err
		}
		types = append(types, typ)
	}
	rows.Close()
	const touched = `SELECT DISTINCT row_id FROM ps_updated_rows WHERE row_type = ?1`
	const latest = `(SELECT o.data FROM ps_oplog o WHERE o.row_type = ?1 AND o.row_id = u.row_id ORDER BY o.op_id DESC LIMIT 1)`
	const gone = `NOT EXISTS (SELECT 1 FROM ps_oplog o WHERE o.row_type = ?1 AND o.row_id = u.row_id)`
	pscope := ""
	if prio != nil {
		pscope = " AND priority <= ?2"
	}
	for _, typ := range types {
		targs := []any{typ}
		if prio != nil {
			targs = append(targs, *prio)
		}
		var put, del string
		if t, ok := db.schema.table(typ); ok && !t.LocalOnly && !t.InsertOnly {
			data := quoteIdent(dataTable(typ))
			put = fmt.Sprintf(`INSERT OR REPLACE INTO %s (id, data) SELECT u.row_id, %s FROM (%s%s) u WHERE NOT %s`, data, latest, touched, pscope, gone)
			del = fmt.Sprintf(`DELETE FROM %s WHERE id IN (SELECT u.row_id FROM (%s%s) u WHERE %s)`, data, touched, pscope, gone)
		} else if !ok {
			put = fmt.Sprintf(`INSERT OR REPLACE INTO ps_untyped (type, id, data) SELECT ?1, u.row_id, %s FROM (%s%s) u WHERE NOT %s`, latest, touched, pscope, gone)
			del = fmt.Sprintf(`DELETE FROM ps_untyped WHERE type = ?1 AND id IN (SELECT u.row_id FROM (%s%s) u WHERE %s)`, touched, pscope, gone)
		} else {
			continue // local-only and insert-only tables keep no synced rows
		}
		if _, err := tx.ExecContext(ctx, put, targs...); err != nil {
			return fmt.Errorf("apply %s: %w", typ, err)
		}
		if _, err := tx.ExecContext(ctx, del, targs...); err != nil {
			return fmt.Errorf("apply %s: %w", typ, err)
		}
	}
	if prio == nil {
		_, err = tx.ExecContext(ctx, `DELETE FROM ps_updated_rows`)
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM ps_updated_rows WHERE priority <= ?`, *prio)
	}
	if err != nil {
		return err
	}
	upd, err := tx.PrepareContext(ctx, `UPDATE ps_buckets SET last_applied_op = last_op, count_at_last = ?, count_since_last = 0 WHERE name = ?`)
	if err != nil {
		return err
	}
	defer upd.Close()
	for _, b := range cp.inScope(prio) {
		if _, err := upd.ExecContext(ctx, b.Count, b.Bucket); err != nil {
			return err
		}
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if prio != nil {
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO ps_sync_state (priority, last_synced_at) VALUES (?, ?)`, *prio, now)
		return err
	}
	// A full sync completes every priority.
	for _, p := range []int{0, 1, 2, 3, maxPriorityMarker} {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO ps_sync_state (priority, last_synced_at) VALUES (?, ?)`, p, now); err != nil {
			return err
		}
	}
	return nil
}

// maxPriorityMarker is the ps_sync_state priority recorded for a full sync.
const maxPriorityMarker = 2147483647
