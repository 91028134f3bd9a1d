package syncrules

import (
	"context"
	"fmt"
	"slices"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/protocol"
)

// DefaultMaxBuckets and DefaultMaxLookupResults are the per-connection
// limits when a Request leaves them 0 (max_buckets_per_connection and
// max_parameter_query_results).
const (
	DefaultMaxBuckets       = 1000
	DefaultMaxLookupResults = 1000
)

// Querier resolves the buckets of one connection. The part that depends
// only on the request is computed once by NewQuerier; Buckets re-runs the
// parameter lookups at each checkpoint. A Querier is used by one
// connection goroutine at a time.
type Querier struct {
	streams    []protocol.StreamDescription
	static     []BucketDescription
	dynamic    []bucketResolver
	maxBuckets int
	maxLookups int
}

// bucketResolver resolves dynamic buckets through lookups. It reports each bucket
// through add and counts lookup results through budget.
type bucketResolver func(ctx context.Context, lookup LookupFunc, budget *lookupBudget, add func(bucket string, priority int, r inclusion)) error

// inclusion says why a connection has a bucket: def is an index into
// Streams() (-1 none), sub an index into Request.Streams (-1 none).
type inclusion struct {
	def int
	sub int
}

// lookupBudget counts parameter lookup results against the limit.
type lookupBudget struct {
	used, max int
}

// take accounts n more results.
func (b *lookupBudget) take(n int) error {
	b.used += n
	if b.used > b.max {
		return &protocol.Error{Name: protocol.NameSyncConfigLimitExceeded, Code: protocol.CodeTooManyBuckets, Status: 400,
			Description: fmt.Sprintf("Too many parameter query results (limit of %d)", b.max)}
	}
	return nil
}

// querierBuilder assembles a Querier from every compiled source.
type querierBuilder struct {
	cfg   *Config
	req   *Request
	rc    *requestContext
	q     *Querier
	index map[string]int
	// legacy collects the lookups of bucket definitions (one batch).
	legacy []legacyLookup
}

// subscriptions returns the indexes of the request's explicit
// subscriptions to a stream name.
func (b *querierBuilder) subscriptions(name string) []int {
	var out []int
	for i, s := range b.req.Streams {
		if s.Stream == name {
			out = append(out, i)
		}
	}
	return out
}

// addStream adds a StreamDescription and returns its index.
func (b *querierBuilder) addStream(name string, isDefault bool) int {
	b.q.streams = append(b.q.streams, protocol.StreamDescription{Name: name, IsDefault: isDefault, Errors: []protocol.StreamError{}})
	return len(b.q.streams) - 1
}

// addError records a subscription that could not be resolved; sub is
// "default" or the subscription index.
func (b *querierBuilder) addError(stream int, sub any, msg string) {
	s := &b.q.streams[stream]
	s.Errors = append(s.Errors, protocol.StreamError{Subscription: sub, Message: msg})
}

// addStatic adds a bucket fixed for the connection.
func (b *querierBuilder) addStatic(bucket string, priority int, r inclusion) {
	b.q.static = mergeBucket(b.q.static, b.index, bucket, priority, r)
}

// addDynamic adds a bucketResolver run at each checkpoint.
func (b *querierBuilder) addDynamic(r bucketResolver) {
	b.q.dynamic = append(b.q.dynamic, r)
}

// mergeBucket adds or merges a bucket: lowest priority number wins,
// inclusion reasons accumulate.
func mergeBucket(list []BucketDescription, index map[string]int, bucket string, priority int, r inclusion) []BucketDescription {
	i, ok := index[bucket]
	if !ok {
		i = len(list)
		index[bucket] = i
		list = append(list, BucketDescription{Bucket: bucket, Priority: priority})
	}
	d := &list[i]
	if priority < d.Priority {
		d.Priority = priority
	}
	if r.def >= 0 && !slices.Contains(d.Default, r.def) {
		d.Default = append(d.Default, r.def)
	}
	if r.sub >= 0 && !slices.Contains(d.Subs, r.sub) {
		d.Subs = append(d.Subs, r.sub)
	}
	return list
}

// NewQuerier prepares bucket resolution for one connection.
func (c *Config) NewQuerier(req Request) (*Querier, error) {
	rc, err := newRequestContext(req)
	if err != nil {
		return nil, &protocol.Error{Name: protocol.NameValidationError, Code: protocol.CodeValidation, Status: 400, Description: "Invalid sync request", Details: err.Error()}
	}
	q := &Querier{maxBuckets: req.MaxBuckets, maxLookups: req.MaxLookupResults}
	if q.maxBuckets <= 0 {
		q.maxBuckets = DefaultMaxBuckets
	}
	if q.maxLookups <= 0 {
		q.maxLookups = DefaultMaxLookupResults
	}
	b := &querierBuilder{cfg: c, req: &req, rc: rc, q: q, index: map[string]int{}}
	for _, src := range c.sources {
		if src.isStream {
			c.alphaQuerier(b, src)
			continue
		}
		// Bucket definitions are default sources; a client that turns
		// defaults off still gets one it names explicitly.
		if !req.IncludeDefaults && len(b.subscriptions(src.name)) == 0 {
			continue
		}
		idx := b.addStream(src.name, true)
		c.legacyQuerier(b, src, idx)
	}
	b.addLegacyLookups()
	if c.streams3 != nil {
		c.streams3.addToQuerier(b)
	}
	return q, nil
}

// Streams returns the stream descriptions for the checkpoint line.
func (q *Querier) Streams() []protocol.StreamDescription { return q.streams }

// Dynamic reports whether Buckets depends on parameter lookups.
func (q *Querier) Dynamic() bool { return len(q.dynamic) > 0 }

// Buckets returns every bucket of the connection as of the checkpoint
// that lookup reads. It fails with PSYNC_S2305 over the limits.
func (q *Querier) Buckets(ctx context.Context, lookup LookupFunc) ([]BucketDescription, error) {
	out := slices.Clone(q.static)
	for i := range out {
		out[i].Default = slices.Clone(out[i].Default)
		out[i].Subs = slices.Clone(out[i].Subs)
	}
	if len(q.dynamic) > 0 {
		index := make(map[string]int, len(out))
		for i, d := range out {
			index[d.Bucket] = i
		}
		budget := &lookupBudget{max: q.maxLookups}
		add := func(bucket string, priority int, r inclusion) {
			out = mergeBucket(out, index, bucket, priority, r)
		}
		for _, r := range q.dynamic {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := r(ctx, lookup, budget, add); err != nil {
				return nil, err
			}
		}
	}
	if len(out) > q.maxBuckets {
		return nil, &protocol.Error{Name: protocol.NameSyncConfigLimitExceeded, Code: protocol.CodeTooManyBuckets, Status: 400,
			Description: fmt.Sprintf("Too many buckets: %d (limit of %d)", len(out), q.maxBuckets)}
	}
	return out, nil
}

// bucketName builds prefix + name + JSON array of parameter values.
func bucketName(prefix, name string, values []sqlvalue.Value) string {
	b := make([]byte, 0, len(prefix)+len(name)+16)
	b = append(b, prefix...)
	b = append(b, name...)
	b = append(b, '[')
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		b = sqlvalue.AppendBucketValue(b, v)
	}
	return string(append(b, ']'))
}
