package syncrules

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// This file compiles legacy Sync Rules (bucket_definitions, §6) into plans:
// data queries (row → buckets), parameter table queries (row → lookup
// entries; request → lookups → dynamic buckets), static parameter queries
// and json_each parameter queries (request → static buckets).

// bucketSource is one bucket definition (or alpha stream) on the request
// side.
type bucketSource struct {
	name          string
	isStream      bool
	autoSubscribe bool
	bucketParams  []string
	statics       []*staticParamQuery
	eaches        []*eachParamQuery
	tables        []*paramTableQuery
	alpha         []*alphaVariant
}

// dataColumn is one output column of a data query.
type dataColumn struct {
	star bool
	name string
	eval legacyFn
}

// dataQuery is a compiled data query.
type dataQuery struct {
	source   *bucketSource
	prefix   string // bucket name prefix without version, e.g. "by_user"
	table    tablePattern
	outTable string // "" = the source table name (unaliased wildcard)
	columns  []dataColumn
	hasStar  bool
	where    *matchClause
	// paramIndex maps bucket parameter i to where.inputs index.
	paramIndex []int
	// starKeys caches the sorted column names of the last row seen by "*".
	starKeys atomic.Pointer[[]string]
}

// paramOutput is one output column of a parameter query.
type paramOutput struct {
	name   string
	lookup bool // stored in the index (a bare column of the table)
	eval   legacyFn
}

// paramTableQuery is a parameter query with a FROM table.
type paramTableQuery struct {
	source   *bucketSource
	queryID  string
	table    tablePattern
	where    *matchClause
	outputs  []paramOutput
	priority int
}

// staticParamQuery is a parameter query without FROM.
type staticParamQuery struct {
	source   *bucketSource
	where    legacyFn // nil = none
	outputs  []paramOutput
	priority int
}

// eachParamQuery is SELECT ... FROM json_each(<request expr>).
type eachParamQuery struct {
	source   *bucketSource
	arg      legacyFn
	where    legacyFn
	outputs  []paramOutput
	priority int
}

const dangerousMessage = "Potentially dangerous query based on parameters set by the client. The client can send any value for these parameters so it's not a good place to do authorization."

// parseQuery parses one SQL string, reporting syntax errors.
func parseQuery(sql *sqlText, d *diagList) *syntax.Select {
	sel, err := syntax.ParseSelect(sql.SQL)
	if err != nil {
		d.atSQL(sql, err.Span, SeverityFatal, err.Message)
		return nil
	}
	return sel
}

// checkLegacyClauses reports unsupported clauses of a legacy query.
func checkLegacyClauses(sel *syntax.Select, sql *sqlText, d *diagList) bool {
	ok := true
	if sel.Distinct {
		d.atSQL(sql, sel.DistinctPos, SeverityFatal, "DISTINCT is not supported")
		ok = false
	}
	if len(sel.With) > 0 {
		d.atSQL(sql, sel.With[0].Name.Span, SeverityFatal, "Common table expressions are not supported here")
		ok = false
	}
	for _, c := range sel.Unsupported {
		name := c.Name
		switch name {
		case "OFFSET":
			name = "LIMIT"
		case "FOR":
			name = "SELECT FOR"
		case "UNION", "INTERSECT", "EXCEPT":
			name = "Only a single SELECT statement is"
			d.atSQL(sql, c.Span, SeverityFatal, name+" supported")
			ok = false
			continue
		}
		d.atSQL(sql, c.Span, SeverityFatal, name+" is not supported")
		ok = false
	}
	return ok
}

// resolveTable turns a FROM table into a pattern: "tag.schema" selects a
// connection tag; a trailing % makes a prefix wildcard.
func resolveTable(it *syntax.FromItem, defaultSchema string) tablePattern {
	p := tablePattern{schema: defaultSchema, name: it.Table.Name}
	if it.Schema.Name != "" {
		p.schema = it.Schema.Name
		if i := strings.IndexByte(p.schema, '.'); i >= 0 {
			p.tag, p.schema = p.schema[:i], p.schema[i+1:]
		}
	}
	if strings.HasSuffix(p.name, "%") {
		p.name, p.wildcard = strings.TrimSuffix(p.name, "%"), true
	}
	return p
}

// compileBucketDefinition compiles one bucket definition.
func (c *Config) compileBucketDefinition(spec *bucketSpec, d *diagList) {
	src := &bucketSource{name: spec.Name}
	params := spec.Parameters
	if !spec.ParametersSet || len(params) == 0 {
		params = []*sqlText{{SQL: "SELECT", file: d.file}}
		if spec.NameNode != nil {
			params[0].start, _ = d.file.nodeSpan(spec.NameNode)
		}
	}
	var firstNames []string
	for i, sql := range params {
		names, ok := c.compileParameterQuery(src, spec, sql, strconv.Itoa(i+1), d)
		if !ok {
			continue
		}
		if i == 0 {
			firstNames = names
			src.bucketParams = names
			continue
		}
		a, b := slices.Clone(firstNames), slices.Clone(names)
		sort.Strings(a)
		sort.Strings(b)
		if !slices.Equal(a, b) {
			d.atSQL(sql, sql.whole(), SeverityFatal, "Bucket parameters must match for each parameter query within a bucket")
		}
	}
	for _, sql := range spec.Data {
		c.compileDataQuery(src, src.name, sql, d, kindData, nil)
	}
	c.sources = append(c.sources, src)
}

// outputName returns the name of a select item: its alias, or the column
// name of a plain reference.
func outputName(it syntax.SelectItem, ce *cexpr) (string, bool) {
	if it.HasAlias {
		return it.Alias.Name, true
	}
	if _, ok := it.Expr.(*syntax.ColumnRef); ok && ce.column != "" {
		return ce.column, true
	}
	return "", false
}

// priorityColumn reads a _priority output: a simple integer literal 0..3.
func priorityColumn(it syntax.SelectItem, sql *sqlText, d *diagList) (int, bool) {
	lit, ok := it.Expr.(*syntax.Literal)
	if !ok || lit.Value.Kind() != sqlvalue.KindInteger {
		d.atSQL(sql, it.Expr.Pos(), SeverityFatal, "Priority must be a simple integer literal")
		return 0, false
	}
	p := lit.Value.Int64()
	if p < 0 || p > 3 {
		d.atSQL(sql, it.Expr.Pos(), SeverityFatal, "Invalid value for priority, must be between 0 and 3 (inclusive).")
		return 0, false
	}
	return int(p), true
}

// compileParameterQuery compiles one parameter query and returns its
// bucket parameter names.
func (c *Config) compileParameterQuery(src *bucketSource, spec *bucketSpec, sql *sqlText, queryID string, d *diagList) ([]string, bool) {
	sel := parseQuery(sql, d)
	if sel == nil {
		return nil, false
	}
	if !checkLegacyClauses(sel, sql, d) {
		return nil, false
	}
	lc := &legacyCompiler{sql: sql, diags: d, opts: evalOptions{fixedJSON: c.compat.FixedJSONExtract}}
	var table tablePattern
	var eachArg *cexpr
	switch {
	case len(sel.From) == 0:
		lc.kind = kindParamStatic
	case len(sel.From) > 1:
		d.atSQL(sql, sel.From[1].Span, SeverityFatal, "Must SELECT from a single table")
		return nil, false
	case sel.From[0].Subquery != nil:
		d.atSQL(sql, sel.From[0].Span, SeverityFatal, "Subqueries are not supported yet")
		return nil, false
	case sel.From[0].Func != nil:
		fn := sel.From[0].Func
		if fn.Schema.Name != "" || fn.Name.Name != "json_each" {
			d.atSQL(sql, fn.Span, SeverityFatal, fmt.Sprintf("Table-valued function %s is not defined.", sql.SQL[fn.Name.Span.Start:fn.Name.Span.End]))
			return nil, false
		}
		if len(fn.Args) != 1 {
			d.atSQL(sql, fn.Span, SeverityFatal, "json_each takes 1 argument")
			return nil, false
		}
		lc.kind = kindParamEach
		lc.eachName = "json_each"
		if sel.From[0].HasAlias {
			lc.eachName = sel.From[0].Alias.Name
		}
		eachArg = lc.compile(fn.Args[0])
		if eachArg == nil {
			return nil, false
		}
		if eachArg.cls == clsRow || eachArg.cls == clsMatch || eachArg.key == "json_each.value" || eachArg.key == "json_each.key" {
			d.atSQL(sql, fn.Args[0].Pos(), SeverityFatal, "Must only depend on data derived from request.")
			return nil, false
		}
	default:
		it := sel.From[0]
		if it.HasAlias {
			d.atSQL(sql, it.Alias.Span, SeverityFatal, "Table aliases not supported in parameter queries")
			return nil, false
		}
		lc.kind = kindParamTable
		lc.hasTable = true
		table = resolveTable(&it, c.opts.DefaultSchema)
		lc.table = it.Table.Name
		lc.wildcard = table.wildcard
		if it.Schema.Name == "" {
			lc.checkCase(it.Table)
		}
	}

	priority := 3
	prioritySet := false
	if spec.PrioritySet {
		priority, prioritySet = spec.Priority, true
	}
	var outputs []paramOutput
	var names []string
	var outAuth authUse
	for _, it := range sel.Items {
		if it.Star {
			d.atSQL(sql, it.Span, SeverityFatal, "* is not supported here - use explicit columns")
			lc.failed = true
			continue
		}
		if it.HasAlias && it.Alias.Name == "_priority" {
			if p, ok := priorityColumn(it, sql, d); ok {
				if prioritySet {
					d.atSQL(sql, it.Span, SeverityFatal, "Cannot set priority multiple times.")
				}
				priority, prioritySet = p, true
			}
			continue
		}
		ce := lc.compile(it.Expr)
		if ce == nil {
			continue
		}
		name, ok := outputName(it, ce)
		if !ok {
			d.atSQL(sql, it.Span, SeverityFatal, "alias is required")
			lc.failed = true
			continue
		}
		if it.HasAlias {
			lc.checkCase(it.Alias)
		}
		out := paramOutput{name: name, eval: ce.eval}
		switch {
		case ce.cls == clsMatch:
			d.atSQL(sql, it.Expr.Pos(), SeverityFatal, "Parameter match expression is not allowed here")
			lc.failed = true
			continue
		case ce.cls == clsRow:
			if lc.kind != kindParamTable || !ce.lookupColumn {
				d.atSQL(sql, it.Expr.Pos(), SeverityFatal, "Parameter match expression is not allowed here")
				lc.failed = true
				continue
			}
			out.lookup = true
			out.name = name
			col := ce.column
			out.eval = func(c *legacyCtx) (sqlvalue.Value, error) { return c.row[col], nil }
			if col == "_table_suffix" && lc.wildcard {
				out.eval = ce.eval
			}
		default:
			outAuth = outAuth.or(ce.auth)
		}
		outputs = append(outputs, out)
		names = append(names, name)
	}
	var where *cexpr
	if sel.Where != nil {
		where = lc.compile(sel.Where)
		if where == nil {
			return nil, false
		}
	}
	if lc.failed {
		return nil, false
	}
	// Dangerous-query detection (§6.6).
	var filterAuth authUse
	if where != nil {
		if where.cls == clsMatch {
			filterAuth = where.match.auth
		} else {
			filterAuth = where.auth
		}
	}
	switch lc.kind {
	case kindParamStatic:
		if where != nil && where.cls == clsRow {
			d.atSQL(sql, sel.Where.Pos(), SeverityFatal, "Must only depend on data derived from request.")
			return nil, false
		}
		q := &staticParamQuery{source: src, outputs: outputs, priority: priority}
		if where != nil {
			q.where = where.eval
		}
		if (outAuth.unauthenticated || filterAuth.unauthenticated) && !outAuth.authenticated && !spec.AcceptDangerous {
			d.atSQL(sql, sql.whole(), SeverityWarning, dangerousMessage)
		}
		src.statics = append(src.statics, q)
	case kindParamEach:
		if where != nil && (where.cls == clsRow || where.cls == clsMatch) {
			d.atSQL(sql, sel.Where.Pos(), SeverityFatal, "Must only depend on data derived from request.")
			return nil, false
		}
		q := &eachParamQuery{source: src, arg: eachArg.eval, outputs: outputs, priority: priority}
		if where != nil {
			q.where = where.eval
		}
		used := outAuth.or(filterAuth).or(eachArg.auth)
		if used.unauthenticated && !outAuth.authenticated && !eachArg.auth.authenticated && !spec.AcceptDangerous {
			d.atSQL(sql, sql.whole(), SeverityWarning, dangerousMessage)
		}
		src.eaches = append(src.eaches, q)
	case kindParamTable:
		var m *matchClause
		if where == nil {
			m = lc.toMatch(staticExpr(sqlvalue.Int(1), syntax.Span{}))
		} else {
			m = lc.toMatch(where)
		}
		q := &paramTableQuery{source: src, queryID: queryID, table: table, where: m, outputs: outputs, priority: priority}
		if (outAuth.unauthenticated || m.auth.unauthenticated) && !outAuth.authenticated && !m.auth.authenticated && !spec.AcceptDangerous {
			d.atSQL(sql, sql.whole(), SeverityWarning, dangerousMessage)
		}
		src.tables = append(src.tables, q)
		c.params = append(c.params, q)
	}
	return names, true
}

// compileDataQuery compiles a data query of a bucket definition (or an
// alpha stream variant when kind is kindStream).
func (c *Config) compileDataQuery(src *bucketSource, prefix string, sql *sqlText, d *diagList, kind queryKind, sel *syntax.Select) *dataQuery {
	if sel == nil {
		if sel = parseQuery(sql, d); sel == nil {
			return nil
		}
	}
	if !checkLegacyClauses(sel, sql, d) {
		return nil
	}
	if len(sel.From) != 1 {
		sp := sql.whole()
		if len(sel.From) > 1 {
			sp = sel.From[1].Span
		}
		d.atSQL(sql, sp, SeverityFatal, "Must SELECT from a single table")
		return nil
	}
	it := sel.From[0]
	if it.Subquery != nil {
		d.atSQL(sql, it.Span, SeverityFatal, "Subqueries are not supported yet")
		return nil
	}
	if it.Func != nil {
		d.atSQL(sql, it.Span, SeverityFatal, "Table-valued functions are not supported in data queries")
		return nil
	}
	lc := &legacyCompiler{kind: kind, sql: sql, diags: d, opts: evalOptions{fixedJSON: c.compat.FixedJSONExtract},
		hasTable: true, bucketParams: src.bucketParams}
	table := resolveTable(&it, c.opts.DefaultSchema)
	lc.table, lc.wildcard = it.Table.Name, table.wildcard
	if it.HasAlias {
		lc.table = it.Alias.Name
	} else if it.Schema.Name == "" {
		lc.checkCase(it.Table)
	}
	q := &dataQuery{source: src, prefix: prefix, table: table}
	switch {
	case it.HasAlias:
		q.outTable = it.Alias.Name
	case table.wildcard:
		q.outTable = ""
	default:
		q.outTable = it.Table.Name
	}
	hasID := false
	for _, item := range sel.Items {
		if item.Star {
			if item.StarTable.Name != "" && item.StarTable.Name != lc.table {
				lc.errorf(item.StarTable.Span, "Undefined table %s", item.StarTable.Name)
				continue
			}
			q.columns = append(q.columns, dataColumn{star: true})
			q.hasStar = true
			continue
		}
		ce := lc.compile(item.Expr)
		if ce == nil {
			continue
		}
		if ce.cls == clsMatch || ce.cls == clsParam {
			lc.errorf(item.Expr.Pos(), "Parameter match expression is not allowed here")
			continue
		}
		name, ok := outputName(item, ce)
		if !ok {
			lc.errorf(item.Span, "alias is required")
			continue
		}
		if item.HasAlias {
			lc.checkCase(item.Alias)
		}
		if name == "id" {
			hasID = true
		}
		q.columns = append(q.columns, dataColumn{name: name, eval: ce.eval})
	}
	var where *cexpr
	if kind == kindStream {
		// alpha streams compile their WHERE per variant
		if lc.failed {
			return nil
		}
		if !hasID && !q.hasStar {
			d.atSQL(sql, sql.whole(), SeverityFatal, `Query must return an "id" column`)
			return nil
		}
		c.data = append(c.data, q)
		return q
	}
	if sel.Where != nil {
		where = lc.compile(sel.Where)
	} else {
		where = staticExpr(sqlvalue.Int(1), syntax.Span{})
	}
	if lc.failed || where == nil {
		return nil
	}
	if !hasID && !q.hasStar {
		d.atSQL(sql, sql.whole(), SeverityFatal, `Query must return an "id" column`)
		return nil
	}
	m := lc.toMatch(where)
	// The WHERE clause must cover exactly the bucket parameters.
	expected := make([]string, len(src.bucketParams))
	for i, p := range src.bucketParams {
		expected[i] = "bucket." + p
	}
	got := m.keys()
	a, b := slices.Clone(expected), slices.Clone(got)
	sort.Strings(a)
	sort.Strings(b)
	if kind == kindData && !slices.Equal(a, b) {
		msg := fmt.Sprintf("Query must cover all bucket parameters. Expected: %s Got: %s", jsonStrings(expected), jsonStrings(got))
		sp := sql.whole()
		if sel.Where != nil {
			sp = sel.Where.Pos()
		}
		d.atSQL(sql, sp, SeverityFatal, msg)
		return nil
	}
	q.where = m
	q.paramIndex = make([]int, len(src.bucketParams))
	for i, p := range expected {
		q.paramIndex[i] = m.indexOf(p)
	}
	c.data = append(c.data, q)
	return q
}

func jsonStrings(list []string) string {
	b := []byte{'['}
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = sqlvalue.AppendJSONString(b, s)
	}
	return string(append(b, ']'))
}

// evaluate runs the data query on one row of a matching table.
func (q *dataQuery) evaluate(c *Config, table sqlvalue.TableRef, ctx *legacyCtx, out []EvaluatedRow) ([]EvaluatedRow, error) {
	ctx.suffix = q.table.suffix(table)
	var single sqlvalue.Value
	var assigns [][]sqlvalue.Value
	if q.where.single != nil {
		// Fast path for "column = bucket.param".
		v, err := q.where.single(ctx)
		if err != nil {
			return out, fmt.Errorf("%s: %w", q.prefix, err)
		}
		if v.Kind() == sqlvalue.KindNull || v.Kind() == sqlvalue.KindBlob {
			return out, nil
		}
		single = v
	} else {
		var err error
		if assigns, err = q.where.eval(ctx); err != nil {
			return out, fmt.Errorf("%s: %w", q.prefix, err)
		}
		if len(assigns) == 0 {
			return out, nil
		}
	}
	var colBuf [24]sqlvalue.Column
	cols, err := q.outputColumns(ctx, colBuf[:0])
	if err != nil {
		return out, fmt.Errorf("%s: %w", q.prefix, err)
	}
	size := 2
	for _, col := range cols {
		size += len(col.Name) + 4 + len(col.Value.Str()) + 24
	}
	bucketSize := len(c.prefix) + len(q.prefix) + len(single.Str()) + 24
	buf := sqlvalue.AppendRowJSON(make([]byte, 0, size+bucketSize), cols)
	if len(buf) > MaxRowDataSize {
		return out, fmt.Errorf("%s: row data of %d bytes exceeds the limit of %d bytes; row not synced", q.prefix, len(buf), MaxRowDataSize)
	}
	id := ""
	for _, col := range cols {
		if col.Name == "id" {
			id = idText(col.Value)
		}
	}
	outTable := q.outTable
	if outTable == "" {
		outTable = table.Name
	}
	if assigns == nil {
		// One allocation holds the data and the bucket id: the data slice
		// is capped so appending to it cannot overwrite the id, and
		// neither is modified after this point.
		n := len(buf)
		buf = append(buf, c.prefix...)
		buf = append(buf, q.prefix...)
		buf = append(buf, '[')
		buf = sqlvalue.AppendBucketValue(buf, single)
		buf = append(buf, ']')
		bucket := unsafe.String(&buf[n], len(buf)-n)
		return append(out, EvaluatedRow{Bucket: bucket, Table: outTable, ID: id, Data: buf[:n:n]}), nil
	}
	data := buf[:len(buf):len(buf)]
	for _, a := range assigns {
		b := make([]byte, 0, len(c.prefix)+len(q.prefix)+32)
		b = append(b, c.prefix...)
		b = append(b, q.prefix...)
		b = append(b, '[')
		for i, idx := range q.paramIndex {
			if i > 0 {
				b = append(b, ',')
			}
			b = sqlvalue.AppendBucketValue(b, a[idx])
		}
		b = append(b, ']')
		out = append(out, EvaluatedRow{Bucket: string(b), Table: outTable, ID: id, Data: data})
	}
	return out, nil
}

// MaxRowDataSize is the largest output row (JSON text) the engine emits;
// larger rows are reported as an error and not synced, as the reference
// does.
const MaxRowDataSize = 15 << 20

// idText is the object id of an output row (§4.7).
func idText(v sqlvalue.Value) string {
	switch v.Kind() {
	case sqlvalue.KindNull:
		return ""
	case sqlvalue.KindText:
		return v.Str()
	}
	return v.AsText()
}

// setColumn sets a named output value: a later explicit column overwrites,
// "*" only fills names not yet set.
func setColumn(cols []sqlvalue.Column, name string, v sqlvalue.Value, overwrite bool) []sqlvalue.Column {
	for i := range cols {
		if cols[i].Name == name {
			if overwrite {
				cols[i].Value = v
			}
			return cols
		}
	}
	return append(cols, sqlvalue.Column{Name: name, Value: v})
}

// outputColumns applies the output columns in order.
func (q *dataQuery) outputColumns(ctx *legacyCtx, cols []sqlvalue.Column) ([]sqlvalue.Column, error) {
	for _, col := range q.columns {
		if col.star {
			empty := len(cols) == 0
			if empty {
				// Usual case: the row has the same columns as the last one.
				if p := q.starKeys.Load(); p != nil && len(*p) == len(ctx.row) {
					n := len(cols)
					ok := true
					for _, k := range *p {
						v, found := ctx.row[k]
						if !found {
							ok = false
							break
						}
						if k[0] != '_' {
							cols = append(cols, sqlvalue.Column{Name: k, Value: v})
						}
					}
					if ok {
						continue
					}
					cols = cols[:n]
				}
			}
			for _, k := range q.sortedKeys(ctx.row) {
				if strings.HasPrefix(k, "_") {
					continue
				}
				if empty {
					cols = append(cols, sqlvalue.Column{Name: k, Value: ctx.row[k]})
				} else {
					cols = setColumn(cols, k, ctx.row[k], false)
				}
			}
			continue
		}
		v, err := col.eval(ctx)
		if err != nil {
			return nil, err
		}
		cols = setColumn(cols, col.name, v, true)
	}
	return cols, nil
}

// sortedKeys returns the row's column names in byte order, reusing the
// previous row's list when the column set is the same (the usual case).
func (q *dataQuery) sortedKeys(row sqlvalue.Row) []string {
	if p := q.starKeys.Load(); p != nil && len(*p) == len(row) {
		same := true
		for _, k := range *p {
			if _, ok := row[k]; !ok {
				same = false
				break
			}
		}
		if same {
			return *p
		}
	}
	keys := make([]string, 0, len(row))
	for k := range row {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	q.starKeys.Store(&keys)
	return keys
}

// evaluate produces the lookup entries of one parameter-table row.
func (q *paramTableQuery) evaluate(table sqlvalue.TableRef, row sqlvalue.Row, out []LookupEntry) ([]LookupEntry, error) {
	ctx := legacyCtx{row: row, suffix: q.table.suffix(table)}
	assigns, err := q.where.eval(&ctx)
	if err != nil {
		return out, fmt.Errorf("%s: %w", q.source.name, err)
	}
	if len(assigns) == 0 {
		return out, nil
	}
	var cols []sqlvalue.Column
	for _, o := range q.outputs {
		if !o.lookup {
			continue
		}
		v, err := o.eval(&ctx)
		if err != nil {
			return out, fmt.Errorf("%s: %w", q.source.name, err)
		}
		cols = append(cols, sqlvalue.Column{Name: o.name, Value: v})
	}
	result := sqlvalue.AppendRowJSON(nil, cols)
	for _, a := range assigns {
		out = append(out, LookupEntry{Key: q.lookupKey(a), Result: result})
	}
	return out, nil
}

// lookupKey encodes [definition, queryId, values...] canonically.
func (q *paramTableQuery) lookupKey(values []sqlvalue.Value) []byte {
	return encodeLookupKey(q.source.name, q.queryID, values)
}

// encodeLookupKey is the canonical lookup key encoding shared by every
// compiler: a JSON array of the lookup name, the query id and the values
// with integer-valued REALs normalized to INTEGER.
func encodeLookupKey(name, queryID string, values []sqlvalue.Value) []byte {
	b := make([]byte, 0, 32+len(name))
	b = append(b, '[')
	b = sqlvalue.AppendJSONString(b, name)
	b = append(b, ',')
	b = sqlvalue.AppendJSONString(b, queryID)
	for _, v := range values {
		b = append(b, ',')
		b = sqlvalue.AppendLookupValue(b, v)
	}
	return append(b, ']')
}

// EncodeLookupKey returns the canonical key bytes for a lookup, as
// EvaluateParameterRow produces them (for tests and tools).
func EncodeLookupKey(name, queryID string, values ...sqlvalue.Value) []byte {
	return encodeLookupKey(name, queryID, values)
}
