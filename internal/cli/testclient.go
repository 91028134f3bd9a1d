package cli

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/config"
	"github.com/powersync-go/powersync/protocol"
)

func newTestClientCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test-client",
		Short: "Download a user's data, or load-test a service with many clients",
	}
	cmd.AddCommand(newFetchOperationsCmd(e), newConcurrentConnectionsCmd(e))
	return cmd
}

// credFlags are how the test-client commands get a token and an endpoint:
// --token (with --endpoint, or the token's http(s) audience), or a config
// whose HMAC key signs tokens for --sub (or --sub-prefix<i>).
type credFlags struct {
	token, endpoint, sub string
	transport            string
	cf                   *configFlags
}

func addCredFlags(cmd *cobra.Command) *credFlags {
	f := &credFlags{}
	fs := cmd.Flags()
	fs.StringVarP(&f.token, "token", "t", "", "client token (JWT)")
	fs.StringVarP(&f.endpoint, "endpoint", "e", "", "service URL; default: the token's aud when it is an http(s) URL, or http://127.0.0.1:<port of the config>")
	fs.StringVarP(&f.sub, "sub", "u", "test-user", "user id of generated tokens (with -c)")
	fs.StringVar(&f.transport, "transport", "http", "how to read the sync stream: http (NDJSON), bson (BSON over HTTP) or websocket (RSocket over WebSocket)")
	f.cf = addConfigFlags(cmd)
	return f
}

// tokenSource signs a token per user id.
type tokenSource func(sub string) (string, error)

// resolve returns the endpoint and a token source. With --token every
// user id gets that token.
func (f *credFlags) resolve(e *env) (string, tokenSource, error) {
	if f.token != "" {
		ep := f.endpoint
		if ep == "" {
			ep = auth.EndpointFromToken(f.token)
		}
		if ep == "" {
			return "", nil, errors.New("specify --endpoint, or use a token whose aud is the service URL")
		}
		tok := f.token
		return ep, func(string) (string, error) { return tok, nil }, nil
	}
	if f.cf.path == "" && f.cf.base64 == "" && e.getenv(config.EnvConfigPath) == "" && e.getenv(config.EnvConfigBase64) == "" {
		return "", nil, errors.New("specify --token, or -c service.yaml to sign tokens with its HS256 key")
	}
	cfg, err := f.cf.load(e, false)
	if err != nil {
		return "", nil, err
	}
	sign, err := hmacTokenSource(cfg)
	if err != nil {
		return "", nil, err
	}
	ep := f.endpoint
	if ep == "" {
		ep = fmt.Sprintf("http://127.0.0.1:%d", cfg.Port)
	}
	return ep, sign, nil
}

// hmacTokenSource signs one-hour tokens with the config's first HMAC key.
func hmacTokenSource(cfg *config.Config) (tokenSource, error) {
	var keys []*auth.Key
	for i, m := range cfg.ClientAuth.JWKS.Keys {
		k, err := auth.ParseJWK(m)
		if err != nil {
			return nil, fmt.Errorf("client_auth.jwks.keys[%d]: %w", i, err)
		}
		keys = append(keys, k)
	}
	sk, _, err := configSigner(&tokenFlags{}, cfg, keys)
	if err != nil {
		return nil, err
	}
	auds := cfg.ClientAuth.Audience
	if len(auds) == 0 {
		auds = []string{"powersync"}
	}
	life := min(time.Hour, maxLifetime(cfg))
	return func(sub string) (string, error) {
		return sk.Sign(auth.TokenClaims{Subject: sub, Audiences: auds[:1], Issuer: "powersync", IssuedAt: time.Now(), Lifetime: life}.Map())
	}, nil
}

// ---- fetch-operations ----

func newFetchOperationsCmd(e *env) *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use:   "fetch-operations (--token T [--endpoint URL] | -c service.yaml [--sub USER]) [--raw]",
		Short: "Download a user's buckets once and print their operations",
		Long: `fetch-operations opens one sync stream, reads it up to the first complete
checkpoint and prints the operations of every bucket as JSON {bucket: [ops]}.

By default each bucket is normalized: one CLEAR with op_id "0" whose checksum
is the sum of every superseded operation, then the latest PUT of each row,
ordered by op_id. --raw prints the operations as received.`,
		Args: cobra.NoArgs,
	}
	cf := addCredFlags(cmd)
	cmd.Flags().BoolVar(&raw, "raw", false, "print operations as received, not normalized")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		tr, err := client.ParseTransport(cf.transport)
		if err != nil {
			return err
		}
		ep, tokens, err := cf.resolve(e)
		if err != nil {
			return err
		}
		tok, err := tokens(cf.sub)
		if err != nil {
			return err
		}
		ops, err := fetchOperations(cmd.Context(), client.Credentials{Endpoint: ep, Token: tok}, tr)
		if err != nil {
			return err
		}
		if !raw {
			for b, list := range ops {
				ops[b] = normalizeOps(list)
			}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ops)
	}
	return cmd
}

// fetchOperations reads one stream until its first checkpoint_complete and
// returns the ops of each bucket, up to the checkpoint.
func fetchOperations(ctx context.Context, creds client.Credentials, tr client.Transport) (map[string][]protocol.OplogEntry, error) {
	req := &protocol.StreamingSyncRequest{RawData: true, IncludeChecksum: true, Parameters: json.RawMessage(`{}`)}
	st, err := client.OpenStreamWith(ctx, creds, req, client.StreamOptions{Transport: tr})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ops := map[string][]protocol.OplogEntry{}
	var last protocol.OpID
	for {
		// protocol's lenient decoder: what the official clients accept.
		line, err := st.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("the stream ended before a complete checkpoint")
			}
			return nil, err
		}
		switch {
		case line.Checkpoint != nil:
			last = line.Checkpoint.LastOpID
			for _, b := range line.Checkpoint.Buckets {
				if ops[b.Bucket] == nil {
					ops[b.Bucket] = []protocol.OplogEntry{}
				}
			}
		case line.CheckpointDiff != nil:
			last = line.CheckpointDiff.LastOpID
		case line.Data != nil:
			for i := range line.Data.Data {
				if op := &line.Data.Data[i]; op.OpID <= last {
					ops[line.Data.Bucket] = append(ops[line.Data.Bucket], op.Entry())
				}
			}
		case line.CheckpointComplete != nil:
			return ops, nil
		}
	}
}

// normalizeOps reduces a bucket to a CLEAR carrying the checksum of every
// superseded op, then the latest PUT of each row in op id order.
func normalizeOps(ops []protocol.OplogEntry) []protocol.OplogEntry {
	latest := map[string]int{}
	for i, op := range ops {
		if op.Op == protocol.OpPut || op.Op == protocol.OpRemove {
			latest[op.ObjectType+"/"+op.ObjectID+"/"+op.Subkey] = i
		}
	}
	var clear uint32
	var keep []protocol.OplogEntry
	for i, op := range ops {
		if op.Op == protocol.OpPut && latest[op.ObjectType+"/"+op.ObjectID+"/"+op.Subkey] == i {
			keep = append(keep, op)
			continue
		}
		clear += op.Checksum
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].OpID < keep[j].OpID })
	return append([]protocol.OplogEntry{{OpID: 0, Op: protocol.OpClear, Checksum: clear}}, keep...)
}

// ---- concurrent-connections ----

type loadFlags struct {
	clients   int
	duration  time.Duration
	timeout   time.Duration
	subPrefix string
	json      bool
	gzip      bool
	transport client.Transport
}

func newConcurrentConnectionsCmd(e *env) *cobra.Command {
	lf := &loadFlags{}
	cmd := &cobra.Command{
		Use:   "concurrent-connections -n N (--token T | -c service.yaml [--sub-prefix P]) [--duration D] [--json]",
		Short: "Load test: N clients syncing at once, with a summary",
		Long: `concurrent-connections runs N sync clients at once against one service. Each
streams like a real client (client_id load-test-<i>, resuming from its bucket
positions when it reconnects after an error, 1–2 s later), counting ops and
bytes but storing nothing.

It prints a live progress line on stderr and, at the end, a summary: time to
the first complete checkpoint (p50, p95, p99, max), ops/s and bytes/s over
all clients, errors by code and reconnects. --json prints the summary as
JSON instead.

The run ends after --duration; with --duration 0 (the default) it ends as
soon as every client has completed its first checkpoint, or at --timeout.
With -c, each client gets a token for user <sub-prefix><i> when --sub-prefix
is set, else for --sub.`,
		Args: cobra.NoArgs,
	}
	cf := addCredFlags(cmd)
	fs := cmd.Flags()
	fs.IntVarP(&lf.clients, "num-clients", "n", 10, "number of concurrent clients")
	fs.DurationVar(&lf.duration, "duration", 0, "how long to run; 0 = until every client completed its first checkpoint")
	fs.DurationVar(&lf.timeout, "timeout", 5*time.Minute, "with --duration 0, give up after this long")
	fs.StringVar(&lf.subPrefix, "sub-prefix", "", "with -c: user id prefix, one user per client (<prefix><i>)")
	fs.BoolVar(&lf.json, "json", false, "print the summary as JSON")
	fs.BoolVar(&lf.gzip, "gzip", true, "over HTTP, ask the service to gzip the stream (--gzip=false: uncompressed)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) (err error) {
		if lf.clients <= 0 {
			return fmt.Errorf("-n must be positive, got %d", lf.clients)
		}
		if lf.transport, err = client.ParseTransport(cf.transport); err != nil {
			return err
		}
		ep, tokens, err := cf.resolve(e)
		if err != nil {
			return err
		}
		credsFor := func(i int) (client.Credentials, error) {
			sub := cf.sub
			if lf.subPrefix != "" {
				sub = fmt.Sprintf("%s%d", lf.subPrefix, i)
			}
			tok, err := tokens(sub)
			return client.Credentials{Endpoint: ep, Token: tok}, err
		}
		creds := make([]client.Credentials, lf.clients)
		for i := range creds {
			if creds[i], err = credsFor(i); err != nil {
				return err
			}
		}
		// With a config, a reconnecting client signs itself a new token
		// (the old one may have expired); a --token is used as it is.
		var renew func(int) (client.Credentials, error)
		if cf.token == "" {
			renew = credsFor
		}
		ctx, stop := signalContext(cmd.Context())
		defer stop()
		sum := runLoad(ctx, e, lf, creds, renew)
		if lf.json {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(sum)
		}
		sum.print(e.stdout)
		return nil
	}
	return cmd
}

// loadSummary is the result of a load test.
type loadSummary struct {
	Endpoint        string           `json:"endpoint"`
	Transport       string           `json:"transport"`
	Encoding        string           `json:"encoding"` // of the lines the service answered: ndjson or bson
	Clients         int              `json:"clients"`
	DurationSeconds float64          `json:"duration_seconds"`
	Completed       int              `json:"completed_first_checkpoint"`
	FirstCheckpoint map[string]int64 `json:"first_checkpoint_ms"` // p50, p95, p99, max
	Ops             int64            `json:"ops"`
	OpsPerSecond    float64          `json:"ops_per_second"`
	Bytes           int64            `json:"bytes"`
	BytesPerSecond  float64          `json:"bytes_per_second"`
	WireBytes       int64            `json:"wire_bytes"` // as transferred (gzip when the service compresses)
	Reconnects      int64            `json:"reconnects"`
	Errors          map[string]int64 `json:"errors"`
	// Memory is this process's memory before the clients started and when
	// every client had completed its first checkpoint (all streams open).
	Memory *loadMemory `json:"memory,omitempty"`
}

// loadMemory is the process's memory at two moments of a load test, and
// the difference per client. Go memory is heap plus goroutine stacks in
// use after a garbage collection (live memory); RSS is what the operating
// system reports (0 where /proc/self/statm is missing).
type loadMemory struct {
	RSSBefore        int64 `json:"rss_before_bytes"`
	RSSAllConnected  int64 `json:"rss_all_connected_bytes"`
	GoBefore         int64 `json:"go_before_bytes"`
	GoAllConnected   int64 `json:"go_all_connected_bytes"`
	RSSPerClient     int64 `json:"rss_per_client_bytes"`
	GoPerClient      int64 `json:"go_per_client_bytes"`
	ClientsConnected int64 `json:"clients_connected"`
}

// processMemory samples the process's RSS and live Go memory.
func processMemory() (rss, goMem int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	goMem = int64(ms.HeapInuse + ms.StackInuse)
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, resident int64
		if _, err := fmt.Sscan(string(b), &size, &resident); err == nil {
			rss = resident * int64(os.Getpagesize())
		}
	}
	return rss, goMem
}

type loadState struct {
	ops, bytes, wire, reconnects, completed, connected atomic.Int64
	encoding                                           atomic.Value // string
	mu                                                 sync.Mutex
	errors                                             map[string]int64
	firsts                                             []time.Duration
}

func (s *loadState) fail(err error) {
	s.mu.Lock()
	s.errors[client.ErrorCode(err)]++
	s.mu.Unlock()
}

func runLoad(ctx context.Context, e *env, lf *loadFlags, creds []client.Credentials, renew func(int) (client.Credentials, error)) *loadSummary {
	st := &loadState{errors: map[string]int64{}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = len(creds)
	// Compression is handled by wireCounter, so it can count the bytes
	// as transferred as well as the NDJSON they decode to.
	tr.DisableCompression = true
	hc := &http.Client{Transport: &wireCounter{base: tr, n: &st.wire, gzip: lf.gzip}}
	if lf.transport == client.TransportWebSocket {
		// The WebSocket takes over the connection after the upgrade, out
		// of the counter's sight: its bytes on the wire are the frames'
		// payloads, counted by the stream.
		hc = &http.Client{Transport: tr}
	}
	defer tr.CloseIdleConnections()

	limit := lf.duration
	if limit <= 0 {
		limit = lf.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	allDone := make(chan struct{})
	mem := &loadMemory{}
	mem.RSSBefore, mem.GoBefore = processMemory()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range creds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loadClient(ctx, client.StreamOptions{HTTPClient: hc, Transport: lf.transport}, i, c, renew, st, start, len(creds), allDone)
		}()
	}
	progress := make(chan struct{})
	go func() {
		defer close(progress)
		showProgress(ctx, e.stderr, st, len(creds), start)
	}()
	// Sample memory the moment every client has completed its first
	// checkpoint: then every stream is open at once.
	sampled := make(chan bool, 1)
	go func() {
		select {
		case <-allDone:
			mem.RSSAllConnected, mem.GoAllConnected = processMemory()
			mem.ClientsConnected = st.connected.Load()
			sampled <- true
		case <-ctx.Done():
			sampled <- false
		}
	}()
	haveMem := false
	if lf.duration <= 0 {
		select {
		case haveMem = <-sampled:
		case <-ctx.Done():
			haveMem = <-sampled
		}
		cancel()
	}
	wg.Wait()
	cancel()
	if lf.duration > 0 {
		haveMem = <-sampled
	}
	<-progress
	elapsed := time.Since(start)

	if lf.transport == client.TransportWebSocket {
		st.wire.Store(st.bytes.Load())
	}
	enc, _ := st.encoding.Load().(string)
	sum := &loadSummary{Endpoint: creds[0].Endpoint, Transport: string(lf.transport), Encoding: enc, Clients: len(creds), DurationSeconds: elapsed.Seconds(),
		Ops: st.ops.Load(), Bytes: st.bytes.Load(), WireBytes: st.wire.Load(), Reconnects: st.reconnects.Load(), Errors: st.errors,
		FirstCheckpoint: map[string]int64{}}
	if haveMem {
		n := int64(len(creds))
		mem.RSSPerClient = (mem.RSSAllConnected - mem.RSSBefore) / n
		mem.GoPerClient = (mem.GoAllConnected - mem.GoBefore) / n
		sum.Memory = mem
	}
	sum.OpsPerSecond = float64(sum.Ops) / elapsed.Seconds()
	sum.BytesPerSecond = float64(sum.Bytes) / elapsed.Seconds()
	st.mu.Lock()
	firsts := slices.Clone(st.firsts)
	st.mu.Unlock()
	slices.Sort(firsts)
	sum.Completed = len(firsts)
	if len(firsts) > 0 {
		for _, p := range []struct {
			name string
			q    float64
		}{{"p50", 0.50}, {"p95", 0.95}, {"p99", 0.99}, {"max", 1}} {
			sum.FirstCheckpoint[p.name] = percentile(firsts, p.q).Milliseconds()
		}
	}
	return sum
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// loadClient is one simulated client: it streams, tracks bucket positions
// like a real client, and reconnects 1–2 s after any error.
func loadClient(ctx context.Context, so client.StreamOptions, i int, creds client.Credentials, renew func(int) (client.Credentials, error),
	st *loadState, start time.Time, total int, allDone chan struct{}) {
	positions := map[string]protocol.OpID{}
	first := true
	attempts := 0
	for ctx.Err() == nil {
		if attempts > 0 {
			st.reconnects.Add(1)
			if renew != nil {
				if c, err := renew(i); err == nil {
					creds = c
				}
			}
		}
		attempts++
		err := loadStream(ctx, so, i, creds, st, positions, func() {
			if !first {
				return
			}
			first = false
			st.mu.Lock()
			st.firsts = append(st.firsts, time.Since(start))
			st.mu.Unlock()
			if st.completed.Add(1) == int64(total) {
				close(allDone)
			}
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			st.fail(err)
		}
		t := time.NewTimer(time.Second + time.Duration(rand.Int64N(int64(time.Second))))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func loadStream(ctx context.Context, so client.StreamOptions, i int, creds client.Credentials, st *loadState,
	positions map[string]protocol.OpID, onComplete func()) error {
	req := &protocol.StreamingSyncRequest{RawData: true, IncludeChecksum: true, ClientID: fmt.Sprintf("load-test-%d", i),
		Parameters: json.RawMessage(`{}`)}
	for b, p := range positions {
		req.Buckets = append(req.Buckets, protocol.BucketRequest{Name: b, After: p})
	}
	s, err := client.OpenStreamWith(ctx, creds, req, so)
	if err != nil {
		return err
	}
	defer s.Close()
	st.encoding.Store(s.Encoding())
	st.connected.Add(1)
	defer st.connected.Add(-1)
	var counted int64
	defer func() { st.bytes.Add(s.Bytes() - counted) }()
	var last protocol.OpID
	for {
		line, err := s.Next()
		if n := s.Bytes(); n-counted > 64<<10 {
			st.bytes.Add(n - counted)
			counted = n
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch {
		case line.Checkpoint != nil:
			last = line.Checkpoint.LastOpID
			keep := map[string]bool{}
			for _, b := range line.Checkpoint.Buckets {
				keep[b.Bucket] = true
			}
			for b := range positions {
				if !keep[b] {
					delete(positions, b)
				}
			}
		case line.CheckpointDiff != nil:
			last = line.CheckpointDiff.LastOpID
			for _, b := range line.CheckpointDiff.RemovedBuckets {
				delete(positions, b)
			}
		case line.Data != nil:
			st.ops.Add(int64(len(line.Data.Data)))
			if n := len(line.Data.Data); n > 0 {
				positions[line.Data.Bucket] = line.Data.Data[n-1].OpID
			}
		case line.CheckpointComplete != nil:
			n := s.Bytes()
			st.bytes.Add(n - counted)
			counted = n
			for b := range positions {
				positions[b] = max(positions[b], last)
			}
			onComplete()
		}
	}
}

// showProgress writes a live status line until ctx ends: rewritten in place
// on a terminal, one line every 5 s otherwise.
func showProgress(ctx context.Context, w io.Writer, st *loadState, total int, start time.Time) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	every := 5 * time.Second
	if tty {
		every = 250 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	line := func() string {
		el := time.Since(start)
		st.mu.Lock()
		var errs int64
		for _, n := range st.errors {
			errs += n
		}
		st.mu.Unlock()
		return fmt.Sprintf("[%6.1fs] connected %d/%d  first checkpoint %d/%d  ops %d (%.0f/s)  %s (%s/s)  errors %d  reconnects %d",
			el.Seconds(), st.connected.Load(), total, st.completed.Load(), total, st.ops.Load(),
			float64(st.ops.Load())/el.Seconds(), humanBytes(float64(st.bytes.Load())), humanBytes(float64(st.bytes.Load())/el.Seconds()),
			errs, st.reconnects.Load())
	}
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintf(w, "\r%s\n", line())
			} else {
				fmt.Fprintln(w, line())
			}
			return
		case <-tick.C:
			if tty {
				fmt.Fprintf(w, "\r%s", line())
			} else {
				fmt.Fprintln(w, line())
			}
		}
	}
}

func humanBytes(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f kB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

func (s *loadSummary) print(w io.Writer) {
	fmt.Fprintf(w, "\nConcurrent connections: %d clients against %s over %s (%s lines) for %.1f s\n\n",
		s.Clients, s.Endpoint, s.Transport, s.Encoding, s.DurationSeconds)
	fmt.Fprintf(w, "  %-34s %d of %d\n", "clients with a complete checkpoint", s.Completed, s.Clients)
	if s.Completed > 0 {
		fc := s.FirstCheckpoint
		fmt.Fprintf(w, "  %-34s p50 %s  p95 %s  p99 %s  max %s\n", "time to first complete checkpoint",
			ms(fc["p50"]), ms(fc["p95"]), ms(fc["p99"]), ms(fc["max"]))
	}
	fmt.Fprintf(w, "  %-34s %d (%.0f ops/s)\n", "operations received", s.Ops, s.OpsPerSecond)
	fmt.Fprintf(w, "  %-34s %s (%s/s)\n", "bytes received ("+s.Encoding+")", humanBytes(float64(s.Bytes)), humanBytes(s.BytesPerSecond))
	fmt.Fprintf(w, "  %-34s %s (%s/s)\n", "bytes on the wire", humanBytes(float64(s.WireBytes)), humanBytes(float64(s.WireBytes)/s.DurationSeconds))
	fmt.Fprintf(w, "  %-34s %d\n", "reconnects", s.Reconnects)
	if m := s.Memory; m != nil {
		fmt.Fprintf(w, "  %-34s RSS %s (%s per client), Go heap+stacks %s (%s per client)\n", "memory added, all connected",
			humanBytes(float64(m.RSSAllConnected-m.RSSBefore)), humanBytes(float64(m.RSSPerClient)),
			humanBytes(float64(m.GoAllConnected-m.GoBefore)), humanBytes(float64(m.GoPerClient)))
	}
	if len(s.Errors) == 0 {
		fmt.Fprintf(w, "  %-34s none\n", "errors")
		return
	}
	codes := make([]string, 0, len(s.Errors))
	for c := range s.Errors {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	fmt.Fprintf(w, "  %-34s\n", "errors")
	for _, c := range codes {
		fmt.Fprintf(w, "    %-32s %d\n", c, s.Errors[c])
	}
}

func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

// wireCounter asks for gzip itself (or for identity, gzip false) and
// counts response body bytes as they arrive, before decompressing them.
type wireCounter struct {
	base http.RoundTripper
	n    *atomic.Int64
	gzip bool
}

func (w *wireCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Accept-Encoding", "identity")
	if w.gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := w.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body := io.ReadCloser(&countingBody{rc: resp.Body, n: w.n})
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			body.Close()
			return nil, fmt.Errorf("gzip response: %w", err)
		}
		body = &gzipBody{Reader: zr, c: body}
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
	}
	resp.Body = body
	return resp, nil
}

type countingBody struct {
	rc io.ReadCloser
	n  *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return c.rc.Close() }

type gzipBody struct {
	*gzip.Reader
	c io.Closer
}

func (g *gzipBody) Close() error { return g.c.Close() }
