package config_test

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/config"
)

// envMap is a Getenv over a fixed map.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// minimal is the smallest config that loads without warnings about keys.
const minimal = `
client_auth:
  audience: [a]
  jwks_uri: https://example.com/jwks.json
replication:
  connections:
    - type: sqlite
      path: src.db
`

func mustParse(t *testing.T, src string, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(src), filepath.Join(t.TempDir(), "service.yaml"), envMap(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

// parseErr parses src and returns every error message (without positions).
func parseErr(t *testing.T, src string, env map[string]string) []string {
	t.Helper()
	_, err := config.Parse([]byte(src), filepath.Join(t.TempDir(), "service.yaml"), envMap(env))
	if err == nil {
		t.Fatalf("Parse succeeded, want errors")
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error is %T, want *config.Error: %v", err, err)
	}
	var msgs []string
	for _, d := range ce.Diagnostics {
		msgs = append(msgs, d.Message)
	}
	return msgs
}

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, "port: 8080\n", nil)
	dir := cfg.Dir
	want := config.Default(dir)
	want.File, want.Source, want.SourceName, want.Warnings = cfg.File, cfg.Source, cfg.SourceName, cfg.Warnings
	if want := map[string]config.Position{"port": {Line: 1, Column: 7}}; !reflect.DeepEqual(cfg.Positions, want) {
		t.Errorf("positions %v, want %v", cfg.Positions, want)
	}
	want.Positions = cfg.Positions
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults differ:\n got %+v\nwant %+v", cfg, want)
	}
	checks := []struct {
		name     string
		got, exp any
	}{
		{"port", cfg.Port, 8080},
		{"storage.type", cfg.Storage.Type, "pebble"},
		{"storage.path", cfg.Storage.Path, filepath.Join(dir, "powersync-data")},
		{"token_max_expiration", cfg.ClientAuth.TokenMaxExpiration, 24 * time.Hour},
		{"max_concurrent_connections", cfg.API.Parameters.MaxConcurrentConnections, 10000},
		{"max_data_fetch_concurrency", cfg.API.Parameters.MaxDataFetchConcurrency, 10},
		{"max_buckets_per_connection", cfg.API.Parameters.MaxBucketsPerConnection, 1000},
		{"max_parameter_query_results", cfg.API.Parameters.MaxParameterQueryResults, 1000},
		{"checkpoint_request_retention_minutes", cfg.API.Parameters.CheckpointRequestRetentionMinutes, 60},
		{"bucket_count_cache_ttl_minutes", cfg.API.Parameters.BucketCountCacheTTLMinutes, 60},
		{"exit_on_error", cfg.SyncConfig.ExitOnError, true},
		{"probes legacy", cfg.Healthcheck.Probes, config.Probes{UseLegacy: true}},
		{"logging", cfg.System.Logging, config.Logging{Level: "info", Format: "text"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.exp) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.exp)
		}
	}
}

func TestEnvTag(t *testing.T) {
	env := map[string]string{
		"PS_PORT": "9000", "PS_NUM": "0x1F", "PS_FLOAT": "2.5", "PS_TRUE": "TRUE", "PS_FALSE": "false",
		"PS_URI": "postgresql://u:p@db:5432/app", "PS_BAD_NUM": "12abc", "PS_BAD_BOOL": "yes", "PS_EMPTY": "",
		"HOME_SECRET": "x",
	}
	ok := []struct {
		name string
		src  string
		get  func(*config.Config) any
		want any
	}{
		{"string used as port", "port: !env PS_PORT", func(c *config.Config) any { return c.Port }, 9000},
		{"::number", "port: !env PS_PORT::number", func(c *config.Config) any { return c.Port }, 9000},
		{"::number hex", "parameters:\n  n: !env PS_NUM::number", func(c *config.Config) any { return c.Parameters["n"] }, int64(31)},
		{"::number fraction", "parameters: {n: !env 'PS_FLOAT::number'}", func(c *config.Config) any { return c.Parameters["n"] }, 2.5},
		{"::boolean any case", "migrations:\n  disable_auto_migration: !env PS_TRUE::boolean", func(c *config.Config) any { return c.Migrations.DisableAutoMigration }, true},
		{"::boolean false", "parameters:\n  b: !env PS_FALSE::boolean", func(c *config.Config) any { return c.Parameters["b"] }, false},
		{"::string", "parameters:\n  s: !env \"PS_PORT::string\"", func(c *config.Config) any { return c.Parameters["s"] }, "9000"},
		{"in a list", "api: {tokens: [!env PS_URI]}", func(c *config.Config) any { return c.API.Tokens }, []string{"postgresql://u:p@db:5432/app"}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParse(t, tc.src, env)
			if got := tc.get(cfg); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	bad := []struct {
		name, src, want string
	}{
		{"undefined", "port: !env PS_NOPE", "port: !env PS_NOPE: the variable is not set (or is empty); set it in the environment"},
		{"empty", "port: !env PS_EMPTY", "port: !env PS_EMPTY: the variable is not set (or is empty); set it in the environment"},
		{"no PS_ prefix", "port: !env HOME_SECRET", "port: !env HOME_SECRET: only variables whose names start with PS_ can be used in the config (this keeps the rest of the environment out of it)"},
		{"unknown suffix", "port: !env PS_PORT::int", "port: !env PS_PORT: unknown type ::int; use ::string (the default), ::number or ::boolean"},
		{"not a number", "port: !env PS_BAD_NUM::number", `port: !env PS_BAD_NUM::number: "12abc" is not a number`},
		{"not a boolean", "parameters:\n  b: !env PS_BAD_BOOL::boolean", `parameters.b: !env PS_BAD_BOOL::boolean: "yes" is neither true nor false`},
		{"no name", "port: !env ''", "port: !env needs a variable name after it, like `!env PS_DATABASE_URI`"},
		{"bad name", "port: !env PS-X", `port: !env PS-X: "PS-X" is not a valid environment variable name`},
		{"other tag", "port: !secret PS_PORT", "port: unknown tag !secret; the only tag service.yaml understands is !env"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			msgs := parseErr(t, tc.src, env)
			if tc.want == "" {
				return
			}
			if !contains(msgs, tc.want) {
				t.Errorf("errors %q do not include %q", msgs, tc.want)
			}
		})
	}
	t.Run("boolean hint", func(t *testing.T) {
		msgs := parseErr(t, "client_auth: {supabase: !env PS_TRUE}", env)
		want := `client_auth.supabase: expected true or false, got a string of 4 characters (from !env PS_TRUE); write !env PS_TRUE::boolean to read the variable as a boolean`
		if !contains(msgs, want) {
			t.Errorf("errors %q do not include %q", msgs, want)
		}
	})
	t.Run("secrets are not echoed", func(t *testing.T) {
		msgs := parseErr(t, "port: !env PS_URI\nstorage: {type: !env PS_URI}\n", env)
		want := []string{
			"port: expected a whole number, got a string of 28 characters (from !env PS_URI)",
			`storage.type: expected one of "pebble", "postgresql", got a string of 28 characters (from !env PS_URI)`,
		}
		for _, w := range want {
			if !contains(msgs, w) {
				t.Errorf("errors %q do not include %q", msgs, w)
			}
		}
		if all := strings.Join(msgs, "\n"); strings.Contains(all, "u:p@") {
			t.Errorf("an error shows the variable's value: %s", all)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeFiles creates files (path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadSources(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name     string
		files    map[string]string
		opts     config.LoadOptions
		env      map[string]string
		wantPort int
		wantName string // SourceName, relative to the work dir when a file
		notFound bool
	}{
		{name: "flag path", files: map[string]string{"a.yaml": "port: 1"}, opts: config.LoadOptions{Path: "a.yaml"}, wantPort: 1, wantName: "a.yaml"},
		{name: "env path", files: map[string]string{"b.yml": "port: 2"}, env: map[string]string{"POWERSYNC_CONFIG_PATH": "b.yml"}, wantPort: 2, wantName: "b.yml"},
		{name: "json file", files: map[string]string{"c.json": `{"port": 3, "storage": {"type": "pebble"}}`}, opts: config.LoadOptions{Path: "c.json"}, wantPort: 3, wantName: "c.json"},
		{name: "yaml reads json too", files: map[string]string{"c.conf": `{"port": 4}`}, opts: config.LoadOptions{Path: "c.conf"}, wantPort: 4, wantName: "c.conf"},
		{name: "flag base64 yaml", opts: config.LoadOptions{Base64: b64("port: 5")}, wantPort: 5, wantName: "--config-base64"},
		{name: "env base64 json", env: map[string]string{"POWERSYNC_CONFIG_B64": b64(`{"port": 6}`)}, wantPort: 6, wantName: "POWERSYNC_CONFIG_B64"},
		{name: "url-safe unpadded base64", opts: config.LoadOptions{Base64: base64.RawURLEncoding.EncodeToString([]byte("port: 7 # ?>?>"))}, wantPort: 7, wantName: "--config-base64"},
		{name: "flag beats env", files: map[string]string{"a.yaml": "port: 8"}, opts: config.LoadOptions{Path: "a.yaml"},
			env: map[string]string{"POWERSYNC_CONFIG_B64": b64("port: 80"), "POWERSYNC_CONFIG_PATH": "x.yaml"}, wantPort: 8, wantName: "a.yaml"},
		{name: "env base64 beats env path", files: map[string]string{"a.yaml": "port: 90"},
			env: map[string]string{"POWERSYNC_CONFIG_B64": b64("port: 9"), "POWERSYNC_CONFIG_PATH": "a.yaml"}, wantPort: 9, wantName: "POWERSYNC_CONFIG_B64"},
		{name: "discovery order 1", files: map[string]string{"powersync/service.yaml": "port: 10", "service.yaml": "port: 11", "powersync.yaml": "port: 12"},
			opts: config.LoadOptions{Discover: true}, wantPort: 10, wantName: "powersync/service.yaml"},
		{name: "discovery order 2", files: map[string]string{"service.yaml": "port: 11", "powersync.yaml": "port: 12"},
			opts: config.LoadOptions{Discover: true}, wantPort: 11, wantName: "service.yaml"},
		{name: "discovery order 3", files: map[string]string{"powersync.yaml": "port: 12"},
			opts: config.LoadOptions{Discover: true}, wantPort: 12, wantName: "powersync.yaml"},
		{name: "env beats discovery", files: map[string]string{"service.yaml": "port: 13", "other.yaml": "port: 14"},
			opts: config.LoadOptions{Discover: true}, env: map[string]string{"POWERSYNC_CONFIG_PATH": "other.yaml"}, wantPort: 14, wantName: "other.yaml"},
		{name: "nothing found", opts: config.LoadOptions{Discover: true}, notFound: true},
		{name: "no discovery", files: map[string]string{"service.yaml": "port: 15"}, notFound: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			opts := tc.opts
			opts.WorkDir = dir
			opts.Getenv = envMap(tc.env)
			cfg, err := config.Load(opts)
			if tc.notFound {
				if !errors.Is(err, config.ErrNotFound) {
					t.Fatalf("err = %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Port != tc.wantPort {
				t.Errorf("port = %d, want %d", cfg.Port, tc.wantPort)
			}
			name := cfg.SourceName
			if rel, err := filepath.Rel(dir, name); err == nil && filepath.IsAbs(name) {
				name = rel
			}
			if filepath.ToSlash(name) != tc.wantName {
				t.Errorf("source = %q, want %q", name, tc.wantName)
			}
			if cfg.File != "" && cfg.Dir != filepath.Dir(cfg.File) {
				t.Errorf("Dir = %q, want the config file's directory", cfg.Dir)
			}
			if cfg.File == "" && cfg.Dir != dir {
				t.Errorf("Dir = %q, want the work dir %q for base64 config", cfg.Dir, dir)
			}
		})
	}
}

func TestLoadSourceErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"bad.json": "{\n  \"port\": 1,\n}\n"})
	cases := []struct {
		name string
		opts config.LoadOptions
		want string
	}{
		{"missing file", config.LoadOptions{Path: "nope.yaml"}, "nope.yaml: cannot read the config: no such file or directory"},
		{"bad base64", config.LoadOptions{Base64: "!!!"}, "--config-base64: not valid base64: illegal base64 data at input byte 0"},
		{"both", config.LoadOptions{Path: "a.yaml", Base64: "cG9ydDogMQ=="}, "give either a config file or base64 config text, not both"},
		{"strict json", config.LoadOptions{Path: "bad.json"}, "bad.json:3:1: JSON syntax: invalid character '}' looking for beginning of object key string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.WorkDir = dir
			opts.Getenv = envMap(nil)
			_, err := config.Load(opts)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"conf/service.yaml":    "storage: {path: data}\nsync_config: {path: rules/sync.yaml}\nreplication:\n  connections:\n    - type: sqlite\n      path: ../src.db\n",
		"conf/rules/sync.yaml": "bucket_definitions: {}\n",
	})
	cfg, err := config.Load(config.LoadOptions{Path: "conf/service.yaml", WorkDir: dir, Getenv: envMap(nil)})
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "conf")
	for _, c := range []struct{ name, got, want string }{
		{"dir", cfg.Dir, conf},
		{"storage", cfg.Storage.Path, filepath.Join(conf, "data")},
		{"sync path", cfg.SyncConfig.Path, filepath.Join(conf, "rules/sync.yaml")},
		{"sync content", cfg.SyncConfig.Content, "bucket_definitions: {}\n"},
		{"sync file", cfg.SyncConfig.ContentFile, filepath.Join(conf, "rules/sync.yaml")},
		{"sqlite", cfg.Replication.Connections[0].Path, filepath.Join(dir, "src.db")},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestSyncConfig(t *testing.T) {
	t.Run("inline block", func(t *testing.T) {
		cfg := mustParse(t, "port: 1\nsync_config:\n  exit_on_error: false\n  content: |\n    bucket_definitions:\n      global: {}\n", nil)
		s := cfg.SyncConfig
		if s.Content != "bucket_definitions:\n  global: {}\n" || s.ContentLine != 5 || s.ExitOnError || s.Path != "" {
			t.Errorf("got %+v", s)
		}
		if s.ContentFile != cfg.SourceName {
			t.Errorf("ContentFile = %q, want the config %q", s.ContentFile, cfg.SourceName)
		}
	})
	t.Run("deprecated alias", func(t *testing.T) {
		cfg := mustParse(t, "sync_rules:\n  content: 'bucket_definitions: {}'\n", nil)
		if !cfg.SyncConfig.FromAlias || cfg.SyncConfig.Content != "bucket_definitions: {}" || cfg.SyncConfig.ContentLine != 2 {
			t.Errorf("got %+v", cfg.SyncConfig)
		}
		if !hasWarning(cfg, "sync_rules: sync_rules is deprecated; rename it to sync_config") {
			t.Errorf("no deprecation warning in %v", cfg.Warnings)
		}
	})
	t.Run("base64 env wins", func(t *testing.T) {
		env := map[string]string{"POWERSYNC_SYNC_CONFIG_B64": base64.StdEncoding.EncodeToString([]byte("streams: {}"))}
		cfg := mustParse(t, "sync_config: {path: missing.yaml}\n", env)
		if cfg.SyncConfig.Content != "streams: {}" || cfg.SyncConfig.ContentFile != "POWERSYNC_SYNC_CONFIG_B64" {
			t.Errorf("got %+v", cfg.SyncConfig)
		}
	})
	for _, tc := range []struct{ name, src, want string }{
		{"both keys", "sync_config: {content: a}\nsync_rules: {content: b}\n", "sync_rules: sync_rules is the old name of sync_config; give only one of them"},
		{"path and content", "sync_config: {path: a.yaml, content: b}\n", "sync_config.content: give either path or content, not both"},
		{"content not text", "sync_config: {content: [1]}\n", "sync_config.content: expected the sync config as text (use `content: |` and indent it below), got a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msgs := parseErr(t, tc.src, nil); !contains(msgs, tc.want) {
				t.Errorf("errors %q do not include %q", msgs, tc.want)
			}
		})
	}
}

func hasWarning(cfg *config.Config, msg string) bool {
	for _, w := range cfg.Warnings {
		if w.Message == msg {
			return true
		}
	}
	return false
}

func TestSections(t *testing.T) {
	src := `
replication:
  connections:
    - type: postgresql
      id: main
      tag: default
      hostname: db.internal
      port: 5433
      database: app
      username: ps
      password: 12345
      sslmode: disable
      slot_name_prefix: myapp_
      max_pool_size: 4
      connect_timeout: 10
      heartbeat_interval_seconds: 30
      reject_ip_ranges: [local, 10.0.0.0/8]
      debug_api: true
storage:
  type: postgresql
  uri: postgresql://store@storage.internal/powersync?sslmode=require
  max_pool_size: 16
  batch_limits: {max_record_count: 500}
port: "9090"
client_auth:
  jwks_uri: [https://a.example/jwks, http://localhost:6060/keys]
  audience: powersync
  token_max_expiration: 12h
  supabase: true
  supabase_jwt_secret: shh
  jwks_reject_ip_ranges: [local]
  allow_temporary_tokens: true
api:
  tokens: [0123456789abcdef0123]
  parameters:
    max_concurrent_connections: 50
    max_data_fetch_concurrency: 3
    max_buckets_per_connection: 7
    max_parameter_query_results: 8
    checkpoint_request_retention_minutes: 9
    bucket_count_cache_ttl_minutes: 10
telemetry:
  prometheus_port: 9464
  disable_telemetry_sharing: true
  internal_service_endpoint: https://metrics.example/v1
healthcheck:
  probes:
    use_http: true
system:
  logging: {level: debug, format: json}
parameters: {region: eu, limit: 5, ratio: 0.5, on: true, none: null}
metadata: {team: sync}
migrations: {disable_auto_migration: true}
`
	cfg := mustParse(t, src, nil)
	wantConn := config.Connection{
		Type: "postgresql", ID: "main", Tag: "default", Hostname: "db.internal", Port: 5433, Database: "app",
		Username: "ps", Password: "12345", SSLMode: "disable", SlotNamePrefix: "myapp_", MaxPoolSize: 4,
		ConnectTimeout: 10 * time.Second, HeartbeatIntervalSeconds: 30, RejectIPRanges: []string{"local", "10.0.0.0/8"}, DebugAPI: true,
	}
	if !reflect.DeepEqual(cfg.Replication.Connections, []config.Connection{wantConn}) {
		t.Errorf("connections:\n got %+v\nwant %+v", cfg.Replication.Connections, wantConn)
	}
	if got, want := cfg.Replication.Connections[0].PostgresURI(), "postgresql://ps:12345@db.internal:5433/app?sslmode=disable"; got != want {
		t.Errorf("PostgresURI = %q, want %q", got, want)
	}
	st := cfg.Storage
	if st.Type != "postgresql" || st.SSLMode != "require" || st.MaxPoolSize != 16 || st.BatchLimits.MaxRecordCount != 500 || st.Path != "" {
		t.Errorf("storage = %+v", st)
	}
	if got, want := st.PostgresURI(), "postgresql://store@storage.internal/powersync?sslmode=require"; got != want {
		t.Errorf("storage PostgresURI = %q, want %q", got, want)
	}
	if cfg.Port != 9090 {
		t.Errorf("port = %d", cfg.Port)
	}
	wantAuth := config.ClientAuth{
		JWKSURI:  []string{"https://a.example/jwks", "http://localhost:6060/keys"},
		Audience: []string{"powersync"}, TokenMaxExpiration: 12 * time.Hour, Supabase: true, SupabaseJWTSecret: "shh",
		JWKSRejectIPRanges: []string{"local"}, AllowTemporaryTokens: true,
	}
	if !reflect.DeepEqual(cfg.ClientAuth, wantAuth) {
		t.Errorf("client_auth:\n got %+v\nwant %+v", cfg.ClientAuth, wantAuth)
	}
	wantAPI := config.API{Tokens: []string{"0123456789abcdef0123"}, Parameters: config.APIParameters{50, 3, 7, 8, 9, 10}}
	if !reflect.DeepEqual(cfg.API, wantAPI) {
		t.Errorf("api = %+v", cfg.API)
	}
	if cfg.Telemetry != (config.Telemetry{PrometheusPort: 9464, DisableTelemetrySharing: true, InternalServiceEndpoint: "https://metrics.example/v1"}) {
		t.Errorf("telemetry = %+v", cfg.Telemetry)
	}
	if cfg.Healthcheck.Probes != (config.Probes{UseHTTP: true}) {
		t.Errorf("probes = %+v (a probes block makes every probe opt-in)", cfg.Healthcheck.Probes)
	}
	if cfg.System.Logging != (config.Logging{Level: "debug", Format: "json"}) {
		t.Errorf("logging = %+v", cfg.System.Logging)
	}
	wantParams := map[string]any{"region": "eu", "limit": int64(5), "ratio": 0.5, "on": true, "none": nil}
	if !reflect.DeepEqual(cfg.Parameters, wantParams) {
		t.Errorf("parameters = %#v", cfg.Parameters)
	}
	if !reflect.DeepEqual(cfg.Metadata, map[string]string{"team": "sync"}) || !cfg.Migrations.DisableAutoMigration {
		t.Errorf("metadata/migrations = %v %v", cfg.Metadata, cfg.Migrations)
	}
	// prometheus_port is accepted but has no effect, and says so.
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Message != "telemetry.prometheus_port: not supported; metrics are served at /metrics on the service port" {
		t.Errorf("warnings = %v, want only the prometheus_port one", cfg.Warnings)
	}
}

func TestLogEnvOverride(t *testing.T) {
	cfg := mustParse(t, "system: {logging: {level: warn, format: text}}", map[string]string{"PS_LOG_LEVEL": "debug", "PS_LOG_FORMAT": "json"})
	if cfg.System.Logging != (config.Logging{Level: "debug", Format: "json"}) {
		t.Errorf("logging = %+v", cfg.System.Logging)
	}
	if cfg.System.Logging.SlogLevel().String() != "DEBUG" {
		t.Errorf("SlogLevel = %v", cfg.System.Logging.SlogLevel())
	}
	_, err := config.Parse([]byte("port: 1"), "s.yaml", envMap(map[string]string{"PS_LOG_LEVEL": "loud"}))
	if err == nil || !strings.Contains(err.Error(), `PS_LOG_LEVEL: expected one of "silly", "debug", "verbose", "http", "info", "warn", "error", got "loud"`) {
		t.Errorf("err = %v", err)
	}
}

func TestJWKS(t *testing.T) {
	const rsaN = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw"
	src := `
replication: {connections: [{type: sqlite, path: a.db}]}
client_auth:
  audience: [x]
  jwks:
    keys:
      - {kty: RSA, kid: r1, alg: RS256, n: ` + rsaN + `, e: AQAB, use: sig}
      - {kty: oct, kid: h1, alg: HS256, k: aJE1UlMk6uIKDxAnhblzn6DRtvyVTXgES5QH3KGuvPQ}
      - {kty: EC, crv: P-256, alg: ES256, x: MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4, y: 4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM}
      - {kty: OKP, crv: Ed25519, alg: EdDSA, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo, key_ops: [verify]}
`
	cfg := mustParse(t, src, nil)
	if n := len(cfg.ClientAuth.JWKS.Keys); n != 4 {
		t.Fatalf("%d keys", n)
	}
	if got := cfg.ClientAuth.JWKS.Keys[3]["key_ops"]; !reflect.DeepEqual(got, []any{"verify"}) {
		t.Errorf("key_ops = %#v", got)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}

	bad := []struct{ name, key, want string }{
		{"no kty", "{kid: a}", `client_auth.jwks.keys[0]: missing "kty" (the key type: one of "RSA", "oct", "EC", "OKP")`},
		{"bad kty", "{kty: RSB}", `client_auth.jwks.keys[0].kty: expected one of "RSA", "oct", "EC", "OKP" as key type, got "RSB"; did you mean "RSA"?`},
		{"rsa no kid", "{kty: RSA, n: " + rsaN + ", e: AQAB}", `client_auth.jwks.keys[0]: missing "kid" (RSA keys must have a kid)`},
		{"rsa no n", "{kty: RSA, kid: a, e: AQAB}", `client_auth.jwks.keys[0]: missing "n" (the RSA modulus)`},
		{"rsa wrong alg", "{kty: RSA, kid: a, alg: HS256, n: " + rsaN + ", e: AQAB}", `client_auth.jwks.keys[0].alg: expected one of "RS256", "RS384", "RS512" for an RSA key, got "HS256"; did you mean "RS256"?`},
		{"oct no alg", "{kty: oct, k: aJE1UlMk6uIKDxAnhblzn6DRtvyVTXgES5QH3KGuvPQ}", `client_auth.jwks.keys[0]: missing "alg" (the algorithm tokens signed with this key use)`},
		{"oct standard base64", "{kty: oct, alg: HS256, k: 'ab+/cd'}", `client_auth.jwks.keys[0].k: not base64url: it contains '+' or '/', which belong to standard base64 (JWKs use '-' and '_')`},
		{"ec wrong curve alg", "{kty: EC, crv: P-384, alg: ES256, x: MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4, y: 4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM}", `client_auth.jwks.keys[0].x: the x coordinate must be 48 bytes, got 32`},
		{"ec alg mismatch", "{kty: EC, crv: P-256, alg: ES384, x: MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4, y: 4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM}", `client_auth.jwks.keys[0].alg: ES384 does not fit curve P-256; use ES256`},
		{"okp wrong alg", "{kty: OKP, crv: Ed25519, alg: ES256, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo}", `client_auth.jwks.keys[0].alg: expected one of "EdDSA" for an OKP key, got "ES256"`},
		{"okp short x", "{kty: OKP, crv: Ed25519, alg: EdDSA, x: AAAA}", `client_auth.jwks.keys[0].x: the public key must be 32 bytes, got 3`},
		{"bad use", "{kty: oct, alg: HS256, use: enc, k: aJE1UlMk6uIKDxAnhblzn6DRtvyVTXgES5QH3KGuvPQ}", `client_auth.jwks.keys[0].use: must be "sig" for a key that verifies tokens, got "enc"`},
		{"typo member", "{kty: oct, alg: HS256, kdi: a, k: aJE1UlMk6uIKDxAnhblzn6DRtvyVTXgES5QH3KGuvPQ}", `unknown key "kdi" in client_auth.jwks.keys[0]; did you mean "kid"?`},
		{"not a mapping", "just-a-string", `client_auth.jwks.keys[0]: expected a JWK (a mapping with kty and the key's fields), got "just-a-string"`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			msgs := parseErr(t, "client_auth:\n  audience: [x]\n  jwks:\n    keys:\n      - "+tc.key+"\n", nil)
			if !contains(msgs, tc.want) {
				t.Errorf("errors %q\ndo not include %q", msgs, tc.want)
			}
		})
	}
	t.Run("duplicate kid", func(t *testing.T) {
		msgs := parseErr(t, "client_auth:\n  jwks:\n    keys:\n      - {kty: oct, kid: a, alg: HS256, k: aJE1UlMk6uIKDxAnhblzn6DRtvyVTXgES5QH3KGuvPQ}\n      - {kty: oct, kid: a, alg: HS256, k: aJE1UlMk6uIKDxAnhblzn6DRtvyVTXgES5QH3KGuvPQ}\n", nil)
		want := `client_auth.jwks.keys[1].kid: kid "a" is already used by the key at line 4; each key needs its own kid`
		if !contains(msgs, want) {
			t.Errorf("errors %q do not include %q", msgs, want)
		}
	})
}

func TestWarnings(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"no keys", "port: 1", "client_auth: no keys configured (jwks_uri, jwks or supabase): no client can authenticate"},
		{"no audience", "client_auth: {jwks_uri: https://x/jwks}", "client_auth.audience: no audience configured: every token will be rejected (PSYNC_S2105) until you list the accepted `aud` values"},
		{"no source", "port: 1", "replication.connections: no source database connection: the service will not replicate any data"},
		{"block_local_jwks", "client_auth: {block_local_jwks: true}", "client_auth.block_local_jwks: block_local_jwks is deprecated; use jwks_reject_ip_ranges: [local] instead"},
		{"supabase secret alone", "client_auth: {supabase_jwt_secret: x}", "client_auth.supabase_jwt_secret: ignored unless supabase: true is set"},
		{"weak hmac", "client_auth: {audience: [a], jwks: {keys: [{kty: oct, alg: HS512, k: c2VjcmV0}]}}", "client_auth.jwks.keys[0].k: the HS512 secret is only 6 bytes; use at least 64 random bytes"},
		{"private key", "client_auth: {audience: [a], jwks: {keys: [{kty: OKP, crv: Ed25519, alg: EdDSA, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo, d: nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A}]}}",
			"client_auth.jwks.keys[0].d: this key includes its private part (d); the service needs only the public key, so remove d from the config"},
		{"short admin token", "api: {tokens: [abc]}", "api.tokens[0]: admin API token is only 3 characters; anyone who guesses it controls the service (use 32 or more random characters)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParse(t, tc.src, nil)
			if !hasWarning(cfg, tc.want) {
				t.Errorf("warnings %v do not include %q", cfg.Warnings, tc.want)
			}
		})
	}
	t.Run("none for a full config", func(t *testing.T) {
		if cfg := mustParse(t, minimal, nil); len(cfg.Warnings) != 0 {
			t.Errorf("warnings: %v", cfg.Warnings)
		}
	})
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"1d", 24 * time.Hour}, {"12h", 12 * time.Hour}, {"3600s", time.Hour}, {"3600", time.Hour}, {"30m", 30 * time.Minute},
		{"2 days", 48 * time.Hour}, {"1w", 7 * 24 * time.Hour}, {"1h30m", 90 * time.Minute}, {"1.5h", 90 * time.Minute}, {"500ms", 500 * time.Millisecond},
	}
	for _, c := range cases {
		got, err := config.ParseDuration(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "d", "1 fortnight", "NaN", "Inf", "1x"} {
		if _, err := config.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
	cfg := mustParse(t, "client_auth: {token_max_expiration: 7200}", nil)
	if cfg.ClientAuth.TokenMaxExpiration != 2*time.Hour {
		t.Errorf("number of seconds: got %v", cfg.ClientAuth.TokenMaxExpiration)
	}
}

func TestYAMLFeatures(t *testing.T) {
	src := `
defaults: &limits
  max_data_fetch_concurrency: 4
  max_buckets_per_connection: 5
api:
  parameters:
    <<: *limits
    max_buckets_per_connection: 6
`
	msgs := parseErr(t, src, nil)
	if !contains(msgs, `unknown key "defaults" at the top level; known keys: replication, storage, port, sync_config, sync_rules, client_auth, api, telemetry, healthcheck, system, parameters, metadata, migrations, _type`) {
		t.Errorf("errors: %q", msgs)
	}
	// Anchors work inside known sections; a merge key's values lose to keys
	// written in the mapping itself.
	src = `
parameters:
  base: &b 4
api:
  parameters: &p
    max_data_fetch_concurrency: *b
telemetry:
  prometheus_port: *b
`
	cfg := mustParse(t, src, nil)
	if cfg.API.Parameters.MaxDataFetchConcurrency != 4 || cfg.Telemetry.PrometheusPort != 4 {
		t.Errorf("aliases: %+v %+v", cfg.API.Parameters, cfg.Telemetry)
	}
	src = `
api:
  parameters:
    <<: {max_data_fetch_concurrency: 4, max_buckets_per_connection: 5}
    max_buckets_per_connection: 6
`
	cfg = mustParse(t, src, nil)
	if p := cfg.API.Parameters; p.MaxDataFetchConcurrency != 4 || p.MaxBucketsPerConnection != 6 {
		t.Errorf("merge: %+v", p)
	}
	for _, tc := range []struct{ name, src, want string }{
		{"two documents", "port: 1\n---\nport: 2\n", "the config must be a single YAML document; found another one here"},
		{"empty", "# nothing\n", "the config is empty; see docs/configuration.md for a minimal example"},
		{"not a mapping", "- a\n- b\n", "expected a mapping (indented `key: value` lines), got a list"},
		{"syntax", "port: 1\n  storage: x\n", "YAML syntax: mapping value is not allowed in this context"},
		{"duplicate key", "port: 1\nport: 2\n", `YAML syntax: mapping key "port" already defined at [1:1]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msgs := parseErr(t, tc.src, nil); !contains(msgs, tc.want) {
				t.Errorf("errors %q do not include %q", msgs, tc.want)
			}
		})
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("parameters:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("  a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(": &a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(" [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a")
			b.WriteString(string(rune('0' + i - 1)))
		}
		b.WriteString("]\n")
	}
	msgs := parseErr(t, b.String(), nil)
	if len(msgs) == 0 || !strings.Contains(strings.Join(msgs, "\n"), "expands to more than a million values") {
		t.Errorf("errors: %q", msgs)
	}
}

func TestPostgresURI(t *testing.T) {
	cases := []struct {
		c    config.Connection
		want string
	}{
		{config.Connection{}, ""},
		{config.Connection{URI: "postgres://a:b@h:1/d"}, "postgres://a:b@h:1/d"},
		{config.Connection{URI: "postgres://a:b@h:1/d", Password: "new", Port: 2, SSLMode: "disable"}, "postgres://a:new@h:2/d?sslmode=disable"},
		{config.Connection{Hostname: "::1", Port: 5432, Username: "u", Database: "x"}, "postgresql://u@[::1]:5432/x"},
		{config.Connection{Hostname: "h", Username: "u", Password: "p@ss/w:rd"}, "postgresql://u:p%40ss%2Fw%3Ard@h"},
	}
	for _, c := range cases {
		if got := c.c.PostgresURI(); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.c, got, c.want)
		}
	}
}

func TestFormatDiagnostic(t *testing.T) {
	src := []byte("a: 1\n\tstorage:\n\t  type: mongo\n")
	got := config.FormatDiagnostic("s.yaml", src, 3, 10, "error", "storage.type: bad")
	want := "s.yaml:3:10: error: storage.type: bad\n 3 | \t  type: mongo\n   | \t        ^\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	got = config.FormatDiagnostic("s.yaml", src, 0, 0, "warning", "whole file")
	if got != "s.yaml: warning: whole file\n" {
		t.Errorf("no position: %q", got)
	}
	got = config.FormatDiagnostic("s.yaml", src, 1, 6, "error", "past the end")
	if want := "s.yaml:1:6: error: past the end\n 1 | a: 1\n   |      ^\n"; got != want {
		t.Errorf("past the end:\n%q\nwant\n%q", got, want)
	}
	got = config.FormatDiagnostic("s.yaml", src, 99, 1, "error", "no such line")
	if got != "s.yaml:99:1: error: no such line\n" {
		t.Errorf("missing line: %q", got)
	}
}
