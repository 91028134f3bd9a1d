package syncrules

import (
	"context"
	"errors"
	"slices"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/protocol"
)

// This file resolves a connection's buckets for edition-3 streams (§8.8,
// §9.1): every stream the client subscribes to (by default or explicitly)
// runs its resolvers once per subscription; request filters and json_each
// stages over request data are evaluated once, parameter lookups at each
// checkpoint.

// qbinding is one partial solution of a resolver: the chosen row of each
// request stage and of each lookup resolved so far.
type qbinding struct {
	tvf  []tvfRow
	rows [][]sqlvalue.Value
}

// subscriptionInstance is one evaluation of a stream: the default
// subscription or one explicit subscription.
type subscriptionInstance struct {
	env      evalEnv
	priority int
	reason   inclusion
	label    any // "default" or the subscription index, for errors
}

func (s *streams3) addToQuerier(b *querierBuilder) {
	auth := sqlvalue.Text(b.rc.claimsRaw)
	conn := sqlvalue.Text(b.rc.paramsRaw)
	prefix := b.cfg.prefix
	for _, st := range s.streams {
		subs := b.subscriptions(st.name)
		isDefault := st.autoSubscribe && b.req.IncludeDefaults
		if !isDefault && len(subs) == 0 {
			continue
		}
		idx := b.addStream(st.name, isDefault)
		var insts []subscriptionInstance
		if isDefault {
			insts = append(insts, subscriptionInstance{env: evalEnv{auth: auth, conn: conn, sub: sqlvalue.Null},
				priority: st.priority, reason: inclusion{def: idx, sub: -1}, label: "default"})
		}
		for _, i := range subs {
			sub := b.req.Streams[i]
			params := sqlvalue.Text("{}")
			if len(sub.Parameters) > 0 {
				j, err := parseJSON(string(sub.Parameters))
				switch {
				case err != nil:
					b.addError(idx, i, "Error evaluating bucket ids: invalid subscription parameters: "+err.Error())
					continue
				case j.kind == jsonObject:
					params = sqlvalue.Text(string(j.appendJSON(nil)))
				case j.kind != jsonNull:
					b.addError(idx, i, "Error evaluating bucket ids: subscription parameters must be an object")
					continue
				}
			}
			prio := st.priority
			if sub.OverridePriority != nil {
				prio = *sub.OverridePriority
			}
			insts = append(insts, subscriptionInstance{env: evalEnv{auth: auth, conn: conn, sub: params},
				priority: prio, reason: inclusion{def: -1, sub: i}, label: i})
		}
		for _, inst := range insts {
			for _, r := range st.resolvers {
				bindings, err := r.start(&inst.env)
				if err != nil {
					b.addError(idx, inst.label, "Error evaluating bucket ids: "+err.Error())
					continue
				}
				if len(bindings) == 0 {
					continue
				}
				if len(r.lookups) == 0 {
					for _, bd := range bindings {
						if name, ok, err := r.bucketID(prefix, &inst.env, bd); err != nil {
							b.addError(idx, inst.label, "Error evaluating bucket ids: "+err.Error())
						} else if ok {
							b.addStatic(name, inst.priority, inst.reason)
						}
					}
					continue
				}
				r, inst, bindings, q, idx := r, inst, bindings, b.q, idx
				b.addDynamic(func(ctx context.Context, lookup LookupFunc, budget *lookupBudget, add func(string, int, inclusion)) error {
					err := r.resolve(ctx, prefix, &inst, bindings, lookup, budget, add)
					var limit *protocol.Error
					var lf lookupFailure
					switch {
					case errors.As(err, &lf):
						return lf.err
					case err == nil || ctx.Err() != nil || errors.As(err, &limit):
						return err
					}
					// An evaluation error concerns this subscription only: the
					// client learns it from the checkpoint's stream errors.
					q.addStreamError(idx, inst.label, "Error evaluating bucket ids: "+err.Error())
					return nil
				})
			}
		}
	}
}

// start evaluates the request-only part of a resolver: request filters and
// json_each stages over request data. No bindings means no buckets.
func (r *resolver) start(env *evalEnv) ([]qbinding, error) {
	env.tvf = nil
	ok, err := allTrue(env, r.reqFilters)
	if err != nil || !ok {
		return nil, err
	}
	bindings := []qbinding{{}}
	for _, st := range r.stages {
		v, err := st.arg(env)
		if err != nil {
			return nil, err
		}
		rows, err := jsonEachRows(v)
		if err != nil {
			return nil, err
		}
		var next []qbinding
		for _, bd := range bindings {
			for _, row := range rows {
				fenv := *env
				fenv.tvf = []tvfRow{row}
				ok, err := allTrue(&fenv, st.filters)
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
				nb := qbinding{tvf: append(slices.Clone(bd.tvf), row)}
				next = append(next, nb)
			}
		}
		bindings = next
		if len(bindings) == 0 {
			return nil, nil
		}
	}
	return bindings, nil
}

// value evaluates a value source for one binding; ok is false when the
// value cannot be a parameter (NULL, BLOB, or an intersection that does
// not agree).
func (v *valueSrc) value(env *evalEnv, bd qbinding) (sqlvalue.Value, bool, error) {
	switch {
	case len(v.parts) > 0:
		var first sqlvalue.Value
		for i := range v.parts {
			x, ok, err := v.parts[i].value(env, bd)
			if err != nil || !ok {
				return sqlvalue.Null, false, err
			}
			if i == 0 {
				first = x
			} else if !sqlvalue.Equal(sqlvalue.NormalizeParameter(first), sqlvalue.NormalizeParameter(x)) {
				return sqlvalue.Null, false, nil
			}
		}
		return first, true, nil
	case v.lookup >= 0:
		x := bd.rows[v.lookup][v.out]
		return x, parameterValue(x), nil
	}
	env.tvf = bd.tvf
	x, err := v.fn(env)
	if err != nil {
		return sqlvalue.Null, false, err
	}
	return x, parameterValue(x), nil
}

// bucketID builds the bucket id of a complete binding.
func (r *resolver) bucketID(prefix string, env *evalEnv, bd qbinding) (string, bool, error) {
	vals := make([]sqlvalue.Value, len(r.params))
	for i := range r.params {
		v, ok, err := r.params[i].value(env, bd)
		if err != nil || !ok {
			return "", false, err
		}
		vals[i] = v
	}
	return bucketName(prefix, r.bucket.name, vals), true, nil
}

// resolve runs the lookups of a dynamic resolver stage by stage and adds
// its buckets.
func (r *resolver) resolve(ctx context.Context, prefix string, inst *subscriptionInstance, bindings []qbinding, lookup LookupFunc, budget *lookupBudget, add func(string, int, inclusion)) error {
	env := inst.env
	// The request-only bindings are shared by every checkpoint: extend
	// copies of them.
	cur := make([]qbinding, len(bindings))
	for i, bd := range bindings {
		cur[i] = qbinding{tvf: bd.tvf, rows: make([][]sqlvalue.Value, len(r.lookups))}
	}
	bindings = cur
	for li, node := range r.lookups {
		if err := ctx.Err(); err != nil {
			return err
		}
		var keys [][]byte
		keyIdx := map[string]int{}
		per := make([]int, len(bindings))
		vals := make([]sqlvalue.Value, len(node.keys))
		for bi, bd := range bindings {
			per[bi] = -1
			ok := true
			for ki := range node.keys {
				v, good, err := node.keys[ki].value(&env, bd)
				if err != nil {
					return err
				}
				if !good {
					ok = false
					break
				}
				vals[ki] = v
			}
			if !ok {
				continue
			}
			k := lookupKey("lookup", node.index.queryID, vals)
			p, seen := keyIdx[string(k)]
			if !seen {
				p = len(keys)
				keyIdx[string(k)] = p
				keys = append(keys, k)
			}
			per[bi] = p
		}
		if len(keys) == 0 {
			return nil
		}
		results, err := lookup(keys)
		if err != nil {
			return lookupFailure{err}
		}
		width := len(node.index.outputs)
		rowsPerKey := make([][][]sqlvalue.Value, len(keys))
		for ki := range keys {
			if ki >= len(results) {
				break
			}
			rows, err := decodeResultRows(results[ki], width, nil)
			if err != nil {
				return err
			}
			if err := budget.take(len(rows)); err != nil {
				return err
			}
			rowsPerKey[ki] = rows
		}
		var next []qbinding
		for bi, bd := range bindings {
			if per[bi] < 0 {
				continue
			}
			for _, row := range rowsPerKey[per[bi]] {
				nb := qbinding{tvf: bd.tvf, rows: slices.Clone(bd.rows)}
				nb.rows[li] = row
				next = append(next, nb)
			}
		}
		bindings = next
		if len(bindings) == 0 {
			return nil
		}
	}
	for _, bd := range bindings {
		name, ok, err := r.bucketID(prefix, &env, bd)
		if err != nil {
			return err
		}
		if ok {
			add(name, inst.priority, inst.reason)
		}
	}
	return nil
}

// addStreamError records an error of one subscription found at a
// checkpoint, once.
func (q *Querier) addStreamError(stream int, sub any, msg string) {
	s := &q.streams[stream]
	for _, e := range s.Errors {
		if e.Subscription == sub && e.Message == msg {
			return
		}
	}
	s.Errors = append(s.Errors, protocol.StreamError{Subscription: sub, Message: msg})
}

// lookupFailure marks an error of the LookupFunc (storage), which fails
// the whole Buckets call, unlike evaluation errors of one subscription.
type lookupFailure struct{ err error }

func (l lookupFailure) Error() string { return l.err.Error() }
func (l lookupFailure) Unwrap() error { return l.err }
