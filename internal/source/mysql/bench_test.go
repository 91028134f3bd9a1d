package mysql_test

import (
	"strconv"
	"testing"
	"time"

	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
)

// benchRows is the size of each benchmark's data set (the Postgres source
// benchmarks use the same: 100,000 todos of ≈350 bytes per op).
const benchRows = 100000

// benchInsert inserts benchRows todos in one transaction, with ids after
// the offset.
func benchInsert(offset int) string {
	return `INSERT INTO todos SELECT ` + strconv.Itoa(offset) + ` + seq, 'u1', CONCAT('todo number ', seq, ' ', REPEAT('x', 200)),
		seq % 3 = 0, NULL FROM seq_1_to_100000`
}

// benchPipeline measures the snapshot, or the streaming of one
// 100,000-row transaction, into one storage kind, with the real sync rules
// (by_owner) and replication.
func benchPipeline(b *testing.B, kind string, snapshot bool) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := newPipeline(b, kind, mysqlsource.Options{}, e2eSetup...)
		if snapshot {
			p.exec(benchInsert(0))
		} else {
			p.start()
			p.caughtUp(time.Minute)
		}
		b.StartTimer()
		start := time.Now()
		if snapshot {
			p.start()
		} else {
			p.exec(benchInsert(0))
		}
		committed := time.Since(start)
		p.caughtUp(10 * time.Minute)
		el := time.Since(start)
		b.ReportMetric(benchRows/el.Seconds(), "rows/s")
		if !snapshot {
			// The source transaction's own execution, included above.
			b.ReportMetric(committed.Seconds(), "insert-s")
		}
		b.StopTimer()
		p.stop()
	}
}

func BenchmarkSnapshotIntoPebble(b *testing.B)   { benchPipeline(b, "pebble", true) }
func BenchmarkSnapshotIntoPostgres(b *testing.B) { benchPipeline(b, "postgres", true) }
func BenchmarkStreamIntoPebble(b *testing.B)     { benchPipeline(b, "pebble", false) }
func BenchmarkStreamIntoPostgres(b *testing.B)   { benchPipeline(b, "postgres", false) }
