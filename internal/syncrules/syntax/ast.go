package syntax

import "github.com/powersync-go/powersync/internal/sqlvalue"

// This file holds the syntax tree of the SQL subset used by Sync Rules and
// Sync Streams. The parser (parser.go) produces it from one SQL string;
// the compilers of package syncrules (one per config edition) turn it into
// evaluation plans. The tree keeps
// every node's Span (byte offsets into the SQL text) so diagnostics can
// point at the exact source, which the YAML layer maps to file line:col.
//
// Conventions:
//   - Identifiers are already normalized: unquoted names are lower-cased,
//     quoted names kept as written (Ident.Quoted; Ident.Upper records an
//     unquoted name that had upper-case letters, for the legacy warning).
//   - TRUE/FALSE are parsed as INTEGER literals 1/0; NULL as a NULL
//     literal. A '-' written directly before a number literal (in operand
//     position) is part of the literal; other unary minus is a Unary node.
//   - "<>" is normalized to "!=".

// Span is a half-open range of byte offsets [Start, End) in the SQL text.
type Span struct {
	Start, End int
}

// Join returns the smallest span covering s and o.
func (s Span) Join(o Span) Span {
	if o.Start < s.Start {
		s.Start = o.Start
	}
	if o.End > s.End {
		s.End = o.End
	}
	return s
}

// Ident is one identifier as written in the SQL.
type Ident struct {
	Name   string // lower-cased unless Quoted
	Quoted bool
	Upper  bool // unquoted and had upper-case letters in the source
	Span   Span
}

// Expr is any expression node: *Literal, *ColumnRef, *FuncCall, *Unary,
// *Binary, *IsExpr, *Between, *InExpr, *LikeExpr, *CastExpr, *CaseExpr,
// *ArrayExpr, *SubqueryExpr, *StarExpr or *ParamExpr, and *Rewritten in
// trees a compiler has rewritten.
type Expr interface {
	// Pos is the source span of the whole expression.
	Pos() Span
	exprNode()
}

// Literal is a constant: NULL, an INTEGER (also TRUE/FALSE), a REAL, a
// TEXT string or a BLOB (x'..').
type Literal struct {
	Span  Span
	Value sqlvalue.Value
	Raw   string // the literal's source text
}

// ColumnRef is a possibly qualified name: col, t.col or schema.t.col. In
// Sync Rules a qualifier may also be a parameter namespace such as
// token_parameters.user_id or bucket.org_id.
type ColumnRef struct {
	Span   Span
	Schema Ident // zero unless three parts
	Table  Ident // zero for a bare column
	Column Ident
}

// FuncCall is fn(args) or schema.fn(args) (request.user_id(),
// auth.parameter('x'), users.table_name()). Star is fn(*).
type FuncCall struct {
	Span     Span
	Schema   Ident // zero when unqualified
	Name     Ident
	Args     []Expr
	Star     bool
	Distinct bool
	// Unsupported names a clause such as "ORDER BY", "FILTER" or "OVER"
	// that appeared in the call; compilers reject it.
	Unsupported string
}

// Unary is a prefix operator: "NOT", "-" or "+".
type Unary struct {
	Span Span
	Op   string
	X    Expr
}

// Binary is an infix operator. Op is one of: OR AND = != < <= > >= + - * /
// % || && -> ->> & | << >> ^ (keywords upper-case).
type Binary struct {
	Span  Span
	Op    string
	L, R  Expr
	OpPos Span
}

// IsExpr is "X IS [NOT] NULL|TRUE|FALSE" (Target "NULL", "TRUE", "FALSE")
// or "X IS [NOT] Y" with an arbitrary right side (Target "", Y set; SQLite
// accepts it, the reference's Postgres parser does not).
type IsExpr struct {
	Span   Span
	X      Expr
	Not    bool
	Target string
	Y      Expr
}

// Between is "X [NOT] BETWEEN Lo AND Hi".
type Between struct {
	Span      Span
	X, Lo, Hi Expr
	Not       bool
}

// InExpr is "X [NOT] IN ...". Exactly one of List (a parenthesized list),
// Select (a subquery) or Right (any other expression: a JSON array value,
// a CTE name as a ColumnRef, ARRAY[...]) is set.
type InExpr struct {
	Span    Span
	X       Expr
	Not     bool
	List    []Expr
	Select  *Select
	Right   Expr
	HasList bool
	// Overlap marks "X && (SELECT ...)" rewritten into an InExpr by the
	// edition-2 compiler; the parser never sets it.
	Overlap bool
}

// LikeExpr is "X [NOT] LIKE|ILIKE Pattern" (parsed only to be rejected).
type LikeExpr struct {
	Span       Span
	X, Pattern Expr
	Not        bool
	Op         string
}

// CastExpr is CAST(X AS type) or X::type. Type is lower-cased.
type CastExpr struct {
	Span     Span
	X        Expr
	Type     string
	TypeSpan Span
}

// When is one WHEN ... THEN ... arm of a CASE.
type When struct {
	Cond, Then Expr
}

// CaseExpr is CASE [Operand] WHEN .. THEN .. [ELSE ..] END.
type CaseExpr struct {
	Span    Span
	Operand Expr // nil for the searched form
	Whens   []When
	Else    Expr
}

// ArrayExpr is ARRAY[e, ...] (Row false) or ROW(e, ...) (Row true).
type ArrayExpr struct {
	Span  Span
	Elems []Expr
	Row   bool
}

// SubqueryExpr is a parenthesized SELECT used as an expression.
type SubqueryExpr struct {
	Span   Span
	Select *Select
}

// StarExpr is "t.*" written inside an expression (always rejected by
// the compilers; a select item "t.*" is a SelectItem with Star instead).
type StarExpr struct {
	Span   Span
	Schema Ident
	Table  Ident
}

// ParamExpr is a SQL placeholder such as $1 (always rejected).
type ParamExpr struct {
	Span Span
	Text string
}

// Rewritten stands in a tree for an expression a compiler has already
// compiled, when it rewrites one construct into another: Node is the
// compiler's own form. The parser never produces it.
type Rewritten struct {
	Span Span
	Node any
}

func (e *Literal) Pos() Span      { return e.Span }
func (e *ColumnRef) Pos() Span    { return e.Span }
func (e *FuncCall) Pos() Span     { return e.Span }
func (e *Unary) Pos() Span        { return e.Span }
func (e *Binary) Pos() Span       { return e.Span }
func (e *IsExpr) Pos() Span       { return e.Span }
func (e *Between) Pos() Span      { return e.Span }
func (e *InExpr) Pos() Span       { return e.Span }
func (e *LikeExpr) Pos() Span     { return e.Span }
func (e *CastExpr) Pos() Span     { return e.Span }
func (e *CaseExpr) Pos() Span     { return e.Span }
func (e *ArrayExpr) Pos() Span    { return e.Span }
func (e *SubqueryExpr) Pos() Span { return e.Span }
func (e *ParamExpr) Pos() Span    { return e.Span }
func (e *StarExpr) Pos() Span     { return e.Span }
func (e *Rewritten) Pos() Span    { return e.Span }

func (*Literal) exprNode()      {}
func (*ColumnRef) exprNode()    {}
func (*FuncCall) exprNode()     {}
func (*Unary) exprNode()        {}
func (*Binary) exprNode()       {}
func (*IsExpr) exprNode()       {}
func (*Between) exprNode()      {}
func (*InExpr) exprNode()       {}
func (*LikeExpr) exprNode()     {}
func (*CastExpr) exprNode()     {}
func (*CaseExpr) exprNode()     {}
func (*ArrayExpr) exprNode()    {}
func (*SubqueryExpr) exprNode() {}
func (*ParamExpr) exprNode()    {}
func (*StarExpr) exprNode()     {}
func (*Rewritten) exprNode()    {}

// SelectItem is one result column: "*" / "t.*" (Star set, StarTable the
// qualifier or zero) or an expression with an optional alias.
type SelectItem struct {
	Span      Span
	Star      bool
	StarTable Ident
	Expr      Expr
	Alias     Ident // zero Name when no alias
	HasAlias  bool
}

// JoinKind tells how a FROM item is attached to the previous ones.
type JoinKind uint8

// Join kinds. JoinFirst is the first FROM item, JoinComma a ", t" item.
const (
	JoinFirst JoinKind = iota
	JoinComma
	JoinInner
	JoinLeft
	JoinRight
	JoinFull
	JoinCross
)

// FromItem is one source in FROM: a table ([schema.]name), a table-valued
// function call (json_each(x)) or a parenthesized subquery, with an
// optional alias (and, for subqueries, column aliases).
type FromItem struct {
	Span          Span
	Join          JoinKind
	Schema        Ident // zero when unqualified
	Table         Ident // set for a table
	Func          *FuncCall
	Subquery      *Select
	Alias         Ident
	HasAlias      bool
	ColumnAliases []Ident
	On            Expr
	Using         []Ident
}

// Clause records an unsupported clause that appeared in a SELECT, e.g.
// "GROUP BY", "HAVING", "ORDER BY", "LIMIT", "OFFSET", "FOR", "UNION".
type Clause struct {
	Name string
	Span Span
}

// CTE is one WITH name AS (SELECT ...) inside a query.
type CTE struct {
	Name   Ident
	Select *Select
}

// Select is one SELECT statement.
type Select struct {
	Span        Span
	With        []CTE // WITH inside the statement (never supported)
	Distinct    bool
	DistinctPos Span
	Items       []SelectItem
	From        []FromItem
	Where       Expr
	// Unsupported clauses in source order; compilers report them.
	Unsupported []Clause
}
