package syntax

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// ErrorKind tells apart the syntax errors that compilers word
// differently.
type ErrorKind uint8

// Syntax error kinds.
const (
	General   ErrorKind = iota
	NotSelect           // the statement is not a SELECT
	Multiple            // more than one statement
)

// Error is a parse failure at a span of the SQL text.
type Error struct {
	Kind    ErrorKind
	Message string
	Span    Span
}

func (e *Error) Error() string { return e.Message }

// maxParseDepth bounds the nesting of expressions and subqueries, so a
// hostile config cannot exhaust the stack.
const maxParseDepth = 200

// ParseSelect parses one SQL SELECT statement (a trailing ';' allowed).
// On failure it returns the first syntax error; the parser does not try to
// recover inside one statement.
func ParseSelect(sql string) (*Select, *Error) {
	p := &parser{lx: lexer{src: sql}}
	p.advance()
	sel, err := p.statement()
	if err != nil {
		return nil, err
	}
	return sel, nil
}

// ParseExpr parses a single expression (used by tests and tools).
func ParseExpr(sql string) (Expr, *Error) {
	p := &parser{lx: lexer{src: sql}}
	p.advance()
	e, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.unexpected()
	}
	return e, nil
}

type parser struct {
	lx    lexer
	tok   token
	prev  token
	depth int
}

func (p *parser) advance() {
	p.prev = p.tok
	p.tok = p.lx.next()
}

func (p *parser) errAt(sp Span, format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...), Span: sp}
}

func (p *parser) unexpected() *Error {
	switch p.tok.kind {
	case tokEOF:
		return p.errAt(p.tok.span, "Unexpected end of input")
	case tokError:
		return p.errAt(p.tok.span, "%s", capitalize(p.tok.text))
	}
	return p.errAt(p.tok.span, "Unexpected %s", p.describe(p.tok))
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (p *parser) describe(t token) string {
	switch t.kind {
	case tokIdent:
		if isReserved(t.text) {
			return "keyword " + strings.ToUpper(t.text)
		}
		return "identifier " + quoteForMessage(t.text)
	case tokQuotedIdent:
		return "identifier \"" + t.text + "\""
	case tokNumber:
		return "number " + t.text
	case tokString:
		return "string " + quoteForMessage(t.text)
	case tokBlob:
		return "blob literal"
	case tokParam:
		return "parameter " + t.text
	}
	return "'" + t.text + "'"
}

// isKeyword reports whether the current token is the unquoted keyword kw
// (upper-case).
func (p *parser) isKeyword(kw string) bool {
	return p.tok.kind == tokIdent && strings.EqualFold(p.tok.text, kw)
}

func (p *parser) acceptKeyword(kw string) bool {
	if p.isKeyword(kw) {
		p.advance()
		return true
	}
	return false
}

func (p *parser) expectKeyword(kw string) *Error {
	if !p.acceptKeyword(kw) {
		return p.expected(kw)
	}
	return nil
}

func (p *parser) expected(what string) *Error {
	if p.tok.kind == tokError {
		return p.unexpected()
	}
	if p.tok.kind == tokEOF {
		return p.errAt(p.tok.span, "Expected %s but reached end of input", what)
	}
	return p.errAt(p.tok.span, "Expected %s but found %s", what, p.describe(p.tok))
}

func (p *parser) isOp(op string) bool { return p.tok.kind == tokOp && p.tok.text == op }

func (p *parser) acceptOp(op string) bool {
	if p.isOp(op) {
		p.advance()
		return true
	}
	return false
}

func (p *parser) expectOp(op string) *Error {
	if !p.acceptOp(op) {
		return p.expected("'" + op + "'")
	}
	return nil
}

// reserved keywords cannot be used as bare identifiers or implicit aliases.
var reserved = map[string]bool{
	"all": true, "and": true, "array": true, "as": true, "asc": true, "between": true, "by": true, "case": true,
	"cast": true, "cross": true, "desc": true, "distinct": true, "else": true, "end": true, "except": true,
	"false": true, "for": true, "from": true, "full": true, "group": true, "having": true, "ilike": true,
	"in": true, "inner": true, "intersect": true, "is": true, "join": true, "left": true, "like": true,
	"limit": true, "natural": true, "not": true, "null": true, "offset": true, "on": true, "or": true,
	"order": true, "outer": true, "right": true, "select": true, "then": true, "true": true, "union": true,
	"using": true, "when": true, "where": true, "with": true, "isnull": true, "notnull": true, "skip": true,
	"fetch": true, "window": true, "returning": true,
}

func isReserved(word string) bool { return reserved[strings.ToLower(word)] }

// ident converts an identifier token to an Ident.
func identOf(t token) Ident {
	if t.kind == tokQuotedIdent {
		return Ident{Name: t.text, Quoted: true, Span: t.span}
	}
	lower := strings.ToLower(t.text)
	return Ident{Name: lower, Upper: lower != t.text, Span: t.span}
}

// identToken reports whether the current token can be an identifier.
func (p *parser) identToken() bool {
	return p.tok.kind == tokQuotedIdent || (p.tok.kind == tokIdent && !isReserved(p.tok.text))
}

func (p *parser) ident(what string) (Ident, *Error) {
	if !p.identToken() {
		return Ident{}, p.expected(what)
	}
	id := identOf(p.tok)
	p.advance()
	return id, nil
}

func (p *parser) enter() *Error {
	p.depth++
	if p.depth > maxParseDepth {
		return p.errAt(p.tok.span, "Query is nested too deeply")
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) statement() (*Select, *Error) {
	if p.tok.kind == tokEOF {
		return nil, &Error{Kind: NotSelect, Message: "Expected a SELECT statement but the query is empty", Span: p.tok.span}
	}
	if !p.isKeyword("SELECT") && !p.isKeyword("WITH") && !p.isOp("(") {
		return nil, &Error{Kind: NotSelect, Message: "Only SELECT statements are supported", Span: p.tok.span}
	}
	sel, err := p.selectStmt()
	if err != nil {
		return nil, err
	}
	for p.acceptOp(";") {
	}
	if p.tok.kind != tokEOF {
		if p.isKeyword("SELECT") || p.isKeyword("WITH") || p.isKeyword("INSERT") || p.isKeyword("UPDATE") || p.isKeyword("DELETE") {
			return nil, &Error{Kind: Multiple, Message: "Only a single SELECT statement is supported", Span: p.tok.span}
		}
		return nil, p.unexpected()
	}
	return sel, nil
}

// selectStmt parses [WITH ...] SELECT ... with its trailing clauses.
func (p *parser) selectStmt() (*Select, *Error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	start := p.tok.span
	if p.isOp("(") {
		p.advance()
		inner, err := p.selectStmt()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return inner, nil
	}
	sel := &Select{}
	if p.acceptKeyword("WITH") {
		for {
			name, err := p.ident("a common table expression name")
			if err != nil {
				return nil, err
			}
			if err := p.expectKeyword("AS"); err != nil {
				return nil, err
			}
			if err := p.expectOp("("); err != nil {
				return nil, err
			}
			body, err := p.selectStmt()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			sel.With = append(sel.With, CTE{Name: name, Select: body})
			if !p.acceptOp(",") {
				break
			}
		}
	}
	if err := p.expectKeyword("SELECT"); err != nil {
		return nil, err
	}
	if p.isKeyword("DISTINCT") {
		sel.Distinct = true
		sel.DistinctPos = p.tok.span
		p.advance()
		if p.acceptKeyword("ON") {
			if err := p.skipParens(); err != nil {
				return nil, err
			}
		}
	} else {
		p.acceptKeyword("ALL")
	}
	if err := p.selectItems(sel); err != nil {
		return nil, err
	}
	if p.acceptKeyword("FROM") {
		if err := p.fromList(sel); err != nil {
			return nil, err
		}
	}
	if p.acceptKeyword("WHERE") {
		w, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		sel.Where = w
	}
	if err := p.trailingClauses(sel); err != nil {
		return nil, err
	}
	sel.Span = start.Join(p.prev.span)
	return sel, nil
}

// skipParens skips one balanced parenthesized group.
func (p *parser) skipParens() *Error {
	if err := p.expectOp("("); err != nil {
		return err
	}
	level := 1
	for level > 0 {
		switch {
		case p.tok.kind == tokEOF || p.tok.kind == tokError:
			return p.unexpected()
		case p.isOp("("):
			level++
		case p.isOp(")"):
			level--
		}
		p.advance()
	}
	return nil
}

func (p *parser) trailingClauses(sel *Select) *Error {
	for {
		start := p.tok.span
		switch {
		case p.isKeyword("GROUP"), p.isKeyword("ORDER"):
			name := strings.ToUpper(p.tok.text) + " BY"
			p.advance()
			if err := p.expectKeyword("BY"); err != nil {
				return err
			}
			for {
				if _, err := p.expr(0); err != nil {
					return err
				}
				if !p.acceptKeyword("ASC") {
					p.acceptKeyword("DESC")
				}
				if p.acceptKeyword("NULLS") {
					if !p.acceptKeyword("FIRST") {
						if err := p.expectKeyword("LAST"); err != nil {
							return err
						}
					}
				}
				if !p.acceptOp(",") {
					break
				}
			}
			sel.Unsupported = append(sel.Unsupported, Clause{Name: name, Span: start.Join(p.prev.span)})
		case p.isKeyword("HAVING"), p.isKeyword("LIMIT"), p.isKeyword("OFFSET"), p.isKeyword("SKIP"):
			name := strings.ToUpper(p.tok.text)
			p.advance()
			if name == "LIMIT" && p.acceptKeyword("ALL") {
			} else if _, err := p.expr(0); err != nil {
				return err
			}
			if name == "OFFSET" {
				if !p.acceptKeyword("ROWS") {
					p.acceptKeyword("ROW")
				}
			}
			sel.Unsupported = append(sel.Unsupported, Clause{Name: name, Span: start.Join(p.prev.span)})
		case p.isKeyword("FOR"):
			p.advance()
			// FOR UPDATE/SHARE [OF t, ...] [NOWAIT]; a SKIP LOCKED that follows
			// is reported as its own clause.
			for (p.tok.kind == tokIdent && !isReserved(p.tok.text) && !p.isKeyword("SKIP")) || p.isOp(",") {
				p.advance()
			}
			sel.Unsupported = append(sel.Unsupported, Clause{Name: "FOR", Span: start.Join(p.prev.span)})
		case p.isKeyword("UNION"), p.isKeyword("INTERSECT"), p.isKeyword("EXCEPT"):
			name := strings.ToUpper(p.tok.text)
			p.advance()
			if !p.acceptKeyword("ALL") {
				p.acceptKeyword("DISTINCT")
			}
			if _, err := p.selectStmt(); err != nil {
				return err
			}
			sel.Unsupported = append(sel.Unsupported, Clause{Name: name, Span: start.Join(p.prev.span)})
		default:
			return nil
		}
	}
}

func (p *parser) selectItems(sel *Select) *Error {
	if p.tok.kind == tokEOF || p.isKeyword("FROM") || p.isKeyword("WHERE") || p.isOp(";") || p.isOp(")") {
		return nil
	}
	for {
		item, err := p.selectItem()
		if err != nil {
			return err
		}
		sel.Items = append(sel.Items, item)
		if !p.acceptOp(",") {
			return nil
		}
	}
}

func (p *parser) selectItem() (SelectItem, *Error) {
	start := p.tok.span
	if p.acceptOp("*") {
		return SelectItem{Span: start, Star: true}, nil
	}
	// t.* ?
	if p.identToken() {
		save := *p
		tbl := identOf(p.tok)
		p.advance()
		if p.acceptOp(".") && p.acceptOp("*") {
			return SelectItem{Span: start.Join(p.prev.span), Star: true, StarTable: tbl}, nil
		}
		*p = save
	}
	e, err := p.expr(0)
	if err != nil {
		return SelectItem{}, err
	}
	item := SelectItem{Expr: e}
	if p.acceptKeyword("AS") {
		alias, err := p.ident("an alias")
		if err != nil {
			return SelectItem{}, err
		}
		item.Alias, item.HasAlias = alias, true
	} else if p.identToken() {
		item.Alias, item.HasAlias = identOf(p.tok), true
		p.advance()
	}
	item.Span = start.Join(p.prev.span)
	return item, nil
}

func (p *parser) fromList(sel *Select) *Error {
	first, err := p.fromItem(JoinFirst)
	if err != nil {
		return err
	}
	sel.From = append(sel.From, first)
	for {
		kind := JoinKind(0)
		start := p.tok.span
		switch {
		case p.acceptOp(","):
			kind = JoinComma
		case p.acceptKeyword("JOIN"):
			kind = JoinInner
		case p.acceptKeyword("INNER"):
			kind = JoinInner
		case p.acceptKeyword("LEFT"):
			kind = JoinLeft
			p.acceptKeyword("OUTER")
		case p.acceptKeyword("RIGHT"):
			kind = JoinRight
			p.acceptKeyword("OUTER")
		case p.acceptKeyword("FULL"):
			kind = JoinFull
			p.acceptKeyword("OUTER")
		case p.acceptKeyword("CROSS"):
			kind = JoinCross
		case p.isKeyword("NATURAL"):
			return p.errAt(p.tok.span, "NATURAL JOIN is not supported")
		default:
			return nil
		}
		if kind != JoinComma && !strings.EqualFold(p.prev.text, "join") {
			if err := p.expectKeyword("JOIN"); err != nil {
				return err
			}
		}
		item, err := p.fromItem(kind)
		if err != nil {
			return err
		}
		if kind != JoinComma && kind != JoinCross {
			if p.acceptKeyword("ON") {
				on, err := p.expr(0)
				if err != nil {
					return err
				}
				item.On = on
			} else if p.acceptKeyword("USING") {
				if err := p.expectOp("("); err != nil {
					return err
				}
				for {
					id, err := p.ident("a column name")
					if err != nil {
						return err
					}
					item.Using = append(item.Using, id)
					if !p.acceptOp(",") {
						break
					}
				}
				if err := p.expectOp(")"); err != nil {
					return err
				}
			}
		}
		item.Span = start.Join(p.prev.span)
		sel.From = append(sel.From, item)
	}
}

func (p *parser) fromItem(kind JoinKind) (FromItem, *Error) {
	start := p.tok.span
	item := FromItem{Join: kind}
	switch {
	case p.isOp("("):
		p.advance()
		if !p.isKeyword("SELECT") && !p.isKeyword("WITH") {
			return item, p.expected("a subquery")
		}
		sub, err := p.selectStmt()
		if err != nil {
			return item, err
		}
		if err := p.expectOp(")"); err != nil {
			return item, err
		}
		item.Subquery = sub
	case p.identToken():
		name := identOf(p.tok)
		p.advance()
		if p.acceptOp(".") {
			tbl, err := p.ident("a table name")
			if err != nil {
				return item, err
			}
			item.Schema, name = name, tbl
		}
		if p.isOp("(") {
			fn := &FuncCall{Schema: item.Schema, Name: name}
			item.Schema = Ident{}
			if err := p.callArgs(fn); err != nil {
				return item, err
			}
			fn.Span = start.Join(p.prev.span)
			item.Func = fn
		} else {
			item.Table = name
		}
	default:
		return item, p.expected("a table name")
	}
	if p.acceptKeyword("AS") {
		alias, err := p.ident("an alias")
		if err != nil {
			return item, err
		}
		item.Alias, item.HasAlias = alias, true
	} else if p.identToken() {
		item.Alias, item.HasAlias = identOf(p.tok), true
		p.advance()
	}
	if item.HasAlias && p.isOp("(") {
		p.advance()
		for {
			id, err := p.ident("a column alias")
			if err != nil {
				return item, err
			}
			item.ColumnAliases = append(item.ColumnAliases, id)
			if !p.acceptOp(",") {
				break
			}
		}
		if err := p.expectOp(")"); err != nil {
			return item, err
		}
	}
	item.Span = start.Join(p.prev.span)
	return item, nil
}

// Operator precedence, lowest to highest (Postgres as implemented by the
// reference's parser).
const (
	precOr = iota + 1
	precAnd
	precNot
	precEq
	precIs
	precCmp
	precBetween
	precLike
	precIn
	precAdd
	precMul
	precExp
	precUnary
	precMember
)

func binaryPrec(op string) int {
	switch op {
	case "=", "!=":
		return precEq
	case "<", ">", "<=", ">=":
		return precCmp
	case "+", "-", "||", "&&", "&", "|", "<<", ">>", "~":
		return precAdd
	case "*", "/", "%":
		return precMul
	case "^":
		return precExp
	case "->", "->>", "::":
		return precMember
	}
	return 0
}

// expr parses an expression whose operators all bind tighter than min.
func (p *parser) expr(min int) (Expr, *Error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	left, err := p.prefix()
	if err != nil {
		return nil, err
	}
	for {
		var prec int
		var word string
		switch {
		case p.tok.kind == tokOp:
			prec = binaryPrec(p.tok.text)
		case p.isKeyword("OR"):
			prec, word = precOr, "OR"
		case p.isKeyword("AND"):
			prec, word = precAnd, "AND"
		case p.isKeyword("IS"), p.isKeyword("ISNULL"), p.isKeyword("NOTNULL"):
			prec, word = precIs, "IS"
		case p.isKeyword("BETWEEN"):
			prec, word = precBetween, "BETWEEN"
		case p.isKeyword("LIKE"), p.isKeyword("ILIKE"):
			prec, word = precLike, "LIKE"
		case p.isKeyword("IN"):
			prec, word = precIn, "IN"
		case p.isKeyword("NOT"):
			// NOT IN / NOT BETWEEN / NOT LIKE
			save := *p
			p.advance()
			switch {
			case p.isKeyword("IN"):
				prec, word = precIn, "NOT IN"
			case p.isKeyword("BETWEEN"):
				prec, word = precBetween, "NOT BETWEEN"
			case p.isKeyword("LIKE"), p.isKeyword("ILIKE"):
				prec, word = precLike, "NOT LIKE"
			}
			*p = save
		}
		if prec == 0 || prec <= min {
			return left, nil
		}
		if left, err = p.infix(left, prec, word); err != nil {
			return nil, err
		}
	}
}

func (p *parser) infix(left Expr, prec int, word string) (Expr, *Error) {
	opTok := p.tok
	p.advance()
	not := strings.HasPrefix(word, "NOT ")
	if not {
		p.advance() // the IN/BETWEEN/LIKE after NOT
	}
	switch {
	case word == "OR" || word == "AND":
		right, err := p.expr(prec)
		if err != nil {
			return nil, err
		}
		return &Binary{Span: left.Pos().Join(right.Pos()), Op: word, L: left, R: right, OpPos: opTok.span}, nil
	case word == "IS":
		is := &IsExpr{X: left}
		switch {
		case strings.EqualFold(opTok.text, "ISNULL"):
			is.Target = "NULL"
		case strings.EqualFold(opTok.text, "NOTNULL"):
			is.Target, is.Not = "NULL", true
		default:
			is.Not = p.acceptKeyword("NOT")
			switch {
			case p.acceptKeyword("NULL"):
				is.Target = "NULL"
			case p.acceptKeyword("TRUE"):
				is.Target = "TRUE"
			case p.acceptKeyword("FALSE"):
				is.Target = "FALSE"
			case p.isKeyword("DISTINCT"):
				return nil, p.errAt(p.tok.span, "IS DISTINCT FROM is not supported")
			default:
				y, err := p.expr(precIs)
				if err != nil {
					return nil, err
				}
				is.Y = y
			}
		}
		is.Span = left.Pos().Join(p.prev.span)
		return is, nil
	case strings.HasSuffix(word, "BETWEEN"):
		lo, err := p.expr(precBetween)
		if err != nil {
			return nil, err
		}
		if err := p.expectKeyword("AND"); err != nil {
			return nil, err
		}
		hi, err := p.expr(precBetween)
		if err != nil {
			return nil, err
		}
		return &Between{Span: left.Pos().Join(hi.Pos()), X: left, Lo: lo, Hi: hi, Not: not}, nil
	case strings.HasSuffix(word, "LIKE"):
		pat, err := p.expr(precLike)
		if err != nil {
			return nil, err
		}
		return &LikeExpr{Span: left.Pos().Join(pat.Pos()), X: left, Pattern: pat, Not: not, Op: strings.ToUpper(p.prevOpWord(opTok, not))}, nil
	case strings.HasSuffix(word, "IN"):
		in := &InExpr{X: left, Not: not}
		if p.isOp("(") {
			open := p.tok.span
			p.advance()
			if p.isKeyword("SELECT") || p.isKeyword("WITH") {
				sub, err := p.selectStmt()
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(")"); err != nil {
					return nil, err
				}
				in.Select = sub
			} else {
				var list []Expr
				for {
					e, err := p.expr(0)
					if err != nil {
						return nil, err
					}
					list = append(list, e)
					if !p.acceptOp(",") {
						break
					}
				}
				if err := p.expectOp(")"); err != nil {
					return nil, err
				}
				if len(list) == 1 {
					// "x IN (expr)" is read as a parenthesized expression,
					// as the reference's parser does.
					in.Right = list[0]
				} else {
					in.List, in.HasList = list, true
				}
				_ = open
			}
		} else {
			right, err := p.expr(precIn)
			if err != nil {
				return nil, err
			}
			in.Right = right
		}
		in.Span = left.Pos().Join(p.prev.span)
		return in, nil
	}
	op := opTok.text
	if op == "::" {
		typ, sp, err := p.typeName()
		if err != nil {
			return nil, err
		}
		return &CastExpr{Span: left.Pos().Join(sp), X: left, Type: typ, TypeSpan: sp}, nil
	}
	right, err := p.expr(prec)
	if err != nil {
		return nil, err
	}
	return &Binary{Span: left.Pos().Join(right.Pos()), Op: op, L: left, R: right, OpPos: opTok.span}, nil
}

func (p *parser) prevOpWord(opTok token, not bool) string {
	if not {
		return p.prev.text
	}
	return opTok.text
}

// typeName parses a cast target type: one or two words with an optional
// (n[, m]) and [] suffix.
func (p *parser) typeName() (string, Span, *Error) {
	if p.tok.kind != tokIdent && p.tok.kind != tokQuotedIdent {
		return "", Span{}, p.expected("a type name")
	}
	start := p.tok.span
	name := strings.ToLower(p.tok.text)
	p.advance()
	if name == "double" && p.acceptKeyword("PRECISION") {
		name = "double precision"
	} else if name == "character" && p.acceptKeyword("VARYING") {
		name = "character varying"
	}
	if p.isOp("(") {
		if err := p.skipParens(); err != nil {
			return "", Span{}, err
		}
	}
	for p.isOp("[") {
		p.advance()
		if err := p.expectOp("]"); err != nil {
			return "", Span{}, err
		}
		name += "[]"
	}
	return name, start.Join(p.prev.span), nil
}

func (p *parser) prefix() (Expr, *Error) {
	t := p.tok
	switch t.kind {
	case tokNumber:
		p.advance()
		return numberLiteral(t.text, t.span), nil
	case tokString:
		p.advance()
		return &Literal{Span: t.span, Value: sqlvalue.Text(t.text), Raw: p.lx.src[t.span.Start:t.span.End]}, nil
	case tokBlob:
		p.advance()
		b, ok := decodeHex(t.text)
		if !ok {
			return nil, p.errAt(t.span, "Invalid blob literal")
		}
		return &Literal{Span: t.span, Value: sqlvalue.Blob(b), Raw: p.lx.src[t.span.Start:t.span.End]}, nil
	case tokParam:
		p.advance()
		return &ParamExpr{Span: t.span, Text: t.text}, nil
	case tokOp:
		switch t.text {
		case "(":
			p.advance()
			if p.isKeyword("SELECT") || p.isKeyword("WITH") {
				sub, err := p.selectStmt()
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(")"); err != nil {
					return nil, err
				}
				return &SubqueryExpr{Span: t.span.Join(p.prev.span), Select: sub}, nil
			}
			e, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if p.isOp(",") {
				return nil, p.errAt(p.tok.span, "Row values are not supported")
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return e, nil
		case "-", "+":
			p.advance()
			if t.text == "-" && p.tok.kind == tokNumber && !p.tok.spaceBefore {
				n := p.tok
				p.advance()
				return numberLiteral("-"+n.text, t.span.Join(n.span)), nil
			}
			x, err := p.expr(precUnary)
			if err != nil {
				return nil, err
			}
			return &Unary{Span: t.span.Join(x.Pos()), Op: t.text, X: x}, nil
		}
		return nil, p.unexpected()
	case tokIdent:
		switch strings.ToLower(t.text) {
		case "null":
			p.advance()
			return &Literal{Span: t.span, Value: sqlvalue.Null, Raw: t.text}, nil
		case "true":
			p.advance()
			return &Literal{Span: t.span, Value: sqlvalue.Int(1), Raw: t.text}, nil
		case "false":
			p.advance()
			return &Literal{Span: t.span, Value: sqlvalue.Int(0), Raw: t.text}, nil
		case "not":
			p.advance()
			x, err := p.expr(precNot)
			if err != nil {
				return nil, err
			}
			return &Unary{Span: t.span.Join(x.Pos()), Op: "NOT", X: x}, nil
		case "case":
			return p.caseExpr()
		case "cast":
			p.advance()
			if err := p.expectOp("("); err != nil {
				return nil, err
			}
			x, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expectKeyword("AS"); err != nil {
				return nil, err
			}
			typ, sp, err := p.typeName()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return &CastExpr{Span: t.span.Join(p.prev.span), X: x, Type: typ, TypeSpan: sp}, nil
		case "array":
			p.advance()
			if err := p.expectOp("["); err != nil {
				return nil, err
			}
			elems, err := p.elemsUntil("]")
			if err != nil {
				return nil, err
			}
			return &ArrayExpr{Span: t.span.Join(p.prev.span), Elems: elems}, nil
		case "row":
			save := *p
			p.advance()
			if p.acceptOp("(") {
				elems, err := p.elemsUntil(")")
				if err != nil {
					return nil, err
				}
				return &ArrayExpr{Span: t.span.Join(p.prev.span), Elems: elems, Row: true}, nil
			}
			*p = save
		case "exists":
			return nil, p.errAt(t.span, "EXISTS is not supported")
		}
		if isReserved(t.text) {
			return nil, p.unexpected()
		}
		return p.nameExpr()
	case tokQuotedIdent:
		return p.nameExpr()
	}
	return nil, p.unexpected()
}

// elemsUntil parses a possibly empty expression list and its closing
// bracket (after the opening one was consumed).
func (p *parser) elemsUntil(closing string) ([]Expr, *Error) {
	var elems []Expr
	if !p.isOp(closing) {
		var err *Error
		if elems, err = p.exprList(); err != nil {
			return nil, err
		}
	}
	if err := p.expectOp(closing); err != nil {
		return nil, err
	}
	return elems, nil
}

func (p *parser) exprList() ([]Expr, *Error) {
	var list []Expr
	for {
		e, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		list = append(list, e)
		if !p.acceptOp(",") {
			return list, nil
		}
	}
}

// nameExpr parses a (qualified) column reference or function call.
func (p *parser) nameExpr() (Expr, *Error) {
	start := p.tok.span
	parts := []Ident{identOf(p.tok)}
	p.advance()
	for p.isOp(".") {
		p.advance()
		if p.isOp("*") && len(parts) <= 2 {
			p.advance()
			st := &StarExpr{Span: start.Join(p.prev.span), Table: parts[len(parts)-1]}
			if len(parts) == 2 {
				st.Schema = parts[0]
			}
			return st, nil
		}
		if p.tok.kind != tokIdent && p.tok.kind != tokQuotedIdent {
			return nil, p.expected("a name after '.'")
		}
		parts = append(parts, identOf(p.tok))
		p.advance()
	}
	if len(parts) > 3 {
		return nil, p.errAt(start.Join(p.prev.span), "Too many name parts")
	}
	if p.isOp("(") {
		if len(parts) > 2 {
			return nil, p.errAt(start.Join(p.prev.span), "Invalid function name")
		}
		fn := &FuncCall{Name: parts[len(parts)-1]}
		if len(parts) == 2 {
			fn.Schema = parts[0]
		}
		if err := p.callArgs(fn); err != nil {
			return nil, err
		}
		fn.Span = start.Join(p.prev.span)
		return fn, nil
	}
	ref := &ColumnRef{Span: start.Join(p.prev.span), Column: parts[len(parts)-1]}
	switch len(parts) {
	case 2:
		ref.Table = parts[0]
	case 3:
		ref.Schema, ref.Table = parts[0], parts[1]
	}
	return ref, nil
}

// callArgs parses (args) of a function call, starting at '('.
func (p *parser) callArgs(fn *FuncCall) *Error {
	if err := p.expectOp("("); err != nil {
		return err
	}
	if p.acceptOp("*") {
		fn.Star = true
	} else if !p.isOp(")") {
		if p.acceptKeyword("DISTINCT") {
			fn.Distinct = true
		}
		for {
			e, err := p.expr(0)
			if err != nil {
				return err
			}
			fn.Args = append(fn.Args, e)
			if !p.acceptOp(",") {
				break
			}
		}
		if p.isKeyword("ORDER") {
			fn.Unsupported = "ORDER BY"
			p.advance()
			if err := p.expectKeyword("BY"); err != nil {
				return err
			}
			if _, err := p.exprList(); err != nil {
				return err
			}
		}
	}
	if err := p.expectOp(")"); err != nil {
		return err
	}
	if p.isKeyword("FILTER") || p.isKeyword("OVER") {
		fn.Unsupported = strings.ToUpper(p.tok.text)
		p.advance()
		if err := p.skipParens(); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) caseExpr() (Expr, *Error) {
	start := p.tok.span
	p.advance()
	c := &CaseExpr{}
	if !p.isKeyword("WHEN") {
		op, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		c.Operand = op
	}
	for p.acceptKeyword("WHEN") {
		cond, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		if err := p.expectKeyword("THEN"); err != nil {
			return nil, err
		}
		then, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		c.Whens = append(c.Whens, When{Cond: cond, Then: then})
	}
	if len(c.Whens) == 0 {
		return nil, p.expected("WHEN")
	}
	if p.acceptKeyword("ELSE") {
		e, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		c.Else = e
	}
	if err := p.expectKeyword("END"); err != nil {
		return nil, err
	}
	c.Span = start.Join(p.prev.span)
	return c, nil
}

// numberLiteral converts number text: no fraction or exponent → INTEGER
// (beyond int64 → REAL), otherwise REAL.
func numberLiteral(text string, sp Span) *Literal {
	if !strings.ContainsAny(text, ".eE") {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return &Literal{Span: sp, Value: sqlvalue.Int(n), Raw: text}
		}
	}
	f, _ := strconv.ParseFloat(text, 64)
	return &Literal{Span: sp, Value: sqlvalue.Real(f), Raw: text}
}

func decodeHex(s string) ([]byte, bool) {
	if len(s)%2 != 0 {
		return nil, false
	}
	out := make([]byte, len(s)/2)
	for i := 0; i < len(out); i++ {
		hi, ok1 := hexVal(s[2*i])
		lo, ok2 := hexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out[i] = hi<<4 | lo
	}
	return out, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
