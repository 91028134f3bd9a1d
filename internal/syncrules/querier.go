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

// legacyQuerier adds a bucket definition's buckets.
func (c *Config) legacyQuerier(b *querierBuilder, src *bucketSource, streamIdx int) {
	reason := inclusion{def: streamIdx, sub: -1}
	ctx := &legacyCtx{req: b.rc}
	fail := func(err error) {
		b.addError(streamIdx, "default", "Error evaluating bucket ids: "+err.Error())
	}
	for _, sq := range src.statics {
		if sq.where != nil {
			v, err := sq.where(ctx)
			if err != nil {
				fail(err)
				continue
			}
			if !v.Truthy() {
				continue
			}
		}
		values, ok, err := evalOutputs(ctx, sq.outputs)
		if err != nil {
			fail(err)
			continue
		}
		if ok {
			b.addStatic(bucketName(c.prefix, src.name, values), sq.priority, reason)
		}
	}
	for _, eq := range src.eaches {
		rows, err := eq.rows(ctx, c.compat.FixedJSONExtract)
		if err != nil {
			fail(err)
			continue
		}
		for _, r := range rows {
			ectx := &legacyCtx{req: b.rc, each: r}
			if eq.where != nil {
				v, err := eq.where(ectx)
				if err != nil {
					fail(err)
					break
				}
				if !v.Truthy() {
					continue
				}
			}
			values, ok, err := evalOutputs(ectx, eq.outputs)
			if err != nil {
				fail(err)
				break
			}
			if ok {
				b.addStatic(bucketName(c.prefix, src.name, values), eq.priority, reason)
			}
		}
	}
	for _, tq := range src.tables {
		keys, err := tq.lookupKeys(ctx)
		if err != nil {
			fail(err)
			continue
		}
		if len(keys) == 0 {
			continue
		}
		b.legacy = append(b.legacy, legacyLookup{keys: keys, query: tq, reason: reason})
	}
}

// legacyLookup is the dynamic part of one parameter table query for one
// connection: its lookup keys are fixed, the results change.
type legacyLookup struct {
	keys   [][]byte
	query  *paramTableQuery
	reason inclusion
}

// addLegacyLookups adds one resolver for every legacy lookup of the
// connection, so each checkpoint reads them with a single LookupFunc call.
func (b *querierBuilder) addLegacyLookups() {
	if len(b.legacy) == 0 {
		return
	}
	parts := b.legacy
	var keys [][]byte
	for _, p := range parts {
		keys = append(keys, p.keys...)
	}
	prefix := b.cfg.prefix
	rc := b.rc
	b.addDynamic(func(_ context.Context, lookup LookupFunc, budget *lookupBudget, add func(string, int, inclusion)) error {
		results, err := lookup(keys)
		if err != nil {
			return err
		}
		if len(results) != len(keys) {
			return fmt.Errorf("lookup returned %d results for %d keys", len(results), len(keys))
		}
		i := 0
		for _, p := range parts {
			for range p.keys {
				rs := results[i]
				i++
				if err := budget.take(len(rs)); err != nil {
					return err
				}
				for _, r := range rs {
					values, ok, err := p.query.bucketValues(rc, r)
					if err != nil || !ok {
						continue
					}
					add(bucketName(prefix, p.query.source.name, values), p.query.priority, p.reason)
				}
			}
		}
		return nil
	})
}

// evalOutputs evaluates request-side outputs; ok is false when a value is
// a BLOB (no bucket).
func evalOutputs(ctx *legacyCtx, outs []paramOutput) ([]sqlvalue.Value, bool, error) {
	values := make([]sqlvalue.Value, len(outs))
	for i, o := range outs {
		v, err := o.eval(ctx)
		if err != nil {
			return nil, false, err
		}
		if v.Kind() == sqlvalue.KindBlob {
			return nil, false, nil
		}
		values[i] = v
	}
	return values, true, nil
}

// rows expands the json_each argument (§6.4): arrays by element (key is
// the index), objects by member, a scalar as one row.
func (eq *eachParamQuery) rows(ctx *legacyCtx, fixed bool) ([][2]sqlvalue.Value, error) {
	v, err := eq.arg(ctx)
	if err != nil {
		return nil, err
	}
	if v.Kind() == sqlvalue.KindNull {
		return nil, nil
	}
	if v.Kind() != sqlvalue.KindText {
		return nil, fmt.Errorf("json_each: expected JSON text, got %s", v.Kind())
	}
	j, err := parseJSON(v.Str())
	if err != nil {
		return nil, sqlError("Expected JSON string")
	}
	conv := func(e jsonValue) sqlvalue.Value {
		e = jsNumbers(e)
		if e.kind == jsonNull && !fixed {
			return sqlvalue.Text("null")
		}
		return e.toValue()
	}
	switch j.kind {
	case jsonArray:
		out := make([][2]sqlvalue.Value, len(j.arr))
		for i, e := range j.arr {
			out[i] = [2]sqlvalue.Value{sqlvalue.Int(int64(i)), conv(e)}
		}
		return out, nil
	case jsonObject:
		out := make([][2]sqlvalue.Value, len(j.arr))
		for i, e := range j.arr {
			out[i] = [2]sqlvalue.Value{sqlvalue.Text(j.keys[i]), conv(e)}
		}
		return out, nil
	}
	return [][2]sqlvalue.Value{{sqlvalue.Null, conv(j)}}, nil
}

// lookupKeys computes the lookups of a parameter table query for a request.
func (tq *paramTableQuery) lookupKeys(ctx *legacyCtx) ([][]byte, error) {
	sets := make([][]sqlvalue.Value, len(tq.where.inputs))
	for i, in := range tq.where.inputs {
		v, err := in.eval(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case in.truthy:
			sets[i] = []sqlvalue.Value{sqlvalue.Bool(v.Truthy())}
		case in.expanding:
			if v.Kind() == sqlvalue.KindNull {
				return nil, nil
			}
			elems, err := jsonElements(v)
			if err != nil {
				return nil, err
			}
			sets[i] = elems
		default:
			if v.Kind() == sqlvalue.KindBlob {
				return nil, nil
			}
			sets[i] = []sqlvalue.Value{v}
		}
	}
	var keys [][]byte
	seen := map[string]bool{}
	cur := make([]sqlvalue.Value, len(sets))
	var rec func(i int)
	rec = func(i int) {
		if i == len(sets) {
			k := tq.lookupKey(cur)
			if !seen[string(k)] {
				seen[string(k)] = true
				keys = append(keys, k)
			}
			return
		}
		for _, v := range sets[i] {
			cur[i] = v
			rec(i + 1)
		}
	}
	rec(0)
	return keys, nil
}

// bucketValues builds a dynamic bucket's parameters from a lookup result
// row and the request outputs.
func (tq *paramTableQuery) bucketValues(rc *requestContext, result []byte) ([]sqlvalue.Value, bool, error) {
	j, err := parseJSON(string(result))
	if err != nil || j.kind != jsonObject {
		return nil, false, err
	}
	ctx := &legacyCtx{req: rc}
	values := make([]sqlvalue.Value, len(tq.outputs))
	for i, o := range tq.outputs {
		if o.lookup {
			e, ok := j.get(o.name)
			if !ok {
				values[i] = sqlvalue.Null
				continue
			}
			values[i] = e.toValue()
			continue
		}
		v, err := o.eval(ctx)
		if err != nil {
			return nil, false, err
		}
		if v.Kind() == sqlvalue.KindBlob {
			return nil, false, nil
		}
		values[i] = v
	}
	return values, true, nil
}
