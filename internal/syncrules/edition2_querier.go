package syncrules

import (
	"context"
	"fmt"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// This file is the request side of alpha Sync Streams (edition 2): a
// stream's variants resolved for its default and explicit subscriptions.

// alphaQuerier adds an alpha stream's buckets for its default and explicit
// subscriptions.
func (c *Config) alphaQuerier(b *querierBuilder, src *bucketSource) {
	subs := b.subscriptions(src.name)
	isDefault := src.autoSubscribe && b.req.IncludeDefaults
	if !isDefault && len(subs) == 0 {
		return
	}
	streamIdx := b.addStream(src.name, isDefault)
	priority := 3
	if spec := c.streamPriority(src.name); spec >= 0 {
		priority = spec
	}
	type subCase struct {
		reason inclusion
		rc     *requestContext
		label  any
		prio   int
	}
	var cases []subCase
	if isDefault {
		rc := *b.rc
		rc.subRaw, rc.subDefault = "{}", true
		cases = append(cases, subCase{inclusion{def: streamIdx, sub: -1}, &rc, "default", priority})
	}
	for _, i := range subs {
		rc := *b.rc
		rc.subRaw = "{}"
		if p := b.req.Streams[i].Parameters; len(p) > 0 {
			j, err := parseJSON(string(p))
			if err != nil || (j.kind != jsonObject && j.kind != jsonNull) {
				b.addError(streamIdx, i, "Error evaluating bucket ids: invalid subscription parameters")
				continue
			}
			if j.kind == jsonObject {
				rc.subRaw = string(j.appendJSON(nil))
			}
		}
		prio := priority
		if o := b.req.Streams[i].OverridePriority; o != nil {
			prio = *o
		}
		cases = append(cases, subCase{inclusion{def: -1, sub: i}, &rc, i, prio})
	}
	for _, sc := range cases {
		for _, v := range src.alpha {
			if err := c.alphaVariantBuckets(b, v, sc.rc, sc.prio, sc.reason); err != nil {
				b.addError(streamIdx, sc.label, "Error evaluating bucket ids: "+err.Error())
			}
		}
	}
}

// streamPriority finds the declared priority of an alpha stream.
func (c *Config) streamPriority(name string) int {
	for _, p := range c.alphaPriorities {
		if p.name == name {
			return p.priority
		}
	}
	return -1
}

// alphaVariantBuckets resolves one variant for one subscription.
func (c *Config) alphaVariantBuckets(b *querierBuilder, v *alphaVariant, rc *requestContext, priority int, reason inclusion) error {
	ctx := &legacyCtx{req: rc}
	for _, f := range v.requestFilters {
		val, err := f(ctx)
		if err != nil {
			return err
		}
		if !val.Truthy() {
			return nil
		}
	}
	sets := make([][]sqlvalue.Value, len(v.inputs))
	var lookups []int
	for i, in := range v.inputs {
		switch {
		case in.sub != nil:
			lookups = append(lookups, i)
		case in.expanding:
			val, err := in.eval(ctx)
			if err != nil {
				return err
			}
			if val.Kind() == sqlvalue.KindNull {
				return nil
			}
			elems, err := jsonElements(val)
			if err != nil {
				return err
			}
			for _, e := range elems {
				if e.Kind() != sqlvalue.KindNull && e.Kind() != sqlvalue.KindBlob {
					sets[i] = append(sets[i], e)
				}
			}
		default:
			// A NULL request value still names a bucket ("stream|0[null]"),
			// as in the reference; a BLOB never does.
			val, err := in.eval(ctx)
			if err != nil {
				return err
			}
			if val.Kind() == sqlvalue.KindBlob {
				return nil
			}
			sets[i] = []sqlvalue.Value{val}
		}
	}
	prefix := c.prefix
	emit := func(sets [][]sqlvalue.Value, add func(string, int, inclusion)) {
		cur := make([]sqlvalue.Value, len(sets))
		var rec func(int)
		rec = func(i int) {
			if i == len(sets) {
				add(bucketName(prefix, v.name, cur), priority, reason)
				return
			}
			for _, x := range sets[i] {
				cur[i] = x
				rec(i + 1)
			}
		}
		rec(0)
	}
	if len(lookups) == 0 && len(v.exists) == 0 {
		emit(sets, b.addStatic)
		return nil
	}
	// Dynamic: lookups are fixed per subscription; results change.
	type lk struct {
		input int
		keys  [][]byte
	}
	var plan []lk
	for _, i := range lookups {
		keys, err := v.inputs[i].sub.lookupKeys(ctx)
		if err != nil {
			return err
		}
		plan = append(plan, lk{i, keys})
	}
	var existKeys [][][]byte
	for _, q := range v.exists {
		keys, err := q.lookupKeys(ctx)
		if err != nil {
			return err
		}
		existKeys = append(existKeys, keys)
	}
	b.addDynamic(func(_ context.Context, lookup LookupFunc, budget *lookupBudget, add func(string, int, inclusion)) error {
		for _, keys := range existKeys {
			if len(keys) == 0 {
				return nil
			}
			res, err := lookup(keys)
			if err != nil {
				return err
			}
			n := 0
			for _, r := range res {
				n += len(r)
			}
			if err := budget.take(n); err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
		}
		local := make([][]sqlvalue.Value, len(sets))
		copy(local, sets)
		for _, p := range plan {
			local[p.input] = nil
			if len(p.keys) == 0 {
				return nil
			}
			res, err := lookup(p.keys)
			if err != nil {
				return err
			}
			for _, rs := range res {
				if err := budget.take(len(rs)); err != nil {
					return err
				}
				for _, r := range rs {
					j, err := parseJSON(string(r))
					if err != nil {
						return fmt.Errorf("invalid lookup result: %w", err)
					}
					if e, ok := j.get("result"); ok {
						val := e.toValue()
						if val.Kind() != sqlvalue.KindNull {
							local[p.input] = append(local[p.input], val)
						}
					}
				}
			}
			if len(local[p.input]) == 0 {
				return nil
			}
		}
		emit(local, add)
		return nil
	})
	return nil
}

// readsSubscription reports whether an expression calls subscription.*.
func readsSubscription(e syntax.Expr) bool {
	found := false
	var walk func(syntax.Expr)
	walk = func(e syntax.Expr) {
		switch x := e.(type) {
		case *syntax.FuncCall:
			if x.Schema.Name == "subscription" {
				found = true
			}
			for _, a := range x.Args {
				walk(a)
			}
		case *syntax.Binary:
			walk(x.L)
			walk(x.R)
		case *syntax.Unary:
			walk(x.X)
		case *syntax.IsExpr:
			walk(x.X)
			if x.Y != nil {
				walk(x.Y)
			}
		case *syntax.InExpr:
			walk(x.X)
			if x.Right != nil {
				walk(x.Right)
			}
			if x.Select != nil && x.Select.Where != nil {
				walk(x.Select.Where)
			}
		case *syntax.CastExpr:
			walk(x.X)
		}
	}
	if e != nil {
		walk(e)
	}
	return found
}

// findSubquery returns the first IN-subquery or subquery expression in e.
func findSubquery(e syntax.Expr) syntax.Expr {
	var found syntax.Expr
	var walk func(syntax.Expr)
	walk = func(e syntax.Expr) {
		if found != nil {
			return
		}
		switch x := e.(type) {
		case *syntax.InExpr:
			if x.Select != nil {
				found = x
				return
			}
			walk(x.X)
			if x.Right != nil {
				walk(x.Right)
			}
		case *syntax.SubqueryExpr:
			found = x
		case *syntax.Binary:
			walk(x.L)
			walk(x.R)
		case *syntax.Unary:
			walk(x.X)
		}
	}
	walk(e)
	return found
}
