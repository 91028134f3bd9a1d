package syncrules

import (
	"strconv"
	"strings"

	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// This file is the front half of the edition-3 Sync Streams compiler (§8):
// it resolves names in one stream query (tables, aliases, subqueries in
// FROM, CTEs, json_each sources), lowers expressions into sxExpr trees,
// inlines IN-subqueries, CTE references and IN over JSON arrays as joins,
// and reports every problem it finds with the span it concerns.

// diagSink receives the compiler's diagnostics: the text index, the span in
// that text, the severity and the message.
type diagSink func(text int, span syntax.Span, sev Severity, msg string)

// cteDef is one named common table expression, parsed once.
type cteDef struct {
	name string
	text int
	sel  *syntax.Select
	spec *cteSpec
	used bool
	bad  bool
}

// sourceKind tells tables from table-valued functions.
type sourceKind uint8

const (
	srcTable sourceKind = iota
	srcTVF
)

// qsource is one row source of a lowered query: a physical table (pattern)
// or a json_each call.
type qsource struct {
	kind      sourceKind
	schema    string // pattern schema ("" = default), may end in %
	table     string // pattern table name, may end in %
	tag       string // connection tag ("" = default)
	alias     string // name the query uses for it
	hasAlias  bool
	quoted    bool // alias was quoted
	text      int
	span      syntax.Span
	aliasSpan syntax.Span
	arg       *sxExpr // srcTVF: the JSON argument
	fromQuery bool    // named in the top-level FROM of the query
}

// displayName is how error messages name a source.
func (s *qsource) displayName() string {
	if s.kind == srcTVF {
		return s.alias
	}
	return s.table
}

// outColumn is one result column of a lowered query.
type outColumn struct {
	star bool
	src  int // star: the table source copied
	name string
	expr *sxExpr
}

// lquery is one lowered stream query.
type lquery struct {
	sources []*qsource
	conds   []*sxExpr // AND-ed conditions
	columns []outColumn
	primary int // source index of the synced table, -1 when none
	text    int
}

// scopeItem is one name visible in a FROM scope.
type scopeItem struct {
	name string // lower-case
	src  int    // table / tvf source index, or -1 for a subquery/CTE
	cols []namedExpr
	span syntax.Span
}

type namedExpr struct {
	name string
	expr *sxExpr
}

type scope struct {
	parent *scope
	items  []scopeItem
}

func (s *scope) find(name string) (*scopeItem, bool) {
	for sc := s; sc != nil; sc = sc.parent {
		for i := range sc.items {
			if sc.items[i].name == name {
				return &sc.items[i], true
			}
		}
	}
	return nil, false
}

// lowerer lowers the queries of one stream.
type lowerer struct {
	texts  []*sqlText
	report diagSink
	ctes   map[string]*cteDef // visible CTEs (stream-local shadow global)
	q      *lquery
	text   int // text being lowered now
	failed bool
	// quiet texts were already checked on their own (CTE bodies): their
	// problems fail the query without being reported again.
	quiet map[int]bool
	// aborted is set when a broken CTE is used: its errors were reported
	// already and what follows would only be their echoes.
	aborted bool
	// cteNames are the names of every CTE the query's stream can see; a
	// CTE body (lowered with ctes nil) must not use them.
	cteNames map[string]bool
}

// cteReference reports a CTE body naming another CTE.
func (l *lowerer) cteReference(name string, span syntax.Span) bool {
	if l.ctes == nil && l.cteNames[strings.ToLower(name)] {
		l.errorf(span, "A common table expression cannot use another common table expression ('"+name+"'); use a subquery instead")
		l.aborted = true
		return true
	}
	return false
}

func (l *lowerer) errorf(span syntax.Span, msg string) {
	l.failed = true
	if !l.quiet[l.text] && !l.aborted {
		l.report(l.text, span, SeverityFatal, msg)
	}
}

func (l *lowerer) warnf(span syntax.Span, msg string) {
	if !l.quiet[l.text] {
		l.report(l.text, span, SeverityWarning, msg)
	}
}

// syntaxMessage words a parser error the way the stream compiler reports it.
func syntaxMessage(e *syntax.Error) string {
	switch e.Kind {
	case syntax.NotSelect:
		return "Expected a SELECT statement"
	case syntax.Multiple:
		return "Only a single SELECT statement is supported"
	}
	return e.Message
}

// checkClauses reports the unsupported clauses of a SELECT.
func (l *lowerer) checkClauses(sel *syntax.Select) {
	for _, c := range sel.Unsupported {
		name := c.Name
		switch name {
		case "HAVING":
			name = "GROUP BY"
		case "OFFSET":
			name = "LIMIT"
		case "UNION", "INTERSECT", "EXCEPT":
			l.errorf(c.Span, "Invalid position for subqueries. Subqueries are only supported in WHERE clauses.")
			continue
		}
		l.errorf(c.Span, name+" is not supported")
	}
	// DISTINCT is accepted and has no effect: a synced row is in a bucket
	// once however many joined rows put it there.
	if len(sel.With) > 0 {
		l.errorf(sel.With[0].Name.Span, "WITH is not supported inside a query; use the 'with' key of the stream")
	}
}

// lowerQuery lowers one top-level stream query.
func (l *lowerer) lowerQuery(text int, sel *syntax.Select) *lquery {
	l.q = &lquery{primary: -1, text: text}
	l.text = text
	l.checkClauses(sel)
	sc := &scope{}
	l.lowerFrom(sel, sc, true)
	if sel.Where != nil {
		if c := l.lowerCond(sel.Where, sc); c != nil {
			l.q.conds = append(l.q.conds, c)
		}
	}
	l.lowerResultColumns(sel, sc)
	return l.q
}

// lowerFrom adds the FROM items of sel to scope sc (and their sources and
// conditions to the query).
func (l *lowerer) lowerFrom(sel *syntax.Select, sc *scope, top bool) {
	for i := range sel.From {
		it := &sel.From[i]
		switch it.Join {
		case syntax.JoinLeft:
			l.errorf(sel.Span, "LEFT JOIN is not supported")
		case syntax.JoinRight:
			l.errorf(sel.Span, "RIGHT JOIN is not supported")
		case syntax.JoinFull:
			l.errorf(sel.Span, "FULL JOIN is not supported")
		}
		if len(it.Using) > 0 {
			l.errorf(sel.Span, "USING is not supported")
		}
		name := it.Alias.Name
		switch {
		case it.Subquery != nil:
			if !it.HasAlias {
				l.errorf(it.Span, "Subqueries in FROM need an alias")
			}
			item := l.inlineSelect(it.Subquery, it.ColumnAliases, it.Span, l.text)
			item.name = strings.ToLower(name)
			l.addScope(sc, item)
		case it.Func != nil:
			l.lowerTVFItem(it, sc)
		default:
			if it.Schema.Name == "" && l.cteReference(it.Table.Name, it.Span) {
				continue
			}
			if it.Schema.Name == "" {
				if cte, ok := l.ctes[strings.ToLower(it.Table.Name)]; ok {
					cte.used = true
					if cte.bad {
						l.failed, l.aborted = true, true
						continue
					}
					// CTE bodies cannot use other CTEs.
					saved, savedCTEs := l.text, l.ctes
					l.ctes = nil
					item := l.inlineSelect(cte.sel, nil, it.Span, cte.text)
					l.text, l.ctes = saved, savedCTEs
					if it.HasAlias {
						item.name = strings.ToLower(name)
					} else {
						item.name = cte.name
					}
					item.span = it.Span
					l.addScope(sc, item)
					l.lowerOn(it, sc)
					continue
				}
			}
			src := &qsource{kind: srcTable, table: it.Table.Name, text: l.text, span: it.Span, fromQuery: top}
			src.schema = it.Schema.Name
			if dot := strings.IndexByte(src.schema, '.'); dot >= 0 {
				src.tag, src.schema = src.schema[:dot], src.schema[dot+1:]
			}
			src.alias = it.Table.Name
			if it.HasAlias {
				src.alias, src.hasAlias, src.quoted, src.aliasSpan = it.Alias.Name, true, it.Alias.Quoted, it.Alias.Span
			}
			idx := len(l.q.sources)
			l.q.sources = append(l.q.sources, src)
			l.addScope(sc, scopeItem{name: strings.ToLower(src.alias), src: idx, span: it.Span})
		}
		l.lowerOn(it, sc)
	}
}

// lowerOn adds the ON condition of a joined FROM item to the query.
func (l *lowerer) lowerOn(it *syntax.FromItem, sc *scope) {
	if it.On != nil {
		if c := l.lowerCond(it.On, sc); c != nil {
			l.q.conds = append(l.q.conds, c)
		}
	}
}

func (l *lowerer) addScope(sc *scope, item scopeItem) {
	for _, o := range sc.items {
		if o.name == item.name {
			l.errorf(item.span, "Table with name "+item.name+" already exists in scope")
			return
		}
	}
	sc.items = append(sc.items, item)
}

func (l *lowerer) lowerTVFItem(it *syntax.FromItem, sc *scope) {
	fn := it.Func
	name := strings.ToLower(fn.Name.Name)
	if fn.Schema.Name != "" || name != "json_each" {
		l.errorf(fn.Span, "Unknown table-valued function")
		return
	}
	if len(fn.Args) != 1 {
		l.errorf(fn.Span, "json_each expects exactly one argument")
		return
	}
	arg := l.lowerExpr(fn.Args[0], sc)
	if arg == nil {
		return
	}
	// Keep the source even when its input is invalid, so references to it
	// do not add echo errors.
	l.checkTVFInput(arg, fn.Args[0].Pos())
	src := &qsource{kind: srcTVF, alias: "json_each", text: l.text, span: fn.Span, arg: arg, fromQuery: true}
	if it.HasAlias {
		src.alias, src.hasAlias, src.quoted = it.Alias.Name, true, it.Alias.Quoted
	}
	idx := len(l.q.sources)
	l.q.sources = append(l.q.sources, src)
	l.addScope(sc, scopeItem{name: strings.ToLower(src.alias), src: idx, span: it.Span})
}

// inlineSelect lowers a subquery used as a FROM item (or a CTE body) in a
// fresh scope: its sources join the query, its WHERE is AND-ed in, and its
// result columns become the item's named columns.
func (l *lowerer) inlineSelect(sel *syntax.Select, colAliases []syntax.Ident, span syntax.Span, text int) scopeItem {
	saved := l.text
	l.text = text
	defer func() { l.text = saved }()
	l.checkClauses(sel)
	inner := &scope{}
	l.lowerFrom(sel, inner, false)
	if sel.Where != nil {
		if c := l.lowerCond(sel.Where, inner); c != nil {
			l.q.conds = append(l.q.conds, c)
		}
	}
	item := scopeItem{src: -1, span: span}
	seen := map[string]bool{}
	for i, si := range sel.Items {
		if si.Star {
			l.errorf(si.Span, "* columns are not allowed in subqueries or common table expressions")
			continue
		}
		e := l.lowerExpr(si.Expr, inner)
		if e == nil {
			continue
		}
		name := columnName(si, l.texts[text].SQL)
		if i < len(colAliases) {
			name = colAliases[i].Name
		}
		if seen[name] {
			l.errorf(si.Span, "There is a column named '"+name+"' already.")
			continue
		}
		seen[name] = true
		item.cols = append(item.cols, namedExpr{name: name, expr: e})
	}
	if len(colAliases) > 0 && len(colAliases) != len(sel.Items) {
		l.errorf(span, "Expected this subquery to have "+itoa(len(colAliases))+" columns, it actually has "+itoa(len(sel.Items)))
	}
	return item
}

// columnName is the output name of a result column: its alias, the column
// of a plain reference, or the expression's source text.
func columnName(si syntax.SelectItem, sql string) string {
	if si.HasAlias {
		return si.Alias.Name
	}
	if ref, ok := si.Expr.(*syntax.ColumnRef); ok {
		return ref.Column.Name
	}
	p := si.Expr.Pos()
	return sql[p.Start:p.End]
}

// singleTable returns the table source an expression reads if it reads
// exactly one, else -1.
func singleTable(e *sxExpr, sources []*qsource) int {
	t := -1
	ok := true
	e.walk(func(n *sxExpr) {
		if n.kind == sxCol || n.kind == sxMeta {
			if sources[n.src].kind != srcTable {
				ok = false
			} else if t == -1 {
				t = n.src
			} else if t != n.src {
				ok = false
			}
		}
	})
	if !ok {
		return -1
	}
	return t
}

func itoa(i int) string { return strconv.Itoa(i) }

// lowerResultColumns lowers the SELECT list of the top-level query and
// picks the primary table.
func (l *lowerer) lowerResultColumns(sel *syntax.Select, sc *scope) {
	q := l.q
	sawExpr := false
	reportedSecond := false
	setPrimary := func(t int, span syntax.Span) bool {
		if t < 0 {
			return true
		}
		if q.primary < 0 {
			q.primary = t
			return true
		}
		if q.primary != t {
			if !reportedSecond {
				l.errorf(span, "Sync streams can only select from a single table, and this one already selects from '"+q.sources[q.primary].table+"'.")
				reportedSecond = true
			}
			return false
		}
		return true
	}
	for _, si := range sel.Items {
		if si.Star {
			var items []*scopeItem
			if si.StarTable.Name != "" {
				it, ok := sc.find(strings.ToLower(si.StarTable.Name))
				if !ok {
					l.errorf(si.Span, "Table '"+si.StarTable.Name+"' has not been added in a FROM clause here.")
					continue
				}
				items = append(items, it)
			} else {
				for i := range sc.items {
					items = append(items, &sc.items[i])
				}
			}
			if sawExpr {
				l.warnf(si.Span, "A '*' column after aliased columns may give unexpected results: If the source row contains a column named 'id', '*' would overwrite it.")
			}
			// An unqualified * skips json_each sources when there are tables
			// (SELECT * FROM t JOIN json_each(...)), but alone they are an error.
			onlyTVFs := true
			for _, it := range items {
				if it.src < 0 || q.sources[it.src].kind != srcTVF {
					onlyTVFs = false
				}
			}
			for _, it := range items {
				switch {
				case it.src >= 0 && q.sources[it.src].kind == srcTVF:
					if onlyTVFs {
						l.errorf(si.Span, "Sync streams can only select from actual tables")
					}
				case it.src >= 0:
					if setPrimary(it.src, si.Span) {
						q.columns = append(q.columns, outColumn{star: true, src: it.src})
					}
				default:
					for _, c := range it.cols {
						t := singleTable(c.expr, q.sources)
						if t < 0 && dependsOnRequest(c.expr) {
							l.errorf(si.Span, "This attempts to sync a connection parameter. Only values from the source database can be synced.")
							continue
						}
						if setPrimary(t, si.Span) {
							q.columns = append(q.columns, outColumn{name: c.name, expr: c.expr})
						}
					}
				}
			}
			continue
		}
		sawExpr = true
		e := l.lowerExpr(si.Expr, sc)
		if e == nil {
			continue
		}
		if dependsOnRequest(e) {
			var at syntax.Span
			e.walk(func(n *sxExpr) {
				if n.kind == sxReq && at == (syntax.Span{}) {
					at = n.span
				}
			})
			l.errorf(at, "This attempts to sync a connection parameter. Only values from the source database can be synced.")
			continue
		}
		t := -1
		bad := false
		e.walk(func(n *sxExpr) {
			if n.kind == sxCol || n.kind == sxMeta || n.kind == sxTVF {
				if q.sources[n.src].kind == srcTVF {
					bad = true
				} else if t == -1 {
					t = n.src
				}
			}
		})
		if bad {
			l.errorf(si.Span, "Sync streams can only select from actual tables")
			continue
		}
		if single := singleTable(e, q.sources); t >= 0 && single < 0 {
			l.errorf(si.Span, "Sync streams can only select from a single table, and this one already selects from '"+q.sources[t].table+"'.")
			continue
		}
		if !setPrimary(t, si.Span) {
			continue
		}
		if !si.HasAlias {
			if _, plain := si.Expr.(*syntax.ColumnRef); !plain {
				l.warnf(si.Expr.Pos(), "The name of this column is unspecified, consider adding an alias.")
			}
		}
		q.columns = append(q.columns, outColumn{name: columnName(si, l.texts[l.text].SQL), expr: e})
	}
	if q.primary < 0 {
		l.errorf(sel.Span, "Must have a result column selecting from a table")
	}
}

func dependsOnRequest(e *sxExpr) bool {
	found := false
	e.walk(func(n *sxExpr) {
		if n.kind == sxReq {
			found = true
		}
	})
	return found
}

// lowerCond lowers a WHERE / ON condition: like lowerExpr, but IN with a
// subquery, a CTE or a JSON array joins new sources into the query.
func (l *lowerer) lowerCond(e syntax.Expr, sc *scope) *sxExpr {
	switch x := e.(type) {
	case *syntax.Binary:
		if x.Op == "AND" || x.Op == "OR" {
			a, b := l.lowerCond(x.L, sc), l.lowerCond(x.R, sc)
			if a == nil || b == nil {
				return nil
			}
			return &sxExpr{kind: sxBin, name: x.Op, span: x.Span, args: []*sxExpr{a, b}}
		}
		if x.Op == "&&" {
			return l.lowerOverlap(x, sc)
		}
	case *syntax.Unary:
		if x.Op == "NOT" {
			a := l.lowerCond(x.X, sc)
			if a == nil {
				return nil
			}
			return &sxExpr{kind: sxNot, span: x.Span, args: []*sxExpr{a}}
		}
	case *syntax.InExpr:
		return l.lowerIn(x, sc)
	}
	return l.lowerExpr(e, sc)
}

// lowerIn handles x [NOT] IN (subquery | cte | json array | ARRAY[...]).
func (l *lowerer) lowerIn(x *syntax.InExpr, sc *scope) *sxExpr {
	if x.HasList && len(x.List) == 1 {
		// "x IN (expr)": a parenthesized JSON array expression.
		one := *x
		one.HasList, one.List, one.Right = false, nil, x.List[0]
		x = &one
	}
	if x.HasList {
		l.errorf(x.Span, "This expression is not supported by PowerSync")
		return nil
	}
	left := l.lowerExpr(x.X, sc)
	if left == nil {
		return nil
	}
	wrap := func(e *sxExpr) *sxExpr {
		if x.Not {
			return &sxExpr{kind: sxNot, span: x.Span, args: []*sxExpr{e}}
		}
		return e
	}
	var sub *syntax.Select
	subText := l.text
	if x.Select != nil {
		sub = x.Select
	} else if ref, ok := x.Right.(*syntax.ColumnRef); ok && ref.Table.Name == "" {
		if l.cteReference(ref.Column.Name, ref.Span) {
			return nil
		}
		if cte, ok := l.ctes[strings.ToLower(ref.Column.Name)]; ok {
			cte.used = true
			if cte.bad {
				l.failed, l.aborted = true, true
				return nil
			}
			if len(cte.sel.Items) != 1 || cte.sel.Items[0].Star {
				l.errorf(ref.Span, "Common-table expression must return a single column")
				return nil
			}
			sub, subText = cte.sel, cte.text
		}
	}
	if sub != nil {
		saved := l.text
		l.text = subText
		l.checkClauses(sub)
		if len(sub.Items) != 1 || sub.Items[0].Star {
			l.errorf(sub.Span, "Must return a single expression column")
			l.text = saved
			return nil
		}
		inner := &scope{parent: sc}
		savedCTEs := l.ctes
		if subText != saved {
			// CTE bodies see neither the query's tables nor other CTEs.
			inner.parent, l.ctes = nil, nil
		}
		l.lowerFrom(sub, inner, false)
		var where *sxExpr
		if sub.Where != nil {
			where = l.lowerCond(sub.Where, inner)
			if where == nil {
				l.text, l.ctes = saved, savedCTEs
				return nil
			}
		}
		right := l.lowerExpr(sub.Items[0].Expr, inner)
		l.text, l.ctes = saved, savedCTEs
		if right == nil {
			return nil
		}
		eq := &sxExpr{kind: sxBin, name: "=", span: x.Span, args: []*sxExpr{left, right}}
		if where != nil {
			eq = &sxExpr{kind: sxBin, name: "AND", span: x.Span, args: []*sxExpr{eq, where}}
		}
		return wrap(eq)
	}
	if arr, ok := x.Right.(*syntax.ArrayExpr); ok {
		args := []*sxExpr{left}
		for _, el := range arr.Elems {
			v := l.lowerExpr(el, sc)
			if v == nil {
				return nil
			}
			args = append(args, v)
		}
		return wrap(&sxExpr{kind: sxInList, span: x.Span, args: args})
	}
	right := l.lowerExpr(x.Right, sc)
	if right == nil {
		return nil
	}
	if len(unitsOf(l.q.sources, left, right)) <= 1 {
		return wrap(&sxExpr{kind: sxBin, name: "IN", span: x.Span, args: []*sxExpr{left, right}})
	}
	val := l.addJSONEach(right, x.Right.Pos())
	eq := &sxExpr{kind: sxBin, name: "=", span: x.Span, args: []*sxExpr{left, val}}
	return wrap(eq)
}

// addJSONEach joins a synthetic json_each(arg) source and returns a
// reference to its value column.
func (l *lowerer) addJSONEach(arg *sxExpr, span syntax.Span) *sxExpr {
	l.checkTVFInput(arg, span)
	src := &qsource{kind: srcTVF, alias: "json_each", text: l.text, span: span, arg: arg}
	idx := len(l.q.sources)
	l.q.sources = append(l.q.sources, src)
	return &sxExpr{kind: sxTVF, src: idx, name: "value", span: span}
}

// checkTVFInput reports a json_each argument that reads more than one
// source (two tables, or a table and request data).
func (l *lowerer) checkTVFInput(arg *sxExpr, span syntax.Span) bool {
	if len(unitsOf(l.q.sources, arg)) > 1 {
		l.errorf(span, "Table-valued functions may only have a single table as inputs")
		return false
	}
	return true
}

// lowerOverlap handles a && b: a row filter when both sides read one
// source, otherwise a join of the two arrays' elements.
func (l *lowerer) lowerOverlap(x *syntax.Binary, sc *scope) *sxExpr {
	if sub, ok := x.R.(*syntax.SubqueryExpr); ok {
		// arr && (SELECT e ...): some element of arr is in the subquery.
		a := l.lowerExpr(x.L, sc)
		if a == nil {
			return nil
		}
		elem := l.addJSONEach(a, x.L.Pos())
		return l.lowerIn(&syntax.InExpr{Span: x.Span, X: &syntax.Rewritten{Span: elem.span, Node: elem}, Select: sub.Select}, sc)
	}
	a, b := l.lowerExpr(x.L, sc), l.lowerExpr(x.R, sc)
	if a == nil || b == nil {
		return nil
	}
	if len(unitsOf(l.q.sources, a, b)) <= 1 {
		return &sxExpr{kind: sxBin, name: "&&", span: x.Span, args: []*sxExpr{a, b}}
	}
	va := l.addJSONEach(a, x.L.Pos())
	vb := l.addJSONEach(b, x.R.Pos())
	return &sxExpr{kind: sxBin, name: "=", span: x.Span, args: []*sxExpr{va, vb}}
}

// unit numbers: a table source's index, a request-only json_each's index,
// or unitRequest. json_each over one table belongs to that table's unit.
const unitRequest = -2

// unitOfSource returns the unit a source belongs to: a table is its own
// unit, a json_each over exactly one table belongs to that table, any
// other json_each is its own unit.
func unitOfSource(sources []*qsource, i int) int {
	s := sources[i]
	if s.kind == srcTable {
		return i
	}
	us := unitsOf(sources, s.arg)
	if len(us) == 1 {
		for u := range us {
			if u >= 0 && sources[u].kind == srcTable {
				return u
			}
		}
	}
	return i
}

// unitsOf returns the set of units the expressions read.
func unitsOf(sources []*qsource, es ...*sxExpr) map[int]bool {
	out := map[int]bool{}
	for _, e := range es {
		e.walk(func(n *sxExpr) {
			switch n.kind {
			case sxCol, sxMeta:
				out[n.src] = true
			case sxTVF:
				out[unitOfSource(sources, n.src)] = true
			case sxReq:
				out[unitRequest] = true
			}
		})
	}
	return out
}
