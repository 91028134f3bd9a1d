// Package postgres is the Postgres replication source: it copies the synced
// tables in resumable pages keyed on their replica identity, then follows
// the publication `powersync` through a logical replication slot with the
// pgoutput plugin, turning every committed transaction into row changes for
// replication. The slot is acknowledged only up to positions that
// replication reports durable in bucket storage.
//
// Positions are LSNs. Values are converted from their Postgres text form
// into the sync rules value model (sync-rules.md §4.3–§4.4), the same way
// for snapshot rows and streamed changes, so a row's key is the same in both.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

// PublicationName is the publication the source replicates.
const PublicationName = "powersync"

// DefaultSlotPrefix is the default prefix of replication slot names.
const DefaultSlotPrefix = "powersync_"

// Options configure a Source.
type Options struct {
	// ConnString is a libpq URL or key=value connection string.
	ConnString string
	// TimestampsISO8601 selects the ISO 8601 timestamp format
	// (2024-01-02T03:04:05.000000Z) instead of the legacy one
	// (2024-01-02 03:04:05Z); sync-rules.md §4.4.
	TimestampsISO8601 bool
	// CustomTypes renders composite values as JSON objects and ranges as
	// JSON objects (custom_postgres_types, on from edition 2); otherwise
	// they are TEXT in their Postgres form.
	CustomTypes bool
	// HeartbeatInterval is how often a logical message is written so an
	// idle database still moves the slot (default 30 s).
	HeartbeatInterval time.Duration
	// StatusInterval is how often the slot position is reported to the
	// server (default 10 s).
	StatusInterval time.Duration
	// SnapshotPageRows is the number of rows per snapshot page (default
	// 10,000).
	SnapshotPageRows int
	// TLS adds a CA certificate, a client certificate or a server name to
	// the TLS the connection string asks for.
	TLS TLSOptions
	// ReportUnchanged leaves TOASTed values an update did not send out of
	// the row and lists them in Change.Unchanged (for a handler that merges
	// them from current data). By default the source reads them from the
	// table by key.
	ReportUnchanged bool
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Source replicates from Postgres. It is safe for concurrent use.
type Source struct {
	opts  Options
	log   *slog.Logger
	pool  *pgxpool.Pool
	types *typeRegistry
	dec   decoder

	mu sync.Mutex
	// known are the relations resolved by Tables: a relation seen while
	// streaming that is not among them is a table created (or published)
	// after the snapshot, which is copied inline.
	known map[uint32]bool
	// tables are the tables Tables resolved, by reference.
	tables map[sqlvalue.TableRef]*source.Table
	// patterns are every table pattern Tables was asked for: a table that
	// appears in the change stream and matches one is picked up.
	patterns []sqlvalue.TablePattern

	closeOnce sync.Once
}

var _ source.Source = (*Source)(nil)

// Open opens a connection pool to the source database and returns the
// source. The pool dials lazily, on first use, so Open does not fail for a
// database that is down; Close releases the pool.
func Open(ctx context.Context, opts Options) (*Source, error) {
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 30 * time.Second
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = 10 * time.Second
	}
	if opts.SnapshotPageRows <= 0 {
		opts.SnapshotPageRows = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(opts.ConnString)
	if err != nil {
		return nil, fmt.Errorf("postgres source: connection string: %w", err)
	}
	setSessionParams(cfg.ConnConfig.RuntimeParams)
	if err := applyTLS(&cfg.ConnConfig.Config, opts.TLS); err != nil {
		return nil, fmt.Errorf("postgres source: %w", err)
	}
	cfg.MaxConns = 4
	cfg.MaxConnIdleTime = 30 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres source: %w", err)
	}
	return &Source{
		opts:   opts,
		log:    opts.Logger.With("component", "source/postgres"),
		pool:   pool,
		types:  newTypeRegistry(),
		dec:    decoder{iso: opts.TimestampsISO8601, custom: opts.CustomTypes},
		known:  make(map[uint32]bool),
		tables: make(map[sqlvalue.TableRef]*source.Table),
	}, nil
}

// setSessionParams fixes the settings that decide the text form of values,
// for query and replication sessions alike.
func setSessionParams(p map[string]string) {
	p["TimeZone"] = "UTC"
	p["DateStyle"] = "ISO, YMD"
	p["IntervalStyle"] = "postgres"
	p["extra_float_digits"] = "1"
	p["bytea_output"] = "hex"
	p["application_name"] = "powersync"
}

// Close releases connections; it is safe to call twice.
func (s *Source) Close(ctx context.Context) error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// SlotName returns the slot name of a sync config version: prefix, the
// version id, "_" and four random hex digits chosen by the caller.
func SlotName(prefix string, versionID int64, random string) string {
	if prefix == "" {
		prefix = DefaultSlotPrefix
	}
	return fmt.Sprintf("%s%d_%s", prefix, versionID, random)
}

// Tables resolves table patterns to the tables that exist and are
// published, with their replica identity columns.
func (s *Source) Tables(ctx context.Context, patterns []sqlvalue.TablePattern) ([]*source.Table, error) {
	var out []*source.Table
	seen := make(map[uint32]bool)
	s.mu.Lock()
	for _, p := range patterns {
		if !slices.Contains(s.patterns, p) {
			s.patterns = append(s.patterns, p)
		}
	}
	s.mu.Unlock()
	for _, p := range patterns {
		schema := p.Schema
		if schema == "" {
			schema = source.PostgresDefaultSchema
		}
		name, op := p.Name, "="
		if strings.HasSuffix(name, "%") {
			name, op = likePrefix(strings.TrimSuffix(name, "%")), "LIKE"
		}
		rows, err := s.pool.Query(ctx, `
			SELECT c.oid::int8, n.nspname, c.relname, c.relreplident::text,
			       EXISTS (SELECT 1 FROM pg_catalog.pg_publication_tables pt
			               WHERE pt.pubname = $3 AND pt.schemaname = n.nspname AND pt.tablename = c.relname)
			FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind = 'r' AND n.nspname = $1 AND c.relname `+op+` $2
			ORDER BY n.nspname, c.relname`, schema, name, PublicationName)
		if err != nil {
			return nil, fmt.Errorf("resolve tables %s.%s: %w", schema, p.Name, err)
		}
		type found struct {
			oid           uint32
			schema, name  string
			ident         string
			inPublication bool
		}
		var fs []found
		for rows.Next() {
			var f found
			var oid int64
			if err := rows.Scan(&oid, &f.schema, &f.name, &f.ident, &f.inPublication); err != nil {
				rows.Close()
				return nil, fmt.Errorf("resolve tables: %w", err)
			}
			f.oid = uint32(oid)
			fs = append(fs, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("resolve tables: %w", err)
		}
		for _, f := range fs {
			if seen[f.oid] {
				continue
			}
			seen[f.oid] = true
			qname := pgx.Identifier{f.schema, f.name}.Sanitize()
			if !f.inPublication {
				s.log.Warn("table is not in the publication and is not replicated",
					"table", f.schema+"."+f.name,
					"fix", fmt.Sprintf("ALTER PUBLICATION %s ADD TABLE %s;", PublicationName, qname))
				continue
			}
			keys, err := s.identityColumns(ctx, f.oid, f.ident)
			if err != nil {
				return nil, err
			}
			if len(keys) == 0 {
				return nil, &CheckError{
					Problem: fmt.Sprintf("table %s has no replica identity (REPLICA IDENTITY %s and no usable key), so its updates and deletes cannot be replicated", qname, identName(f.ident)),
					Fix:     fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (id);  -- or: ALTER TABLE %s REPLICA IDENTITY FULL;", qname, qname),
				}
			}
			var priv bool
			if err := s.pool.QueryRow(ctx, `SELECT has_table_privilege($1::oid, 'SELECT')`, int64(f.oid)).Scan(&priv); err != nil {
				return nil, fmt.Errorf("check privileges on %s: %w", qname, err)
			}
			if !priv {
				return nil, &CheckError{
					Problem: fmt.Sprintf("the replication role cannot read table %s", qname),
					Fix:     fmt.Sprintf("GRANT SELECT ON %s TO current_user_of_powersync;", qname),
				}
			}
			t := &source.Table{
				Ref:        sqlvalue.TableRef{Schema: f.schema, Name: f.name},
				ID:         f.schema + "." + f.name,
				KeyColumns: keys,
			}
			s.mu.Lock()
			s.known[f.oid] = true
			s.tables[t.Ref] = t
			s.mu.Unlock()
			out = append(out, t)
		}
	}
	return out, nil
}

// newTable resolves a table seen in the change stream that Tables did not
// return: when it matches a pattern the sync config reads (and is published
// and has a replica identity), it is returned for an inline copy.
func (s *Source) newTable(ctx context.Context, ref sqlvalue.TableRef) (*source.Table, error) {
	s.mu.Lock()
	_, known := s.tables[ref]
	var match bool
	for _, p := range s.patterns {
		schema := p.Schema
		if schema == "" {
			schema = source.PostgresDefaultSchema
		}
		if schema != ref.Schema {
			continue
		}
		if prefix, ok := strings.CutSuffix(p.Name, "%"); ok && strings.HasPrefix(ref.Name, prefix) || p.Name == ref.Name {
			match = true
			break
		}
	}
	s.mu.Unlock()
	if known || !match {
		return nil, nil
	}
	ts, err := s.Tables(ctx, []sqlvalue.TablePattern{{Schema: ref.Schema, Name: ref.Name}})
	if err != nil {
		return nil, fmt.Errorf("postgres source: new table %s.%s: %w", ref.Schema, ref.Name, err)
	}
	for _, t := range ts {
		if t.Ref == ref {
			return t, nil
		}
	}
	return nil, nil
}

func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

func identName(c string) string {
	switch c {
	case "d":
		return "DEFAULT"
	case "i":
		return "USING INDEX"
	case "f":
		return "FULL"
	case "n":
		return "NOTHING"
	}
	return c
}

// identityColumns returns the replica identity columns of a table: the
// primary key (DEFAULT, and FULL when there is one), the identity index
// (INDEX), or every column (FULL without a primary key).
func (s *Source) identityColumns(ctx context.Context, oid uint32, ident string) ([]string, error) {
	var q string
	switch ident {
	case "d":
		q = `SELECT a.attname FROM pg_catalog.pg_index i
			JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
			WHERE i.indrelid = $1::oid AND i.indisprimary
			ORDER BY array_position(i.indkey::int2[], a.attnum)`
	case "i":
		q = `SELECT a.attname FROM pg_catalog.pg_index i
			JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
			WHERE i.indrelid = $1::oid AND i.indisreplident
			ORDER BY array_position(i.indkey::int2[], a.attnum)`
	case "f":
		// FULL: the primary key still identifies the row when there is
		// one (every column would make each update change the identity).
		if cols, err := s.identityColumns(ctx, oid, "d"); err != nil || len(cols) > 0 {
			return cols, err
		}
		q = `SELECT attname FROM pg_catalog.pg_attribute
			WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum`
	default:
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, q, int64(oid))
	if err != nil {
		return nil, fmt.Errorf("replica identity columns: %w", err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("replica identity columns: %w", err)
	}
	return cols, nil
}

// column is one column of a table: name, type and its decoder.
type column struct {
	name    string
	typeOID uint32
	typ     *typeInfo
	// typeName is the SQL type (format_type), for casts of cursor values.
	typeName string
}

// columns reads a table's columns in attribute order.
func (s *Source) columns(ctx context.Context, ref sqlvalue.TableRef) ([]column, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.attname, a.atttypid::int8, format_type(a.atttypid, a.atttypmod)
		FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, pgx.Identifier{ref.Schema, ref.Name}.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("columns of %s.%s: %w", ref.Schema, ref.Name, err)
	}
	var cols []column
	var oids []uint32
	for rows.Next() {
		var c column
		var oid int64
		if err := rows.Scan(&c.name, &oid, &c.typeName); err != nil {
			rows.Close()
			return nil, fmt.Errorf("columns of %s.%s: %w", ref.Schema, ref.Name, err)
		}
		c.typeOID = uint32(oid)
		cols = append(cols, c)
		oids = append(oids, c.typeOID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("columns of %s.%s: %w", ref.Schema, ref.Name, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("table %s.%s does not exist or has no columns", ref.Schema, ref.Name)
	}
	if err := s.types.resolve(ctx, s.pool, oids); err != nil {
		return nil, err
	}
	for i := range cols {
		cols[i].typ = s.types.lookup(cols[i].typeOID)
	}
	return cols, nil
}

// Head returns pg_current_wal_lsn() and then writes a logical message, so
// that the change stream moves past the returned position even when the
// database is idle.
func (s *Source) Head(ctx context.Context) (storage.Position, error) {
	var lsn string
	if err := s.pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
		return 0, fmt.Errorf("read source head: %w", err)
	}
	p, err := parseLSN(lsn)
	if err != nil {
		return 0, err
	}
	if err := s.ping(ctx); err != nil {
		return 0, err
	}
	return p, nil
}

// ping writes the keepalive logical message the stream recognises.
func (s *Source) ping(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `SELECT pg_logical_emit_message(false, $1, 'ping')`, PublicationName)
	if err != nil {
		return fmt.Errorf("write keepalive message: %w", err)
	}
	return nil
}

// Drop removes the replication slot of a replaced version (ending a
// walsender that still uses it).
func (s *Source) Drop(ctx context.Context, slot string) error {
	for attempt := 0; ; attempt++ {
		_, err := s.pool.Exec(ctx, `
			SELECT pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots
			WHERE slot_name = $1`, slot)
		if err == nil {
			return nil
		}
		if attempt >= 20 || !slotInUse(err) {
			return fmt.Errorf("drop replication slot %s: %w", slot, err)
		}
		_, _ = s.pool.Exec(ctx, `
			SELECT pg_terminate_backend(active_pid) FROM pg_catalog.pg_replication_slots
			WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// errors returned to replication.
var (
	// ErrSlotLost is returned by Stream when the slot vanished or was
	// invalidated; calling Start again creates a fresh one.
	ErrSlotLost = errors.New("replication slot is missing or lost")
)
