package syncrules

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// This file compiles expressions of legacy Sync Rules (and alpha streams)
// into closures, classifying every sub-expression as the reference does
// (§6.1): static (folded at compile time), row value, parameter value
// (request data, or bucket.* in data queries) or match clause (a predicate
// relating row values to parameters, which evaluates on a row to the set of
// parameter assignments that make it true).

// legacyFn evaluates a compiled expression.
type legacyFn func(c *legacyCtx) (sqlvalue.Value, error)

// legacyCtx is what a compiled expression reads: the source row (row side)
// or the request (parameter side), plus the json_each row of table-valued
// parameter queries.
type legacyCtx struct {
	row    sqlvalue.Row
	suffix string
	req    *requestContext
	each   [2]sqlvalue.Value // key, value
}

type exprClass uint8

const (
	clsStatic exprClass = iota
	clsRow
	clsParam
	clsMatch
)

// authUse records which request sources an expression reads.
type authUse struct {
	authenticated   bool
	unauthenticated bool
}

func (a authUse) or(b authUse) authUse {
	return authUse{a.authenticated || b.authenticated, a.unauthenticated || b.unauthenticated}
}

// cexpr is a compiled, classified expression.
type cexpr struct {
	cls   exprClass
	eval  legacyFn
	value sqlvalue.Value // clsStatic
	key   string
	// bucketParam is set for a bare bucket.<name> in a data query.
	bucketParam string
	auth        authUse
	match       *matchClause
	span        syntax.Span
	// column is the referenced column name for a bare column reference (or
	// the last part of token_parameters.x), used as a default output name.
	column string
	// lookupColumn is set for a bare column of the parameter table.
	lookupColumn bool
	// subscription is set when the expression reads subscription
	// parameters (alpha streams).
	subscription bool
}

// inputParam is one parameter a match clause depends on.
type inputParam struct {
	key         string
	eval        legacyFn // request side; nil for bucket.* in data queries
	bucketParam string
	// expanding: the request value is a JSON array, one lookup per element.
	expanding bool
	// truthy: a bare parameter condition; the request value is its truth.
	truthy bool
	auth   authUse
}

// matchClause evaluates on a row to assignments: each a value per input,
// aligned with inputs.
type matchClause struct {
	inputs    []inputParam
	unbounded bool // param IN row
	expanding bool // row IN param
	// auth is the request sources used, with "authenticated" true only if
	// every branch of an OR is authenticated.
	auth authUse
	eval func(c *legacyCtx) ([][]sqlvalue.Value, error)
	// single, when set, is the row value of a one-input equality clause
	// (row = param): NULL or BLOB means no assignment, otherwise exactly
	// one. It lets data queries skip building assignment slices.
	single legacyFn
}

func (m *matchClause) keys() []string {
	out := make([]string, len(m.inputs))
	for i, in := range m.inputs {
		out[i] = in.key
	}
	return out
}

func (m *matchClause) indexOf(key string) int {
	for i, in := range m.inputs {
		if in.key == key {
			return i
		}
	}
	return -1
}

type queryKind uint8

const (
	kindData queryKind = iota
	kindParamTable
	kindParamStatic
	kindParamEach
	kindStream // alpha stream data query
)

// legacyCompiler compiles the expressions of one legacy query.
type legacyCompiler struct {
	kind  queryKind
	sql   *sqlText
	diags *diagList
	opts  evalOptions
	// table is the qualifier of the FROM table (alias or table name);
	// hasTable false for static queries.
	table    string
	hasTable bool
	wildcard bool
	// eachName is the qualifier of json_each columns.
	eachName     string
	bucketParams []string
	failed       bool
}

func (lc *legacyCompiler) errorf(sp syntax.Span, format string, args ...any) *cexpr {
	lc.failed = true
	lc.diags.atSQL(lc.sql, sp, SeverityFatal, fmt.Sprintf(format, args...))
	return nil
}

func (lc *legacyCompiler) warnf(sp syntax.Span, format string, args ...any) {
	lc.diags.atSQL(lc.sql, sp, SeverityWarning, fmt.Sprintf(format, args...))
}

// text returns the SQL source of a span (the span's offsets when the
// compiler has no source text, as for EvalConstant).
func (lc *legacyCompiler) text(sp syntax.Span) string {
	if sp.Start >= 0 && sp.End <= len(lc.sql.SQL) && sp.Start <= sp.End {
		return lc.sql.SQL[sp.Start:sp.End]
	}
	return fmt.Sprintf("expr@%d-%d", sp.Start, sp.End)
}

func (lc *legacyCompiler) checkCase(id syntax.Ident) {
	if id.Upper {
		lc.warnf(id.Span, `Unquoted identifiers are converted to lower-case. Use "%s" instead.`, lc.text(id.Span))
	}
}

func staticExpr(v sqlvalue.Value, sp syntax.Span) *cexpr {
	return &cexpr{cls: clsStatic, value: v, span: sp, eval: func(*legacyCtx) (sqlvalue.Value, error) { return v, nil }}
}

// compile compiles e; nil means an error was reported.
func (lc *legacyCompiler) compile(e syntax.Expr) *cexpr {
	switch e := e.(type) {
	case *syntax.Literal:
		return staticExpr(e.Value, e.Span)
	case *syntax.ColumnRef:
		return lc.columnRef(e)
	case *syntax.FuncCall:
		return lc.call(e)
	case *syntax.Unary:
		x := lc.compile(e.X)
		if x == nil {
			return nil
		}
		switch e.Op {
		case "NOT":
			return lc.apply(e.Span, []*cexpr{x}, func(v []sqlvalue.Value) (sqlvalue.Value, error) { return sqlvalue.Bool(!v[0].Truthy()), nil })
		case "+":
			return x
		}
		return lc.errorf(e.Span, "Operator %s is not supported", e.Op)
	case *syntax.Binary:
		return lc.binary(e)
	case *syntax.IsExpr:
		x := lc.compile(e.X)
		if x == nil {
			return nil
		}
		var y *cexpr
		switch e.Target {
		case "NULL":
			y = staticExpr(sqlvalue.Null, e.Span)
		case "TRUE":
			y = staticExpr(sqlvalue.Int(1), e.Span)
		case "FALSE":
			y = staticExpr(sqlvalue.Int(0), e.Span)
		default:
			if y = lc.compile(e.Y); y == nil {
				return nil
			}
		}
		not := e.Not
		return lc.apply(e.Span, []*cexpr{x, y}, func(v []sqlvalue.Value) (sqlvalue.Value, error) {
			r := isOp(v[0], v[1])
			if not {
				return sqlvalue.Bool(!r.Truthy()), nil
			}
			return r, nil
		})
	case *syntax.InExpr:
		return lc.in(e)
	case *syntax.CastExpr:
		x := lc.compile(e.X)
		if x == nil {
			return nil
		}
		typ := e.Type
		if _, ok := sqlvalue.Cast(sqlvalue.Null, typ); !ok {
			return lc.errorf(e.TypeSpan, "CAST not supported for '%s'", typ)
		}
		return lc.apply(e.Span, []*cexpr{x}, func(v []sqlvalue.Value) (sqlvalue.Value, error) {
			r, _ := sqlvalue.Cast(v[0], typ)
			return r, nil
		})
	case *syntax.Between:
		return lc.errorf(e.Span, "ternary not supported here")
	case *syntax.CaseExpr:
		return lc.errorf(e.Span, "case not supported here")
	case *syntax.ArrayExpr:
		if e.Row {
			return lc.errorf(e.Span, "row not supported here")
		}
		return lc.errorf(e.Span, "array not supported here")
	case *syntax.SubqueryExpr:
		return lc.errorf(e.Span, "Subqueries are not supported yet")
	case *syntax.ParamExpr:
		return lc.errorf(e.Span, "parameter not supported here")
	case *syntax.StarExpr:
		return lc.errorf(e.Span, "* not supported here")
	case *syntax.LikeExpr:
		return lc.errorf(e.Span, "Operator not supported: %s", strings.TrimPrefix(e.Op, "NOT "))
	}
	return lc.errorf(e.Pos(), "Expression not supported here")
}

// columnRef compiles a (qualified) name.
func (lc *legacyCompiler) columnRef(e *syntax.ColumnRef) *cexpr {
	if e.Schema.Name != "" {
		return lc.errorf(e.Span, "Schema is not supported in column references")
	}
	col := e.Column.Name
	qual := e.Table.Name
	switch {
	case qual == "bucket" && !e.Table.Quoted && lc.kind == kindData:
		// An unknown bucket.<name> is reported by the coverage check.
		key := "bucket." + col
		return &cexpr{cls: clsParam, key: key, bucketParam: col, span: e.Span, column: col}
	case (qual == "token_parameters" || qual == "user_parameters") && !e.Table.Quoted:
		if lc.kind == kindData || lc.kind == kindStream {
			return lc.errorf(e.Span, "Undefined reference: %s.%s", qual, col)
		}
		token := qual == "token_parameters"
		auth := authUse{authenticated: token, unauthenticated: !token}
		name := col
		return &cexpr{cls: clsParam, key: qual + "." + col, span: e.Span, column: col, auth: auth,
			eval: func(c *legacyCtx) (sqlvalue.Value, error) {
				if token {
					return c.req.tokenParams[name], nil
				}
				return c.req.userParams[name], nil
			}}
	}
	if lc.kind == kindParamEach {
		if qual == "" || qual == lc.eachName {
			switch col {
			case "value":
				return &cexpr{cls: clsParam, key: "json_each.value", span: e.Span, column: col,
					eval: func(c *legacyCtx) (sqlvalue.Value, error) { return c.each[1], nil }}
			case "key":
				return &cexpr{cls: clsParam, key: "json_each.key", span: e.Span, column: col,
					eval: func(c *legacyCtx) (sqlvalue.Value, error) { return c.each[0], nil }}
			}
		}
		if qual == "" {
			return lc.errorf(e.Span, "Undefined reference: %s", col)
		}
		return lc.errorf(e.Span, "Undefined table %s", qual)
	}
	if !lc.hasTable {
		if qual != "" {
			return lc.errorf(e.Span, "Undefined table %s", qual)
		}
		return lc.errorf(e.Span, "Undefined reference: %s", col)
	}
	if qual != "" && qual != lc.table {
		return lc.errorf(e.Table.Span, "Undefined table %s", qual)
	}
	if qual != "" {
		lc.checkCase(e.Table)
	}
	lc.checkCase(e.Column)
	if col == "_table_suffix" && lc.wildcard {
		return &cexpr{cls: clsRow, span: e.Span, column: col, lookupColumn: true,
			eval: func(c *legacyCtx) (sqlvalue.Value, error) { return sqlvalue.Text(c.suffix), nil }}
	}
	return &cexpr{cls: clsRow, span: e.Span, column: col, lookupColumn: true,
		eval: func(c *legacyCtx) (sqlvalue.Value, error) { return c.row[col], nil }}
}

// call compiles a function call.
func (lc *legacyCompiler) call(e *syntax.FuncCall) *cexpr {
	if e.Unsupported != "" || e.Distinct || e.Star {
		return lc.errorf(e.Span, "DISTINCT, ORDER BY, FILTER and OVER clauses are not supported")
	}
	if e.Schema.Name != "" {
		return lc.requestCall(e)
	}
	name := e.Name.Name
	f, ok := scalarFunctions[name]
	if !ok {
		return lc.errorf(e.Name.Span, "Function '%s' is not defined", name)
	}
	if len(e.Args) < f.minArgs || (f.maxArgs >= 0 && len(e.Args) > f.maxArgs) {
		return lc.errorf(e.Span, "Function '%s' takes %s arguments", name, arityText(f))
	}
	args := make([]*cexpr, len(e.Args))
	for i, a := range e.Args {
		if args[i] = lc.compile(a); args[i] == nil {
			return nil
		}
	}
	o := lc.opts
	return lc.apply(e.Span, args, func(v []sqlvalue.Value) (sqlvalue.Value, error) { return f.call(o, v) })
}

// requestCall compiles schema.fn(...) request functions.
func (lc *legacyCompiler) requestCall(e *syntax.FuncCall) *cexpr {
	schema, name := e.Schema.Name, e.Name.Name
	full := schema + "." + name
	if lc.kind == kindStream {
		return lc.streamCall(e)
	}
	if schema != "request" {
		return lc.errorf(e.Span, "Function '%s' is not defined", full)
	}
	if lc.kind == kindData {
		return lc.errorf(e.Span, "request schema is not available in data queries")
	}
	want := 0
	if name == "parameter" {
		want = 1
	}
	switch name {
	case "user_id", "jwt", "parameters", "parameter":
	default:
		return lc.errorf(e.Span, "Function '%s' is not defined", full)
	}
	if len(e.Args) != want {
		return lc.errorf(e.Span, "Function '%s' takes %d arguments.", full, want)
	}
	key := syntax.ExprString(e)
	switch name {
	case "user_id":
		return &cexpr{cls: clsParam, key: key, span: e.Span, column: "user_id", auth: authUse{authenticated: true},
			eval: func(c *legacyCtx) (sqlvalue.Value, error) { return c.req.userID, nil }}
	case "jwt":
		return &cexpr{cls: clsParam, key: key, span: e.Span, auth: authUse{authenticated: true},
			eval: func(c *legacyCtx) (sqlvalue.Value, error) { return sqlvalue.Text(c.req.jwtRaw), nil }}
	case "parameters":
		return &cexpr{cls: clsParam, key: key, span: e.Span, auth: authUse{unauthenticated: true},
			eval: func(c *legacyCtx) (sqlvalue.Value, error) { return sqlvalue.Text(c.req.paramsRaw), nil }}
	}
	arg := lc.compile(e.Args[0])
	if arg == nil {
		return nil
	}
	if arg.cls == clsRow || arg.cls == clsMatch {
		return lc.errorf(e.Args[0].Pos(), "Must only depend on data derived from request.")
	}
	keyEval := arg.eval
	return &cexpr{cls: clsParam, key: key, span: e.Span, auth: authUse{unauthenticated: true}.or(arg.auth),
		eval: func(c *legacyCtx) (sqlvalue.Value, error) {
			k, err := keyEval(c)
			if err != nil {
				return sqlvalue.Null, err
			}
			return jsonArrow2(sqlvalue.Text(c.req.paramsRaw), k, evalOptions{fixedJSON: true})
		}}
}

// apply combines argument expressions with a scalar function, following
// the class rules of §6.1.
func (lc *legacyCompiler) apply(sp syntax.Span, args []*cexpr, fn func([]sqlvalue.Value) (sqlvalue.Value, error)) *cexpr {
	cls := clsStatic
	var auth authUse
	for _, a := range args {
		if a.cls == clsMatch {
			return lc.errorf(a.span, "Parameter match clauses cannot be used here")
		}
		if a.cls == clsParam && lc.kind == kindData {
			return lc.errorf(a.span, "Cannot use bucket parameters in expressions")
		}
		if a.cls != clsStatic {
			if cls != clsStatic && cls != a.cls {
				return lc.errorf(sp, "Cannot use table values and parameters in the same clauses")
			}
			cls = a.cls
		}
		auth = auth.or(a.auth)
	}
	sub := false
	for _, a := range args {
		sub = sub || a.subscription
	}
	if cls == clsStatic {
		vals := make([]sqlvalue.Value, len(args))
		for i, a := range args {
			vals[i] = a.value
		}
		v, err := fn(vals)
		if err != nil {
			return lc.errorf(sp, "%s", err.Error())
		}
		return staticExpr(v, sp)
	}
	out := &cexpr{cls: cls, span: sp, auth: auth, key: lc.text(sp), subscription: sub}
	switch len(args) {
	case 1:
		a := args[0].eval
		out.eval = func(c *legacyCtx) (sqlvalue.Value, error) {
			x, err := a(c)
			if err != nil {
				return sqlvalue.Null, err
			}
			var buf [1]sqlvalue.Value
			buf[0] = x
			return fn(buf[:])
		}
	case 2:
		a, b := args[0].eval, args[1].eval
		out.eval = func(c *legacyCtx) (sqlvalue.Value, error) {
			x, err := a(c)
			if err != nil {
				return sqlvalue.Null, err
			}
			y, err := b(c)
			if err != nil {
				return sqlvalue.Null, err
			}
			buf := [2]sqlvalue.Value{x, y}
			return fn(buf[:])
		}
	default:
		evals := make([]legacyFn, len(args))
		for i, a := range args {
			evals[i] = a.eval
		}
		out.eval = func(c *legacyCtx) (sqlvalue.Value, error) {
			vals := make([]sqlvalue.Value, len(evals))
			for i, ev := range evals {
				v, err := ev(c)
				if err != nil {
					return sqlvalue.Null, err
				}
				vals[i] = v
			}
			return fn(vals)
		}
	}
	return out
}

func (lc *legacyCompiler) binary(e *syntax.Binary) *cexpr {
	switch e.Op {
	case "AND", "OR":
		return lc.logical(e)
	}
	if e.Op == "->" || e.Op == "->>" {
		if lit, ok := e.R.(*syntax.Literal); ok && lit.Value.Kind() != sqlvalue.KindText {
			return lc.errorf(e.Span, "Unsupported member operation %s", e.Op)
		}
	}
	switch e.Op {
	case "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "||", "->", "->>":
	case "&&":
		if lc.kind != kindStream {
			return lc.errorf(e.OpPos, "Operator not supported: %s", e.Op)
		}
	default:
		return lc.errorf(e.OpPos, "Operator not supported: %s", e.Op)
	}
	l := lc.compile(e.L)
	if l == nil {
		return nil
	}
	r := lc.compile(e.R)
	if r == nil {
		return nil
	}
	if e.Op == "&&" {
		return lc.overlapExpr(e, l, r)
	}
	if e.Op == "=" {
		if l.cls == clsMatch || r.cls == clsMatch {
			return lc.errorf(e.Span, "Parameter match clauses cannot be used here")
		}
		if lc.kind == kindData && l.cls == clsParam && r.cls == clsParam {
			return lc.errorf(e.Span, "Cannot have bucket parameters on both sides of = operator")
		}
		// In data queries a static value compared with a bucket parameter
		// acts as a row value (bucket.is_admin = false).
		rowLike := func(x *cexpr) bool { return x.cls == clsRow || (lc.kind == kindData && x.cls == clsStatic) }
		var rowSide, paramSide *cexpr
		switch {
		case rowLike(l) && r.cls == clsParam:
			rowSide, paramSide = l, r
		case l.cls == clsParam && rowLike(r):
			rowSide, paramSide = r, l
		}
		if rowSide != nil {
			return lc.equalityMatch(e.Span, rowSide, paramSide)
		}
	}
	o := lc.opts
	op := e.Op
	return lc.apply(e.Span, []*cexpr{l, r}, func(v []sqlvalue.Value) (sqlvalue.Value, error) {
		switch op {
		case "=", "!=", "<", "<=", ">", ">=":
			return compareOp(op, v[0], v[1])
		case "+", "-", "*", "/":
			return arithmetic(op, v[0], v[1]), nil
		case "||":
			return concat(v[0], v[1]), nil
		case "->":
			return jsonArrow(v[0], v[1], o)
		}
		return jsonArrow2(v[0], v[1], o)
	})
}

// equalityMatch builds the match clause of row = param.
func (lc *legacyCompiler) equalityMatch(sp syntax.Span, rowSide, paramSide *cexpr) *cexpr {
	in := inputParam{key: paramSide.key, eval: paramSide.eval, bucketParam: paramSide.bucketParam, auth: paramSide.auth}
	rowEval := rowSide.eval
	m := &matchClause{inputs: []inputParam{in}, auth: paramSide.auth, single: rowEval, eval: func(c *legacyCtx) ([][]sqlvalue.Value, error) {
		v, err := rowEval(c)
		if err != nil {
			return nil, err
		}
		if v.Kind() == sqlvalue.KindNull || v.Kind() == sqlvalue.KindBlob {
			return nil, nil
		}
		return [][]sqlvalue.Value{{v}}, nil
	}}
	return &cexpr{cls: clsMatch, match: m, span: sp}
}

func (lc *legacyCompiler) in(e *syntax.InExpr) *cexpr {
	if e.Select != nil {
		return lc.errorf(e.Span, "Subqueries are not supported yet")
	}
	if e.HasList {
		return lc.errorf(e.Span, "list not supported here")
	}
	x := lc.compile(e.X)
	if x == nil {
		return nil
	}
	y := lc.compile(e.Right)
	if y == nil {
		return nil
	}
	if x.cls == clsMatch || y.cls == clsMatch {
		return lc.errorf(e.Span, "Parameter match clauses cannot be used here")
	}
	var res *cexpr
	switch {
	case lc.kind == kindData && y.cls == clsParam:
		return lc.errorf(e.Right.Pos(), "Cannot use bucket parameters on the right side of IN operators")
	case x.cls == clsParam && y.cls == clsRow:
		// param IN row: one assignment per array element of the row value.
		in := inputParam{key: x.key, eval: x.eval, bucketParam: x.bucketParam, auth: x.auth}
		rowEval := y.eval
		m := &matchClause{inputs: []inputParam{in}, unbounded: true, auth: x.auth, eval: func(c *legacyCtx) ([][]sqlvalue.Value, error) {
			v, err := rowEval(c)
			if err != nil || v.Kind() == sqlvalue.KindNull {
				return nil, err
			}
			return arrayAssignments(v)
		}}
		res = &cexpr{cls: clsMatch, match: m, span: e.Span}
	case x.cls == clsRow && y.cls == clsParam:
		// row IN param: an expanding input parameter.
		in := inputParam{key: y.key + "[*]", eval: y.eval, expanding: true, auth: y.auth}
		rowEval := x.eval
		m := &matchClause{inputs: []inputParam{in}, expanding: true, auth: y.auth, eval: func(c *legacyCtx) ([][]sqlvalue.Value, error) {
			v, err := rowEval(c)
			if err != nil || v.Kind() == sqlvalue.KindBlob {
				return nil, err
			}
			return [][]sqlvalue.Value{{v}}, nil
		}}
		res = &cexpr{cls: clsMatch, match: m, span: e.Span}
	default:
		res = lc.apply(e.Span, []*cexpr{x, y}, func(v []sqlvalue.Value) (sqlvalue.Value, error) { return inJSON(v[0], v[1]) })
	}
	if res == nil || !e.Not {
		return res
	}
	return lc.apply(e.Span, []*cexpr{res}, func(v []sqlvalue.Value) (sqlvalue.Value, error) {
		if v[0].Kind() == sqlvalue.KindNull {
			return sqlvalue.Null, nil
		}
		return sqlvalue.Bool(!v[0].Truthy()), nil
	})
}

// toMatch turns any expression used as a condition into a match clause.
func (lc *legacyCompiler) toMatch(x *cexpr) *matchClause {
	switch x.cls {
	case clsMatch:
		return x.match
	case clsParam:
		in := inputParam{key: x.key, eval: x.eval, bucketParam: x.bucketParam, truthy: true, auth: x.auth}
		return &matchClause{inputs: []inputParam{in}, auth: x.auth, eval: func(*legacyCtx) ([][]sqlvalue.Value, error) {
			return [][]sqlvalue.Value{{sqlvalue.Int(1)}}, nil
		}}
	case clsStatic:
		t := x.value.Truthy()
		return &matchClause{eval: func(*legacyCtx) ([][]sqlvalue.Value, error) {
			if t {
				return [][]sqlvalue.Value{{}}, nil
			}
			return nil, nil
		}}
	}
	ev := x.eval
	return &matchClause{eval: func(c *legacyCtx) ([][]sqlvalue.Value, error) {
		v, err := ev(c)
		if err != nil || !v.Truthy() {
			return nil, err
		}
		return [][]sqlvalue.Value{{}}, nil
	}}
}

func (lc *legacyCompiler) logical(e *syntax.Binary) *cexpr {
	l := lc.compile(e.L)
	if l == nil {
		return nil
	}
	r := lc.compile(e.R)
	if r == nil {
		return nil
	}
	and := e.Op == "AND"
	mixed := (l.cls == clsRow && r.cls == clsParam) || (l.cls == clsParam && r.cls == clsRow)
	if l.cls != clsMatch && r.cls != clsMatch && !mixed && !(lc.kind == kindData && (l.cls == clsParam || r.cls == clsParam)) {
		return lc.apply(e.Span, []*cexpr{l, r}, func(v []sqlvalue.Value) (sqlvalue.Value, error) {
			if and {
				return sqlvalue.Bool(v[0].Truthy() && v[1].Truthy()), nil
			}
			return sqlvalue.Bool(v[0].Truthy() || v[1].Truthy()), nil
		})
	}
	ml, mr := lc.toMatch(l), lc.toMatch(r)
	if and {
		return lc.andMatch(e.Span, ml, mr)
	}
	return lc.orMatch(e.Span, ml, mr)
}

func (lc *legacyCompiler) andMatch(sp syntax.Span, ml, mr *matchClause) *cexpr {
	if ml.unbounded && mr.unbounded {
		return lc.errorf(sp, "Cannot have multiple IN expressions on bucket parameters")
	}
	if ml.expanding && mr.expanding {
		return lc.errorf(sp, "Cannot have multiple array input parameters")
	}
	inputs := slices.Clone(ml.inputs)
	rmap := make([]int, len(mr.inputs))
	for j, in := range mr.inputs {
		idx := -1
		for i, x := range inputs {
			if x.key == in.key {
				idx = i
			}
		}
		if idx < 0 {
			idx = len(inputs)
			inputs = append(inputs, in)
		}
		rmap[j] = idx
	}
	n := len(inputs)
	le, re := ml.eval, mr.eval
	m := &matchClause{inputs: inputs, unbounded: ml.unbounded || mr.unbounded, expanding: ml.expanding || mr.expanding,
		auth: ml.auth.or(mr.auth)}
	m.eval = func(c *legacyCtx) ([][]sqlvalue.Value, error) {
		la, err := le(c)
		if err != nil || len(la) == 0 {
			return nil, err
		}
		ra, err := re(c)
		if err != nil || len(ra) == 0 {
			return nil, err
		}
		out := make([][]sqlvalue.Value, 0, len(la)*len(ra))
		for _, a := range la {
			for _, b := range ra {
				row := make([]sqlvalue.Value, n)
				copy(row, a)
				for j, idx := range rmap {
					row[idx] = b[j]
				}
				out = append(out, row)
			}
		}
		return out, nil
	}
	return &cexpr{cls: clsMatch, match: m, span: sp}
}

func (lc *legacyCompiler) orMatch(sp syntax.Span, ml, mr *matchClause) *cexpr {
	lk, rk := ml.keys(), mr.keys()
	ls, rs := slices.Clone(lk), slices.Clone(rk)
	slices.Sort(ls)
	slices.Sort(rs)
	if !slices.Equal(ls, rs) {
		lj, _ := json.Marshal(lk)
		rj, _ := json.Marshal(rk)
		return lc.errorf(sp, "Left and right sides of OR must use the same parameters, or split into separate queries. %s != %s", lj, rj)
	}
	rmap := make([]int, len(mr.inputs))
	for j, in := range mr.inputs {
		rmap[j] = ml.indexOf(in.key)
	}
	le, re := ml.eval, mr.eval
	auth := authUse{authenticated: ml.auth.authenticated && mr.auth.authenticated, unauthenticated: ml.auth.unauthenticated || mr.auth.unauthenticated}
	m := &matchClause{inputs: ml.inputs, unbounded: ml.unbounded || mr.unbounded, expanding: ml.expanding || mr.expanding, auth: auth}
	m.eval = func(c *legacyCtx) ([][]sqlvalue.Value, error) {
		la, err := le(c)
		if err != nil {
			return nil, err
		}
		ra, err := re(c)
		if err != nil {
			return nil, err
		}
		out := la
		for _, b := range ra {
			row := make([]sqlvalue.Value, len(b))
			for j, idx := range rmap {
				row[idx] = b[j]
			}
			out = append(out, row)
		}
		return out, nil
	}
	return &cexpr{cls: clsMatch, match: m, span: sp}
}

// EvalConstant evaluates an expression that uses no row or request data
// (literals, operators and functions), with fixed_json_extract rules when
// fixedJSON is set. It reports the first compile or evaluation error.
func EvalConstant(e syntax.Expr, fixedJSON bool) (sqlvalue.Value, error) {
	d := &diagList{file: newSrcFile("")}
	lc := &legacyCompiler{kind: kindParamStatic, sql: &sqlText{file: d.file}, diags: d, opts: evalOptions{fixedJSON: fixedJSON}}
	ce := lc.compile(e)
	if ce == nil {
		return sqlvalue.Null, fmt.Errorf("%s", d.list[0].Message)
	}
	if ce.cls != clsStatic {
		return sqlvalue.Null, fmt.Errorf("expression is not constant")
	}
	return ce.value, nil
}

// overlapExpr compiles a && b (alpha streams): a row array against a
// request array partitions rows by element; otherwise it is a plain
// function of its operands.
func (lc *legacyCompiler) overlapExpr(e *syntax.Binary, l, r *cexpr) *cexpr {
	if l.cls == clsMatch || r.cls == clsMatch {
		return lc.errorf(e.Span, "Parameter match clauses cannot be used here")
	}
	switch {
	case l.cls == clsParam && r.cls == clsRow:
		return lc.errorf(e.L.Pos(), "The left-hand side of an && operator must be derived from the row to sync.")
	case l.cls == clsRow && r.cls == clsParam:
		in := inputParam{key: r.key + "[*]", eval: r.eval, expanding: true, auth: r.auth}
		rowEval := l.eval
		m := &matchClause{inputs: []inputParam{in}, unbounded: true, expanding: true, auth: r.auth, eval: func(c *legacyCtx) ([][]sqlvalue.Value, error) {
			v, err := rowEval(c)
			if err != nil || v.Kind() == sqlvalue.KindNull {
				return nil, err
			}
			return arrayAssignments(v)
		}}
		return &cexpr{cls: clsMatch, match: m, span: e.Span, subscription: r.subscription}
	}
	return lc.apply(e.Span, []*cexpr{l, r}, func(v []sqlvalue.Value) (sqlvalue.Value, error) { return overlap(v[0], v[1]) })
}

// arrayAssignments turns a row's JSON array into one assignment per
// non-NULL element (for && and IN over row arrays).
func arrayAssignments(v sqlvalue.Value) ([][]sqlvalue.Value, error) {
	elems, err := jsonElements(v)
	if err != nil {
		return nil, err
	}
	out := make([][]sqlvalue.Value, 0, len(elems))
	for _, e := range elems {
		if e.Kind() != sqlvalue.KindNull {
			out = append(out, []sqlvalue.Value{e})
		}
	}
	return out, nil
}
