package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/powersync-go/powersync/internal/storage"
)

// bucketStorage reads and writes one version.
type bucketStorage struct {
	s   *Storage
	vid int64
}

var _ storage.BucketStorage = (*bucketStorage)(nil)

// Version returns the version record.
func (bs *bucketStorage) Version(ctx context.Context) (storage.Version, error) {
	if err := bs.s.checkOpen(); err != nil {
		return storage.Version{}, err
	}
	v, err := bs.s.version(ctx, bs.s.pool, bs.vid, false)
	if err != nil {
		return storage.Version{}, err
	}
	return v.Version, nil
}

// NewBatch starts the version's write batch.
func (bs *bucketStorage) NewBatch(ctx context.Context) (storage.Batch, error) {
	if err := bs.s.checkOpen(); err != nil {
		return nil, err
	}
	// Not `return bs.s.newBatch(…)`: a nil *batch would be a non-nil
	// storage.Batch.
	b, err := bs.s.newBatch(ctx, bs.vid)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// SnapshotProgress returns the snapshot state of every table that has one.
func (bs *bucketStorage) SnapshotProgress(ctx context.Context) (map[string]storage.TableSnapshot, error) {
	if err := bs.s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := bs.s.pool.Query(ctx, `SELECT source_table, cursor, done FROM powersync.snapshot_progress WHERE version = $1`, bs.vid)
	if err != nil {
		return nil, fmt.Errorf("snapshot progress: %w", err)
	}
	defer rows.Close()
	var out map[string]storage.TableSnapshot
	for rows.Next() {
		var table string
		var st storage.TableSnapshot
		if err := rows.Scan(&table, &st.Cursor, &st.Done); err != nil {
			return nil, fmt.Errorf("snapshot progress: %w", err)
		}
		if len(st.Cursor) == 0 {
			st.Cursor = nil
		}
		if out == nil {
			out = map[string]storage.TableSnapshot{}
		}
		out[table] = st
	}
	return out, rows.Err()
}

// Checksums reads each bucket's running totals as of cp: per bucket the
// last totals row at or before cp.OpID, in one query.
func (bs *bucketStorage) Checksums(ctx context.Context, cp storage.Checkpoint, buckets []string) ([]storage.BucketChecksum, error) {
	if err := bs.s.checkOpen(); err != nil {
		return nil, err
	}
	out := make([]storage.BucketChecksum, len(buckets))
	for i, b := range buckets {
		out[i].Bucket = b
	}
	if cp.OpID <= 0 || len(buckets) == 0 {
		return out, nil
	}
	rows, err := bs.s.pool.Query(ctx, `
		SELECT b.i, t.checksum, t.count
		FROM unnest($2::text[]) WITH ORDINALITY AS b(name, i)
		CROSS JOIN LATERAL (
			SELECT checksum, count FROM powersync.bucket_totals
			WHERE version = $1 AND bucket = b.name AND op_id <= $3
			ORDER BY op_id DESC LIMIT 1) t`, bs.vid, buckets, cp.OpID)
	if err != nil {
		return nil, fmt.Errorf("bucket checksums: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i, sum, count int64
		if err := rows.Scan(&i, &sum, &count); err != nil {
			return nil, fmt.Errorf("bucket checksums: %w", err)
		}
		out[i-1].Checksum = uint32(sum)
		out[i-1].Count = count
	}
	return out, rows.Err()
}

// ReadData streams the stored wire JSON of each bucket's ops in
// (After, cp.OpID], a page of at most Limits.Ops+1 rows per query.
func (bs *bucketStorage) ReadData(ctx context.Context, cp storage.Checkpoint, reqs []storage.BucketPosition, lim storage.Limits, fn func(storage.Chunk) error) error {
	if err := bs.s.checkOpen(); err != nil {
		return err
	}
	lim = lim.WithDefaults()
	conn, err := bs.s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("read bucket data: %w", err)
	}
	defer conn.Release()
	var arena []byte
	offs := make([]int, 0, lim.Ops+1)
	ops := make([][]byte, 0, lim.Ops)
	// Small buckets are read together, a group per query; the others (and
	// everything when one bucket is asked for) page by page.
	small, err := bs.prefetchSmall(ctx, conn, cp, reqs)
	if err != nil {
		return err
	}
	emit := func(bucket string, after int64, rows []prow) error {
		for len(rows) > 0 {
			arena = arena[:0]
			offs = offs[:0]
			ops = ops[:0]
			chunk := storage.Chunk{Bucket: bucket, After: after}
			n := 0
			for n < len(rows) && n < lim.Ops && len(arena) < lim.Bytes {
				offs = append(offs, len(arena))
				arena = append(arena, rows[n].wire...)
				chunk.NextAfter = rows[n].op
				chunk.TargetOp = max(chunk.TargetOp, rows[n].target)
				n++
			}
			offs = append(offs, len(arena))
			for i := 0; i+1 < len(offs); i++ {
				ops = append(ops, arena[offs[i]:offs[i+1]:offs[i+1]])
			}
			chunk.Ops = ops
			chunk.HasMore = n < len(rows)
			if err := fn(chunk); err != nil {
				return err
			}
			after, rows = chunk.NextAfter, rows[n:]
		}
		return nil
	}
	for ri, req := range reqs {
		if req.After >= cp.OpID {
			continue
		}
		after := max(req.After, 0)
		if rows, ok := small[ri]; ok {
			if err := emit(req.Bucket, after, rows); err != nil {
				return err
			}
			continue
		}
		for {
			rows, err := conn.Query(ctx, `
				SELECT op_id, target_op, wire FROM powersync.bucket_data
				WHERE version = $1 AND bucket = $2 AND op_id > $3 AND op_id <= $4
				ORDER BY op_id LIMIT $5`, bs.vid, req.Bucket, after, cp.OpID, lim.Ops+1)
			if err != nil {
				return fmt.Errorf("read bucket %q: %w", req.Bucket, err)
			}
			arena = arena[:0]
			offs = offs[:0]
			ops = ops[:0]
			chunk := storage.Chunk{Bucket: req.Bucket, After: after}
			n := 0
			for rows.Next() {
				if n >= lim.Ops || len(arena) >= lim.Bytes {
					chunk.HasMore = true
					break
				}
				var op, target int64
				var wire []byte
				if err := rows.Scan(&op, &target, &wire); err != nil {
					rows.Close()
					return fmt.Errorf("read bucket %q: %w", req.Bucket, err)
				}
				offs = append(offs, len(arena))
				arena = append(arena, wire...)
				chunk.NextAfter = op
				chunk.TargetOp = max(chunk.TargetOp, target)
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read bucket %q: %w", req.Bucket, err)
			}
			if n == 0 {
				break
			}
			offs = append(offs, len(arena))
			for i := 0; i+1 < len(offs); i++ {
				ops = append(ops, arena[offs[i]:offs[i+1]:offs[i+1]])
			}
			chunk.Ops = ops
			if err := fn(chunk); err != nil {
				return err
			}
			if !chunk.HasMore {
				break
			}
			after = chunk.NextAfter
		}
	}
	return nil
}

// prow is one op read from bucket_data.
type prow struct {
	op, target int64
	wire       []byte
}

// Prefetch of small buckets: up to smallGroup buckets per query, each read
// up to smallCap ops; a bucket with more is read page by page instead.
const (
	smallGroup = 100
	smallCap   = 100
)

// prefetchSmall reads every requested bucket with at most smallCap ops after
// its position, smallGroup buckets per query, keyed by index in reqs.
func (bs *bucketStorage) prefetchSmall(ctx context.Context, conn *pgxpool.Conn, cp storage.Checkpoint, reqs []storage.BucketPosition) (map[int][]prow, error) {
	if len(reqs) < 2 {
		return nil, nil
	}
	out := map[int][]prow{}
	for start := 0; start < len(reqs); start += smallGroup {
		end := min(start+smallGroup, len(reqs))
		var names []string
		var afters []int64
		var idx []int
		for i := start; i < end; i++ {
			if reqs[i].After >= cp.OpID {
				continue
			}
			names = append(names, reqs[i].Bucket)
			afters = append(afters, max(reqs[i].After, 0))
			idx = append(idx, i)
		}
		if len(names) == 0 {
			continue
		}
		rows, err := conn.Query(ctx, `
			SELECT b.i, d.op_id, d.target_op, d.wire
			FROM unnest($2::text[], $3::int8[]) WITH ORDINALITY AS b(name, after, i)
			CROSS JOIN LATERAL (
				SELECT op_id, target_op, wire FROM powersync.bucket_data
				WHERE version = $1 AND bucket = b.name AND op_id > b.after AND op_id <= $4
				ORDER BY op_id LIMIT $5) d
			ORDER BY b.i, d.op_id`, bs.vid, names, afters, cp.OpID, smallCap+1)
		if err != nil {
			return nil, fmt.Errorf("read buckets: %w", err)
		}
		got := make([][]prow, len(names))
		for rows.Next() {
			var i int64
			var r prow
			if err := rows.Scan(&i, &r.op, &r.target, &r.wire); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read buckets: %w", err)
			}
			got[i-1] = append(got[i-1], r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read buckets: %w", err)
		}
		for k, g := range got {
			if len(g) <= smallCap {
				out[idx[k]] = g
			}
		}
	}
	return out, nil
}

// Lookup reads the lookup index as of cp: per key and source row the
// newest entry with op id ≤ cp.OpID, tombstones dropped.
func (bs *bucketStorage) Lookup(ctx context.Context, cp storage.Checkpoint, keys [][]byte) ([][][]byte, error) {
	if err := bs.s.checkOpen(); err != nil {
		return nil, err
	}
	out := make([][][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := bs.s.pool.Query(ctx, `
		SELECT k.i, e.result
		FROM unnest($2::bytea[]) WITH ORDINALITY AS k(key, i)
		CROSS JOIN LATERAL (
			SELECT DISTINCT ON (source_row) source_row, result FROM powersync.lookups
			WHERE version = $1 AND key = k.key AND op_id <= $3
			ORDER BY source_row, op_id DESC) e
		ORDER BY k.i, e.source_row`, bs.vid, keys, cp.OpID)
	if err != nil {
		return nil, fmt.Errorf("lookup: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var result []byte
		if err := rows.Scan(&i, &result); err != nil {
			return nil, fmt.Errorf("lookup: %w", err)
		}
		if len(result) > 0 {
			out[i-1] = append(out[i-1], result)
		}
	}
	return out, rows.Err()
}

// Changes reports what changed between two checkpoints of this version,
// from the entries commits record (All when they do not reach back to
// from).
func (bs *bucketStorage) Changes(ctx context.Context, from, to storage.Checkpoint) (storage.Changes, error) {
	if err := bs.s.checkOpen(); err != nil {
		return storage.Changes{}, err
	}
	if from.OpID == to.OpID && from.Position == to.Position {
		return storage.Changes{}, nil
	}
	if from.OpID > to.OpID {
		return storage.Changes{All: true}, nil
	}
	rows, err := bs.s.pool.Query(ctx, `
		SELECT prev_op, prev_pos, op, pos, all_changed, buckets, lookups FROM powersync.checkpoint_changes
		WHERE version = $1 AND op >= $2 AND op <= $3 ORDER BY seq`, bs.vid, from.OpID, to.OpID)
	if err != nil {
		return storage.Changes{}, fmt.Errorf("checkpoint changes: %w", err)
	}
	defer rows.Close()
	buckets := map[string]struct{}{}
	lookups := map[string]struct{}{}
	started := false
	for rows.Next() {
		var prevOp, prevPos, op, pos int64
		var all bool
		var bl []string
		var ll [][]byte
		if err := rows.Scan(&prevOp, &prevPos, &op, &pos, &all, &bl, &ll); err != nil {
			return storage.Changes{}, fmt.Errorf("checkpoint changes: %w", err)
		}
		if !started {
			if prevOp != from.OpID || storage.Position(uint64(prevPos)) != from.Position {
				continue
			}
			started = true
		}
		if all {
			return storage.Changes{All: true}, nil
		}
		for _, b := range bl {
			buckets[b] = struct{}{}
		}
		for _, l := range ll {
			lookups[string(l)] = struct{}{}
		}
		if op == to.OpID && storage.Position(uint64(pos)) == to.Position {
			return storage.SortedChanges(buckets, lookups), nil
		}
	}
	if err := rows.Err(); err != nil {
		return storage.Changes{}, err
	}
	return storage.Changes{All: true}, nil
}

var _ = pgx.ErrNoRows
