package syncrules

import (
	"strconv"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// This file compiles alpha Sync Streams (config edition 2, §7): one query
// per stream, one FROM table, a WHERE clause normalized to an OR of ANDs
// whose every conjunction is a bucket variant "<stream>|<i>". Atoms on the
// row are row filters, atoms on request data only are request filters,
// and comparisons between the two partition the rows into buckets.
// Subqueries `row IN (SELECT col FROM t WHERE ...)` become parameter
// lookups (lookup name = stream, query id = subquery index, payload
// {"result": col}); `<request value> IN (SELECT ...)` is an existence
// check through such a lookup.

const maxAlphaVariants = 100

// alphaInput is one partition parameter of a variant, resolved on the
// request side.
type alphaInput struct {
	eval      legacyFn // request value (nil for a lookup)
	expanding bool     // the request value is a JSON array of values
	sub       *paramTableQuery
}

// alphaVariant is one bucket of an alpha stream.
type alphaVariant struct {
	name           string
	requestFilters []legacyFn
	inputs         []alphaInput
	exists         []*paramTableQuery
}

// alphaDeps says what an expression reads: row columns, request data,
// and whether it contains a subquery.
type alphaDeps struct{ row, req, sub bool }

func depsOf(e syntax.Expr) alphaDeps {
	var d alphaDeps
	var walk func(syntax.Expr)
	walk = func(e syntax.Expr) {
		switch x := e.(type) {
		case *syntax.ColumnRef:
			d.row = true
		case *syntax.FuncCall:
			switch x.Schema.Name {
			case "auth", "connection", "subscription", "request":
				d.req = true
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
		case *syntax.CastExpr:
			walk(x.X)
		case *syntax.InExpr:
			walk(x.X)
			if x.Select != nil {
				d.sub = true
			}
			if x.Right != nil {
				walk(x.Right)
			}
			for _, l := range x.List {
				walk(l)
			}
		case *syntax.SubqueryExpr:
			d.sub = true
		case *syntax.Between:
			walk(x.X)
			walk(x.Lo)
			walk(x.Hi)
		case *syntax.CaseExpr:
			d.row, d.req = true, true // not supported in alpha; keep it whole
		}
	}
	walk(e)
	return d
}

// dnf expands an expression into an OR of ANDs of atoms. NOT is pushed
// down with De Morgan (flipping IN into NOT IN); a sub-expression that
// reads only row data or only request data stays one atom, so row-only or
// request-only ORs need no extra bucket. ok is false beyond
// maxAlphaVariants terms.
func dnf(e syntax.Expr, negate bool) ([][]syntax.Expr, bool) {
	switch x := e.(type) {
	case *syntax.Binary:
		if x.Op == "AND" || x.Op == "OR" {
			if d := depsOf(x); !d.sub && !(d.row && d.req) {
				break // pure: one atom
			}
			l, ok1 := dnf(x.L, negate)
			r, ok2 := dnf(x.R, negate)
			if !ok1 || !ok2 {
				return nil, false
			}
			isAnd := (x.Op == "AND") != negate
			if !isAnd {
				return append(l, r...), len(l)+len(r) <= maxAlphaVariants
			}
			if len(l)*len(r) > maxAlphaVariants {
				return nil, false
			}
			var out [][]syntax.Expr
			for _, a := range l {
				for _, b := range r {
					term := append(append([]syntax.Expr{}, a...), b...)
					out = append(out, term)
				}
			}
			return out, true
		}
	case *syntax.Unary:
		if x.Op == "NOT" {
			return dnf(x.X, !negate)
		}
	case *syntax.InExpr:
		if negate && x.Select != nil {
			flipped := *x
			flipped.Not = !x.Not
			return [][]syntax.Expr{{&flipped}}, true
		}
	}
	if negate {
		return [][]syntax.Expr{{&syntax.Unary{Span: e.Pos(), Op: "NOT", X: e}}}, true
	}
	return [][]syntax.Expr{{e}}, true
}

// compileAlphaStream compiles one edition-2 stream.
func (c *Config) compileAlphaStream(st *streamSpec, d *diagList) {
	if st.QueriesNode != nil {
		d.atNode(st.QueriesNode, SeverityFatal, "Multiple queries not supported without the `sync_config_compiler` option.")
		return
	}
	if st.WithNode != nil {
		d.atNode(st.WithNode, SeverityFatal, "Common table expressions are not supported without the `sync_config_compiler` option.")
		return
	}
	if st.Query == nil {
		return
	}
	sql := st.Query
	sel := parseQuery(sql, d)
	if sel == nil {
		return
	}
	src := &bucketSource{name: st.Name, isStream: true, autoSubscribe: st.AutoSubscribe}
	terms := [][]syntax.Expr{{}}
	if sel.Where != nil {
		var ok bool
		if terms, ok = dnf(sel.Where, false); !ok {
			d.atSQL(sql, sel.Where.Pos(), SeverityFatal, "For Sync Streams, inner OR operators need to be moved up to be top-level filters. Applying that to this query results in too many inner nodes.")
			return
		}
	}
	before := len(d.list)
	usesSub := false
	subqueries := 0
	for i, atoms := range terms {
		name := st.Name + "|" + strconv.Itoa(i)
		v, q := c.compileAlphaVariant(st, src, name, sql, sel, atoms, &subqueries, &usesSub, d)
		if v == nil || q == nil {
			continue
		}
		src.alpha = append(src.alpha, v)
	}
	if len(d.list) > before && d.list[before:].HasFatal() {
		return
	}
	if (usesSub || readsSubscription(sel.Where)) && st.AutoSubscribe {
		d.atSQL(sql, sql.whole(), SeverityWarning, "Clients subscribe to this stream by default, but it uses subscription parameters. Default subscriptions use null for all parameters, which can lead to unintentional results. Try removing the parameter or not marking the stream as auto-subscribe.")
	}
	c.alphaPriorities = append(c.alphaPriorities, namedPriority{st.Name, st.Priority})
	c.sources = append(c.sources, src)
}

// compileAlphaVariant compiles one conjunction: a data query on the row
// side and the request-side inputs.
func (c *Config) compileAlphaVariant(st *streamSpec, src *bucketSource, name string, sql *sqlText, sel *syntax.Select, atoms []syntax.Expr, subqueries *int, usesSub *bool, d *diagList) (*alphaVariant, *dataQuery) {
	it := sel.From
	if len(it) != 1 || it[0].Table.Name == "" {
		d.atSQL(sql, sql.whole(), SeverityFatal, "Must SELECT from a single table")
		return nil, nil
	}
	lc := &legacyCompiler{kind: kindStream, sql: sql, diags: d, opts: evalOptions{fixedJSON: c.compat.FixedJSONExtract}, hasTable: true}
	table := resolveTable(&it[0], c.opts.DefaultSchema)
	lc.table, lc.wildcard = it[0].Table.Name, table.wildcard
	if it[0].HasAlias {
		lc.table = it[0].Alias.Name
	}
	v := &alphaVariant{name: name}
	var match *matchClause
	addMatch := func(m *matchClause) {
		if match == nil {
			match = m
			return
		}
		if ce := lc.andMatch(syntax.Span{}, match, m); ce != nil {
			match = ce.match
		}
	}
	var subInputs []*paramTableQuery
	for _, atom := range atoms {
		if u, ok := atom.(*syntax.Unary); ok && u.Op == "NOT" {
			if in, ok := u.X.(*syntax.InExpr); ok && in.Select != nil {
				d.atSQL(sql, u.Span, SeverityFatal, "Negations are not allowed here")
				return nil, nil
			}
		}
		if b, ok := atom.(*syntax.Binary); ok && b.Op == "&&" {
			if sq, ok := b.R.(*syntax.SubqueryExpr); ok {
				atom = &syntax.InExpr{Span: b.Span, X: b.L, Select: sq.Select, Overlap: true}
			}
		}
		if in, ok := atom.(*syntax.InExpr); ok && in.Select != nil {
			if in.Not {
				d.atSQL(sql, in.Span, SeverityFatal, "Negations are not allowed here")
				return nil, nil
			}
			x := lc.compile(in.X)
			if x == nil {
				return nil, nil
			}
			if x.cls == clsParam {
				*usesSub = *usesSub || x.subscription
			}
			if x.cls != clsRow && x.cls != clsParam {
				d.atSQL(sql, in.X.Pos(), SeverityFatal, "For IN subqueries, the left operand must either depend on the row to sync or stream parameters.")
				return nil, nil
			}
			q := c.compileAlphaSubquery(st, src, sql, in, x, *subqueries, lc, usesSub, d)
			*subqueries++
			if q == nil {
				return nil, nil
			}
			switch x.cls {
			case clsRow:
				key := "subquery:" + q.queryID
				rowEval := x.eval
				overlap := in.Overlap
				m := &matchClause{inputs: []inputParam{{key: key}}, eval: func(c *legacyCtx) ([][]sqlvalue.Value, error) {
					val, err := rowEval(c)
					if err != nil || val.Kind() == sqlvalue.KindNull || val.Kind() == sqlvalue.KindBlob {
						return nil, err
					}
					if overlap {
						return arrayAssignments(val)
					}
					return [][]sqlvalue.Value{{val}}, nil
				}}
				m.unbounded = overlap
				addMatch(m)
				subInputs = append(subInputs, q)
			case clsParam:
				if in.Overlap {
					d.atSQL(sql, in.X.Pos(), SeverityFatal, "The left-hand side of an && operator must be derived from the row to sync.")
					return nil, nil
				}
				v.exists = append(v.exists, q)
			default:
				d.atSQL(sql, in.X.Pos(), SeverityFatal, "For IN subqueries, the left operand must either depend on the row to sync or stream parameters.")
				return nil, nil
			}
			continue
		}
		ce := lc.compile(atom)
		if ce == nil {
			return nil, nil
		}
		*usesSub = *usesSub || ce.subscription
		switch ce.cls {
		case clsParam:
			v.requestFilters = append(v.requestFilters, ce.eval)
		case clsStatic:
			if !ce.value.Truthy() {
				v.requestFilters = append(v.requestFilters, ce.eval)
			}
		default:
			addMatch(lc.toMatch(ce))
		}
	}
	if lc.failed {
		return nil, nil
	}
	if match == nil {
		match = lc.toMatch(staticExpr(sqlvalue.Int(1), syntax.Span{}))
	}
	for _, in := range match.inputs {
		ai := alphaInput{eval: in.eval, expanding: in.expanding}
		if in.eval == nil {
			for _, q := range subInputs {
				if in.key == "subquery:"+q.queryID {
					ai.sub = q
				}
			}
		}
		v.inputs = append(v.inputs, ai)
	}
	// Row side: a data query whose bucket parameters are the inputs.
	src.bucketParams = nil
	q := c.compileDataQuery(src, name, sql, d, kindStream, sel)
	if q == nil {
		return nil, nil
	}
	q.where = match
	q.paramIndex = make([]int, len(match.inputs))
	for i := range q.paramIndex {
		q.paramIndex[i] = i
	}
	return v, q
}

// compileAlphaSubquery compiles `x IN (SELECT col FROM t WHERE ...)` into a
// parameter lookup. For a request-side x the comparison with col becomes
// part of the lookup key (an existence check).
func (c *Config) compileAlphaSubquery(st *streamSpec, src *bucketSource, sql *sqlText, in *syntax.InExpr, x *cexpr, index int, outer *legacyCompiler, usesSub *bool, d *diagList) *paramTableQuery {
	sub := in.Select
	if !checkLegacyClauses(sub, sql, d) {
		return nil
	}
	if len(sub.From) != 1 || sub.From[0].Table.Name == "" {
		d.atSQL(sql, sub.Span, SeverityFatal, "Must SELECT from a single table")
		return nil
	}
	if len(sub.Items) != 1 || sub.Items[0].Star {
		d.atSQL(sql, sub.Span, SeverityFatal, "This subquery must return exactly one column")
		return nil
	}
	it := sub.From[0]
	lc := &legacyCompiler{kind: kindStream, sql: sql, diags: d, opts: outer.opts, hasTable: true}
	table := resolveTable(&it, c.opts.DefaultSchema)
	lc.table, lc.wildcard = it.Table.Name, table.wildcard
	if it.HasAlias {
		lc.table = it.Alias.Name
	}
	out := lc.compile(sub.Items[0].Expr)
	if out == nil {
		return nil
	}
	if out.cls != clsRow {
		d.atSQL(sql, sub.Items[0].Expr.Pos(), SeverityFatal, "This subquery must return a value of the subquery's table")
		return nil
	}
	var where *cexpr
	if sub.Where != nil {
		if nested := findSubquery(sub.Where); nested != nil {
			d.atSQL(sql, nested.Pos(), SeverityFatal, "Unsupported condition for stream subqueries")
			return nil
		}
		if hasOr(sub.Where) {
			d.atSQL(sql, sub.Where.Pos(), SeverityFatal, "Stream subqueries can't use OR filters")
			return nil
		}
		if where = lc.compile(sub.Where); where == nil {
			return nil
		}
		*usesSub = *usesSub || where.subscription
	}
	m := lc.toMatch(staticExpr(sqlvalue.Int(1), syntax.Span{}))
	if where != nil {
		m = lc.toMatch(where)
	}
	if x.cls != clsRow {
		// existence: out = x joins the key
		eq := lc.equalityMatch(in.Span, out, x)
		if ce := lc.andMatch(in.Span, m, eq.match); ce != nil {
			m = ce.match
		} else {
			return nil
		}
	}
	if x.cls == clsRow && len(m.inputs) == 0 {
		d.atSQL(sql, sub.Span, SeverityFatal, "Unsupported subquery without parameter, must depend on request parameters")
		return nil
	}
	if m.unbounded && m.expanding {
		d.atSQL(sql, sub.Span, SeverityFatal, "Unsupported condition for stream subqueries")
		return nil
	}
	q := &paramTableQuery{source: src, queryID: strconv.Itoa(index), table: table, where: m,
		outputs: []paramOutput{{name: "result", lookup: true, eval: out.eval}}, priority: st.Priority}
	c.params = append(c.params, q)
	return q
}

func hasOr(e syntax.Expr) bool {
	found := false
	var walk func(syntax.Expr)
	walk = func(e syntax.Expr) {
		switch x := e.(type) {
		case *syntax.Binary:
			if x.Op == "OR" {
				found = true
			}
			walk(x.L)
			walk(x.R)
		case *syntax.Unary:
			walk(x.X)
		}
	}
	walk(e)
	return found
}

// streamCall compiles auth.*, connection.* and subscription.* functions of
// alpha streams.
func (lc *legacyCompiler) streamCall(e *syntax.FuncCall) *cexpr {
	schema, name := e.Schema.Name, e.Name.Name
	full := schema + "." + name
	var raw func(rc *requestContext) string
	auth := authUse{}
	sub := false
	switch schema {
	case "auth":
		raw = func(rc *requestContext) string { return rc.jwtRaw }
		auth.authenticated = true
		if name == "user_id" {
			if len(e.Args) != 0 {
				return lc.errorf(e.Span, "Function '%s' takes 0 arguments.", full)
			}
			return &cexpr{cls: clsParam, key: syntax.ExprString(e), span: e.Span, auth: auth, column: "user_id",
				eval: func(c *legacyCtx) (sqlvalue.Value, error) { return c.req.userID, nil }}
		}
	case "connection":
		raw = func(rc *requestContext) string { return rc.paramsRaw }
		auth.unauthenticated = true
	case "subscription":
		raw = func(rc *requestContext) string { return rc.subRaw }
		auth.unauthenticated = true
		sub = true
	default:
		return lc.errorf(e.Span, "Function '%s' is not defined", full)
	}
	switch name {
	case "parameters":
		if len(e.Args) != 0 {
			return lc.errorf(e.Span, "Function '%s' takes 0 arguments.", full)
		}
		return &cexpr{cls: clsParam, key: syntax.ExprString(e), span: e.Span, auth: auth, subscription: sub,
			eval: func(c *legacyCtx) (sqlvalue.Value, error) { return sqlvalue.Text(raw(c.req)), nil }}
	case "parameter":
		if len(e.Args) != 1 {
			return lc.errorf(e.Span, "Function '%s' takes 1 arguments.", full)
		}
		arg := lc.compile(e.Args[0])
		if arg == nil {
			return nil
		}
		if arg.cls == clsRow || arg.cls == clsMatch {
			return lc.errorf(e.Args[0].Pos(), "Must only depend on data derived from request.")
		}
		keyEval := arg.eval
		return &cexpr{cls: clsParam, key: syntax.ExprString(e), span: e.Span, auth: auth.or(arg.auth), subscription: sub || arg.subscription,
			eval: func(c *legacyCtx) (sqlvalue.Value, error) {
				k, err := keyEval(c)
				if err != nil {
					return sqlvalue.Null, err
				}
				text := raw(c.req)
				if sub && c.req.subDefault {
					return sqlvalue.Null, nil
				}
				return jsonArrow2(sqlvalue.Text(text), k, evalOptions{fixedJSON: true})
			}}
	}
	return lc.errorf(e.Span, "Function '%s' is not defined", full)
}
