package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The schema of service.yaml, one method per section. Each method decodes
// its section into cfg, checks what can be checked locally and reports
// problems with the position of the offending key or value.

var (
	connectionTypes  = []string{TypePostgres, TypeMySQL, TypeSQLite}
	storageTypes     = []string{TypePebble, TypePostgres}
	sslModes         = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
	logFormats       = []string{"text", "json"}
	unsupportedTypes = map[string]string{
		"mongodb": "MongoDB", "mssql": "SQL Server", "convex": "Convex",
	}
)

// syncSection is sync_config / sync_rules before the two are reconciled.
type syncSection struct {
	keyPos      pos
	path        string
	pathPos     pos
	content     *node
	exitOnError *bool
}

func (d *decoder) root(n *node, cfg *Config, readFile func(string) ([]byte, error), getenv func(string) string) {
	if n.kind == kindNull {
		d.c.errorf(pos{1, 1}, "", "the config is empty; see docs/configuration.md for a minimal example")
		return
	}
	var syncCfg, syncRules *syncSection
	present, ok := d.object(n, "", []field{
		{"replication", func(n *node, path string) { d.replication(n, path, cfg) }},
		{"storage", func(n *node, path string) { d.storage(n, path, cfg) }},
		{"port", d.intInto(&cfg.Port, 0, 65535)},
		{"sync_config", func(n *node, path string) { syncCfg = d.syncConfig(n, path) }},
		{"sync_rules", func(n *node, path string) { syncRules = d.syncConfig(n, path) }},
		{"client_auth", func(n *node, path string) { d.clientAuth(n, path, &cfg.ClientAuth) }},
		{"api", func(n *node, path string) { d.api(n, path, &cfg.API) }},
		{"telemetry", func(n *node, path string) { d.telemetry(n, path, &cfg.Telemetry) }},
		{"healthcheck", func(n *node, path string) { d.healthcheck(n, path, &cfg.Healthcheck) }},
		{"system", func(n *node, path string) { d.system(n, path, &cfg.System) }},
		{"parameters", func(n *node, path string) { d.parameters(n, path, cfg) }},
		{"metadata", func(n *node, path string) { d.metadata(n, path, cfg) }},
		{"migrations", func(n *node, path string) {
			d.object(n, path, []field{{"disable_auto_migration", d.boolInto(&cfg.Migrations.DisableAutoMigration)}})
		}},
		// _type is the official CLI's project marker ("self-hosted"); kept so
		// a service.yaml made by that CLI loads unchanged.
		{"_type", d.strInto(&cfg.ProjectType)},
	})
	if !ok {
		return
	}
	if e, ok := present["sync_rules"]; ok {
		syncRules.keyPos = e.keyPos
	}
	if e, ok := present["sync_config"]; ok {
		syncCfg.keyPos = e.keyPos
	}
	d.syncFinish(cfg, syncCfg, syncRules, readFile, getenv)
	d.warnings(cfg, present)
}

// --- replication --------------------------------------------------------

func (d *decoder) replication(n *node, path string, cfg *Config) {
	d.object(n, path, []field{{"connections", func(n *node, path string) {
		switch n.kind {
		case kindNull:
			return
		case kindSeq:
		default:
			d.c.errorf(n.pos, path, "expected a list of connections (lines starting with `- type: ...`), got %s", describe(n))
			return
		}
		for i, item := range n.items {
			p := fmt.Sprintf("%s[%d]", path, i)
			if i == 1 {
				d.c.errorf(item.pos, p, "only one replication connection is supported, found %d", len(n.items))
			}
			if c, ok := d.connection(item, p, cfg.Dir); ok && i == 0 {
				cfg.Replication.Connections = append(cfg.Replication.Connections, c)
			}
		}
	}}})
}

// pgFields are the keys shared by a Postgres source and Postgres storage.
type pgTarget struct {
	uri, host, db, user, pass, sslmode, cacert *string
	port                                       *int
}

func (d *decoder) pgFields(t pgTarget) []field {
	return []field{
		{"uri", d.strInto(t.uri)},
		{"hostname", d.strInto(t.host)},
		{"port", d.intInto(t.port, 1, 65535)},
		{"database", d.strInto(t.db)},
		{"username", d.strInto(t.user)},
		{"password", d.strInto(t.pass)},
		{"sslmode", func(n *node, path string) {
			if v, ok := d.enum(n, path, sslModes); ok {
				*t.sslmode = v
			}
		}},
		{"cacert", d.strInto(t.cacert)},
	}
}

// parseURI parses a connection URI; its error does not repeat the URI,
// which can hold a password.
func parseURI(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return u, err
}

// pgCheck validates the Postgres keys of a source or storage section: a
// parseable postgres URI or a hostname, and the sslmode default.
func (d *decoder) pgCheck(n *node, path string, present map[string]entry, t pgTarget) {
	_, hasURI := present["uri"]
	_, hasHost := present["hostname"]
	if !hasURI && !hasHost {
		d.c.errorf(n.pos, path, "a postgresql connection needs uri (postgresql://user:password@host:5432/database) or hostname")
		return
	}
	if *t.uri != "" {
		at := present["uri"].val.pos
		u, err := parseURI(*t.uri)
		if err != nil {
			d.c.errorf(at, path+".uri", "not a valid URI: %v", err)
			return
		}
		if u.Scheme != "postgresql" && u.Scheme != "postgres" {
			d.c.errorf(at, path+".uri", "expected a URI starting with postgresql:// or postgres://, got scheme %q", u.Scheme)
			return
		}
		if m := u.Query().Get("sslmode"); m != "" && *t.sslmode == "" {
			ok := false
			for _, s := range sslModes {
				ok = ok || s == m
			}
			if !ok {
				d.c.errorf(at, path+".uri", "sslmode=%s in the URI: expected one of %s", m, quoteList(sslModes))
			}
			*t.sslmode = m
		}
	}
	if *t.sslmode == "" {
		*t.sslmode = DefaultSSLMode
	}
}

// checkApplies reports keys that are set but do not apply to the chosen type.
func (d *decoder) checkApplies(present map[string]entry, path string, keys []string, what string) {
	for _, k := range keys {
		if e, ok := present[k]; ok {
			d.c.errorf(e.keyPos, joinPath(path, k), "does not apply to %s", what)
		}
	}
}

var (
	pgSourceOnly = []string{"uri", "hostname", "port", "database", "username", "password", "sslmode", "cacert",
		"client_certificate", "client_private_key", "tls_servername", "reject_ip_ranges", "slot_name_prefix",
		"max_pool_size", "connect_timeout", "snapshot_socket_timeout", "heartbeat_interval_seconds"}
	sqliteOnly = []string{"path"}
	mysqlOnly  = []string{"server_id"}
	// notForMySQL are the Postgres source keys a mysql connection does not
	// take (TLS settings are not supported for MySQL yet).
	notForMySQL = []string{"sslmode", "cacert", "client_certificate", "client_private_key", "tls_servername",
		"reject_ip_ranges", "slot_name_prefix", "max_pool_size", "connect_timeout", "snapshot_socket_timeout", "path"}
)

func (d *decoder) connection(n *node, path, dir string) (Connection, bool) {
	if d.at != nil {
		d.at[path] = n.pos
	}
	c := Connection{MaxPoolSize: DefaultMaxPoolSize, SlotNamePrefix: DefaultSlotNamePrefix}
	t := pgTarget{&c.URI, &c.Hostname, &c.Database, &c.Username, &c.Password, &c.SSLMode, &c.CACert, &c.Port}
	fields := append([]field{
		{"type", func(n *node, path string) {
			s, ok := d.str(n, path)
			if !ok {
				if n.kind == kindNull {
					d.c.errorf(n.pos, path, "expected one of %s, got nothing", quoteList(connectionTypes))
				}
				return
			}
			if name, bad := unsupportedTypes[s]; bad {
				d.c.errorf(n.pos, path, "%s sources are not supported by powersync-go; expected one of %s", name, quoteList(connectionTypes))
				return
			}
			if v, ok := d.enum(n, path, connectionTypes); ok {
				c.Type = v
			}
		}},
		{"id", d.strInto(&c.ID)},
		{"tag", d.strInto(&c.Tag)},
		{"debug_api", d.boolInto(&c.DebugAPI)},
		{"path", d.strInto(&c.Path)},
		{"server_id", func(n *node, path string) {
			if v, ok := d.integer(n, path, 1, math.MaxUint32-1000); ok {
				c.ServerID = uint32(v)
			}
		}},
	}, d.pgFields(t)...)
	fields = append(fields,
		field{"client_certificate", d.strInto(&c.ClientCertificate)},
		field{"client_private_key", d.strInto(&c.ClientPrivateKey)},
		field{"tls_servername", d.strInto(&c.TLSServername)},
		field{"reject_ip_ranges", func(n *node, path string) { c.RejectIPRanges = d.ipRanges(n, path) }},
		field{"slot_name_prefix", func(n *node, path string) {
			s, ok := d.str(n, path)
			if !ok {
				return
			}
			if !validSlotPrefix(s) {
				d.c.errorf(n.pos, path, "replication slot names may only hold lowercase letters, digits and underscores (at most 40 here), got %q", s)
				return
			}
			c.SlotNamePrefix = s
		}},
		field{"max_pool_size", d.intInto(&c.MaxPoolSize, 1, 1000)},
		field{"connect_timeout", func(n *node, path string) {
			if v, ok := d.duration(n, path); ok {
				c.ConnectTimeout = v
			}
		}},
		field{"snapshot_socket_timeout", func(n *node, path string) {
			if v, ok := d.duration(n, path); ok {
				c.SnapshotSocketTimeout = v
			}
		}},
		field{"heartbeat_interval_seconds", func(n *node, path string) {
			if v, ok := d.integer(n, path, 5, 60); ok {
				c.HeartbeatIntervalSeconds = int(v)
			}
		}},
	)
	present, ok := d.object(n, path, fields)
	if !ok {
		return c, false
	}
	if _, ok := present["type"]; !ok {
		d.c.errorf(n.pos, path, "missing required key \"type\" (one of %s)", quoteList(connectionTypes))
		return c, false
	}
	switch c.Type {
	case TypePostgres:
		d.checkApplies(present, path, sqliteOnly, "a postgresql connection (it is for sqlite)")
		d.checkApplies(present, path, mysqlOnly, "a postgresql connection (it is for mysql)")
		d.pgCheck(n, path, present, t)
	case TypeMySQL:
		d.checkApplies(present, path, notForMySQL, "a mysql connection")
		d.mysqlCheck(n, path, present, &c)
	case TypeSQLite:
		d.checkApplies(present, path, pgSourceOnly, "a sqlite connection (it needs only path)")
		d.checkApplies(present, path, mysqlOnly, "a sqlite connection (it is for mysql)")
		if c.Path == "" {
			d.c.errorf(n.pos, path, "a sqlite connection needs path (the database file)")
		}
		c.Path = resolvePath(dir, c.Path)
	default:
		return c, false
	}
	return c, true
}

// mysqlCheck validates a mysql connection: a parseable mysql:// URI or a
// hostname, and a database to replicate (in the URI's path or database).
func (d *decoder) mysqlCheck(n *node, path string, present map[string]entry, c *Connection) {
	_, hasURI := present["uri"]
	_, hasHost := present["hostname"]
	if !hasURI && !hasHost {
		d.c.errorf(n.pos, path, "a mysql connection needs uri (mysql://user:password@host:3306/database) or hostname")
		return
	}
	db := c.Database
	if c.URI != "" {
		at := present["uri"].val.pos
		u, err := parseURI(c.URI)
		if err != nil {
			d.c.errorf(at, path+".uri", "not a valid URI: %v", err)
			return
		}
		if u.Scheme != "mysql" {
			d.c.errorf(at, path+".uri", "expected a URI starting with mysql://, got scheme %q", u.Scheme)
			return
		}
		if u.Host == "" && c.Hostname == "" {
			d.c.errorf(at, path+".uri", "the URI names no host (mysql://user:password@host:3306/database)")
			return
		}
		if p := u.Port(); p != "" {
			if v, err := strconv.Atoi(p); err != nil || v < 1 || v > 65535 {
				d.c.errorf(at, path+".uri", "port %q in the URI: expected 1 to 65535", p)
				return
			}
		}
		if db == "" {
			db = strings.Trim(u.Path, "/")
		}
		if strings.Contains(db, "/") {
			d.c.errorf(at, path+".uri", "the URI's path must be one database name, got %q", u.Path)
			return
		}
	}
	if db == "" {
		d.c.errorf(n.pos, path, "a mysql connection needs the database to replicate (database: name, or mysql://host/name)")
	}
}

func validSlotPrefix(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// ipRanges reads a list of CIDR ranges, single addresses or "local".
func (d *decoder) ipRanges(n *node, path string) []string {
	items, ps := d.stringList(n, path, false)
	var out []string
	for i, s := range items {
		if s == "local" {
			out = append(out, s)
			continue
		}
		if _, err := netip.ParsePrefix(s); err == nil {
			out = append(out, s)
			continue
		}
		if _, err := netip.ParseAddr(s); err == nil {
			out = append(out, s)
			continue
		}
		d.c.errorf(ps[i], fmt.Sprintf("%s[%d]", path, i), `expected a CIDR range like "10.0.0.0/8", an IP address or "local", got %q`, s)
	}
	return out
}

// --- storage --------------------------------------------------------------

var pgStorageOnly = []string{"uri", "hostname", "port", "database", "username", "password", "sslmode", "cacert", "max_pool_size", "batch_limits"}

func (d *decoder) storage(n *node, path string, cfg *Config) {
	s := &cfg.Storage
	s.Path = ""
	t := pgTarget{&s.URI, &s.Hostname, &s.Database, &s.Username, &s.Password, &s.SSLMode, &s.CACert, &s.Port}
	typeOK := true
	fields := append([]field{
		{"type", func(n *node, path string) {
			str, ok := d.str(n, path)
			if !ok {
				return
			}
			if str == "mongodb" {
				d.c.errorf(n.pos, path, `MongoDB bucket storage is not supported by powersync-go; expected one of %s ("pebble" is embedded and needs no server)`, quoteList(storageTypes))
				typeOK = false
				return
			}
			v, ok := d.enum(n, path, storageTypes)
			typeOK = ok
			if ok {
				s.Type = v
			}
		}},
		{"path", d.strInto(&s.Path)},
		{"max_pool_size", d.intInto(&s.MaxPoolSize, 1, 1000)},
		{"compact_interval", func(n *node, path string) {
			if v, ok := d.duration(n, path); ok {
				if v < 0 {
					d.c.errorf(n.pos, path, "expected a duration of 0 (off) or more, got %s", describe(n))
					return
				}
				s.CompactInterval = v
			}
		}},
		{"default_storage_version", d.intInto(&s.DefaultStorageVersion, 1, math.MaxInt32)},
		{"batch_limits", func(n *node, path string) {
			b := &s.BatchLimits
			d.object(n, path, []field{
				{"max_estimated_size", func(n *node, path string) {
					if v, ok := d.integer(n, path, 1, math.MaxInt64); ok {
						b.MaxEstimatedSize = v
					}
				}},
				{"max_record_count", d.intInto(&b.MaxRecordCount, 1, math.MaxInt32)},
				{"max_current_data_batch_size", func(n *node, path string) {
					if v, ok := d.integer(n, path, 1, math.MaxInt64); ok {
						b.MaxCurrentDataBatchSize = v
					}
				}},
			})
		}},
	}, d.pgFields(t)...)
	present, ok := d.object(n, path, fields)
	if !ok || !typeOK {
		s.Path = resolvePath(cfg.Dir, DefaultStoragePath)
		return
	}
	switch s.Type {
	case TypePebble:
		d.checkApplies(present, path, pgStorageOnly, `storage type "pebble" (set type: postgresql to use a Postgres database)`)
		if s.Path == "" {
			s.Path = DefaultStoragePath
		}
		s.Path = resolvePath(cfg.Dir, s.Path)
	case TypePostgres:
		d.checkApplies(present, path, []string{"path"}, `storage type "postgresql" (path is for "pebble")`)
		d.pgCheck(n, path, present, t)
	}
}

// --- sync config -------------------------------------------------------------

func (d *decoder) syncConfig(n *node, path string) *syncSection {
	s := &syncSection{}
	d.object(n, path, []field{
		{"path", func(n *node, path string) {
			if v, ok := d.str(n, path); ok {
				s.path, s.pathPos = v, n.pos
			}
		}},
		{"content", func(n *node, path string) {
			if n.kind == kindNull {
				return
			}
			if n.kind != kindString {
				d.c.errorf(n.pos, path, "expected the sync config as text (use `content: |` and indent it below), got %s", describe(n))
				return
			}
			s.content = n
		}},
		{"exit_on_error", func(n *node, path string) {
			if v, ok := d.boolean(n, path); ok {
				s.exitOnError = &v
			}
		}},
	})
	return s
}

func (d *decoder) syncFinish(cfg *Config, syncCfg, syncRules *syncSection, readFile func(string) ([]byte, error), getenv func(string) string) {
	s := syncCfg
	if syncRules != nil {
		if syncCfg != nil {
			d.c.errorf(syncRules.keyPos, "sync_rules", "sync_rules is the old name of sync_config; give only one of them")
		} else {
			d.c.warnf(syncRules.keyPos, "sync_rules", "sync_rules is deprecated; rename it to sync_config")
			s = syncRules
			cfg.SyncConfig.FromAlias = true
		}
	}
	if s != nil && s.exitOnError != nil {
		cfg.SyncConfig.ExitOnError = *s.exitOnError
	}
	key := "sync_config"
	if cfg.SyncConfig.FromAlias {
		key = "sync_rules"
	}
	for _, name := range []string{"POWERSYNC_SYNC_CONFIG_B64", "POWERSYNC_SYNC_RULES_B64"} {
		v := getenv(name)
		if v == "" {
			continue
		}
		text, err := decodeBase64(v)
		if err != nil {
			d.c.addRaw(SeverityError, pos{}, name, fmt.Sprintf("%s: not valid base64: %v", name, err))
			return
		}
		cfg.SyncConfig.Content = string(text)
		cfg.SyncConfig.ContentFile = name
		cfg.SyncConfig.ContentLine = 1
		return
	}
	if s == nil {
		return
	}
	if s.path != "" && s.content != nil {
		d.c.errorf(s.content.pos, key+".content", "give either path or content, not both")
		return
	}
	switch {
	case s.path != "":
		p := resolvePath(cfg.Dir, s.path)
		cfg.SyncConfig.Path = p
		data, err := readFile(p)
		if err != nil {
			reason := err.Error()
			var pe *os.PathError
			if errors.As(err, &pe) {
				reason = pe.Err.Error()
			}
			d.c.errorf(s.pathPos, key+".path", "cannot read the sync config %s: %s", p, reason)
			return
		}
		cfg.SyncConfig.Content = string(data)
		cfg.SyncConfig.ContentFile = p
		cfg.SyncConfig.ContentLine = 1
	case s.content != nil:
		cfg.SyncConfig.Content = s.content.str
		cfg.SyncConfig.ContentFile = d.c.file
		cfg.SyncConfig.ContentLine = s.content.pos.line
		if s.content.block {
			cfg.SyncConfig.ContentLine++
		}
	}
}

// --- api, telemetry, healthcheck, system -----------------------------------

func (d *decoder) api(n *node, path string, a *API) {
	d.object(n, path, []field{
		{"tokens", func(n *node, path string) {
			toks, ps := d.stringList(n, path, false)
			a.Tokens = toks
			for i, t := range toks {
				if len(t) < 16 {
					d.c.warnf(ps[i], fmt.Sprintf("%s[%d]", path, i), "admin API token is only %d characters; anyone who guesses it controls the service (use 32 or more random characters)", len(t))
				}
			}
		}},
		{"parameters", func(n *node, path string) {
			p := &a.Parameters
			d.object(n, path, []field{
				{"max_concurrent_connections", d.intInto(&p.MaxConcurrentConnections, 1, math.MaxInt32)},
				{"max_data_fetch_concurrency", d.intInto(&p.MaxDataFetchConcurrency, 1, math.MaxInt32)},
				{"max_buckets_per_connection", d.intInto(&p.MaxBucketsPerConnection, 1, math.MaxInt32)},
				{"max_parameter_query_results", d.intInto(&p.MaxParameterQueryResults, 1, math.MaxInt32)},
				{"checkpoint_request_retention_minutes", d.intInto(&p.CheckpointRequestRetentionMinutes, 1, math.MaxInt32)},
				{"bucket_count_cache_ttl_minutes", d.intInto(&p.BucketCountCacheTTLMinutes, 1, math.MaxInt32)},
			})
		}},
		{"trusted_proxies", func(n *node, path string) { a.TrustedProxies = d.prefixes(n, path) }},
	})
}

// prefixes reads a list of CIDR ranges or single IP addresses (a single
// address becomes a one-address range).
func (d *decoder) prefixes(n *node, path string) []netip.Prefix {
	items, ps := d.stringList(n, path, false)
	var out []netip.Prefix
	for i, s := range items {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		d.c.errorf(ps[i], fmt.Sprintf("%s[%d]", path, i), `expected a CIDR range like "10.0.0.0/8" or an IP address like "127.0.0.1", got %q`, s)
	}
	return out
}

func (d *decoder) telemetry(n *node, path string, t *Telemetry) {
	d.object(n, path, []field{
		{"prometheus_port", d.intInto(&t.PrometheusPort, 0, 65535)},
		{"disable_telemetry_sharing", d.boolInto(&t.DisableTelemetrySharing)},
		{"internal_service_endpoint", func(n *node, path string) {
			s, ok := d.str(n, path)
			if !ok {
				return
			}
			if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				d.c.errorf(n.pos, path, "expected an http:// or https:// URL, got %s", describe(n))
				return
			}
			t.InternalServiceEndpoint = s
		}},
	})
}

func (d *decoder) healthcheck(n *node, path string, h *Healthcheck) {
	d.object(n, path, []field{{"probes", func(n *node, path string) {
		if n.kind == kindNull {
			return
		}
		// With a probes block every mechanism is opt-in.
		h.Probes = Probes{}
		d.object(n, path, []field{
			{"use_filesystem", d.boolInto(&h.Probes.UseFilesystem)},
			{"use_http", d.boolInto(&h.Probes.UseHTTP)},
			{"use_legacy", d.boolInto(&h.Probes.UseLegacy)},
		})
	}}})
}

func (d *decoder) system(n *node, path string, s *System) {
	d.object(n, path, []field{{"logging", func(n *node, path string) {
		d.object(n, path, []field{
			{"level", func(n *node, path string) {
				if v, ok := d.enum(n, path, logLevelNames); ok {
					s.Logging.Level = v
				}
			}},
			{"format", func(n *node, path string) {
				if v, ok := d.enum(n, path, logFormats); ok {
					s.Logging.Format = v
				}
			}},
		})
	}}})
}

// --- parameters, metadata ----------------------------------------------------

// namedEntries returns the entries of the mapping n, none for null;
// anything else is an error saying that a mapping of names to what is
// expected.
func (d *decoder) namedEntries(n *node, path, what string) []entry {
	if n.kind == kindNull {
		return nil
	}
	if n.kind != kindMap {
		d.c.errorf(n.pos, path, "expected a mapping of names to %s, got %s", what, describe(n))
		return nil
	}
	return n.entries
}

func (d *decoder) parameters(n *node, path string, cfg *Config) {
	for _, e := range d.namedEntries(n, path, "values") {
		switch e.val.kind {
		case kindMap, kindSeq:
			d.c.errorf(e.val.pos, joinPath(path, e.key), "expected a number, string, boolean or null, got %s", describe(e.val))
			continue
		}
		cfg.Parameters[e.key] = toAny(e.val)
	}
}

func (d *decoder) metadata(n *node, path string, cfg *Config) {
	for _, e := range d.namedEntries(n, path, "strings") {
		if e.val.kind != kindString {
			d.c.errorf(e.val.pos, joinPath(path, e.key), "expected a string (put quotes around it), got %s", describe(e.val))
			continue
		}
		cfg.Metadata[e.key] = e.val.str
	}
}

// --- warnings ------------------------------------------------------------------

// warnings adds what is allowed but probably a mistake, once the whole
// config is known.
func (d *decoder) warnings(cfg *Config, present map[string]entry) {
	ca := cfg.ClientAuth
	hasKeys := len(ca.JWKSURI) > 0 || len(ca.JWKS.Keys) > 0 || ca.Supabase
	at := pos{}
	if e, ok := present["client_auth"]; ok {
		at = e.keyPos
	}
	switch {
	case !hasKeys && !ca.AllowTemporaryTokens:
		d.c.warnf(at, "client_auth", "no keys configured (jwks_uri, jwks or supabase): no client can authenticate")
	case hasKeys && len(ca.Audience) == 0 && !ca.Supabase:
		d.c.warnf(at, "client_auth.audience", "no audience configured: every token will be rejected (PSYNC_S2105) until you list the accepted `aud` values")
	}
	// Keys of the reference schema that are accepted but have no effect
	// here: say so instead of ignoring them silently.
	if cfg.Telemetry.PrometheusPort != 0 {
		d.c.warnf(present["telemetry"].keyPos, "telemetry.prometheus_port", "not supported; metrics are served at /metrics on the service port")
	}
	if cfg.Healthcheck.Probes.UseFilesystem {
		d.c.warnf(present["healthcheck"].keyPos, "healthcheck.probes.use_filesystem", "not supported; probes are served at /probes/startup, /probes/liveness and /probes/readiness on the service port")
	}
	if len(cfg.Replication.Connections) == 0 {
		at := pos{}
		if e, ok := present["replication"]; ok {
			at = e.keyPos
		}
		d.c.warnf(at, "replication.connections", "no source database connection: the service will not replicate any data")
	}
}

// resolvePath makes p absolute against dir ("" stays "").
func resolvePath(dir, p string) string {
	if p == "" {
		return ""
	}
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}
