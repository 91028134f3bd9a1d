package postgres_test

import (
	"context"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/powersync-go/powersync/internal/source"
	pgsource "github.com/powersync-go/powersync/internal/source/postgres"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

// benchRows is the size of each benchmark's data set (the reference was
// measured with 100,000 todos of ≈350 bytes per op on the wire).
const benchRows = 100000

// benchInsert inserts benchRows todos of about the reference's size, in one
// transaction, with ids after offset.
const benchInsert = `INSERT INTO todos SELECT $1::bigint + i, 'u1', 'todo number ' || i || ' ' || repeat('x', 200), i % 3 = 0, NULL
	FROM generate_series(1, 100000) i`

// counter is a Handler that counts changes.
type counter struct {
	changes atomic.Int64
	last    atomic.Int64  // unix nanos of the last commit
	commits chan struct{} // signalled (non-blocking, buffered 1) at each commit
}

func (c *counter) Change(context.Context, source.Change) error { c.changes.Add(1); return nil }
func (c *counter) Commit(context.Context, storage.Position) error {
	c.last.Store(time.Now().UnixNano())
	select {
	case c.commits <- struct{}{}:
	default:
	}
	return nil
}
func (c *counter) Keepalive(context.Context, storage.Position) error { return nil }

// BenchmarkSourceStream: decoding a 100,000-row transaction from the
// slot, without storage (the source's own ceiling).
func BenchmarkSourceStream(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, pgsource.Options{}, e2eSetup)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}})
	if err != nil {
		b.Fatal(err)
	}
	pos, _, err := e.src.Start(ctx, "powersync_9_bbbb", 0)
	if err != nil {
		b.Fatal(err)
	}
	c := &counter{commits: make(chan struct{}, 1)}
	e.stream(b, "powersync_9_bbbb", pos, tables, recorderFunc(c))
	var total time.Duration
	for i := 0; i < b.N; i++ {
		want := c.changes.Load() + benchRows
		e.exec(b, benchInsert, i*benchRows)
		start := time.Now() // from the commit of the source transaction
		// The changes arrive before their transaction's commit, which
		// signals c.commits.
		for c.changes.Load() < want {
			select {
			case <-c.commits:
			case <-time.After(time.Minute):
				b.Fatalf("%d of %d changes after a minute", c.changes.Load(), want)
			}
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(b.N*benchRows)/total.Seconds(), "rows/s")
}

func recorderFunc(c *counter) source.Handler { return c }

// benchPipeline measures snapshot and streaming of benchRows rows into one
// storage kind, with the real sync rules (by_owner) and replication.
func benchPipeline(b *testing.B, kind string, snapshot bool) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := newPipeline(b, kind, pgsource.Options{}, e2eSetup)
		if snapshot {
			p.exec(benchInsert, 0)
		} else {
			p.start()
			p.caughtUp(time.Minute)
		}
		b.StartTimer()
		start := time.Now()
		if snapshot {
			p.start()
		} else {
			p.exec(benchInsert, 0)
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

// benchLag measures replication lag under a steady write load: one-row
// transactions at a fixed rate for a few seconds (pgbench-style), each
// timed from its commit to the first checkpoint at or past it.
func benchLag(b *testing.B, kind string) {
	const (
		rate     = 200 // transactions per second
		duration = 8 * time.Second
	)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := newPipeline(b, kind, pgsource.Options{}, e2eSetup)
		p.start()
		p.caughtUp(time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		type cpAt struct {
			pos storage.Position
			at  time.Time
		}
		cps := make(chan []cpAt, 1)
		go func() {
			var seen []cpAt
			defer func() { cps <- seen }()
			for ctx.Err() == nil {
				cp, ch, err := p.st.Watch(ctx)
				if err != nil {
					return
				}
				seen = append(seen, cpAt{cp.Position, time.Now()})
				select {
				case <-ch:
				case <-ctx.Done():
				}
			}
		}()
		b.StartTimer()
		type txAt struct {
			lsn storage.Position
			at  time.Time
		}
		var txs []txAt
		tick := time.NewTicker(time.Second / rate)
		end := time.Now().Add(duration)
		for n := 0; time.Now().Before(end); n++ {
			<-tick.C
			var lsn string
			if err := p.conn.QueryRow(context.Background(), `INSERT INTO todos VALUES ($1, 'u1', 'load', false, NULL)
				RETURNING pg_current_wal_insert_lsn()::text`, n).Scan(&lsn); err != nil {
				b.Fatal(err)
			}
			l, err := pglogrepl.ParseLSN(lsn)
			if err != nil {
				b.Fatal(err)
			}
			txs = append(txs, txAt{storage.Position(l), time.Now()})
		}
		tick.Stop()
		p.caughtUp(time.Minute)
		b.StopTimer()
		cancel()
		seen := <-cps
		var lags []time.Duration
		j := 0
		for _, tx := range txs {
			for j < len(seen) && seen[j].pos < tx.lsn {
				j++
			}
			if j == len(seen) {
				b.Fatalf("no checkpoint covers position %d", tx.lsn)
			}
			lags = append(lags, max(seen[j].at.Sub(tx.at), 0))
		}
		sort.Slice(lags, func(a, c int) bool { return lags[a] < lags[c] })
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(float64(len(txs))/duration.Seconds(), "tx/s")
		b.ReportMetric(ms(lags[len(lags)/2]), "p50-ms")
		b.ReportMetric(ms(lags[len(lags)*95/100]), "p95-ms")
		b.ReportMetric(ms(lags[len(lags)-1]), "max-ms")
		p.stop()
	}
}

func BenchmarkLagUnderLoadPebble(b *testing.B)   { benchLag(b, "pebble") }
func BenchmarkLagUnderLoadPostgres(b *testing.B) { benchLag(b, "postgres") }
