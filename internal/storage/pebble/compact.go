package pebble

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/powersync-go/powersync/internal/storage"
)

// compactRowsMax bounds the rows remembered per bucket while looking
// for superseded ops (about 40 bytes each); rows past it are not
// compacted in this run, which only loses some compaction.
const compactRowsMax = 2 << 20

// Compact rewrites superseded ops of the version's buckets, up to its
// current checkpoint, to MOVE and folds each bucket's leading run of
// MOVE/REMOVE/CLEAR ops into one CLEAR (service.md §4). Both keep every
// bucket checksum: MOVE keeps the op's checksum, CLEAR carries the sum of
// the ops it replaces. Each rewrite is one atomic write, so a reader or a
// crash sees the bucket before or after it, never half of it; ops above the
// checkpoint (an open batch) are not touched.
func (bs *bucketStorage) Compact(ctx context.Context, opts storage.CompactOptions) (storage.CompactStats, error) {
	start := time.Now()
	s := bs.s
	done, err := s.enter()
	if err != nil {
		return storage.CompactStats{}, err
	}
	defer done()
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	v, err := s.version(bs.vid)
	if err != nil {
		return storage.CompactStats{}, err
	}
	opts = opts.WithDefaults()
	limit := v.CheckpointOp
	var stats storage.CompactStats
	buckets := opts.Buckets
	if len(buckets) == 0 {
		buckets, err = bs.bucketNames(ctx)
		if err != nil {
			return stats, err
		}
	}
	if err := storage.CompactBuckets(ctx, buckets, limit, opts.MoveBatch, bs.moveSuperseded, bs.foldClear, &stats); err != nil {
		return stats, err
	}
	// Write checkpoints are kept per position; the active version's
	// checkpoint position bounds what any connection still asks for.
	if v.served() && v.CheckpointPos > 0 && len(opts.Buckets) == 0 {
		n, err := s.pruneWriteCheckpoints(ctx, storage.Position(v.CheckpointPos))
		if err != nil {
			return stats, fmt.Errorf("prune write checkpoints: %w", err)
		}
		if n > 0 {
			s.log.Debug("pruned write checkpoints", "entries", n)
		}
	}
	stats.Elapsed = time.Since(start)
	s.log.Info("compacted buckets", "version", bs.vid, "buckets", stats.Buckets,
		"moved", stats.Moved, "cleared", stats.Cleared, "elapsed", stats.Elapsed)
	return stats, nil
}

// bucketNames lists the version's buckets, one seek per bucket.
func (bs *bucketStorage) bucketNames(ctx context.Context) ([]string, error) {
	p := versionPrefix(spaceOp, bs.vid)
	it, err := bs.s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []string
	for ok := it.First(); ok; {
		rest := it.Key()[len(p):]
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n {
			return nil, errCorrupt
		}
		name := string(rest[w : w+int(n)])
		out = append(out, name)
		ok = it.SeekGE(bucketEnd(bucketPrefix(spaceOp, bs.vid, name)))
	}
	return out, it.Error()
}

// moveSuperseded scans a bucket newest first and turns every PUT or REMOVE
// of a row that has a newer op into a MOVE targeting the newest op.
func (bs *bucketStorage) moveSuperseded(ctx context.Context, bucket string, limit int64, batchSize int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	p := bucketPrefix(spaceOp, bs.vid, bucket)
	it, err := bs.s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: p, UpperBound: bucketOpKey(spaceOp, bs.vid, bucket, limit+1)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	seen := map[[identityLen]byte]int64{}
	wb := bs.s.db.NewBatch()
	defer func() { wb.Close() }()
	var moved int64
	pendingN := 0
	var buf []byte
	for ok := it.Last(); ok; ok = it.Prev() {
		h, err := iterOp(it)
		if err != nil {
			return moved, err
		}
		if h.identity == nil {
			continue
		}
		id := [identityLen]byte(h.identity)
		newer, dup := seen[id]
		if !dup {
			if len(seen) < compactRowsMax {
				seen[id] = int64(tailU64(it.Key()))
			}
			continue
		}
		op := int64(tailU64(it.Key()))
		buf = appendBareOp(buf[:0], op, opMove, h.checksum, newer)
		if err := wb.Set(it.Key(), buf, nil); err != nil {
			return moved, err
		}
		moved++
		pendingN++
		if pendingN >= batchSize {
			if err := wb.Commit(pebble.NoSync); err != nil {
				return moved, err
			}
			wb.Close()
			wb = bs.s.db.NewBatch()
			pendingN = 0
		}
	}
	if err := it.Error(); err != nil {
		return moved, err
	}
	if pendingN > 0 {
		if err := wb.Commit(pebble.NoSync); err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// foldClear replaces the bucket's leading run of non-PUT ops by one CLEAR
// with the highest op id of the run, the sum of its checksums and the
// greatest target, batchSize ops per atomic write (a later piece folds the
// CLEAR of the previous one).
func (bs *bucketStorage) foldClear(ctx context.Context, bucket string, limit int64, batchSize int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	p := bucketPrefix(spaceOp, bs.vid, bucket)
	upper := bucketOpKey(spaceOp, bs.vid, bucket, limit+1)
	var removed int64
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		n, sum, target, last, final, err := bs.leadingRun(ctx, p, upper, batchSize)
		if err != nil {
			return removed, err
		}
		if n < 2 {
			return removed, nil
		}
		prevCleared, err := bs.clearedSoFar(ctx, bucket)
		if err != nil {
			return removed, err
		}
		wb := bs.s.db.NewBatch()
		lastKey := bucketOpKey(spaceOp, bs.vid, bucket, last)
		err = wb.DeleteRange(p, lastKey, nil)
		if err == nil {
			err = wb.Set(lastKey, appendBareOp(nil, last, opClear, sum, target), nil)
		}
		if err == nil {
			// The count of ops removed so far, for Checksums' counts.
			err = wb.Set(recordKey(spaceCleared, bs.vid, bucket, last), appendU64(nil, uint64(prevCleared+int64(n-1))), nil)
		}
		if err == nil {
			err = wb.Commit(pebble.NoSync)
		}
		wb.Close()
		if err != nil {
			return removed, err
		}
		removed += int64(n - 1)
		if final {
			return removed, nil
		}
	}
}

// clearedSoFar returns how many ops of the bucket CLEARs have removed.
func (bs *bucketStorage) clearedSoFar(ctx context.Context, bucket string) (int64, error) {
	it, err := bs.s.db.NewIterWithContext(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer it.Close()
	v, ok, err := recordAsOf(it, spaceCleared, bs.vid, bucket, math.MaxInt64)
	if err != nil || !ok || len(v) != 8 {
		return 0, err
	}
	return int64(tailU64(v)), nil
}

// iterOp decodes the op the iterator is positioned at.
func iterOp(it *pebble.Iterator) (opHeader, error) {
	v, err := it.ValueAndErr()
	if err != nil {
		return opHeader{}, err
	}
	return decodeOp(v)
}

// leadingRun reads up to max ops of the bucket's leading non-PUT run.
func (bs *bucketStorage) leadingRun(ctx context.Context, lower, upper []byte, limit int) (n int, sum uint32, target, last int64, final bool, err error) {
	it, err := bs.s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, 0, 0, 0, false, err
	}
	defer it.Close()
	ok := it.First()
	for ; ok && n < limit; ok = it.Next() {
		h, err := iterOp(it)
		if err != nil {
			return 0, 0, 0, 0, false, err
		}
		if h.kind == opPut {
			return n, sum, target, last, true, nil
		}
		n++
		sum += h.checksum
		target = max(target, h.target)
		last = int64(tailU64(it.Key()))
	}
	if err := it.Error(); err != nil {
		return 0, 0, 0, 0, false, err
	}
	if ok {
		// Stopped at the piece size: peek whether the run goes on.
		h, err := iterOp(it)
		if err != nil {
			return 0, 0, 0, 0, false, err
		}
		return n, sum, target, last, h.kind == opPut, nil
	}
	return n, sum, target, last, true, nil
}
