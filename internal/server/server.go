// Package server is the HTTP API of the sync service: the NDJSON sync
// stream (POST /sync/stream), write checkpoints, probes, CORS, Prometheus
// metrics and the development write endpoint.
//
// It sits at the end of the data flow: replication commits checkpoints to
// bucket storage; one broadcaster per process (broadcast.go) watches storage
// and wakes the connections whose buckets, lookups or write checkpoint
// changed; each connection (stream.go) resolves the user's buckets through
// the sync rules, diffs checksums taken from a cache shared by all
// connections (checksums.go), and streams the new ops as the pre-encoded
// bytes storage keeps. A connection that is not affected by a checkpoint
// does no work at all.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/protocol"
)

// Identity is the verified identity of a request's token.
type Identity struct {
	// UserID is the token's sub claim as text.
	UserID string
	// Claims is the JWT payload as JSON (for sync rules token parameters).
	Claims []byte
	// ExpiresAt is the token's exp; the stream ends then.
	ExpiresAt time.Time
	// Revoked, when not nil, is closed when the token stops being
	// acceptable before it expires (development tokens turned off); the
	// stream ends then, and the client's reconnect is refused.
	Revoked <-chan struct{}
}

// Authenticator verifies a client token. A failure is a *protocol.Error
// (HTTP 401, PSYNC_S21xx).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Identity, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string) (Identity, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (Identity, error) {
	return f(ctx, token)
}

// Rules is a compiled sync config: it turns one connection's request into
// the querier that resolves its buckets at each checkpoint.
type Rules interface {
	NewQuerier(req syncrules.Request) (Querier, error)
}

// Querier resolves one connection's buckets (see syncrules.Querier).
type Querier interface {
	Buckets(ctx context.Context, lookup syncrules.LookupFunc) ([]syncrules.BucketDescription, error)
	Streams() []protocol.StreamDescription
	Dynamic() bool
}

// RulesLoader compiles the sync config of a storage version. The server
// calls it once per version and keeps the result.
type RulesLoader func(v storage.Version) (Rules, error)

// Limits bound the API (config api.parameters).
type Limits struct {
	// MaxConcurrentConnections caps sync streams; more get HTTP 429.
	MaxConcurrentConnections int
	// MaxBucketsPerConnection and MaxParameterQueryResults bound bucket
	// resolution; over them the stream ends with PSYNC_S2305.
	MaxBucketsPerConnection  int
	MaxParameterQueryResults int
	// MaxDataFetchConcurrency caps concurrent bucket data reads.
	MaxDataFetchConcurrency int
}

// Default limits. The connection cap is far above the reference's 200: a
// waiting connection here is one parked goroutine.
const (
	DefaultMaxConcurrentConnections = 10_000
	DefaultMaxBuckets               = 1000
	DefaultMaxLookupResults         = 1000
	DefaultMaxDataFetchConcurrency  = 64
)

// Options configure a Server. Storage, Auth and Rules are required.
type Options struct {
	Storage storage.Storage
	Auth    Authenticator
	Rules   RulesLoader
	// Head returns the source's current position (for write checkpoints).
	// When nil, the latest checkpoint's position is used.
	Head func(ctx context.Context) (storage.Position, error)
	// Live reports whether replication in this process is alive (unified
	// role); nil means always live.
	Live   func() bool
	Limits Limits

	// KeepaliveInterval is the period of token_expires_in lines (20 s).
	KeepaliveInterval time.Duration
	// WriteTimeout bounds writing one line to a client; a client that
	// does not read for this long is disconnected (30 s).
	WriteTimeout time.Duration
	// ShutdownTimeout bounds draining streams in Serve (10 s).
	ShutdownTimeout time.Duration
	// MaxRequestBytes bounds request bodies (DefaultMaxRequestBytes).
	MaxRequestBytes int64
	// SyncConfigExpected says a sync config is configured and replication
	// will deploy it: until then streams wait (with keepalives) instead of
	// failing with PSYNC_S2302.
	SyncConfigExpected bool
	// SharedWriteCheckpoints says other processes may create write
	// checkpoints in the same storage (several API processes on Postgres
	// storage). Streams then read their write checkpoint at every
	// checkpoint, as the reference does; otherwise only when this process
	// created one for them.
	SharedWriteCheckpoints bool
	// DevCRUD, when set, enables POST /api/dev/crud (dev mode only).
	DevCRUD DevCRUDFunc
	// Metrics receives the API's metrics; nil creates a private set.
	Metrics *Metrics

	Logger *slog.Logger
}

// Server is the HTTP API. Create it with New, start the broadcaster with
// Start (or Serve), stop with Close.
type Server struct {
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	metrics *Metrics
	cache   *checksumCache
	bc      *broadcaster
	wc      *wcRegistry
	// fetchSem bounds concurrent bucket data reads (MaxDataFetchConcurrency).
	fetchSem chan struct{}

	zstdOnce sync.Once // creates zstd, shared by the streams that use it
	zstd     *zstd.Encoder

	conns     atomic.Int64
	closing   atomic.Bool
	startedAt atomic.Pointer[time.Time]

	rulesMu sync.Mutex // guards rules
	rules   map[int64]Rules

	lifeMu    sync.Mutex // guards the fields below
	started   bool
	cancel    context.CancelFunc // stops the broadcaster and streams
	streamCtx context.Context
	done      chan struct{}
	streams   sync.WaitGroup
}

// New returns a Server with defaults filled in.
func New(opts Options) (*Server, error) {
	if opts.Storage == nil || opts.Auth == nil || opts.Rules == nil {
		return nil, errors.New("server: Storage, Auth and Rules are required")
	}
	if opts.Limits.MaxConcurrentConnections <= 0 {
		opts.Limits.MaxConcurrentConnections = DefaultMaxConcurrentConnections
	}
	if opts.Limits.MaxBucketsPerConnection <= 0 {
		opts.Limits.MaxBucketsPerConnection = DefaultMaxBuckets
	}
	if opts.Limits.MaxParameterQueryResults <= 0 {
		opts.Limits.MaxParameterQueryResults = DefaultMaxLookupResults
	}
	if opts.Limits.MaxDataFetchConcurrency <= 0 {
		opts.Limits.MaxDataFetchConcurrency = DefaultMaxDataFetchConcurrency
	}
	if opts.KeepaliveInterval <= 0 {
		opts.KeepaliveInterval = 20 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		opts:  opts,
		log:   opts.Logger.With("component", "api"),
		cache: newChecksumCache(0),
		wc:    newWCRegistry(),
		rules: make(map[int64]Rules),
	}
	s.metrics = opts.Metrics
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.bind(s)
	s.bc = newBroadcaster(opts.Storage, s.cache, s.log, s.metrics.checkpoint)
	s.fetchSem = make(chan struct{}, opts.Limits.MaxDataFetchConcurrency)
	s.routes()
	return s, nil
}

// Handle adds a route to the API (for example the admin API or the
// dashboard). Call it before serving.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Ready is closed once the first checkpoint is available to streams.
func (s *Server) Ready() <-chan struct{} { return s.bc.first }

// Handler returns the API's HTTP handler (with CORS).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /sync/stream", s.handleStream)
	s.mux.HandleFunc("GET /sync/stream", s.handleSyncGet) // RSocket over WebSocket
	s.mux.HandleFunc("GET /write-checkpoint2.json", s.handleWriteCheckpoint)
	s.mux.HandleFunc("POST /sync/checkpoint-request", s.handleCheckpointRequest)
	s.mux.HandleFunc("GET /probes/startup", s.handleProbe(probeStartup))
	s.mux.HandleFunc("GET /probes/liveness", s.handleProbe(probeLiveness))
	s.mux.HandleFunc("GET /probes/readiness", s.handleProbe(probeReadiness))
	s.mux.Handle("GET /metrics", s.metrics.Handler())
	if s.opts.DevCRUD != nil {
		s.mux.HandleFunc("POST /api/dev/crud", s.handleDevCRUD)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, errNotFound) })
	s.handler = cors(s.mux)
}

// Start starts the checkpoint broadcaster. Streams wait for its first
// checkpoint. It is a no-op when already started.
func (s *Server) Start(ctx context.Context) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.started {
		return nil
	}
	s.started = true
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.streamCtx, s.done = cancel, ctx, make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.bc.run(ctx)
	}()
	now := time.Now()
	s.startedAt.Store(&now)
	return nil
}

// Close ends every stream (clients reconnect and resume), stops the
// broadcaster and waits for both, at most until ctx is done. New requests
// get 503 from now on. It is safe to call twice.
func (s *Server) Close(ctx context.Context) error {
	s.closing.Store(true)
	s.lifeMu.Lock()
	cancel, done := s.cancel, s.done
	s.lifeMu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	waited := make(chan struct{})
	go func() {
		s.streams.Wait()
		<-done
		close(waited)
	}()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Serve serves the API on ln until ctx is done, then drains streams for at
// most ShutdownTimeout and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.streamCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		_ = s.Close(context.Background())
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	closeErr := s.Close(sctx)
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		if closeErr == nil {
			closeErr = err
		}
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if errors.Is(closeErr, context.DeadlineExceeded) {
		s.log.Warn("shutdown deadline passed before every stream ended")
		return nil
	}
	return closeErr
}

// authenticate verifies the request's token.
func (s *Server) authenticate(r *http.Request) (Identity, error) {
	tok, err := tokenFromRequest(r)
	if err != nil {
		return Identity{}, err
	}
	id, err := s.opts.Auth.Authenticate(r.Context(), tok)
	if err != nil {
		var pe *protocol.Error
		if !errors.As(err, &pe) {
			s.log.Error("authenticate", "error", err)
		}
		return Identity{}, err
	}
	return id, nil
}

// rulesFor returns the compiled rules of a version, compiling them once.
func (s *Server) rulesFor(ctx context.Context, versionID int64) (Rules, error) {
	s.rulesMu.Lock()
	defer s.rulesMu.Unlock()
	if r, ok := s.rules[versionID]; ok {
		return r, nil
	}
	vs, err := s.opts.Storage.Versions(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if v.ID == versionID {
			r, err := s.opts.Rules(v)
			if err != nil {
				return nil, err
			}
			s.rules = map[int64]Rules{versionID: r} // older versions are no longer served
			return r, nil
		}
	}
	return nil, errNoSyncConfig
}
