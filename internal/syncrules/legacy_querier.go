package syncrules

import (
	"context"
	"fmt"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// This file is the request side of legacy Sync Rules: a bucket
// definition's static buckets, and its parameter queries resolved against
// the lookup index at each checkpoint.

// legacyQuerier adds a bucket definition's buckets.
func (c *Config) legacyQuerier(b *querierBuilder, src *bucketSource, streamIdx int) {
	reason := inclusion{def: streamIdx, sub: -1}
	ctx := &legacyCtx{req: b.rc}
	fail := func(err error) {
		b.addError(streamIdx, "default", "Error evaluating bucket ids: "+err.Error())
	}
	for _, sq := range src.statics {
		values, ok, err := staticBucketValues(ctx, sq.where, sq.outputs)
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
			values, ok, err := staticBucketValues(ectx, eq.where, eq.outputs)
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

// staticBucketValues evaluates a static or json_each parameter query for
// one request (and json_each row): ok is false when its WHERE is not true
// or an output is a BLOB (see evalOutputs).
func staticBucketValues(ctx *legacyCtx, where legacyFn, outs []paramOutput) ([]sqlvalue.Value, bool, error) {
	if where != nil {
		v, err := where(ctx)
		if err != nil || !v.Truthy() {
			return nil, false, err
		}
	}
	return evalOutputs(ctx, outs)
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
