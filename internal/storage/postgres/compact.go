package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/storage"
)

// compactRowsMax bounds the rows remembered per bucket while looking
// for superseded ops; rows past it are not compacted in this run.
const compactRowsMax = 2 << 20

// Compact rewrites superseded ops of the version's buckets, up to its
// current checkpoint, to MOVE and folds each bucket's leading run of
// MOVE/REMOVE/CLEAR ops into one CLEAR (service.md §4), keeping every
// bucket checksum. Each rewrite is one transaction; ops above the
// checkpoint are not touched.
func (bs *bucketStorage) Compact(ctx context.Context, opts storage.CompactOptions) (storage.CompactStats, error) {
	start := time.Now()
	if err := bs.s.checkOpen(); err != nil {
		return storage.CompactStats{}, err
	}
	v, err := bs.s.version(ctx, bs.s.pool, bs.vid, false)
	if err != nil {
		return storage.CompactStats{}, err
	}
	opts = opts.WithDefaults()
	limit := v.Checkpoint.OpID
	var stats storage.CompactStats
	buckets := opts.Buckets
	if len(buckets) == 0 {
		rows, err := bs.s.pool.Query(ctx, `SELECT DISTINCT bucket FROM powersync.bucket_data WHERE version = $1 ORDER BY bucket`, bs.vid)
		if err != nil {
			return stats, fmt.Errorf("compact: list buckets: %w", err)
		}
		buckets, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return stats, fmt.Errorf("compact: list buckets: %w", err)
		}
	}
	if err := storage.CompactBuckets(ctx, buckets, limit, opts.MoveBatch, bs.moveSuperseded, bs.foldClear, &stats); err != nil {
		return stats, err
	}
	stats.Elapsed = time.Since(start)
	bs.s.log.Info("compacted buckets", "version", bs.vid, "buckets", stats.Buckets,
		"moved", stats.Moved, "cleared", stats.Cleared, "elapsed", stats.Elapsed)
	return stats, nil
}

// moveSuperseded scans a bucket newest first and turns every PUT or REMOVE
// of a row that has a newer op into a MOVE targeting the newest op.
func (bs *bucketStorage) moveSuperseded(ctx context.Context, bucket string, limit int64, batchSize int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	rows, err := bs.s.pool.Query(ctx, `
		SELECT op_id, checksum, identity FROM powersync.bucket_data
		WHERE version = $1 AND bucket = $2 AND op_id <= $3 AND kind IN (1, 2)
		ORDER BY op_id DESC`, bs.vid, bucket, limit)
	if err != nil {
		return 0, err
	}
	seen := map[string]int64{}
	var ops, targets []int64
	var wires [][]byte
	for rows.Next() {
		var op, sum int64
		var identity []byte
		if err := rows.Scan(&op, &sum, &identity); err != nil {
			rows.Close()
			return 0, err
		}
		newer, dup := seen[string(identity)]
		if !dup {
			if len(seen) < compactRowsMax {
				seen[string(identity)] = op
			}
			continue
		}
		ops = append(ops, op)
		targets = append(targets, newer)
		wires = append(wires, storage.AppendBareOpJSON(nil, op, storage.OpMove, uint32(sum)))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for i := 0; i < len(ops); i += batchSize {
		j := min(i+batchSize, len(ops))
		_, err := bs.s.pool.Exec(ctx, `
			UPDATE powersync.bucket_data d SET kind = 3, target_op = m.target, identity = NULL, wire = m.wire
			FROM unnest($3::int8[], $4::int8[], $5::bytea[]) AS m(op, target, wire)
			WHERE d.version = $1 AND d.bucket = $2 AND d.op_id = m.op`,
			bs.vid, bucket, ops[i:j], targets[i:j], wires[i:j])
		if err != nil {
			return int64(i), err
		}
	}
	return int64(len(ops)), nil
}

// foldClear replaces the bucket's leading run of non-PUT ops by one CLEAR
// with the highest op id of the run, the sum of its checksums and the
// greatest target, batchSize ops per transaction (a later piece folds the
// CLEAR of the previous one).
func (bs *bucketStorage) foldClear(ctx context.Context, bucket string, limit int64, batchSize int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	var removed int64
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		var n int
		final := false
		err := pgx.BeginFunc(ctx, bs.s.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `
				SELECT op_id, kind, checksum, target_op FROM powersync.bucket_data
				WHERE version = $1 AND bucket = $2 AND op_id <= $3 ORDER BY op_id LIMIT $4`,
				bs.vid, bucket, limit, batchSize+1)
			if err != nil {
				return err
			}
			var sum uint32
			var last, target int64
			n = 0
			final = true
			for rows.Next() {
				var op, cs, t int64
				var kind int16
				if err := rows.Scan(&op, &kind, &cs, &t); err != nil {
					rows.Close()
					return err
				}
				if kind == opPut {
					break
				}
				if n == batchSize {
					final = false
					break
				}
				n++
				sum += uint32(cs)
				last = op
				target = max(target, t)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if n < 2 {
				return nil
			}
			if _, err := tx.Exec(ctx, `DELETE FROM powersync.bucket_data
				WHERE version = $1 AND bucket = $2 AND op_id < $3`, bs.vid, bucket, last); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE powersync.bucket_data SET kind = 4, checksum = $4, target_op = $5, identity = NULL, wire = $6
				WHERE version = $1 AND bucket = $2 AND op_id = $3`,
				bs.vid, bucket, last, int64(sum), target, storage.AppendBareOpJSON(nil, last, storage.OpClear, sum))
			return err
		})
		if err != nil {
			return removed, err
		}
		if n < 2 {
			return removed, nil
		}
		removed += int64(n - 1)
		if final {
			return removed, nil
		}
	}
}
