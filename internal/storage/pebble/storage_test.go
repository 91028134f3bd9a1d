package pebble_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	"github.com/powersync-go/powersync/internal/storage/storagetest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		s, err := pebble.Open(t.Context(), pebble.Options{Dir: t.TempDir(), Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceSpilling runs the suite with batches spilling to the
// database every few kilobytes, so every large-batch path goes through
// spill, undo and rollback.
func TestConformanceSpilling(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		s, err := pebble.Open(t.Context(), pebble.Options{Dir: t.TempDir(), Logger: quiet(), SpillBytes: 4 << 10})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestOpenRefuses checks that Open refuses an empty directory and a context
// that is already done, and creates nothing for either.
func TestOpenRefuses(t *testing.T) {
	if _, err := pebble.Open(t.Context(), pebble.Options{Logger: quiet()}); err == nil {
		t.Fatal("Open with no Dir: no error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	dir := filepath.Join(t.TempDir(), "store")
	if _, err := pebble.Open(ctx, pebble.Options{Dir: dir, Logger: quiet()}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Open with a cancelled context created %s (stat: %v)", dir, err)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	s, err := pebble.Open(t.Context(), pebble.Options{Dir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	bs, b := storagetest.DeployBatch(t, s, "c")
	_, ch, err := s.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("Close did not wake watchers")
	}
	checks := map[string]error{}
	_, checks["Versions"] = s.Versions(ctx)
	_, checks["Deploy"] = s.Deploy(ctx, "x")
	_, _, checks["Watch"] = s.Watch(ctx)
	_, checks["Settings.Get"] = s.Settings().Get(ctx, "k")
	_, checks["Checksums"] = bs.Checksums(ctx, storage.Checkpoint{OpID: 1}, []string{"b"})
	checks["Save"] = b.Save(ctx, storage.RowUpdate{Table: "t", Key: []byte("k")})
	_, checks["AcquireLease"] = s.AcquireLease(ctx, "h", time.Second)
	for name, err := range checks {
		if !errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if err := b.Close(); err != nil {
		t.Errorf("batch Close after storage Close: %v", err)
	}
}

func TestCompactPrunesWriteCheckpoints(t *testing.T) {
	ctx := context.Background()
	s, err := pebble.Open(t.Context(), pebble.Options{Dir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	w := s.WriteCheckpoints()
	for _, head := range []storage.Position{10, 20, 30, 40} {
		if _, err := w.Create(ctx, "u", "c", head); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Create(ctx, "other", "c", 5); err != nil {
		t.Fatal(err)
	}
	bs, b := storagetest.DeployBatch(t, s, "c")
	defer b.Close()
	if _, err := b.Commit(ctx, storage.CommitOptions{Position: 25, Checkpoint: true, SnapshotDone: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Compact(ctx, storage.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	// Every position from the active checkpoint on gets the same answer.
	for _, c := range []struct {
		user string
		pos  storage.Position
		want int64
	}{{"u", 25, 2}, {"u", 30, 3}, {"u", 100, 4}, {"other", 25, 1}} {
		got, ok, err := w.At(ctx, c.user, "c", c.pos)
		if err != nil || !ok || got != c.want {
			t.Errorf("At(%s, %d) = %d %v %v; want %d", c.user, c.pos, got, ok, err, c.want)
		}
	}
	// The entry no later position can return is gone.
	if got, ok, _ := w.At(ctx, "u", "c", 15); ok {
		t.Errorf("entry 1 survived pruning: At(15) = %d", got)
	}
	// Counters continue.
	if got, err := w.Create(ctx, "u", "c", 50); err != nil || got != 5 {
		t.Fatalf("Create after pruning = %d, %v", got, err)
	}
}

// TestCompactCounts: after compaction the count as of the checkpoint is the
// number of ops a client downloads.
func TestCompactCounts(t *testing.T) {
	ctx := context.Background()
	s, err := pebble.Open(t.Context(), pebble.Options{Dir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	bs, b := storagetest.DeployBatch(t, s, "c")
	defer b.Close()
	var cp storage.Checkpoint
	for round := range 3 {
		for i := range 50 {
			u := storage.RowUpdate{Table: "t", Key: []byte{byte(i)}, Buckets: []storage.BucketRow{{Bucket: "b", Table: "t", ID: string(rune('a' + i%26)), Data: []byte{byte('0' + round)}}}}
			if round == 2 && i < 40 {
				u.Buckets = nil // leaves the bucket: REMOVE
			}
			if err := b.Save(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if cp, err = b.Commit(ctx, storage.CommitOptions{Position: storage.Position(round + 1), Checkpoint: true, SnapshotDone: true}); err != nil {
			t.Fatal(err)
		}
	}
	countOps := func() int64 {
		var n int64
		err := bs.ReadData(ctx, cp, []storage.BucketPosition{{Bucket: "b"}}, storage.Limits{Ops: 7}, func(c storage.Chunk) error {
			n += int64(len(c.Ops))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, _ := bs.Checksums(ctx, cp, []string{"b"})
	if before[0].Count != 150 || countOps() != 150 {
		t.Fatalf("before compaction: count %d, ops %d", before[0].Count, countOps())
	}
	for range 2 { // a second run folds the first CLEAR again
		if _, err := bs.Compact(ctx, storage.CompactOptions{MoveBatch: 9}); err != nil {
			t.Fatal(err)
		}
		after, _ := bs.Checksums(ctx, cp, []string{"b"})
		if n := countOps(); after[0].Count != n || after[0].Checksum != before[0].Checksum || n >= 150 {
			t.Fatalf("after compaction: %+v, %d ops read (before %+v)", after[0], n, before[0])
		}
	}
}
