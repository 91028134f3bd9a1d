package replication_test

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// benchRows is the table size of the replication benchmarks
// (POWERSYNC_BENCH_ROWS, default 100,000; docs/benchmarks.md uses 1,000,000).
func benchRows(b *testing.B) int {
	if s := os.Getenv("POWERSYNC_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("POWERSYNC_BENCH_ROWS=%q", s)
		}
		return n
	}
	return 100000
}

// benchConfig is a per-user bucket config: each todo is in its owner's
// bucket.
const benchConfig = `bucket_definitions:
  by_owner:
    parameters: SELECT request.user_id() AS owner_id
    data:
      - SELECT * FROM todos WHERE owner_id = bucket.owner_id
`

// fillSQL inserts n todos of about 100 bytes each, owned by 1,000 users,
// in one transaction; ids start after from.
const fillSQL = `WITH RECURSIVE s(x) AS (SELECT ?1 + 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?1 + ?2)
INSERT OR REPLACE INTO todos SELECT x, 'user-' || (x % 1000), 'list-' || (x % 97),
  printf('todo %08d: a row of roughly one hundred bytes of text', x) FROM s`

// BenchmarkSnapshot measures the initial snapshot: rows already in the
// source until the first checkpoint covers them.
func BenchmarkSnapshot(b *testing.B) {
	n := benchRows(b)
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		dbPath, db := appDB(b, dir)
		run(b, db, fillSQL, 0, n)
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		e := startReplication(b, dbPath, storeDir(dir), benchConfig, compileRules)
		e.caughtUpWithin(time.Hour)
		el, cpu := time.Since(start), cpuTime()-cpu0
		b.StopTimer()
		b.ReportMetric(float64(n)/el.Seconds(), "rows/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/row")
		e.close()
		// One PUT per row; measured after Close, WAL included.
		b.ReportMetric(float64(dirSize(storeDir(dir)))/float64(n), "disk-bytes/op")
	}
}

// BenchmarkStreaming measures steady-state replication: one n-row
// transaction committed while replication runs, until a checkpoint covers it.
func BenchmarkStreaming(b *testing.B) {
	n := benchRows(b)
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		dbPath, db := appDB(b, dir)
		e := startReplication(b, dbPath, storeDir(dir), benchConfig, compileRules)
		e.caughtUp()
		run(b, db, fillSQL, 0, n)
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		e.caughtUpWithin(time.Hour)
		el, cpu := time.Since(start), cpuTime()-cpu0
		b.StopTimer()
		b.ReportMetric(float64(n)/el.Seconds(), "rows/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/row")
		e.close()
	}
}

// BenchmarkSmallTransactions measures steady-state replication of many
// one-row transactions (each committed by the application on its own).
func BenchmarkSmallTransactions(b *testing.B) {
	const n = 5000
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		dbPath, db := appDB(b, dir)
		e := startReplication(b, dbPath, storeDir(dir), benchConfig, compileRules)
		e.caughtUp()
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		for i := range n {
			run(b, db, "INSERT INTO todos VALUES (?, 'user-1', 'list-1', 'a small transaction of about one hundred bytes of text.........')", i)
		}
		e.caughtUpWithin(time.Hour)
		el, cpu := time.Since(start), cpuTime()-cpu0
		b.StopTimer()
		b.ReportMetric(float64(n)/el.Seconds(), "tx/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/tx")
		e.close()
	}
}

// cpuTime is the CPU time (user and system) this process used so far.
// Benchmarks report it per row because the shared machine's load makes
// wall-clock rates vary.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
