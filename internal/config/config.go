// Package config reads service.yaml: the one typed Config every command of
// the powersync binary starts from. It finds the config (a file given with -c
// or POWERSYNC_CONFIG_PATH, base64 text in POWERSYNC_CONFIG_B64, or a file
// found by discovery), substitutes `!env PS_NAME` tags, fills defaults,
// resolves relative paths against the config file's directory, loads the sync
// config text, and validates everything it can without touching the network.
//
// Problems are collected rather than stopping at the first one: Load and Parse
// return an *Error that lists every problem with file:line:column, and
// Config.Warnings holds what is allowed but probably a mistake. FormatDiagnostic
// renders one problem with the source line and a caret under the column.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// Defaults. The reference service allows 200 concurrent connections per
// process; our connections are cheap (one parked goroutine), so the default is
// far higher.
const (
	DefaultPort                              = 8080
	DefaultStoragePath                       = "./powersync-data"
	DefaultMaxPoolSize                       = 8
	DefaultCompactInterval                   = 24 * time.Hour
	DefaultSlotNamePrefix                    = "powersync_"
	DefaultSSLMode                           = "verify-full"
	DefaultTokenMaxExpiration                = 24 * time.Hour
	DefaultMaxConcurrentConnections          = 10000
	DefaultMaxDataFetchConcurrency           = 10
	DefaultMaxBucketsPerConnection           = 1000
	DefaultMaxParameterQueryResults          = 1000
	DefaultCheckpointRequestRetentionMinutes = 60
	DefaultBucketCountCacheTTLMinutes        = 60
	DefaultLogLevel                          = "info"
	DefaultLogFormat                         = "text"
)

// Connection types and storage types this implementation supports.
const (
	TypePostgres = "postgresql"
	TypeSQLite   = "sqlite"
	TypeMySQL    = "mysql"
	TypePebble   = "pebble"
)

// Config is the whole of service.yaml after defaults, !env substitution,
// path resolution and validation.
type Config struct {
	// File is the config file's path as given ("" when the config came from
	// base64 text); Dir is the absolute directory relative paths in the
	// config resolve against (the file's directory, or the working directory).
	File string
	Dir  string
	// Source is the config text that was parsed (after base64 decoding),
	// kept so diagnostics can show the offending line.
	Source []byte
	// SourceName is the name diagnostics use for Source: File, or
	// "POWERSYNC_CONFIG_B64" for base64 text.
	SourceName string

	Replication Replication
	Storage     StorageConfig
	Port        int
	SyncConfig  SyncConfig
	ClientAuth  ClientAuth
	API         API
	Telemetry   Telemetry
	Healthcheck Healthcheck
	System      System
	// Parameters are global parameters the sync config can read; values are
	// int64, float64, string, bool or nil.
	Parameters map[string]any
	Metadata   map[string]string
	Migrations Migrations
	// ProjectType is the `_type` marker the official PowerSync CLI writes
	// into the service.yaml of its projects (for example "self-hosted").
	// It does not change how the service runs.
	ProjectType string

	// Warnings are problems that do not stop the service from starting
	// (no audience configured, deprecated keys, weak secrets).
	Warnings []Diagnostic

	// Positions maps the dotted path of every key written in Source
	// ("replication.connections[0].path", and each connection as
	// "replication.connections[0]") to where its value starts.
	Positions map[string]Position
}

// Position is a 1-based line and column in a config's Source.
type Position struct{ Line, Column int }

// Pos returns the line and column where the value of the key at the dotted
// path is written in Source, or 0, 0 when the key was not written (a
// default) or the config has no positions.
func (c *Config) Pos(path string) (line, col int) {
	p := c.Positions[path]
	return p.Line, p.Column
}

// Where names where the key at path is set, for error messages about a
// value that loaded but does not work (a database file that does not
// exist): "path (service.yaml:12:13)", or "path (service.yaml)" when the
// key has no position.
func (c *Config) Where(path string) string {
	line, col := c.Pos(path)
	switch {
	case c.SourceName == "":
		return path
	case line == 0:
		return fmt.Sprintf("%s (%s)", path, c.SourceName)
	default:
		return fmt.Sprintf("%s (%s:%d:%d)", path, c.SourceName, line, col)
	}
}

// Diagnostic returns an error or warning about the value at path, placed
// where the key is written (for checks made after loading, such as
// whether a database file exists).
func (c *Config) Diagnostic(sev Severity, path, msg string) Diagnostic {
	line, col := c.Pos(path)
	return Diagnostic{File: c.SourceName, Line: line, Column: col, Severity: sev, Path: path, Message: path + ": " + msg}
}

// Replication holds the source database connections. Exactly zero or one is
// allowed.
type Replication struct {
	Connections []Connection
}

// Connection is one source database: `postgresql` (logical replication),
// `mysql` (a MySQL or MariaDB binary log) or `sqlite` (the embedded
// development source).
type Connection struct {
	Type string
	ID   string
	Tag  string

	// Postgres and MySQL: URI, or the separate fields. When both are given,
	// the fields override the URI's parts (see PostgresURI and MySQLURI).
	URI      string
	Hostname string
	Port     int
	Database string
	Username string
	Password string
	SSLMode  string
	// CACert, ClientCertificate and ClientPrivateKey are PEM text.
	CACert            string
	ClientCertificate string
	ClientPrivateKey  string
	TLSServername     string
	RejectIPRanges    []string
	SlotNamePrefix    string
	MaxPoolSize       int
	// ConnectTimeout and SnapshotSocketTimeout are 0 when not set (driver
	// defaults); HeartbeatIntervalSeconds is 0 or 5–60.
	ConnectTimeout           time.Duration
	SnapshotSocketTimeout    time.Duration
	HeartbeatIntervalSeconds int
	DebugAPI                 bool

	// ServerID is the replica server id a MySQL connection reads the binary
	// log with (0: the source picks one); it must differ from every other
	// replica's server_id.
	ServerID uint32

	// Path is the SQLite database file (absolute after loading).
	Path string
}

// StorageConfig is where bucket data lives: the embedded Pebble store
// (default) or a Postgres database shared by several service processes.
type StorageConfig struct {
	Type string // "pebble" (default) or "postgresql"
	// Path is the Pebble directory (absolute after loading).
	Path string

	URI      string
	Hostname string
	Port     int
	Database string
	Username string
	Password string
	SSLMode  string
	CACert   string
	// MaxPoolSize bounds the Postgres connection pool (default 8).
	MaxPoolSize int
	// DefaultStorageVersion is accepted for compatibility with reference
	// configs; 0 when not set.
	DefaultStorageVersion int
	BatchLimits           BatchLimits
	// CompactInterval is how often the replicating process compacts the
	// active version's buckets (default 24h; 0 turns scheduled compaction
	// off — `powersync compact` still works).
	CompactInterval time.Duration
}

// BatchLimits bound one replication write batch (Postgres storage). Zero
// means "the storage's own default".
type BatchLimits struct {
	MaxEstimatedSize        int64
	MaxRecordCount          int
	MaxCurrentDataBatchSize int64
}

// SyncConfig is the Sync Rules / Sync Streams YAML the service runs.
type SyncConfig struct {
	// Path is the sync config file (absolute after loading), "" for inline.
	Path string
	// Content is the sync config text: the file at Path, the inline
	// `content`, or POWERSYNC_SYNC_CONFIG_B64.
	Content string
	// ExitOnError stops the service when the sync config has errors
	// (default true).
	ExitOnError bool
	// ContentFile and ContentLine say where Content starts, so sync config
	// diagnostics can point into the right file: for a file, the file and
	// line 1; for an inline block scalar (`content: |`), the config file and
	// the line after the `|`.
	ContentFile string
	ContentLine int
	// FromAlias is true when the deprecated `sync_rules` key was used.
	FromAlias bool
}

// ClientAuth says which JWTs the sync API accepts.
type ClientAuth struct {
	JWKSURI []string
	JWKS    JWKS
	// Audience lists the accepted `aud` values; empty means every token
	// fails the audience check (as in the reference).
	Audience []string
	// TokenMaxExpiration is the longest accepted `exp - iat` (default 24h).
	TokenMaxExpiration   time.Duration
	Supabase             bool
	SupabaseJWTSecret    string
	BlockLocalJWKS       bool
	JWKSRejectIPRanges   []string
	AllowTemporaryTokens bool
}

// JWKS is the inline key set: each key is a JWK as a JSON-style map (values
// are string, int64, float64, bool, []any or map[string]any), checked for
// the fields its kty needs.
type JWKS struct {
	Keys []map[string]any
}

// API configures the HTTP API.
type API struct {
	// Tokens are the admin API bearer tokens; empty disables the admin API.
	Tokens     []string
	Parameters APIParameters
	// TrustedProxies are the peers (CIDR ranges or single addresses) whose
	// X-Forwarded-Proto, X-Forwarded-Host and Forwarded headers are
	// believed. Empty (the default): those headers are ignored, and the
	// URL of the instance is taken from the request itself.
	TrustedProxies []netip.Prefix
}

// APIParameters are the sync API limits.
type APIParameters struct {
	MaxConcurrentConnections          int
	MaxDataFetchConcurrency           int
	MaxBucketsPerConnection           int
	MaxParameterQueryResults          int
	CheckpointRequestRetentionMinutes int
	BucketCountCacheTTLMinutes        int
}

// Telemetry configures metrics. powersync-go never sends telemetry anywhere;
// DisableTelemetrySharing and InternalServiceEndpoint are accepted so
// reference configs load.
type Telemetry struct {
	// PrometheusPort, when not 0, serves /metrics on its own port as well.
	PrometheusPort          int
	DisableTelemetrySharing bool
	InternalServiceEndpoint string
}

// Healthcheck selects the probe mechanisms.
type Healthcheck struct {
	Probes Probes
}

// Probes: with no `probes` block, legacy mode (filesystem probes always,
// HTTP probes in api/unified mode); with a block, each is opt-in.
type Probes struct {
	UseFilesystem bool
	UseHTTP       bool
	UseLegacy     bool
}

// System holds process-level settings.
type System struct {
	Logging Logging
}

// Logging: PS_LOG_LEVEL and PS_LOG_FORMAT override the file.
type Logging struct {
	Level  string // silly, debug, verbose, http, info, warn, error
	Format string // text or json
}

// Migrations configures storage schema migrations.
type Migrations struct {
	DisableAutoMigration bool
}

// logLevels maps the reference's level names onto slog levels.
var logLevels = map[string]slog.Level{
	"silly":   slog.LevelDebug - 4,
	"debug":   slog.LevelDebug,
	"verbose": slog.LevelDebug,
	"http":    slog.LevelInfo,
	"info":    slog.LevelInfo,
	"warn":    slog.LevelWarn,
	"error":   slog.LevelError,
}

var logLevelNames = []string{"silly", "debug", "verbose", "http", "info", "warn", "error"}

// SlogLevel is Level as a slog level (info when unknown).
func (l Logging) SlogLevel() slog.Level {
	if lv, ok := logLevels[l.Level]; ok {
		return lv
	}
	return slog.LevelInfo
}

// Default returns a Config with every default filled in and no file: what an
// empty service.yaml in dir means.
func Default(dir string) *Config {
	return &Config{
		Dir: dir,
		Storage: StorageConfig{
			Type:            TypePebble,
			Path:            resolvePath(dir, DefaultStoragePath),
			MaxPoolSize:     DefaultMaxPoolSize,
			CompactInterval: DefaultCompactInterval,
		},
		Port:       DefaultPort,
		SyncConfig: SyncConfig{ExitOnError: true},
		ClientAuth: ClientAuth{TokenMaxExpiration: DefaultTokenMaxExpiration},
		API: API{Parameters: APIParameters{
			MaxConcurrentConnections:          DefaultMaxConcurrentConnections,
			MaxDataFetchConcurrency:           DefaultMaxDataFetchConcurrency,
			MaxBucketsPerConnection:           DefaultMaxBucketsPerConnection,
			MaxParameterQueryResults:          DefaultMaxParameterQueryResults,
			CheckpointRequestRetentionMinutes: DefaultCheckpointRequestRetentionMinutes,
			BucketCountCacheTTLMinutes:        DefaultBucketCountCacheTTLMinutes,
		}},
		Healthcheck: Healthcheck{Probes: Probes{UseLegacy: true}},
		System:      System{Logging: Logging{Level: DefaultLogLevel, Format: DefaultLogFormat}},
		Parameters:  map[string]any{},
		Metadata:    map[string]string{},
	}
}

// PostgresURI returns a connection URI for a Postgres connection: URI with
// the separate fields (hostname, port, database, username, password, sslmode)
// laid over it. It is "" when neither URI nor Hostname is set.
func (c Connection) PostgresURI() string {
	return postgresURI(c.URI, c.Hostname, c.Port, c.Database, c.Username, c.Password, c.SSLMode)
}

// MySQLURI returns a mysql:// URI for a MySQL connection: URI with the
// separate fields (hostname, port, database, username, password) laid over
// it. It is "" when neither URI nor Hostname is set.
func (c Connection) MySQLURI() string {
	if c.URI == "" && c.Hostname == "" {
		return ""
	}
	u := &url.URL{Scheme: "mysql"}
	if c.URI != "" {
		parsed, err := url.Parse(c.URI)
		if err != nil {
			return c.URI
		}
		u = parsed
	}
	if c.Hostname != "" || c.Port != 0 {
		h, p := u.Hostname(), u.Port()
		if c.Hostname != "" {
			h = c.Hostname
		}
		if c.Port != 0 {
			p = strconv.Itoa(c.Port)
		}
		if p != "" {
			u.Host = net.JoinHostPort(h, p)
		} else {
			u.Host = h
		}
	}
	if c.Database != "" {
		u.Path = "/" + c.Database
	}
	if c.Username != "" || c.Password != "" {
		name, pass := c.Username, c.Password
		if u.User != nil {
			if name == "" {
				name = u.User.Username()
			}
			if p, ok := u.User.Password(); ok && pass == "" {
				pass = p
			}
		}
		if pass != "" {
			u.User = url.UserPassword(name, pass)
		} else {
			u.User = url.User(name)
		}
	}
	return u.String()
}

// PostgresURI is StorageConfig's counterpart of Connection.PostgresURI.
func (s StorageConfig) PostgresURI() string {
	return postgresURI(s.URI, s.Hostname, s.Port, s.Database, s.Username, s.Password, s.SSLMode)
}

func postgresURI(uri, host string, port int, db, user, pass, sslmode string) string {
	if uri == "" && host == "" {
		return ""
	}
	u := &url.URL{Scheme: "postgresql"}
	if uri != "" {
		parsed, err := url.Parse(uri)
		if err != nil {
			return uri
		}
		u = parsed
	}
	if host != "" || port != 0 {
		h, p := u.Hostname(), u.Port()
		if host != "" {
			h = host
		}
		if port != 0 {
			p = strconv.Itoa(port)
		}
		u.Host = h
		if p != "" {
			u.Host = h + ":" + p
		}
		if isIPv6(h) {
			u.Host = "[" + h + "]"
			if p != "" {
				u.Host += ":" + p
			}
		}
	}
	if db != "" {
		u.Path = "/" + db
	}
	if user != "" || pass != "" {
		name := user
		if name == "" && u.User != nil {
			name = u.User.Username()
		}
		if pass != "" {
			u.User = url.UserPassword(name, pass)
		} else if u.User != nil {
			if old, ok := u.User.Password(); ok {
				u.User = url.UserPassword(name, old)
			} else {
				u.User = url.User(name)
			}
		} else {
			u.User = url.User(name)
		}
	}
	if sslmode != "" {
		q := u.Query()
		q.Set("sslmode", sslmode)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func isIPv6(h string) bool {
	for i := 0; i < len(h); i++ {
		if h[i] == ':' {
			return true
		}
	}
	return false
}
