package syncrules

import (
	"strconv"
	"strings"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// lowerExpr lowers a scalar expression of a stream query, resolving names
// in sc and reporting unsupported syntax. It returns nil after reporting an
// error.
func (l *lowerer) lowerExpr(e syntax.Expr, sc *scope) *sxExpr {
	switch x := e.(type) {
	case *syntax.Rewritten:
		return x.Node.(*sxExpr)
	case *syntax.Literal:
		return &sxExpr{kind: sxLit, lit: x.Value, span: x.Span}
	case *syntax.ColumnRef:
		return l.lowerRef(x, sc)
	case *syntax.FuncCall:
		return l.lowerCall(x, sc)
	case *syntax.StarExpr:
		l.errorf(x.Span, "* columns are not supported here")
		return nil
	case *syntax.ParamExpr:
		l.errorf(x.Span, "SQL parameters are not allowed. Use parameter functions instead: https://docs.powersync.com/usage/sync-streams#accessing-parameters")
		return nil
	case *syntax.SubqueryExpr:
		l.errorf(x.Span, "Invalid position for subqueries. Subqueries are only supported in WHERE clauses.")
		return nil
	case *syntax.LikeExpr:
		l.errorf(x.Span, "LIKE expressions are not currently supported.")
		return nil
	case *syntax.Unary:
		switch x.Op {
		case "-":
			l.errorf(x.Span, "Unary minus is not currently supported")
			return nil
		case "+":
			return l.lowerExpr(x.X, sc)
		}
		a := l.lowerExpr(x.X, sc)
		if a == nil {
			return nil
		}
		return &sxExpr{kind: sxNot, span: x.Span, args: []*sxExpr{a}}
	case *syntax.Binary:
		switch x.Op {
		case "AND", "OR":
			a, b := l.lowerExpr(x.L, sc), l.lowerExpr(x.R, sc)
			if a == nil || b == nil {
				return nil
			}
			return &sxExpr{kind: sxBin, name: x.Op, span: x.Span, args: []*sxExpr{a, b}}
		case "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "||", "->", "->>", "&&":
		default:
			l.errorf(x.OpPos, "Unsupported binary operator")
			return nil
		}
		a, b := l.lowerExpr(x.L, sc), l.lowerExpr(x.R, sc)
		if a == nil || b == nil {
			return nil
		}
		if x.Op == "!=" {
			eq := &sxExpr{kind: sxBin, name: "=", span: x.Span, args: []*sxExpr{a, b}}
			return &sxExpr{kind: sxNot, span: x.Span, args: []*sxExpr{eq}}
		}
		return &sxExpr{kind: sxBin, name: x.Op, span: x.Span, args: []*sxExpr{a, b}}
	case *syntax.IsExpr:
		a := l.lowerExpr(x.X, sc)
		if a == nil {
			return nil
		}
		var r *sxExpr
		switch x.Target {
		case "NULL":
			r = &sxExpr{kind: sxIsNull, span: x.Span, args: []*sxExpr{a}}
		case "TRUE", "FALSE":
			one := sqlvalue.Int(1)
			if x.Target == "FALSE" {
				one = sqlvalue.Int(0)
			}
			r = &sxExpr{kind: sxBin, name: "IS", span: x.Span, args: []*sxExpr{a, {kind: sxLit, lit: one, span: x.Span}}}
		default:
			b := l.lowerExpr(x.Y, sc)
			if b == nil {
				return nil
			}
			r = &sxExpr{kind: sxBin, name: "IS", span: x.Span, args: []*sxExpr{a, b}}
		}
		if x.Not {
			return &sxExpr{kind: sxNot, span: x.Span, args: []*sxExpr{r}}
		}
		return r
	case *syntax.Between:
		a, lo, hi := l.lowerExpr(x.X, sc), l.lowerExpr(x.Lo, sc), l.lowerExpr(x.Hi, sc)
		if a == nil || lo == nil || hi == nil {
			return nil
		}
		r := &sxExpr{kind: sxBetween, span: x.Span, args: []*sxExpr{a, lo, hi}}
		if x.Not {
			return &sxExpr{kind: sxNot, span: x.Span, args: []*sxExpr{r}}
		}
		return r
	case *syntax.InExpr:
		if x.Select != nil {
			l.errorf(x.Span, "Invalid position for subqueries. Subqueries are only supported in WHERE clauses.")
			return nil
		}
		if x.HasList {
			l.errorf(x.Span, "This expression is not supported by PowerSync")
			return nil
		}
		a := l.lowerExpr(x.X, sc)
		if a == nil {
			return nil
		}
		var r *sxExpr
		if arr, ok := x.Right.(*syntax.ArrayExpr); ok {
			args := []*sxExpr{a}
			for _, el := range arr.Elems {
				v := l.lowerExpr(el, sc)
				if v == nil {
					return nil
				}
				args = append(args, v)
			}
			r = &sxExpr{kind: sxInList, span: x.Span, args: args}
		} else {
			b := l.lowerExpr(x.Right, sc)
			if b == nil {
				return nil
			}
			r = &sxExpr{kind: sxBin, name: "IN", span: x.Span, args: []*sxExpr{a, b}}
		}
		if x.Not {
			return &sxExpr{kind: sxNot, span: x.Span, args: []*sxExpr{r}}
		}
		return r
	case *syntax.CastExpr:
		switch x.Type {
		case "text", "numeric", "integer", "real", "blob":
		default:
			l.errorf(x.TypeSpan, "Invalid SQLite cast")
			return nil
		}
		a := l.lowerExpr(x.X, sc)
		if a == nil {
			return nil
		}
		return &sxExpr{kind: sxCast, name: x.Type, span: x.Span, args: []*sxExpr{a}}
	case *syntax.CaseExpr:
		r := &sxExpr{kind: sxCase, span: x.Span}
		if x.Operand != nil {
			op := l.lowerExpr(x.Operand, sc)
			if op == nil {
				return nil
			}
			r.hasOperand = true
			r.args = append(r.args, op)
		}
		for _, w := range x.Whens {
			c, t := l.lowerExpr(w.Cond, sc), l.lowerExpr(w.Then, sc)
			if c == nil || t == nil {
				return nil
			}
			r.args = append(r.args, c, t)
		}
		if x.Else != nil {
			el := l.lowerExpr(x.Else, sc)
			if el == nil {
				return nil
			}
			r.hasElse = true
			r.args = append(r.args, el)
		}
		return r
	case *syntax.ArrayExpr:
		l.errorf(x.Span, "This expression is not supported by PowerSync")
		return nil
	}
	l.errorf(e.Pos(), "This expression is not supported by PowerSync")
	return nil
}

// lowerRef resolves a column reference.
func (l *lowerer) lowerRef(x *syntax.ColumnRef, sc *scope) *sxExpr {
	if x.Schema.Name != "" {
		l.errorf(x.Span, "Schema is not supported in column references")
		return nil
	}
	col := x.Column.Name
	if x.Table.Name == "" {
		// An unqualified name: the only source in the innermost scope.
		if len(sc.items) != 1 {
			if len(sc.items) == 0 {
				l.errorf(x.Span, "Column not found.")
			} else {
				l.errorf(x.Span, "Invalid unqualified reference since multiple tables are in scope")
			}
			return nil
		}
		return l.itemColumn(&sc.items[0], col, x.Span)
	}
	it, ok := sc.find(strings.ToLower(x.Table.Name))
	if !ok {
		l.errorf(x.Span, "Table '"+x.Table.Name+"' has not been added in a FROM clause here.")
		return nil
	}
	return l.itemColumn(it, col, x.Span)
}

func (l *lowerer) itemColumn(it *scopeItem, col string, span syntax.Span) *sxExpr {
	if it.src >= 0 {
		src := l.q.sources[it.src]
		if src.kind == srcTVF {
			if col != "value" && col != "key" {
				l.errorf(span, "Column not found.")
				return nil
			}
			return &sxExpr{kind: sxTVF, src: it.src, name: col, span: span}
		}
		return &sxExpr{kind: sxCol, src: it.src, name: col, span: span}
	}
	for _, c := range it.cols {
		if c.name == col {
			return c.expr
		}
	}
	l.errorf(span, "Column not found in subquery.")
	return nil
}

// forbiddenFunctions are rejected because sync definitions must be
// deterministic.
var forbiddenFunctions = map[string]bool{"random": true, "randomblob": true, "changes": true, "last_insert_rowid": true}

// streamFunctions lists the functions edition-3 streams accept: every
// engine function except json_valid, which the reference does not
// whitelist (§13).
func streamFunction(name string) (scalarFunc, bool) {
	switch name {
	case "json_valid":
		return scalarFunc{}, false
	case "substring":
		return scalarFunc{minArgs: 2, maxArgs: 3, call: streamSubstring}, true
	}
	f, ok := scalarFunctions[name]
	return f, ok
}

// streamSubstring is substring() of edition-3 streams: positions count
// code points, as in SQLite and the reference's edition-3 engine (legacy
// Sync Rules count UTF-16 code units).
func streamSubstring(o evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	if a[0].Kind() != sqlvalue.KindText {
		return fnSubstring(o, a)
	}
	if a[1].Kind() == sqlvalue.KindNull || (len(a) == 3 && a[2].Kind() == sqlvalue.KindNull) {
		return sqlvalue.Null, nil
	}
	var length int64
	if len(a) == 3 {
		length = sqlvalue.CastInteger(a[2]).Int64()
	}
	runes := []rune(a[0].Str())
	i, j := substrRange(len(runes), sqlvalue.CastInteger(a[1]).Int64(), length, len(a) == 3)
	return sqlvalue.Text(string(runes[i:j])), nil
}

// lowerCall lowers a function call: request functions, table metadata
// functions and scalar functions.
func (l *lowerer) lowerCall(x *syntax.FuncCall, sc *scope) *sxExpr {
	nameSpan := x.Name.Span
	if x.Schema.Name != "" {
		nameSpan = x.Schema.Span.Join(x.Name.Span)
	}
	if x.Star || x.Distinct || x.Unsupported != "" {
		l.errorf(x.Span, "DISTINCT, ORDER BY, FILTER and OVER clauses are not supported")
		return nil
	}
	fname := strings.ToLower(x.Name.Name)
	if x.Schema.Name != "" {
		schema := strings.ToLower(x.Schema.Name)
		switch schema {
		case reqAuth, reqConnection, reqSubscription:
			return l.lowerRequestCall(x, schema, fname, nameSpan, sc)
		}
		if it, ok := sc.find(schema); ok && it.src >= 0 && l.q.sources[it.src].kind == srcTable {
			switch fname {
			case "schema", "table_name", "table_suffix":
				if len(x.Args) > 0 {
					l.errorf(x.Span, "Expected no arguments here")
					return nil
				}
				if src := l.q.sources[it.src]; fname == "table_suffix" && !strings.HasSuffix(src.table, "%") {
					l.warnf(x.Span, "table_suffix() is always empty because this table is not selected with a wildcard name.")
				}
				return &sxExpr{kind: sxMeta, src: it.src, name: fname, span: x.Span}
			}
		} else if ok && (fname == "schema" || fname == "table_name" || fname == "table_suffix") {
			l.errorf(x.Span, fname+"() is not supported on subqueries")
			return nil
		}
		l.errorf(nameSpan, "Invalid schema in function name")
		return nil
	}
	if forbiddenFunctions[fname] {
		l.errorf(x.Span, "Forbidden call: Sync definitions must be deterministic.")
		return nil
	}
	f, ok := streamFunction(fname)
	if !ok {
		l.errorf(nameSpan, "Unknown function")
		return nil
	}
	if len(x.Args) < f.minArgs {
		l.errorf(x.Span, "Expected at least "+strconv.Itoa(f.minArgs)+" arguments")
		return nil
	}
	if f.maxArgs >= 0 && len(x.Args) > f.maxArgs {
		l.errorf(x.Span, "Expected at most "+strconv.Itoa(f.maxArgs)+" arguments")
		return nil
	}
	r := &sxExpr{kind: sxCall, name: fname, fn: f, span: x.Span}
	for _, a := range x.Args {
		v := l.lowerExpr(a, sc)
		if v == nil {
			return nil
		}
		r.args = append(r.args, v)
	}
	return r
}

// lowerRequestCall lowers auth.*, connection.* and subscription.* calls
// into ->> lookups on the raw JSON of that request part.
func (l *lowerer) lowerRequestCall(x *syntax.FuncCall, schema, fname string, nameSpan syntax.Span, sc *scope) *sxExpr {
	raw := &sxExpr{kind: sxReq, name: schema, span: x.Span}
	switch fname {
	case "user_id":
		if schema != reqAuth {
			l.errorf(nameSpan, ".user_id() is only available on auth schema")
			return nil
		}
		if len(x.Args) > 0 {
			l.errorf(x.Span, "Expected no arguments here")
			return nil
		}
		path := &sxExpr{kind: sxLit, lit: sqlvalue.Text("$.sub"), span: x.Span}
		return &sxExpr{kind: sxBin, name: "->>", span: x.Span, args: []*sxExpr{raw, path}}
	case "parameter":
		if len(x.Args) != 1 {
			l.errorf(nameSpan, "Expected a single argument here")
			return nil
		}
		k := l.lowerExpr(x.Args[0], sc)
		if k == nil {
			return nil
		}
		return &sxExpr{kind: sxBin, name: "->>", span: x.Span, args: []*sxExpr{raw, k}}
	case "parameters":
		return raw
	}
	l.errorf(nameSpan, "Unknown request function")
	return nil
}
