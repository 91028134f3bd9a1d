package syncrules

// This file fixes the contract between the sync rules engine and the rest of
// the service (replication, storage, the sync API). The engine's
// implementation lives in the other files of this package.
//
// The entry points (implemented elsewhere in this package):
//
//	func Parse(yaml []byte, opts ParseOptions) (*Config, Diagnostics)
//	    Parses and compiles a sync config file (parse.go). The returned
//	    Config is nil only when Diagnostics has a fatal error; diagnostics
//	    are in file order. ParseOptions.DefaultSchema is "public" for
//	    Postgres sources and "" for SQLite.
//	func (c *Config) SourceTables() []TablePattern
//	    Every table (pattern) any query reads from, data or parameter side.
//	func (c *Config) Versioned(version int64) *Config
//	    The same config producing bucket ids prefixed "<version>#" (§4.8).
//	func (c *Config) EvaluateRow(table TableRef, row Row) ([]EvaluatedRow, []error)
//	    (a) A source row → the buckets it is in, with output table, id and data.
//	func (c *Config) EvaluateParameterRow(table TableRef, row Row) ([]LookupEntry, []error)
//	    (b) A parameter-table row → lookup index entries.
//	func (c *Config) NewQuerier(req Request) (*Querier, error)
//	    (c) A connection's request → the fixed part of its bucket resolution.
//	func (q *Querier) Buckets(ctx context.Context, lookup LookupFunc) ([]BucketDescription, error)
//	    Re-run at each checkpoint: resolves dynamic buckets through lookup;
//	    over the limits it fails with a *protocol.Error PSYNC_S2305.
//	func (q *Querier) Streams() []protocol.StreamDescription
//	    The streams/definitions for the checkpoint line's "streams" field.
//	func (q *Querier) Dynamic() bool
//	    Whether Buckets depends on parameter lookups (else it is fixed).
//
// A Config is immutable and safe for concurrent use; a Querier belongs to
// one connection. Config.TimestampFormat (convert.go) is the timestamp text
// form the config's compatibility options ask for; the conversions
// themselves are package sqlvalue's (FromGo, TimestampFormat.Format).

// EvaluatedRow is one (bucket, output row) pair produced by a source row.
type EvaluatedRow struct {
	Bucket string // full bucket id, e.g. `1#by_user["u1"]`
	Table  string // output table name (object_type)
	ID     string // output row id as text (object_id)
	Data   []byte // the output row as JSON text, exactly as sent to clients
}

// LookupEntry is one parameter index entry produced by a parameter row.
// Key is a canonical encoding of [lookupName, queryId, values...]; Result is
// an encoding of the bucket parameter rows the engine reads back through a
// LookupFunc. Storage treats both as opaque bytes.
type LookupEntry struct {
	Key    []byte
	Result []byte
}

// LookupFunc reads the lookup index as of one checkpoint: for each key, the
// Results of every current entry with that key (from any source row).
type LookupFunc func(keys [][]byte) ([][][]byte, error)

// Request is what the querier knows about one connection.
type Request struct {
	// UserID is the token's sub as text.
	UserID string
	// Claims is the verified JWT payload as JSON.
	Claims []byte
	// Parameters are the client parameters from the request body (JSON
	// object or nil).
	Parameters []byte
	// Streams holds the explicit subscriptions and include_defaults.
	Streams []Subscription
	// IncludeDefaults is the request's streams.include_defaults (true when
	// the client sends no streams object): bucket definitions and
	// auto_subscribe streams are included only when it is set (a bucket
	// definition named by an explicit subscription is included anyway).
	IncludeDefaults bool
	// MaxBuckets and MaxLookupResults bound one connection (0 = 1000).
	MaxBuckets       int
	MaxLookupResults int
}

// Subscription is one explicit stream subscription of a request.
type Subscription struct {
	Stream           string
	Parameters       []byte // JSON object or nil
	OverridePriority *int
}

// BucketDescription is one bucket a connection gets.
type BucketDescription struct {
	Bucket   string
	Priority int
	// Default lists indexes into Querier.Streams() for default inclusion;
	// Subs lists indexes into Request.Streams for explicit subscriptions.
	Default []int
	Subs    []int
}

// Severity of a diagnostic.
type Severity uint8

// Severities.
const (
	SeverityWarning Severity = iota
	SeverityFatal
)

// Diagnostic is one error or warning about a sync config, with its position
// in the YAML file (1-based line and column, end exclusive).
type Diagnostic struct {
	Severity  Severity
	Message   string
	Line      int
	Column    int
	EndLine   int
	EndColumn int
}

// Diagnostics is every diagnostic of one config.
type Diagnostics []Diagnostic

// HasFatal reports whether any diagnostic is fatal.
func (d Diagnostics) HasFatal() bool {
	for _, x := range d {
		if x.Severity == SeverityFatal {
			return true
		}
	}
	return false
}
