package server_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/powersync-go/powersync/protocol/bson"
	"github.com/powersync-go/powersync/protocol/rsocket"
)

// BenchmarkInitialSyncTransports: the download of BenchmarkInitialSync
// (one bucket of POWERSYNC_BENCH_SYNC_OPS ops) over each transport, the
// same data: NDJSON and BSON, each plain, with gzip and with zstd, and RSocket
// over WebSocket (BSON payloads) with and without permessage-deflate. The
// in-process client only splits the stream into lines, documents or frames
// and counts ops. B/op-wire is what crossed the socket per op (compressed
// when compressed, with HTTP chunk and WebSocket framing).
//
//	POWERSYNC_BENCH_SYNC_OPS=1000000 go test ./internal/server -run '^$' -bench InitialSyncTransports -benchtime 2x
func BenchmarkInitialSyncTransports(b *testing.B) {
	n := envInt("POWERSYNC_BENCH_SYNC_OPS", 100_000)
	e := newBenchEnv(b)
	e.write(b, "u1", n, 10_000)
	type download func(b *testing.B, wire *atomic.Int64) int
	for _, tc := range []struct {
		name string
		run  download
	}{
		{"ndjson", func(b *testing.B, wire *atomic.Int64) int { return httpDownload(b, e.url, wire, false, "identity") }},
		{"ndjson-gzip", func(b *testing.B, wire *atomic.Int64) int { return httpDownload(b, e.url, wire, false, "gzip") }},
		{"ndjson-zstd", func(b *testing.B, wire *atomic.Int64) int { return httpDownload(b, e.url, wire, false, "zstd") }},
		{"bson", func(b *testing.B, wire *atomic.Int64) int { return httpDownload(b, e.url, wire, true, "identity") }},
		{"bson-gzip", func(b *testing.B, wire *atomic.Int64) int { return httpDownload(b, e.url, wire, true, "gzip") }},
		{"bson-zstd", func(b *testing.B, wire *atomic.Int64) int { return httpDownload(b, e.url, wire, true, "zstd") }},
		{"websocket", func(b *testing.B, wire *atomic.Int64) int {
			return wsDownload(b, e.url, wire, websocket.CompressionDisabled)
		}},
		{"websocket-deflate", func(b *testing.B, wire *atomic.Int64) int {
			return wsDownload(b, e.url, wire, websocket.CompressionNoContextTakeover)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cpu0 := cpuTime()
			var total int
			var wire atomic.Int64
			for range b.N {
				if ops := tc.run(b, &wire); ops != n {
					b.Fatalf("received %d ops of %d", ops, n)
				}
				total += n
			}
			b.StopTimer()
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(total)/sec, "ops/s")
			b.ReportMetric(float64(wire.Load())/float64(total), "B/op-wire")
			b.ReportMetric(float64(total)/(cpuTime()-cpu0).Seconds(), "ops/cpu-s")
		})
	}
}

// countingClient is an HTTP client whose connections count the bytes they
// read (what came over the wire).
func countingClient(wire *atomic.Int64) *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c, n: wire}, nil
		},
	}}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// httpDownload runs one HTTP stream to its first checkpoint_complete and
// returns the ops received.
func httpDownload(b *testing.B, url string, wire *atomic.Int64, useBSON bool, encoding string) int {
	req, _ := http.NewRequest("POST", url+"/sync/stream", strings.NewReader(`{"raw_data":true,"binary_data":true}`))
	req.Header.Set("Authorization", "Token u1")
	req.Header.Set("Accept-Encoding", encoding)
	if useBSON {
		req.Header.Set("Accept", sdkAccept)
	}
	hc := countingClient(wire)
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	switch encoding {
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			b.Fatal(err)
		}
		body = zr
	case "zstd":
		zr, err := zstd.NewReader(resp.Body)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { resp.Body.Close(); zr.Close() }() // the body first, or Close waits for the decoder
		body = zr
	}
	if !useBSON {
		c := &benchClient{resp: resp, r: bufioReader(body)}
		ops, _, err := c.untilComplete()
		if err != nil {
			b.Fatal(err)
		}
		return ops
	}
	r := bson.NewReader(body, 0)
	ops := 0
	for {
		doc, err := r.Next()
		if err != nil {
			b.Fatal(err)
		}
		done, k := countBSONLine(doc)
		ops += k
		if done {
			return ops
		}
	}
}

var (
	bsonOpIDKey    = []byte("\x02op_id\x00")
	bsonCompleteAt = []byte("\x03checkpoint_complete\x00")
)

// countBSONLine counts the ops of one BSON sync line and says whether it
// is checkpoint_complete (its single key follows the 4-byte length).
func countBSONLine(doc []byte) (complete bool, ops int) {
	if bytes.HasPrefix(doc[4:], bsonCompleteAt) {
		return true, 0
	}
	return false, bytes.Count(doc, bsonOpIDKey)
}

// wsDownload runs one RSocket stream to its first checkpoint_complete with
// the JS SDK's credit window (10 outstanding, topped up at 5) and returns
// the ops received.
func wsDownload(b *testing.B, url string, wire *atomic.Int64, mode websocket.CompressionMode) int {
	ctx := context.Background()
	hc := countingClient(wire)
	defer hc.CloseIdleConnections()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/sync/stream",
		&websocket.DialOptions{HTTPClient: hc, CompressionMode: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(rsocket.MaxFrameSize)
	send := func(f rsocket.Frame) {
		buf, err := f.Append(nil)
		if err == nil {
			err = ws.Write(ctx, websocket.MessageBinary, buf)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	send(rsocket.Frame{Type: rsocket.TypeSetup, MajorVersion: 1, KeepaliveMS: 20000, LifetimeMS: 90000,
		MetadataMIME: "application/json", DataMIME: "application/json", Metadata: []byte(`{"token":"Token u1"}`)})
	send(rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestStream, N: 10,
		Metadata: []byte(`{"path":"/sync/stream"}`), Data: []byte(`{"raw_data":true}`)})
	outstanding, ops := 10, 0
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		f, err := rsocket.Decode(msg)
		if err != nil {
			b.Fatal(err)
		}
		if f.Type != rsocket.TypePayload {
			b.Fatalf("unexpected frame %v %q", f.Type, f.Data)
		}
		done, k := countBSONLine(f.Data)
		ops += k
		if done {
			_ = ws.Close(websocket.StatusNormalClosure, "")
			return ops
		}
		if outstanding--; outstanding <= 5 {
			send(rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestN, N: uint32(10 - outstanding)})
			outstanding = 10
		}
	}
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 1<<20) }

// BenchmarkWebSocketIdleMemory: POWERSYNC_BENCH_IDLE_CONNS RSocket streams
// (default 500) that finished their initial sync and wait, held in this
// process by minimal clients; reports the heap and stack in use and the
// goroutines per stream, clients included (each client is one reader
// goroutine and its connection), after GC.
//
//	POWERSYNC_BENCH_IDLE_CONNS=1000 go test ./internal/server -run '^$' -bench WebSocketIdleMemory -benchtime 1x
//
// POWERSYNC_BENCH_HEAP_PROFILE=FILE writes a heap profile of that moment.
func BenchmarkWebSocketIdleMemory(b *testing.B) {
	n := envInt("POWERSYNC_BENCH_IDLE_CONNS", 500)
	e := newBenchEnv(b)
	e.write(b, "u1", 10, 10)
	ctx := context.Background()
	setup, _ := (&rsocket.Frame{Type: rsocket.TypeSetup, MajorVersion: 1, KeepaliveMS: 20000, LifetimeMS: 90000,
		MetadataMIME: "application/json", DataMIME: "application/json", Metadata: []byte(`{"token":"Token u1"}`)}).Append(nil)
	req, _ := (&rsocket.Frame{StreamID: 1, Type: rsocket.TypeRequestStream, N: 10,
		Metadata: []byte(`{"path":"/sync/stream"}`), Data: []byte(`{"raw_data":true}`)}).Append(nil)
	for range b.N {
		measure := func() (heap, stack uint64, goroutines int) {
			runtime.GC()
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapInuse, m.StackInuse, runtime.NumGoroutine()
		}
		h0, s0, g0 := measure()
		conns := make([]*websocket.Conn, 0, n)
		for range n {
			ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.url, "http")+"/sync/stream",
				&websocket.DialOptions{CompressionMode: benchWSCompression})
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, ws)
			for _, m := range [][]byte{setup, req} {
				if err := ws.Write(ctx, websocket.MessageBinary, m); err != nil {
					b.Fatal(err)
				}
			}
			for done := false; !done; {
				_, msg, err := ws.Read(ctx)
				if err != nil {
					b.Fatal(err)
				}
				done = bytes.Contains(msg, []byte("checkpoint_complete"))
			}
			// Park a reader as a client would (it sees keepalive echoes).
			go func() {
				for {
					if _, _, err := ws.Read(ctx); err != nil {
						return
					}
				}
			}()
		}
		h1, s1, g1 := measure()
		if path := os.Getenv("POWERSYNC_BENCH_HEAP_PROFILE"); path != "" {
			// What the idle streams hold: go tool pprof -sample_index=inuse_space
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		b.ReportMetric(float64(h1-h0)/float64(n), "heap-B/stream")
		b.ReportMetric(float64(s1-s0)/float64(n), "stack-B/stream")
		b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/stream")
		for _, ws := range conns {
			ws.CloseNow()
		}
	}
}

var benchWSCompression = websocket.CompressionNoContextTakeover
