package pebble

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

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
	v, err := bs.s.version(bs.vid)
	if err != nil {
		return storage.Version{}, err
	}
	return v.public(), nil
}

// NewBatch starts the version's write batch.
func (bs *bucketStorage) NewBatch(ctx context.Context) (storage.Batch, error) {
	// Not `return bs.s.newBatch(…)`: a nil *batch would be a non-nil
	// storage.Batch.
	b, err := bs.s.newBatch(bs.vid)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// SnapshotProgress returns the snapshot state of every table that has one.
func (bs *bucketStorage) SnapshotProgress(ctx context.Context) (map[string]storage.TableSnapshot, error) {
	done, err := bs.s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	p := versionPrefix(spaceSnapshot, bs.vid)
	it, err := bs.s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out map[string]storage.TableSnapshot
	for ok := it.First(); ok; ok = it.Next() {
		r := storage.PartReader{B: it.Value()}
		cursor := r.Part()
		if r.Bad || len(r.B) != 1 {
			return nil, fmt.Errorf("snapshot progress: %w", errCorrupt)
		}
		if out == nil {
			out = map[string]storage.TableSnapshot{}
		}
		st := storage.TableSnapshot{Done: r.B[0] == 1}
		if len(cursor) > 0 {
			st.Cursor = bytes.Clone(cursor)
		}
		out[string(it.Key()[len(p):])] = st
	}
	return out, it.Error()
}

// Checksums reads each bucket's running totals as of cp: one seek per
// bucket to the last totals record at or before cp.OpID.
func (bs *bucketStorage) Checksums(ctx context.Context, cp storage.Checkpoint, buckets []string) ([]storage.BucketChecksum, error) {
	done, err := bs.s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	it, err := bs.s.db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := make([]storage.BucketChecksum, len(buckets))
	for i, b := range buckets {
		out[i].Bucket = b
		if cp.OpID <= 0 {
			continue
		}
		v, ok, err := recordAsOf(it, spaceTotals, bs.vid, b, cp.OpID)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if out[i].Checksum, out[i].Count, err = decodeTotals(v); err != nil {
			return nil, fmt.Errorf("checksum of bucket %q: %w", b, err)
		}
		// Ops folded into CLEARs at or before cp no longer count.
		v, ok, err = recordAsOf(it, spaceCleared, bs.vid, b, cp.OpID)
		if err != nil {
			return nil, err
		}
		if ok && len(v) == 8 {
			out[i].Count -= int64(tailU64(v))
		}
	}
	return out, nil
}

// ReadData streams the stored wire JSON of each bucket's ops in
// (After, cp.OpID], one iterator over contiguous keys per bucket. All
// buckets are read from one consistent view.
func (bs *bucketStorage) ReadData(ctx context.Context, cp storage.Checkpoint, reqs []storage.BucketPosition, lim storage.Limits, fn func(storage.Chunk) error) error {
	done, err := bs.s.enter()
	if err != nil {
		return err
	}
	defer done()
	lim = lim.WithDefaults()
	it, err := bs.s.db.NewIterWithContext(ctx, nil)
	if err != nil {
		return err
	}
	defer it.Close()
	var arena []byte
	offs := make([]int, 0, lim.Ops+1)
	ops := make([][]byte, 0, lim.Ops)
	for _, req := range reqs {
		if req.After >= cp.OpID {
			continue
		}
		after := max(req.After, 0)
		it.SetBounds(bucketOpKey(spaceOp, bs.vid, req.Bucket, after+1), bucketOpKey(spaceOp, bs.vid, req.Bucket, cp.OpID+1))
		valid := it.First()
		for valid {
			if err := ctx.Err(); err != nil {
				return err
			}
			arena = arena[:0]
			offs = offs[:0]
			ops = ops[:0]
			chunk := storage.Chunk{Bucket: req.Bucket, After: after}
			for valid && len(offs) < lim.Ops && len(arena) < lim.Bytes {
				v, err := it.ValueAndErr()
				if err != nil {
					return err
				}
				h, err := decodeOp(v)
				if err != nil {
					return fmt.Errorf("read bucket %q: %w", req.Bucket, err)
				}
				offs = append(offs, len(arena))
				arena = append(arena, h.wire...)
				chunk.NextAfter = int64(tailU64(it.Key()))
				chunk.TargetOp = max(chunk.TargetOp, h.target)
				valid = it.Next()
			}
			if err := it.Error(); err != nil {
				return err
			}
			offs = append(offs, len(arena))
			for i := 0; i+1 < len(offs); i++ {
				ops = append(ops, arena[offs[i]:offs[i+1]:offs[i+1]])
			}
			chunk.Ops = ops
			chunk.HasMore = valid
			if err := fn(chunk); err != nil {
				return err
			}
			after = chunk.NextAfter
		}
		if err := it.Error(); err != nil {
			return err
		}
	}
	return nil
}

// Lookup reads the lookup index as of cp: per key and source row the
// newest entry with op id ≤ cp.OpID, empty results (tombstones) dropped.
func (bs *bucketStorage) Lookup(ctx context.Context, cp storage.Checkpoint, keys [][]byte) ([][][]byte, error) {
	done, err := bs.s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	it, err := bs.s.db.NewIterWithContext(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := make([][][]byte, len(keys))
	asOf := ^uint64(max(cp.OpID, 0))
	for i, key := range keys {
		p := lookupPrefix(bs.vid, key)
		it.SetBounds(p, prefixEnd(p))
		// Per source row: seek to its newest entry at or before cp, then
		// to the next row. Two seeks per row, however many old entries.
		for ok := it.First(); ok; {
			rp, valid := lookupRowPrefix(it.Key(), len(p))
			if !valid {
				return nil, fmt.Errorf("lookup: %w", errCorrupt)
			}
			rp = bytes.Clone(rp)
			if it.SeekGE(appendU64(bytes.Clone(rp), asOf)) {
				k := it.Key()
				if len(k) == len(rp)+8 && bytes.HasPrefix(k, rp) {
					v, err := it.ValueAndErr()
					if err != nil {
						return nil, err
					}
					if len(v) > 0 {
						out[i] = append(out[i], bytes.Clone(v))
					}
				}
			}
			ok = it.SeekGE(prefixEnd(rp))
		}
		if err := it.Error(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Changes reports what changed between two checkpoints, from memory.
func (bs *bucketStorage) Changes(ctx context.Context, from, to storage.Checkpoint) (storage.Changes, error) {
	s := bs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.Changes{}, storage.ErrClosed
	}
	cl := s.changes[bs.vid]
	if cl == nil {
		if sameCheckpoint(from, to) {
			return storage.Changes{}, nil
		}
		return storage.Changes{All: true}, nil
	}
	return cl.between(from, to), nil
}
