package syncrules

import (
	"errors"
	"strconv"
	"strings"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// This file holds the expression form of the edition-3 Sync Streams
// compiler (§8): SQL expressions lowered to a small tree whose leaves name
// the source they read (a table, a table-valued function or request data),
// and the compilation of such trees into closures for evaluation.

// sxKind is the kind of a lowered stream expression node.
type sxKind uint8

const (
	sxLit     sxKind = iota // constant
	sxCol                   // column of a table source
	sxMeta                  // schema() / table_name() / table_suffix() of a table source
	sxTVF                   // value or key column of a json_each source
	sxReq                   // raw JSON text of auth / connection / subscription
	sxCall                  // scalar function
	sxBin                   // binary operator
	sxNot                   // NOT x
	sxIsNull                // x IS NULL
	sxBetween               // x BETWEEN a AND b
	sxCase                  // CASE (searched when operand is nil)
	sxCast                  // CAST(x AS name)
	sxInList                // x IN ARRAY[...] / ROW(...)
)

// sxExpr is one lowered expression node.
type sxExpr struct {
	kind sxKind
	span syntax.Span // source span, for diagnostics
	src  int         // sxCol, sxMeta, sxTVF: index of the source in the query
	name string      // column, metadata kind, tvf column, request kind, function, operator, cast type
	lit  sqlvalue.Value
	args []*sxExpr // operands; sxCase: [operand?] then when/then pairs then else?
	// sxCase layout
	hasOperand bool
	hasElse    bool
	fn         scalarFunc // sxCall
}

// Request kinds of sxReq.
const (
	reqAuth         = "auth"
	reqConnection   = "connection"
	reqSubscription = "subscription"
)

// key returns a canonical text of the expression, used to compare
// expressions structurally (merging, de-duplication). Source indexes are
// mapped through srcName so that equal expressions of different queries
// compare equal.
func (x *sxExpr) key(srcName func(int) string) string {
	var b strings.Builder
	x.writeKey(&b, srcName)
	return b.String()
}

func (x *sxExpr) writeKey(b *strings.Builder, srcName func(int) string) {
	b.WriteByte('(')
	b.WriteString(strconv.Itoa(int(x.kind)))
	b.WriteByte(' ')
	switch x.kind {
	case sxLit:
		b.WriteString(x.lit.Kind().String())
		b.WriteByte(':')
		b.WriteString(strconv.Quote(string(sqlvalue.AppendBucketValue(nil, x.lit)) + x.lit.Str()))
	case sxCol, sxMeta, sxTVF:
		b.WriteString(srcName(x.src))
		b.WriteByte('.')
		b.WriteString(strconv.Quote(x.name))
	default:
		b.WriteString(strconv.Quote(x.name))
	}
	if x.hasOperand {
		b.WriteString(" operand")
	}
	if x.hasElse {
		b.WriteString(" else")
	}
	for _, a := range x.args {
		b.WriteByte(' ')
		a.writeKey(b, srcName)
	}
	b.WriteByte(')')
}

// walk calls f for x and every node below it, in source order.
func (x *sxExpr) walk(f func(*sxExpr)) {
	f(x)
	for _, a := range x.args {
		a.walk(f)
	}
}

// requestKinds reports whether the expression reads authenticated (auth)
// and unauthenticated (connection, subscription) request data.
func (x *sxExpr) requestKinds() (auth, unauth bool) {
	x.walk(func(n *sxExpr) {
		if n.kind == sxReq {
			if n.name == reqAuth {
				auth = true
			} else {
				unauth = true
			}
		}
	})
	return auth, unauth
}

// evalEnv is what a compiled expression reads: one source row with its
// metadata, the current rows of attached table-valued functions, and the
// request's JSON texts.
type evalEnv struct {
	row    sqlvalue.Row
	schema string
	table  string
	suffix string
	tvf    []tvfRow
	auth   sqlvalue.Value
	conn   sqlvalue.Value
	sub    sqlvalue.Value
}

// tvfRow is one output row of json_each.
type tvfRow struct {
	value, key sqlvalue.Value
}

// evalFn is a compiled expression.
type evalFn func(env *evalEnv) (sqlvalue.Value, error)

// binding tells the closure compiler where leaves live: which table source
// is the bound row, and at which position of env.tvf each attached
// table-valued source is.
type binding struct {
	table int         // source index read from env.row (-1: none)
	tvf   map[int]int // source index → env.tvf position
}

var errUnbound = errors.New("expression reads a source that is not bound here")

// compile turns x into a closure. Leaves are resolved through b once, so
// evaluation does no map lookups beyond the row's own.
func (x *sxExpr) compile(b binding, o evalOptions) evalFn {
	switch x.kind {
	case sxLit:
		v := x.lit
		return func(*evalEnv) (sqlvalue.Value, error) { return v, nil }
	case sxCol:
		if x.src != b.table {
			return func(*evalEnv) (sqlvalue.Value, error) { return sqlvalue.Null, errUnbound }
		}
		name := x.name
		return func(env *evalEnv) (sqlvalue.Value, error) { return env.row[name], nil }
	case sxMeta:
		switch x.name {
		case "schema":
			return func(env *evalEnv) (sqlvalue.Value, error) { return sqlvalue.Text(env.schema), nil }
		case "table_name":
			return func(env *evalEnv) (sqlvalue.Value, error) { return sqlvalue.Text(env.table), nil }
		}
		return func(env *evalEnv) (sqlvalue.Value, error) { return sqlvalue.Text(env.suffix), nil }
	case sxTVF:
		pos, ok := b.tvf[x.src]
		if !ok {
			return func(*evalEnv) (sqlvalue.Value, error) { return sqlvalue.Null, errUnbound }
		}
		if x.name == "key" {
			return func(env *evalEnv) (sqlvalue.Value, error) { return env.tvf[pos].key, nil }
		}
		return func(env *evalEnv) (sqlvalue.Value, error) { return env.tvf[pos].value, nil }
	case sxReq:
		switch x.name {
		case reqAuth:
			return func(env *evalEnv) (sqlvalue.Value, error) { return env.auth, nil }
		case reqConnection:
			return func(env *evalEnv) (sqlvalue.Value, error) { return env.conn, nil }
		}
		return func(env *evalEnv) (sqlvalue.Value, error) { return env.sub, nil }
	case sxNot:
		// SQLite semantics, as the reference's edition-3 engine: NOT NULL
		// is NULL (legacy Sync Rules evaluate it as 1).
		a := x.args[0].compile(b, o)
		return func(env *evalEnv) (sqlvalue.Value, error) {
			v, err := a(env)
			if err != nil || v.Kind() == sqlvalue.KindNull {
				return sqlvalue.Null, err
			}
			return sqlvalue.Bool(!v.Truthy()), nil
		}
	case sxIsNull:
		a := x.args[0].compile(b, o)
		return func(env *evalEnv) (sqlvalue.Value, error) {
			v, err := a(env)
			if err != nil {
				return sqlvalue.Null, err
			}
			return sqlvalue.Bool(v.Kind() == sqlvalue.KindNull), nil
		}
	case sxCast:
		a := x.args[0].compile(b, o)
		typ := x.name
		return func(env *evalEnv) (sqlvalue.Value, error) {
			v, err := a(env)
			if err != nil {
				return sqlvalue.Null, err
			}
			r, _ := sqlvalue.Cast(v, typ)
			return r, nil
		}
	case sxBetween:
		v, lo, hi := x.args[0].compile(b, o), x.args[1].compile(b, o), x.args[2].compile(b, o)
		return func(env *evalEnv) (sqlvalue.Value, error) {
			xv, err := v(env)
			if err != nil {
				return sqlvalue.Null, err
			}
			l, err := lo(env)
			if err != nil {
				return sqlvalue.Null, err
			}
			h, err := hi(env)
			if err != nil {
				return sqlvalue.Null, err
			}
			ge, err := compareOp(">=", xv, l)
			if err != nil {
				return sqlvalue.Null, err
			}
			le, err := compareOp("<=", xv, h)
			if err != nil {
				return sqlvalue.Null, err
			}
			if ge.Kind() == sqlvalue.KindNull || le.Kind() == sqlvalue.KindNull {
				return sqlvalue.Null, nil
			}
			return sqlvalue.Bool(ge.Truthy() && le.Truthy()), nil
		}
	case sxInList:
		v := x.args[0].compile(b, o)
		elems := make([]evalFn, len(x.args)-1)
		for i, a := range x.args[1:] {
			elems[i] = a.compile(b, o)
		}
		return func(env *evalEnv) (sqlvalue.Value, error) {
			xv, err := v(env)
			if err != nil || xv.Kind() == sqlvalue.KindNull {
				return sqlvalue.Null, err
			}
			sawNull := false
			for _, e := range elems {
				ev, err := e(env)
				if err != nil {
					return sqlvalue.Null, err
				}
				if ev.Kind() == sqlvalue.KindNull {
					sawNull = true
					continue
				}
				c, err := compareOp("=", xv, ev)
				if err != nil {
					return sqlvalue.Null, err
				}
				if c.Truthy() {
					return sqlvalue.Int(1), nil
				}
			}
			if sawNull {
				return sqlvalue.Null, nil
			}
			return sqlvalue.Int(0), nil
		}
	case sxCase:
		return x.compileCase(b, o)
	case sxCall:
		args := make([]evalFn, len(x.args))
		for i, a := range x.args {
			args[i] = a.compile(b, o)
		}
		fn := x.fn.call
		return func(env *evalEnv) (sqlvalue.Value, error) {
			vals := make([]sqlvalue.Value, len(args))
			for i, a := range args {
				v, err := a(env)
				if err != nil {
					return sqlvalue.Null, err
				}
				vals[i] = v
			}
			return fn(o, vals)
		}
	}
	// sxBin
	l, r := x.args[0].compile(b, o), x.args[1].compile(b, o)
	op := x.name
	switch op {
	case "AND":
		// Three-valued logic: false wins over NULL.
		return func(env *evalEnv) (sqlvalue.Value, error) {
			a, err := l(env)
			if err != nil {
				return sqlvalue.Null, err
			}
			if a.Kind() != sqlvalue.KindNull && !a.Truthy() {
				return sqlvalue.Int(0), nil
			}
			c, err := r(env)
			if err != nil {
				return sqlvalue.Null, err
			}
			switch {
			case c.Kind() != sqlvalue.KindNull && !c.Truthy():
				return sqlvalue.Int(0), nil
			case a.Kind() == sqlvalue.KindNull || c.Kind() == sqlvalue.KindNull:
				return sqlvalue.Null, nil
			}
			return sqlvalue.Int(1), nil
		}
	case "OR":
		// Three-valued logic: true wins over NULL.
		return func(env *evalEnv) (sqlvalue.Value, error) {
			a, err := l(env)
			if err != nil {
				return sqlvalue.Null, err
			}
			if a.Truthy() {
				return sqlvalue.Int(1), nil
			}
			c, err := r(env)
			if err != nil {
				return sqlvalue.Null, err
			}
			switch {
			case c.Truthy():
				return sqlvalue.Int(1), nil
			case a.Kind() == sqlvalue.KindNull || c.Kind() == sqlvalue.KindNull:
				return sqlvalue.Null, nil
			}
			return sqlvalue.Int(0), nil
		}
	case "=", "!=", "<", "<=", ">", ">=":
		return func(env *evalEnv) (sqlvalue.Value, error) {
			a, c, err := eval2(env, l, r)
			if err != nil {
				return sqlvalue.Null, err
			}
			return compareOp(op, a, c)
		}
	case "IS":
		return func(env *evalEnv) (sqlvalue.Value, error) {
			a, c, err := eval2(env, l, r)
			if err != nil {
				return sqlvalue.Null, err
			}
			return isOp(a, c), nil
		}
	case "+", "-", "*", "/":
		return func(env *evalEnv) (sqlvalue.Value, error) {
			a, c, err := eval2(env, l, r)
			if err != nil {
				return sqlvalue.Null, err
			}
			return arithmetic(op, a, c), nil
		}
	case "||":
		return func(env *evalEnv) (sqlvalue.Value, error) {
			a, c, err := eval2(env, l, r)
			if err != nil {
				return sqlvalue.Null, err
			}
			return concat(a, c), nil
		}
	case "->":
		return func(env *evalEnv) (sqlvalue.Value, error) {
			a, c, err := eval2(env, l, r)
			if err != nil {
				return sqlvalue.Null, err
			}
			return jsonArrow(a, c, o)
		}
	case "->>":
		return func(env *evalEnv) (sqlvalue.Value, error) {
			a, c, err := eval2(env, l, r)
			if err != nil {
				return sqlvalue.Null, err
			}
			return jsonArrow2(a, c, o)
		}
	case "&&":
		return func(env *evalEnv) (sqlvalue.Value, error) {
			a, c, err := eval2(env, l, r)
			if err != nil {
				return sqlvalue.Null, err
			}
			return overlap(a, c)
		}
	case "IN":
		return func(env *evalEnv) (sqlvalue.Value, error) {
			a, c, err := eval2(env, l, r)
			if err != nil {
				return sqlvalue.Null, err
			}
			return inJSON(a, c)
		}
	}
	return func(*evalEnv) (sqlvalue.Value, error) {
		return sqlvalue.Null, errors.New("Operator not supported: " + op)
	}
}

func eval2(env *evalEnv, l, r evalFn) (sqlvalue.Value, sqlvalue.Value, error) {
	a, err := l(env)
	if err != nil {
		return sqlvalue.Null, sqlvalue.Null, err
	}
	c, err := r(env)
	return a, c, err
}

func (x *sxExpr) compileCase(b binding, o evalOptions) evalFn {
	args := x.args
	var operand evalFn
	if x.hasOperand {
		operand = args[0].compile(b, o)
		args = args[1:]
	}
	var elseFn evalFn
	if x.hasElse {
		elseFn = args[len(args)-1].compile(b, o)
		args = args[:len(args)-1]
	}
	conds := make([]evalFn, 0, len(args)/2)
	thens := make([]evalFn, 0, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		conds = append(conds, args[i].compile(b, o))
		thens = append(thens, args[i+1].compile(b, o))
	}
	return func(env *evalEnv) (sqlvalue.Value, error) {
		var ov sqlvalue.Value
		if operand != nil {
			v, err := operand(env)
			if err != nil {
				return sqlvalue.Null, err
			}
			ov = v
		}
		for i, c := range conds {
			cv, err := c(env)
			if err != nil {
				return sqlvalue.Null, err
			}
			match := false
			if operand != nil {
				eq, err := compareOp("=", ov, cv)
				if err != nil {
					return sqlvalue.Null, err
				}
				match = eq.Truthy()
			} else {
				match = cv.Truthy()
			}
			if match {
				return thens[i](env)
			}
		}
		if elseFn != nil {
			return elseFn(env)
		}
		return sqlvalue.Null, nil
	}
}
