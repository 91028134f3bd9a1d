package syntax

import (
	"strings"
)

// ExprString renders an expression as a fully parenthesized S-expression,
// e.g. (= owner_id (request.user_id)). It is meant for tests and debugging
// output, not for SQL.
func ExprString(e Expr) string {
	var b strings.Builder
	writeExpr(&b, e)
	return b.String()
}

func writeIdent(b *strings.Builder, id Ident) {
	if id.Quoted {
		b.WriteString(`"` + id.Name + `"`)
	} else {
		b.WriteString(id.Name)
	}
}

func writeExpr(b *strings.Builder, e Expr) {
	switch e := e.(type) {
	case nil:
		b.WriteString("<nil>")
	case *Literal:
		b.WriteString(e.Value.String())
	case *ColumnRef:
		if e.Schema.Name != "" {
			writeIdent(b, e.Schema)
			b.WriteByte('.')
		}
		if e.Table.Name != "" {
			writeIdent(b, e.Table)
			b.WriteByte('.')
		}
		writeIdent(b, e.Column)
	case *FuncCall:
		b.WriteByte('(')
		if e.Schema.Name != "" {
			writeIdent(b, e.Schema)
			b.WriteByte('.')
		}
		writeIdent(b, e.Name)
		if e.Star {
			b.WriteString(" *")
		}
		for _, a := range e.Args {
			b.WriteByte(' ')
			writeExpr(b, a)
		}
		b.WriteByte(')')
	case *Unary:
		b.WriteString("(" + e.Op + " ")
		writeExpr(b, e.X)
		b.WriteByte(')')
	case *Binary:
		b.WriteString("(" + e.Op + " ")
		writeExpr(b, e.L)
		b.WriteByte(' ')
		writeExpr(b, e.R)
		b.WriteByte(')')
	case *IsExpr:
		b.WriteString("(IS")
		if e.Not {
			b.WriteString(" NOT")
		}
		b.WriteByte(' ')
		writeExpr(b, e.X)
		b.WriteByte(' ')
		if e.Y != nil {
			writeExpr(b, e.Y)
		} else {
			b.WriteString(e.Target)
		}
		b.WriteByte(')')
	case *Between:
		if e.Not {
			b.WriteString("(NOT BETWEEN ")
		} else {
			b.WriteString("(BETWEEN ")
		}
		writeExpr(b, e.X)
		b.WriteByte(' ')
		writeExpr(b, e.Lo)
		b.WriteByte(' ')
		writeExpr(b, e.Hi)
		b.WriteByte(')')
	case *InExpr:
		if e.Not {
			b.WriteString("(NOT IN ")
		} else {
			b.WriteString("(IN ")
		}
		writeExpr(b, e.X)
		b.WriteByte(' ')
		switch {
		case e.Select != nil:
			b.WriteString("(SELECT ...)")
		case e.HasList:
			b.WriteString("(LIST")
			for _, x := range e.List {
				b.WriteByte(' ')
				writeExpr(b, x)
			}
			b.WriteByte(')')
		default:
			writeExpr(b, e.Right)
		}
		b.WriteByte(')')
	case *LikeExpr:
		b.WriteString("(" + e.Op + " ")
		writeExpr(b, e.X)
		b.WriteByte(' ')
		writeExpr(b, e.Pattern)
		b.WriteByte(')')
	case *CastExpr:
		b.WriteString("(CAST ")
		writeExpr(b, e.X)
		b.WriteString(" " + e.Type + ")")
	case *CaseExpr:
		b.WriteString("(CASE")
		if e.Operand != nil {
			b.WriteByte(' ')
			writeExpr(b, e.Operand)
		}
		for _, w := range e.Whens {
			b.WriteString(" (WHEN ")
			writeExpr(b, w.Cond)
			b.WriteByte(' ')
			writeExpr(b, w.Then)
			b.WriteByte(')')
		}
		if e.Else != nil {
			b.WriteString(" (ELSE ")
			writeExpr(b, e.Else)
			b.WriteByte(')')
		}
		b.WriteByte(')')
	case *ArrayExpr:
		if e.Row {
			b.WriteString("(ROW")
		} else {
			b.WriteString("(ARRAY")
		}
		for _, x := range e.Elems {
			b.WriteByte(' ')
			writeExpr(b, x)
		}
		b.WriteByte(')')
	case *SubqueryExpr:
		b.WriteString("(SELECT ...)")
	case *ParamExpr:
		b.WriteString(e.Text)
	case *StarExpr:
		writeIdent(b, e.Table)
		b.WriteString(".*")
	}
}
