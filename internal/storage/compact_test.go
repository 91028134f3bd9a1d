package storage_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/logtest"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	"github.com/powersync-go/powersync/internal/storage/storagetest"
)

func TestCompactActive(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := pebble.Open(t.Context(), pebble.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if stats, err := storage.CompactActive(ctx, s, storage.CompactOptions{}); err != nil || stats.Buckets != 0 {
		t.Fatalf("CompactActive without an active version = %+v, %v", stats, err)
	}
	bs, b := storagetest.DeployBatch(t, s, "c")
	defer b.Close()
	for i := range 10 {
		u := storage.RowUpdate{Table: "t", Key: []byte("k"), Buckets: []storage.BucketRow{{Bucket: "b", Table: "t", ID: "k", Data: []byte{'0' + byte(i)}}}}
		if err := b.Save(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := b.Commit(ctx, storage.CommitOptions{Position: 1, Checkpoint: true, SnapshotDone: true})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		err := bs.ReadData(ctx, cp, []storage.BucketPosition{{Bucket: "b"}}, storage.Limits{}, func(c storage.Chunk) error {
			n += len(c.Ops)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 10 {
		t.Fatalf("ops before compaction = %d", n)
	}

	// The scheduled runner compacts, and stops when its context ends.
	// Its log record of a finished run is the event to wait for.
	logs := logtest.NewRecorder()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		storage.CompactEvery(runCtx, s, time.Millisecond, storage.CompactOptions{}, logs.Logger())
	}()
	if r := logs.Wait(t, "", 20*time.Second); r.Message != "scheduled compaction" {
		t.Fatalf("first compactor record: %s", r.Message)
	}
	cancel()
	<-done
	if n := count(); n != 2 {
		t.Fatalf("ops after scheduled compaction = %d, want CLEAR + PUT", n)
	}
	stats, err := storage.CompactActive(ctx, s, storage.CompactOptions{})
	if err != nil || stats.Buckets != 1 || stats.Moved != 0 {
		t.Fatalf("second compaction = %+v, %v", stats, err)
	}
}
