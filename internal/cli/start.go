package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/config"
	"github.com/powersync-go/powersync/internal/replication"
	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/internal/source"
	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
	pgsource "github.com/powersync-go/powersync/internal/source/postgres"
	sqlitesource "github.com/powersync-go/powersync/internal/source/sqlite"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	pgstorage "github.com/powersync-go/powersync/internal/storage/postgres"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// Service roles, with the reference's names.
const (
	roleUnified = "unified"
	roleAPI     = "api"
	roleSync    = "sync"
	// roleDiagnose is what diagnose reports as its Instance.Role.
	roleDiagnose = "diagnose"
)

func newStartCmd(e *env) *cobra.Command {
	var role string
	var cf *configFlags
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the sync service",
		Long: `Run the sync service described by service.yaml.

Roles (-r): "unified" (default) replicates the source into bucket storage and
serves clients; "api" only serves clients; "sync" only replicates. Several
api processes can share one Postgres bucket storage with one sync process.

Ctrl-C (or SIGTERM) drains open sync streams and stops; a second Ctrl-C
exits at once.`,
		Example: `  powersync start -c service.yaml
  powersync start -c service.yaml -r api
  POWERSYNC_CONFIG_PATH=service.yaml powersync start`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch role {
			case roleUnified, roleAPI, roleSync:
			default:
				return fmt.Errorf("unknown role %q: use unified, api or sync", role)
			}
			cfg, err := cf.load(e, true)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			log := newLogger(cfg.System.Logging, e.stderr)
			for _, w := range cfg.Warnings {
				log.Warn("config: "+w.Message, "at", fmt.Sprintf("%s:%d:%d", w.File, w.Line, w.Column))
			}
			svc, err := openService(ctx, cfg, serviceOptions{role: role, log: log})
			if err != nil {
				return err
			}
			defer svc.close()
			inst := Instance{Role: role}
			if len(cfg.API.Tokens) > 0 {
				inst.AdminToken = cfg.API.Tokens[0]
			}
			if svc.ln != nil {
				inst.Endpoint = endpointURL(svc.ln.Addr())
				log.Info("powersync started", "role", role, "endpoint", inst.Endpoint, "listen", svc.ln.Addr().String())
			} else {
				log.Info("powersync started", "role", role)
			}
			ran := make(chan error, 1)
			go func() { ran <- svc.run(ctx) }()
			if e.ready != nil {
				// An embedding program hears of the instance once streams
				// can be served (as the readiness probe says).
				var ready <-chan struct{}
				if svc.api != nil {
					ready = svc.api.Ready()
				} else {
					c := make(chan struct{})
					close(c)
					ready = c
				}
				select {
				case <-ready:
					e.serving(inst)
				case err := <-ran:
					ran <- err
				}
			}
			if err := <-ran; err != nil {
				return err
			}
			svc.close()
			log.Info("powersync stopped")
			return nil
		},
	}
	cf = addConfigFlags(cmd)
	cmd.Flags().StringVarP(&role, "role", "r", roleUnified, "what this process does: unified, api or sync")
	return cmd
}

// endpointURL is the URL clients use for a listener: a listener on every
// interface is reached through the loopback address locally.
func endpointURL(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok && (ta.IP == nil || ta.IP.IsUnspecified()) {
		return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
	}
	return "http://" + a.String()
}

// signalContext is cancelled by the first SIGINT/SIGTERM. Once it is, the
// signals get their default action back, so a second Ctrl-C kills the
// process even if shutdown hangs.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// newLogger builds the process logger from system.logging.
func newLogger(lc config.Logging, w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(lc.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(lc.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serviceOptions adjust openService for callers other than start.
type serviceOptions struct {
	role string
	log  *slog.Logger
	// host is the listen host ("" = all interfaces).
	host string
	// port overrides cfg.Port when ≥ 0 and set.
	port    int
	setPort bool
	// api adjusts the API options (dev mode adds its write endpoint).
	api func(*server.Options, *service)
}

// service is one running instance: bucket storage and the source, plus
// replication (roles sync and unified) and the API (roles api and unified).
type service struct {
	cfg      *config.Config
	log      *slog.Logger
	store    storage.Storage
	src      source.Source
	repl     *replication.Replicator
	verifier *auth.Verifier
	devKeys  *auth.DevKeys
	api      *server.Server
	ln       net.Listener
	closed   bool // close ran (it runs once)
}

// openService opens everything the role needs; on error, whatever was
// opened is closed again.
func openService(ctx context.Context, cfg *config.Config, o serviceOptions) (_ *service, err error) {
	s := &service{cfg: cfg, log: o.log}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.store, err = openServiceStorage(ctx, cfg, o.role, o.log); err != nil {
		return nil, err
	}
	if s.src, err = openServiceSource(ctx, cfg, s.store, o.log); err != nil {
		return nil, err
	}
	compile := rulesCompiler(cfg)
	if o.role != roleAPI {
		if cfg.SyncConfig.Content == "" {
			return nil, errors.New("no sync config: set sync_config.path (or sync_config.content) in the service config")
		}
		s.repl, err = replication.New(replication.Options{
			Source:     s.src,
			Storage:    s.store,
			SyncConfig: cfg.SyncConfig.Content,
			Compile: func(content string, version int64) (replication.Rules, error) {
				// Not `return compile(…)`: a nil *syncrules.Config in the
				// interface would not be a nil Rules.
				c, err := compile(content, version)
				if err != nil {
					return nil, err
				}
				return c, nil
			},
			Logger:     o.log,
			SlotPrefix: slotPrefix(cfg),
		})
		if err != nil {
			return nil, err
		}
	}
	if o.role == roleSync {
		return s, nil
	}
	if s.devKeys, err = openDevKeys(ctx, cfg, s.store, o.log); err != nil {
		return nil, err
	}
	ao := authOptions(cfg, o.log)
	ao.Extra = s.devKeys
	if s.verifier, err = auth.NewVerifier(ao); err != nil {
		return nil, fmt.Errorf("client_auth: %w", err)
	}
	p := cfg.API.Parameters
	opts := server.Options{
		Storage: s.store,
		Auth:    verifierAuth{s.verifier},
		Rules: func(v storage.Version) (server.Rules, error) {
			c, err := compile(v.Content, v.ID)
			if err != nil {
				return nil, err
			}
			return serverRules{c}, nil
		},
		Head:               s.src.Head,
		SyncConfigExpected: cfg.SyncConfig.Content != "",
		// Postgres storage may be shared by several API processes.
		SharedWriteCheckpoints: cfg.Storage.Type == config.TypePostgres,
		Limits: server.Limits{
			MaxConcurrentConnections: p.MaxConcurrentConnections,
			MaxBucketsPerConnection:  p.MaxBucketsPerConnection,
			MaxParameterQueryResults: p.MaxParameterQueryResults,
			MaxDataFetchConcurrency:  p.MaxDataFetchConcurrency,
		},
		Logger: o.log,
	}
	if s.repl != nil {
		repl := s.repl
		// /metrics serves replication's own metrics (read from its status,
		// never from the source) beside the API's.
		opts.Metrics = server.NewMetrics()
		opts.Metrics.Registry.MustRegister(repl.Collectors()...)
		opts.Live = func() bool {
			select {
			case <-repl.Done():
				return false
			default:
				return true
			}
		}
	}
	if o.api != nil {
		o.api(&opts, s)
	}
	if s.api, err = server.New(opts); err != nil {
		return nil, err
	}
	admin := adminOptions(cfg, s)
	admin.TrustedProxies = cfg.API.TrustedProxies
	s.api.EnableAdmin(admin)
	port := cfg.Port
	if o.setPort {
		port = o.port
	}
	addr := net.JoinHostPort(o.host, strconv.Itoa(port))
	if s.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w (set port in the config, or stop the other process)", addr, err)
	}
	return s, nil
}

// run runs the service until ctx is done or a component fails.
func (s *service) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	if s.verifier != nil {
		s.verifier.Start(gctx)
	}
	if s.devKeys != nil {
		s.devKeys.Start(gctx)
	}
	if s.repl != nil {
		if err := s.repl.Start(gctx); err != nil {
			return err
		}
		done := s.repl.Done()
		g.Go(func() error {
			select {
			case <-gctx.Done():
				return nil
			case <-done:
				if gctx.Err() != nil {
					return nil
				}
				return errors.New("replication stopped unexpectedly")
			}
		})
	}
	if s.repl != nil && s.cfg.Storage.CompactInterval > 0 {
		// The replicating process compacts on a schedule; API processes
		// never write bucket data.
		g.Go(func() error {
			storage.CompactEvery(gctx, s.store, s.cfg.Storage.CompactInterval, storage.CompactOptions{}, s.log)
			return nil
		})
	}
	if s.api != nil {
		g.Go(func() error { return s.api.Serve(gctx, s.ln) })
	}
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// close stops and releases everything, in reverse order of opening.
func (s *service) close() {
	if s.closed {
		return
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if s.api != nil {
		_ = s.api.Close(ctx)
	}
	if s.ln != nil {
		_ = s.ln.Close()
	}
	if s.verifier != nil {
		_ = s.verifier.Close(ctx)
	}
	if s.devKeys != nil {
		_ = s.devKeys.Close(ctx)
	}
	if s.repl != nil {
		if err := s.repl.Close(ctx); err != nil {
			s.log.Warn("stop replication", "error", err)
		}
	}
	if s.src != nil {
		_ = s.src.Close(ctx)
	}
	if s.store != nil {
		if err := s.store.Close(ctx); err != nil {
			s.log.Warn("close bucket storage", "error", err)
		}
	}
}

// rulesCompiler compiles sync config content for a version, with bucket
// ids prefixed by the version so ids never repeat across versions.
func rulesCompiler(cfg *config.Config) func(content string, version int64) (*syncrules.Config, error) {
	opts := syncrules.ParseOptions{DefaultSchema: defaultSchema(cfg)}
	return func(content string, version int64) (*syncrules.Config, error) {
		c, diags := syncrules.Parse([]byte(content), opts)
		if c == nil || diags.HasFatal() {
			var msgs []string
			for _, d := range diags {
				if d.Severity == syncrules.SeverityFatal {
					msgs = append(msgs, fmt.Sprintf("%d:%d: %s", d.Line, d.Column, d.Message))
				}
			}
			return nil, fmt.Errorf("sync config has errors (run powersync validate for details): %s", strings.Join(msgs, "; "))
		}
		return c.Versioned(version), nil
	}
}

func slotPrefix(cfg *config.Config) string {
	if len(cfg.Replication.Connections) > 0 {
		return cfg.Replication.Connections[0].SlotNamePrefix
	}
	return ""
}

func authOptions(cfg *config.Config, log *slog.Logger) auth.Options {
	// OptionsFromServiceConfig, as `verify token` uses: with
	// client_auth.supabase on, the Supabase project's JWKS comes from the
	// source connection's host.
	o := auth.OptionsFromServiceConfig(cfg)
	o.Logger = log
	return o
}

// verifierAuth adapts the auth package's verifier to the API.
type verifierAuth struct{ v *auth.Verifier }

func (a verifierAuth) Authenticate(ctx context.Context, token string) (server.Identity, error) {
	id, err := a.v.Verify(ctx, token)
	if err != nil {
		return server.Identity{}, err
	}
	return server.Identity{UserID: id.UserID, Claims: id.RawClaims, ExpiresAt: id.ExpiresAt}, nil
}

// serverRules adapts a compiled sync config to the API.
type serverRules struct{ c *syncrules.Config }

func (r serverRules) NewQuerier(req syncrules.Request) (server.Querier, error) {
	q, err := r.c.NewQuerier(req)
	if err != nil {
		return nil, err
	}
	return q, nil
}

// openServiceStorage opens the configured bucket storage.
func openServiceStorage(ctx context.Context, cfg *config.Config, role string, log *slog.Logger) (storage.Storage, error) {
	switch cfg.Storage.Type {
	case config.TypePostgres:
		st, err := pgstorage.Open(ctx, pgstorage.Options{ConnString: cfg.Storage.PostgresURI(), CACert: cfg.Storage.CACert,
			MaxConns: cfg.Storage.MaxPoolSize, SkipMigrate: role == roleAPI, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open bucket storage: %w", err)
		}
		return st, nil
	default:
		st, err := pebble.Open(ctx, pebble.Options{Dir: cfg.Storage.Path, Logger: log})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
}

// openServiceSource opens the configured source database. An error names
// the config key (and where it is written) of the connection that failed.
//
// Each case checks the error before returning the source: returning a nil
// *sqlitesource.Source as a source.Source would give a non-nil interface
// whose Close panics.
func openServiceSource(ctx context.Context, cfg *config.Config, store storage.Storage, log *slog.Logger) (source.Source, error) {
	if len(cfg.Replication.Connections) == 0 {
		return nil, errors.New("no source database: add one under replication.connections in the service config")
	}
	c := cfg.Replication.Connections[0]
	const key = "replication.connections[0]"
	switch c.Type {
	case config.TypeSQLite:
		src, err := sqlitesource.Open(ctx, sqlitesource.Options{Path: c.Path, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open source database: %s: %w", cfg.Where(key+".path"), err)
		}
		return src, nil
	case config.TypePostgres:
		src, err := pgsource.Open(ctx, pgSourceOptions(cfg, c, log))
		if err != nil {
			return nil, fmt.Errorf("open source database: %s: %w", cfg.Where(key), err)
		}
		return src, nil
	case config.TypeMySQL:
		src, err := mysqlsource.Open(ctx, mysqlSourceOptions(cfg, c, store.Settings(), log))
		if err != nil {
			return nil, fmt.Errorf("open source database: %s: %w", cfg.Where(key), err)
		}
		return src, nil
	default:
		return nil, fmt.Errorf("%s: unsupported source type %q", cfg.Where(key+".type"), c.Type)
	}
}
