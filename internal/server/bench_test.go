package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/powersync-go/powersync/internal/pgtest"
	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	pgstorage "github.com/powersync-go/powersync/internal/storage/postgres"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// Benchmarks of the sync API over the Pebble storage on loopback, the
// client in the same process (it only splits lines and counts ops). Figures
// go to docs/benchmarks.md ("Sync API").
//
//	go test ./internal/server -run '^$' -bench . -benchtime 1x
//
// POWERSYNC_BENCH_SYNC_OPS sets the size of BenchmarkInitialSync (default
// 100,000; the documented figure uses 1,000,000), POWERSYNC_BENCH_CLIENTS
// and POWERSYNC_BENCH_CLIENT_OPS the shape of BenchmarkConcurrentClients
// (default 50 × 20,000; documented: 50 × 100,000).

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// cpuTime is the CPU time (user + system) used by this process so far:
// under a shared machine's load, ops per CPU-second is steadier than ops per
// wall-clock second. It covers the in-process client too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchEnv is a Server on Pebble storage with one bucket per user
// (by_owner["<user>"]), as in the reference measurement.
type benchEnv struct {
	store storage.Storage
	bs    storage.BucketStorage
	url   string
	pos   storage.Position
	n     int
}

var benchRules = memRules{static: []syncrules.BucketDescription{{Bucket: `1#by_owner["{user}"]`, Priority: 3, Default: []int{0}}}}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := openBenchStorage(b, quiet)
	b.Cleanup(func() { st.Close(ctx) })
	v, err := st.Deploy(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{store: st, bs: st.Bucket(v.ID), pos: 1}
	bt, err := e.bs.NewBatch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bt.Commit(ctx, storage.CommitOptions{Position: 1, Checkpoint: true, SnapshotDone: true}); err != nil {
		b.Fatal(err)
	}
	bt.Close()
	srv, err := server.New(server.Options{Storage: st, Auth: server.AuthenticatorFunc(testAuth),
		Rules: func(storage.Version) (server.Rules, error) { return benchRules, nil }, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(func() {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = srv.Close(cctx)
		ts.Close()
	})
	e.url = ts.URL
	return e
}

// todoRow is a todo of the measured data shape (≈350 bytes per op on the wire).
func todoRow(id, owner string, i int) []byte {
	return fmt.Appendf(nil, `{"id":"%s","description":"Todo number %d: buy milk and eggs",`+
		`"completed":%d,"created_at":"2026-11-27T01:00:00.000Z","owner_id":"%s"}`, id, i, i%2, owner)
}

// write commits n todos of owner in transactions of txRows rows.
func (e *benchEnv) write(b *testing.B, owner string, n, txRows int) {
	b.Helper()
	ctx := context.Background()
	bt, err := e.bs.NewBatch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer bt.Close()
	for i := range n {
		e.n++
		id := fmt.Sprintf("%08x-0000-4000-8000-%012d", e.n, e.n)
		bucket := `1#by_owner["` + owner + `"]`
		if err := bt.Save(ctx, storage.RowUpdate{Table: "todos", Key: []byte(id), Buckets: []storage.BucketRow{
			{Bucket: bucket, Table: "todos", ID: id, Data: todoRow(id, owner, e.n)}}}); err != nil {
			b.Fatal(err)
		}
		if (i+1)%txRows == 0 || i == n-1 {
			e.pos++
			if _, err := bt.Commit(ctx, storage.CommitOptions{Position: e.pos, Checkpoint: true}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchClient is a streaming connection that counts what it receives.
type benchClient struct {
	resp *http.Response
	r    *bufio.Reader
	wire *countingReader
}

func openStream(tb testing.TB, url, user string) *benchClient {
	return openStreamEnc(tb, url, user, false)
}

// countingReader counts the bytes read through it (the compressed size).
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func openStreamEnc(tb testing.TB, url, user string, useGzip bool) *benchClient {
	req, _ := http.NewRequest("POST", url+"/sync/stream", strings.NewReader(`{"raw_data":true}`))
	req.Header.Set("Authorization", "Token "+user)
	req.Header.Set("Accept-Encoding", "identity")
	if useGzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != 200 {
		tb.Fatalf("status %d", resp.StatusCode)
	}
	c := &benchClient{resp: resp, wire: &countingReader{r: resp.Body}}
	var body io.Reader = c.wire
	if useGzip {
		zr, err := gzip.NewReader(c.wire)
		if err != nil {
			tb.Fatal(err)
		}
		body = zr
	}
	c.r = bufio.NewReaderSize(body, 1<<20)
	return c
}

// untilComplete reads lines up to the next checkpoint_complete and returns
// the ops and bytes received.
func (c *benchClient) untilComplete() (ops, n int, err error) {
	for {
		line, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A data line longer than the buffer: keep reading it.
			rest, err2 := c.r.ReadBytes('\n')
			line = append(slices.Clone(line), rest...)
			err = err2
		}
		if err != nil {
			return ops, n, err
		}
		n += len(line)
		switch {
		case bytes.HasPrefix(line, []byte(`{"data":`)):
			ops += bytes.Count(line, []byte(`"op_id":`))
		case bytes.HasPrefix(line, []byte(`{"checkpoint_complete":`)):
			return ops, n, nil
		}
	}
}

// BenchmarkInitialSync: one client downloads one bucket of
// POWERSYNC_BENCH_SYNC_OPS ops; one iteration is one full download.
func BenchmarkInitialSync(b *testing.B) {
	n := envInt("POWERSYNC_BENCH_SYNC_OPS", 100_000)
	e := newBenchEnv(b)
	e.write(b, "u1", n, 10_000)
	for _, useGzip := range []bool{false, true} {
		name := "identity"
		if useGzip {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			cpu0 := cpuTime()
			var total, bytesTotal, wireTotal int
			for range b.N {
				c := openStreamEnc(b, e.url, "u1", useGzip)
				ops, nb, err := c.untilComplete()
				c.resp.Body.Close()
				if err != nil || ops != n {
					b.Fatalf("received %d ops of %d: %v", ops, n, err)
				}
				total += ops
				bytesTotal += nb
				wireTotal += c.wire.n
			}
			b.StopTimer()
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(total)/sec, "ops/s")
			b.ReportMetric(float64(bytesTotal)/sec/1e6, "MB/s")
			b.ReportMetric(float64(wireTotal)/float64(total), "B/op-wire")
			b.ReportMetric(float64(total)/(cpuTime()-cpu0).Seconds(), "ops/cpu-s")
		})
	}
}

// BenchmarkConcurrentClients: POWERSYNC_BENCH_CLIENTS clients download the
// same bucket of POWERSYNC_BENCH_CLIENT_OPS ops at once.
func BenchmarkConcurrentClients(b *testing.B) {
	clients := envInt("POWERSYNC_BENCH_CLIENTS", 50)
	n := envInt("POWERSYNC_BENCH_CLIENT_OPS", 20_000)
	e := newBenchEnv(b)
	e.write(b, "u1", n, 10_000)
	b.ResetTimer()
	cpu0 := cpuTime()
	var total int
	var slowest time.Duration
	for range b.N {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		times := make(chan time.Duration, clients)
		start := time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := openStream(b, e.url, "u1")
				defer c.resp.Body.Close()
				ops, _, err := c.untilComplete()
				if err == nil && ops != n {
					err = fmt.Errorf("received %d ops of %d", ops, n)
				}
				errs <- err
				times <- time.Since(start)
			}()
		}
		wg.Wait()
		close(errs)
		close(times)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		for d := range times {
			slowest = max(slowest, d)
		}
		total += clients * n
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(slowest.Seconds(), "s-slowest-client")
	b.ReportMetric(float64(total)/(cpuTime()-cpu0).Seconds(), "ops/cpu-s")
}

// BenchmarkChangeLatency: a committed single-row change → the connected
// client has read its checkpoint_complete, with 1 and 1,000 connected
// clients (each its own user and bucket; the change goes to one of them).
func BenchmarkChangeLatency(b *testing.B) {
	for _, clients := range []int{1, 1000} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			e := newBenchEnv(b)
			type conn struct {
				done chan struct{}
			}
			conns := make([]*conn, clients)
			for i := range clients {
				e.write(b, "u"+strconv.Itoa(i), 1, 1)
			}
			var wg sync.WaitGroup
			for i := range clients {
				c := openStream(b, e.url, "u"+strconv.Itoa(i))
				if _, _, err := c.untilComplete(); err != nil {
					b.Fatal(err)
				}
				cn := &conn{done: make(chan struct{}, 1)}
				conns[i] = cn
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						if _, _, err := c.untilComplete(); err != nil {
							return
						}
						cn.done <- struct{}{}
					}
				}()
				b.Cleanup(func() { c.resp.Body.Close() })
			}
			lat := make([]time.Duration, 0, b.N)
			api := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				target := (i * 7919) % clients
				start := time.Now()
				e.write(b, "u"+strconv.Itoa(target), 1, 1)
				committed := time.Now()
				select {
				case <-conns[target].done:
				case <-time.After(10 * time.Second):
					b.Fatal("change did not arrive within 10 s")
				}
				lat = append(lat, time.Since(start))
				api = append(api, time.Since(committed))
			}
			b.StopTimer()
			pct := func(xs []time.Duration, p int) float64 {
				slices.Sort(xs)
				return float64(xs[(len(xs)-1)*p/100].Microseconds()) / 1000
			}
			// ms-*: commit (fsync) + API + client read; api-ms-*: after the
			// commit returned.
			b.ReportMetric(pct(lat, 50), "ms-p50")
			b.ReportMetric(pct(lat, 99), "ms-p99")
			b.ReportMetric(pct(api, 50), "api-ms-p50")
			b.ReportMetric(pct(api, 99), "api-ms-p99")
		})
	}
}

// openBenchStorage opens the storage the benchmarks serve from: Pebble, or
// Postgres bucket storage on a throwaway cluster when
// POWERSYNC_BENCH_STORAGE=postgres.
func openBenchStorage(b *testing.B, log *slog.Logger) storage.Storage {
	b.Helper()
	switch kind := os.Getenv("POWERSYNC_BENCH_STORAGE"); kind {
	case "", "pebble":
		st, err := pebble.Open(b.Context(), pebble.Options{Dir: b.TempDir(), Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		return st
	case "postgres":
		c := pgtest.Private(b)
		ctx := context.Background()
		if err := c.CreateDatabase(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
		st, err := pgstorage.Open(ctx, pgstorage.Options{ConnString: c.URL("bench"), Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		return st
	default:
		b.Fatalf("POWERSYNC_BENCH_STORAGE=%q: want pebble or postgres", kind)
		return nil
	}
}
