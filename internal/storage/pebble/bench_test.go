package pebble_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	"github.com/powersync-go/powersync/internal/storage/storagetest"
)

// Benchmarks of the Pebble bucket storage; figures go to docs/benchmarks.md.
//
//	go test ./internal/storage/pebble -run '^$' -bench . -benchtime 200000x
//
// POWERSYNC_BENCH_READ_OPS sets the size of the bucket read by
// BenchmarkReadBucket (default 1,000,000).

func benchStorage(b *testing.B) (*pebble.Storage, storage.BucketStorage) {
	b.Helper()
	ctx := context.Background()
	s, err := pebble.Open(b.Context(), pebble.Options{Dir: b.TempDir(), Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(ctx) })
	bs, bt := storagetest.DeployBatch(b, s, "bench")
	defer bt.Close()
	if _, err := bt.Commit(ctx, storage.CommitOptions{Position: 1, Checkpoint: true, SnapshotDone: true}); err != nil {
		b.Fatal(err)
	}
	return s, bs
}

// rowData is a JSON row of about size bytes.
func rowData(id string, size int) []byte {
	pad := max(size-len(id)-30, 0)
	return []byte(`{"id":"` + id + `","description":"` + strings.Repeat("d", pad) + `"}`)
}

// writeRows saves n rows of size bytes, bucket(i) naming each row's
// bucket, committing every txRows rows.
func writeRows(b *testing.B, bs storage.BucketStorage, n, size, txRows int, bucket func(int) string, pos *storage.Position) {
	b.Helper()
	writeRowsNew(b, bs, n, size, txRows, bucket, pos, false)
}

// writeRowsNew is writeRows with RowUpdate.New set to fresh.
func writeRowsNew(b *testing.B, bs storage.BucketStorage, n, size, txRows int, bucket func(int) string, pos *storage.Position, fresh bool) {
	b.Helper()
	ctx := context.Background()
	bt, err := bs.NewBatch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer bt.Close()
	for i := range n {
		id := "row" + strconv.Itoa(i)
		u := storage.RowUpdate{Table: "todos", Key: []byte(id), New: fresh, Buckets: []storage.BucketRow{{
			Bucket: bucket(i), Table: "todos", ID: id, Data: rowData(id, size),
		}}}
		if err := bt.Save(ctx, u); err != nil {
			b.Fatal(err)
		}
		if (i+1)%txRows == 0 || i == n-1 {
			*pos++
			if _, err := bt.Commit(ctx, storage.CommitOptions{Position: *pos, Checkpoint: true}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchWrite(b *testing.B, bucket func(int) string) {
	s, bs := benchStorage(b)
	pos := storage.Position(1)
	b.SetBytes(1024)
	b.ResetTimer()
	writeRows(b, bs, b.N, 1024, 10000, bucket, &pos)
	reportWrite(b, s)
}

// reportWrite stops the timer and reports the write rate and the disk
// bytes per op after a flush.
func reportWrite(b *testing.B, s *pebble.Storage) {
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	if du, err := s.DiskUsage(); err == nil {
		b.ReportMetric(float64(du)/float64(b.N), "disk-B/op")
	}
}

// BenchmarkWriteOneBucket: 1 KB rows into one bucket, 10,000 rows per commit.
func BenchmarkWriteOneBucket(b *testing.B) {
	benchWrite(b, func(int) string { return `1#global[]` })
}

// BenchmarkWritePerUserBuckets: 1 KB rows spread over 1,000 per-user buckets.
func BenchmarkWritePerUserBuckets(b *testing.B) {
	benchWrite(b, func(i int) string { return fmt.Sprintf(`1#by_user["u%d"]`, i%1000) })
}

// BenchmarkWriteSmallTransactions: one 1 KB row per commit (each commit
// synced), the steady-state replication case.
func BenchmarkWriteSmallTransactions(b *testing.B) {
	_, bs := benchStorage(b)
	pos := storage.Position(1)
	b.ResetTimer()
	writeRows(b, bs, b.N, 1024, 1, func(int) string { return "b" }, &pos)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkReadBucket reads a whole bucket of POWERSYNC_BENCH_READ_OPS ops
// (≈350-byte ops, like the reference measurement) in 1,000-op chunks; one
// iteration is one full read.
func BenchmarkReadBucket(b *testing.B) {
	n := 1000000
	if v := os.Getenv("POWERSYNC_BENCH_READ_OPS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("POWERSYNC_BENCH_READ_OPS: %v", err)
		}
	}
	_, bs := benchStorage(b)
	pos := storage.Position(1)
	writeRows(b, bs, n, 250, 50000, func(int) string { return "1#by_user[\"u1\"]" }, &pos)
	v, err := bs.Version(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	cp := v.Checkpoint
	ctx := context.Background()
	b.ResetTimer()
	var bytes, ops int64
	for range b.N {
		err := bs.ReadData(ctx, cp, []storage.BucketPosition{{Bucket: "1#by_user[\"u1\"]"}}, storage.Limits{Ops: 1000}, func(c storage.Chunk) error {
			for _, op := range c.Ops {
				bytes += int64(len(op))
			}
			ops += int64(len(c.Ops))
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if ops != int64(n)*int64(b.N) {
		b.Fatalf("read %d ops, want %d", ops, n*b.N)
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(ops)/sec, "ops/s")
	b.ReportMetric(float64(bytes)/sec/1e6, "MB/s")
	b.ReportMetric(float64(bytes)/float64(ops), "B/op-wire")
}

// BenchmarkChecksumAsOf: checksums of 100 per-user buckets as of an old
// checkpoint after 100 later commits touched them.
func BenchmarkChecksumAsOf(b *testing.B) {
	_, bs := benchStorage(b)
	pos := storage.Position(1)
	bucket := func(i int) string { return fmt.Sprintf(`1#by_user["u%d"]`, i%100) }
	writeRows(b, bs, 10000, 100, 100, bucket, &pos)
	old, _ := bs.Version(context.Background())
	writeRows(b, bs, 10000, 100, 100, bucket, &pos)
	names := make([]string, 100)
	for i := range names {
		names[i] = bucket(i)
	}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		cs, err := bs.Checksums(ctx, old.Checkpoint, names)
		if err != nil {
			b.Fatal(err)
		}
		if cs[0].Count != 100 {
			b.Fatalf("count as of old checkpoint = %d", cs[0].Count)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(names)), "ns/bucket")
}

// BenchmarkWriteSmallRows: ≈100-byte rows into 1,000 per-user buckets,
// 10,000 rows per commit (the replication benchmark's data shape).
func BenchmarkWriteSmallRows(b *testing.B) { benchSmallRows(b, false) }

// BenchmarkWriteSnapshotRows: as WriteSmallRows, rows flagged New (an
// initial snapshot: no current-data lookup).
func BenchmarkWriteSnapshotRows(b *testing.B) { benchSmallRows(b, true) }

func benchSmallRows(b *testing.B, fresh bool) {
	s, bs := benchStorage(b)
	pos := storage.Position(1)
	b.ResetTimer()
	writeRowsNew(b, bs, b.N, 100, 10000, func(i int) string { return fmt.Sprintf(`1#by_user["u%d"]`, i%1000) }, &pos, fresh)
	reportWrite(b, s)
}

// BenchmarkLookupAsOf: one lookup key with 100 source rows, each updated
// 100 times; one iteration reads the key as of the latest checkpoint.
func BenchmarkLookupAsOf(b *testing.B) {
	_, bs := benchStorage(b)
	ctx := context.Background()
	bt, err := bs.NewBatch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer bt.Close()
	var cp storage.Checkpoint
	for round := range 100 {
		for row := range 100 {
			u := storage.RowUpdate{Table: "members", Key: []byte(strconv.Itoa(row)),
				Lookups: []storage.LookupRow{{Key: []byte("lists_by_user"), Result: []byte(strconv.Itoa(round))}}}
			if err := bt.Save(ctx, u); err != nil {
				b.Fatal(err)
			}
		}
		if cp, err = bt.Commit(ctx, storage.CommitOptions{Position: storage.Position(round + 2), Checkpoint: true}); err != nil {
			b.Fatal(err)
		}
	}
	keys := [][]byte{[]byte("lists_by_user")}
	b.ResetTimer()
	for range b.N {
		res, err := bs.Lookup(ctx, cp, keys)
		if err != nil || len(res[0]) != 100 {
			b.Fatalf("Lookup = %d results, %v", len(res[0]), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/row")
}
