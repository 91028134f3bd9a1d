package syncrules

import (
	"slices"
	"strconv"
	"strings"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// ParseOptions tune Parse.
type ParseOptions struct {
	// DefaultSchema is the schema of tables written without one: "public"
	// for Postgres, "" for SQLite sources.
	DefaultSchema string
	// StorageVersion is the bucket storage format version; 0 means the
	// config's storage_version or the default 2.
	StorageVersion int
}

// Compatibility is the resolved config block: the edition and every
// compatibility switch (explicit value, else on when the edition has it).
type Compatibility struct {
	Edition             int
	TimestampsISO8601   bool
	VersionedBucketIDs  bool
	FixedJSONExtract    bool
	CustomPostgresTypes bool
	// SQLiteExpressionEngine is unstable_sqlite_expression_engine; the
	// engine always evaluates with the JavaScript-engine semantics and
	// reports a warning when it is set.
	SQLiteExpressionEngine bool
	// TimestampMaxPrecision is the number of sub-second digits timestamps
	// keep at most (0, 3, 6 or 9), or -1 for the source precision.
	TimestampMaxPrecision int
	StorageVersion        int
}

// Config is a compiled sync config: legacy bucket definitions, alpha
// (edition 2) streams, or edition-3 streams. It is immutable after Parse
// and safe for concurrent use; Versioned returns a copy that differs only
// in the bucket id prefix.
type Config struct {
	compat Compatibility
	opts   ParseOptions
	prefix string // "" or "<version>#"

	// sources are the legacy bucket definitions and alpha streams, in file
	// order (request side).
	sources []*bucketSource
	// data and params are the row-side plans of legacy definitions and
	// alpha streams.
	data   []*dataQuery
	params []*paramTableQuery
	// streams3 is the compiled edition-3 part (edition3*.go), nil otherwise.
	streams3 *streams3
	events   []*eventSpec
	// alphaPriorities are the declared priorities of alpha streams.
	alphaPriorities []namedPriority
}

type namedPriority struct {
	name     string
	priority int
}

// Compatibility returns the resolved edition and switches.
func (c *Config) Compatibility() Compatibility { return c.compat }

// BucketPrefix is "<version>#" for a versioned config, else "".
func (c *Config) BucketPrefix() string { return c.prefix }

// Versioned returns the same config producing bucket ids prefixed with
// "<version>#" (§4.8). Our storage always uses versioned ids, so the
// service calls this with the sync config's storage version id.
func (c *Config) Versioned(version int64) *Config {
	cp := *c
	cp.prefix = strconv.FormatInt(version, 10) + "#"
	return &cp
}

// SourceTables lists every table (pattern) any query reads, data or
// parameter side, without duplicates, in first-use order.
func (c *Config) SourceTables() []sqlvalue.TablePattern {
	var out []sqlvalue.TablePattern
	add := func(p sqlvalue.TablePattern) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, q := range c.data {
		add(q.table.pattern())
	}
	for _, q := range c.params {
		add(q.table.pattern())
	}
	if c.streams3 != nil {
		for _, p := range c.streams3.sourceTables() {
			add(p)
		}
	}
	return out
}

// EvaluateRow computes the buckets a source row belongs to, with the
// output table, id and JSON data of each. Errors are per query: the other
// queries' results are still returned.
func (c *Config) EvaluateRow(table sqlvalue.TableRef, row sqlvalue.Row) ([]EvaluatedRow, []error) {
	var out []EvaluatedRow
	var errs []error
	var ctx *legacyCtx
	for _, q := range c.data {
		if !q.table.matches(table) {
			continue
		}
		if ctx == nil {
			ctx = &legacyCtx{row: row}
			out = make([]EvaluatedRow, 0, 4)
		}
		var err error
		out, err = q.evaluate(c, table, ctx, out)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.streams3 != nil {
		var e3 []error
		out, e3 = c.streams3.evaluateRow(c, table, row, out)
		errs = append(errs, e3...)
	}
	return out, errs
}

// EvaluateParameterRow computes the lookup index entries of a row of a
// parameter table.
func (c *Config) EvaluateParameterRow(table sqlvalue.TableRef, row sqlvalue.Row) ([]LookupEntry, []error) {
	var out []LookupEntry
	var errs []error
	for _, q := range c.params {
		if !q.table.matches(table) {
			continue
		}
		var err error
		out, err = q.evaluate(table, row, out)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.streams3 != nil {
		var e3 []error
		out, e3 = c.streams3.evaluateParameterRow(c, table, row, out)
		errs = append(errs, e3...)
	}
	return out, errs
}

// IsParameterTable reports whether rows of table produce lookup entries.
func (c *Config) IsParameterTable(table sqlvalue.TableRef) bool {
	for _, q := range c.params {
		if q.table.matches(table) {
			return true
		}
	}
	if c.streams3 == nil {
		return false
	}
	// Any table an edition-3 stream reads may feed a parameter lookup.
	for _, p := range c.streams3.sourceTables() {
		if patternOf(p).matches(table) {
			return true
		}
	}
	return false
}

// patternOf converts a TablePattern ("%" suffix = wildcard).
func patternOf(p sqlvalue.TablePattern) tablePattern {
	if strings.HasSuffix(p.Name, "%") {
		return tablePattern{schema: p.Schema, name: strings.TrimSuffix(p.Name, "%"), wildcard: true}
	}
	return tablePattern{schema: p.Schema, name: p.Name}
}

// tablePattern is a resolved FROM table: exact name or prefix wildcard.
type tablePattern struct {
	schema   string
	name     string // without the trailing % for wildcards
	wildcard bool
	// tag is the connection tag ("default" unless written as "tag.schema").
	tag string
}

func (p tablePattern) pattern() sqlvalue.TablePattern {
	n := p.name
	if p.wildcard {
		n += "%"
	}
	return sqlvalue.TablePattern{Schema: p.schema, Name: n}
}

func (p tablePattern) matches(t sqlvalue.TableRef) bool {
	if p.tag != "" && p.tag != "default" {
		return false
	}
	if p.schema != t.Schema {
		return false
	}
	if p.wildcard {
		return len(t.Name) >= len(p.name) && t.Name[:len(p.name)] == p.name
	}
	return p.name == t.Name
}

// suffix returns the part of the table name matched by the wildcard.
func (p tablePattern) suffix(t sqlvalue.TableRef) string {
	if !p.wildcard {
		return ""
	}
	return t.Name[len(p.name):]
}

// EventDefinition is one entry of event_definitions: a name and its payload
// queries (SQL text). The service does not emit events yet; the
// definitions are parsed, checked and kept.
type EventDefinition struct {
	Name     string
	Payloads []string
}

// EventDefinitions returns the config's event_definitions in file order.
func (c *Config) EventDefinitions() []EventDefinition {
	out := make([]EventDefinition, 0, len(c.events))
	for _, e := range c.events {
		d := EventDefinition{Name: e.Name}
		for _, p := range e.Payloads {
			d.Payloads = append(d.Payloads, p.SQL)
		}
		out = append(out, d)
	}
	return out
}

// TimestampFormat returns the timestamp rendering of this config.
func (c *Config) TimestampFormat() sqlvalue.TimestampFormat {
	return sqlvalue.TimestampFormat{ISO8601: c.compat.TimestampsISO8601, MaxDigits: c.compat.TimestampMaxPrecision}
}
