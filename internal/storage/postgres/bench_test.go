package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/storage"
)

var commitEvery = 1 << 30

// BenchmarkBatchSave writes b.N rows of ≈350 bytes into one bucket per
// owner in batches of 10,000 rows per commit, like a replicated snapshot.
func BenchmarkBatchSave(b *testing.B) {
	ctx := context.Background()
	_, batch := openBatch(b, "bench")
	pad := fmt.Sprintf("%0300d", 0)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprint(i)
		owner := fmt.Sprintf("u%d", i%5)
		err := batch.Save(ctx, storage.RowUpdate{Table: "public.todos", Key: []byte(id),
			Buckets: []storage.BucketRow{{Bucket: "1#by_owner[\"" + owner + "\"]", Table: "todos", ID: id,
				Data: []byte(`{"id":"` + id + `","owner_id":"` + owner + `","description":"` + pad + `"}`)}}})
		if err != nil {
			b.Fatal(err)
		}
		if i%commitEvery == commitEvery-1 {
			if _, err := batch.Commit(ctx, storage.CommitOptions{Position: storage.Position(i)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := batch.Commit(ctx, storage.CommitOptions{Position: storage.Position(b.N)}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkReadData reads a bucket of 100,000 ops of ≈350 bytes as one
// client's initial download does (chunks of 1,000 ops).
func BenchmarkReadData(b *testing.B) {
	ctx := context.Background()
	bs, batch := openBatch(b, "bench")
	pad := fmt.Sprintf("%0300d", 0)
	const n = 100000
	for i := 0; i < n; i++ {
		id := fmt.Sprint(i)
		err := batch.Save(ctx, storage.RowUpdate{Table: "public.todos", Key: []byte(id),
			Buckets: []storage.BucketRow{{Bucket: `1#by_owner["u1"]`, Table: "todos", ID: id,
				Data: []byte(`{"id":"` + id + `","owner_id":"u1","description":"` + pad + `"}`)}}})
		if err != nil {
			b.Fatal(err)
		}
	}
	cp, err := batch.Commit(ctx, storage.CommitOptions{Position: 1, Checkpoint: true, SnapshotDone: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	var ops, bytes int64
	for i := 0; i < b.N; i++ {
		err := bs.ReadData(ctx, cp, []storage.BucketPosition{{Bucket: `1#by_owner["u1"]`}}, storage.Limits{}, func(c storage.Chunk) error {
			ops += int64(len(c.Ops))
			for _, op := range c.Ops {
				bytes += int64(len(op))
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if ops != int64(b.N)*n {
		b.Fatalf("read %d ops, want %d", ops, b.N*n)
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(ops)/el, "ops/s")
	b.ReportMetric(float64(bytes)/el/1e6, "MB/s")
}
