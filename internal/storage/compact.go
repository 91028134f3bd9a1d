package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// CompactActive compacts the buckets of the active version (the one served
// to clients). With no active version there is nothing to do.
func CompactActive(ctx context.Context, s Storage, opts CompactOptions) (CompactStats, error) {
	v, err := s.Active(ctx)
	if errors.Is(err, ErrNotFound) {
		return CompactStats{}, nil
	}
	if err != nil {
		return CompactStats{}, fmt.Errorf("compact: %w", err)
	}
	stats, err := s.Bucket(v.ID).Compact(ctx, opts)
	if err != nil {
		return stats, fmt.Errorf("compact version %d: %w", v.ID, err)
	}
	return stats, nil
}

// CompactBuckets is a backend's compaction loop: for each bucket in turn,
// up to op id limit and batch ops per write, move turns superseded ops into
// MOVEs, then fold folds the bucket's leading run of non-PUT ops into one
// CLEAR. What was done is added to stats; it stops at the first error or
// when ctx is done.
func CompactBuckets(ctx context.Context, buckets []string, limit int64, batch int,
	move, fold func(ctx context.Context, bucket string, limit int64, batch int) (int64, error), stats *CompactStats) error {
	for _, b := range buckets {
		if err := ctx.Err(); err != nil {
			return err
		}
		moved, err := move(ctx, b, limit, batch)
		if err != nil {
			return fmt.Errorf("compact bucket %q: %w", b, err)
		}
		cleared, err := fold(ctx, b, limit, batch)
		if err != nil {
			return fmt.Errorf("compact bucket %q: %w", b, err)
		}
		stats.Buckets++
		stats.Moved += moved
		stats.Cleared += cleared
	}
	return nil
}

// CompactEvery compacts the active version every interval until ctx is
// done, the way the reference's daily compact job does. It runs in the
// caller's goroutine; a failed run is logged and retried at the next tick.
func CompactEvery(ctx context.Context, s Storage, interval time.Duration, opts CompactOptions, log *slog.Logger) {
	if interval <= 0 {
		return
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "compactor")
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stats, err := CompactActive(ctx, s, opts)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("scheduled compaction failed", "err", err, "next_in", interval)
			continue
		}
		log.Info("scheduled compaction", "buckets", stats.Buckets, "moved", stats.Moved,
			"cleared", stats.Cleared, "elapsed", stats.Elapsed)
	}
}
