package syncrules

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// This file is the back half of the edition-3 compiler (§8.3, §8.4): the
// WHERE clause of a lowered query is brought into disjunctive normal form;
// each conjunction becomes a bucket resolver: row filters and partition
// keys on the synced table, parameter indexes (lookups) on other tables,
// table-valued stages over request data and request filters. Resolvers of
// a stream with the same instantiation are merged into one bucket, and
// buckets with the same data sources share one name.

// maxDisjuncts bounds the DNF expansion of one query.
const maxDisjuncts = 100

// maxBucketsPerStream bounds the buckets (resolvers after merging) of one
// stream.
const maxBucketsPerStream = 100

type conj []*sxExpr

// toDNF returns the disjuncts of e (negated when neg), or ok=false when
// the expansion exceeds maxDisjuncts.
func toDNF(e *sxExpr, neg bool) ([]conj, bool) {
	switch {
	case e.kind == sxNot:
		return toDNF(e.args[0], !neg)
	case e.kind == sxBin && (e.name == "AND" || e.name == "OR"):
		isAnd := (e.name == "AND") != neg
		a, ok := toDNF(e.args[0], neg)
		if !ok {
			return nil, false
		}
		b, ok := toDNF(e.args[1], neg)
		if !ok {
			return nil, false
		}
		if !isAnd {
			if len(a)+len(b) > maxDisjuncts {
				return nil, false
			}
			return append(a, b...), true
		}
		if len(a)*len(b) > maxDisjuncts {
			return nil, false
		}
		out := make([]conj, 0, len(a)*len(b))
		for _, x := range a {
			for _, y := range b {
				c := make(conj, 0, len(x)+len(y))
				c = append(c, x...)
				out = append(out, append(c, y...))
			}
		}
		return out, true
	}
	if neg {
		return []conj{{&sxExpr{kind: sxNot, span: e.span, args: []*sxExpr{e}}}}, true
	}
	return []conj{{e}}, true
}

// valueSrc is where a bucket parameter or lookup key value comes from at
// request time.
type valueSrc struct {
	fn     evalFn // request data or a request table-valued stage
	lookup int    // >= 0: position of the lookup node in the resolver
	out    int    // output column of that lookup
	parts  []valueSrc
	key    string
	auth   authClass
	span   syntax.Span // first unauthenticated request expression, for the warning
	text   int
}

// authClass classifies request values for the dangerous-parameter warning.
type authClass uint8

const (
	authNeutral authClass = iota
	authUnauthenticated
	authAuthenticated
)

func combineAuth(cs ...authClass) authClass {
	r := authNeutral
	for _, c := range cs {
		if c == authAuthenticated {
			return authAuthenticated
		}
		if c == authUnauthenticated {
			r = authUnauthenticated
		}
	}
	return r
}

// lookupNode is one parameter-index lookup of a resolver.
type lookupNode struct {
	index *paramIndex
	keys  []valueSrc
}

// tvfStage is a json_each over request data, evaluated at request time.
type tvfStage struct {
	arg     evalFn
	filters []evalFn
	key     string
}

// resolver turns one request into buckets of one stream (§8.8).
type resolver struct {
	query      int // index of the query in its stream
	bucket     *bucket3
	reqFilters []evalFn
	stages     []*tvfStage
	lookups    []*lookupNode
	params     []valueSrc
	instKey    string
	sources    []*dataSource
	filterAuth authClass
	warnSpan   syntax.Span
	warnText   int
}

// planner compiles the streams of one config.
type planner struct {
	report   diagSink
	opts     evalOptions
	defaultS string
	plan     *streams3
	failed   bool
}

// unitInfo collects the atoms of one conjunction per unit.
type unitInfo struct {
	filters []*sxExpr
	edges   []int // indexes into edges
	tvfs    []int // attached table-valued sources referenced
}

type edgeDef struct {
	ua, ub int
	ea, eb *sxExpr
}

// resolverBuild is the state of building one resolver.
type resolverBuild struct {
	p         *planner
	q         *lquery
	units     map[int]*unitInfo
	edges     []edgeDef
	resolved  map[int]*lookupBuild
	visiting  map[int]bool
	order     []*lookupBuild
	stages    map[int]int // request tvf source → stage position
	stageList []int
	failed    bool
	// reportedTVF marks request json_each sources already reported.
	reportedTVF map[int]bool
}

// lookupBuild is a lookup node while it is built.
type lookupBuild struct {
	unit    int
	keyExpr []*sxExpr
	keys    []valueSrc
	outputs []*sxExpr
	pos     int
}

func (rb *resolverBuild) info(u int) *unitInfo {
	if ui, ok := rb.units[u]; ok {
		return ui
	}
	ui := &unitInfo{}
	rb.units[u] = ui
	return ui
}

func (rb *resolverBuild) errorf(text int, span syntax.Span, msg string) {
	rb.failed = true
	rb.p.failed = true
	rb.p.report(text, span, SeverityFatal, msg)
}

// leafUnit returns the unit of one leaf.
func (rb *resolverBuild) leafUnit(n *sxExpr) (int, bool) {
	switch n.kind {
	case sxCol, sxMeta:
		return n.src, true
	case sxTVF:
		return unitOfSource(rb.q.sources, n.src), true
	case sxReq:
		return unitRequest, true
	}
	return 0, false
}

// checkSingleUnit verifies that an atom reads at most one unit, reporting
// the first leaf that adds a second one.
func (rb *resolverBuild) checkSingleUnit(text int, e *sxExpr) (int, bool) {
	first := -100
	ok := true
	e.walk(func(n *sxExpr) {
		if !ok {
			return
		}
		u, isLeaf := rb.leafUnit(n)
		if !isLeaf {
			return
		}
		if first == -100 {
			first = u
			return
		}
		if u == first {
			return
		}
		// A json_each over request data may be filtered with request data:
		// both are known at request time.
		if first == unitRequest && rb.isStage(u) {
			first = u
			return
		}
		if u == unitRequest && rb.isStage(first) {
			return
		}
		ok = false
		switch {
		case first != unitRequest && u != unitRequest:
			rb.errorf(text, n.span, "This expression already references '"+rb.q.sources[first].displayName()+"', so it can't also reference data from this row unless the two are compared with an equals operator.")
		case first != unitRequest:
			rb.errorf(text, n.span, "This expression already references row data, so it can't also reference connection parameters unless the two are compared with an equals operator.")
		default:
			rb.errorf(text, n.span, "This expression already references connection parameters, so it can't also reference row data unless the two are compared with an equals operator.")
		}
	})
	if first == -100 {
		first = -3 // no dependencies
	}
	return first, ok
}

// atomText finds the text an atom was written in (CTE bodies are other
// texts than the query).
func atomText(q *lquery, e *sxExpr) int {
	t := q.text
	e.walk(func(n *sxExpr) {
		if (n.kind == sxCol || n.kind == sxMeta || n.kind == sxTVF) && q.sources[n.src].text != q.text {
			t = q.sources[n.src].text
		}
	})
	return t
}

// classify sorts the atoms of a conjunction into filters per unit and
// equality edges between units.
func (rb *resolverBuild) classify(atoms conj) {
	for _, a := range atoms {
		text := atomText(rb.q, a)
		if a.kind == sxBin && a.name == "=" {
			ua, okA := rb.checkSingleUnit(text, a.args[0])
			ub, okB := rb.checkSingleUnit(text, a.args[1])
			if !okA || !okB {
				continue
			}
			if ua != ub && ua != -3 && ub != -3 && !rb.isTable(ua) && !rb.isTable(ub) {
				// Both sides are known at request time.
				switch {
				case ua == unitRequest:
					rb.info(ub).filters = append(rb.info(ub).filters, a)
				case ub == unitRequest:
					rb.info(ua).filters = append(rb.info(ua).filters, a)
				default:
					rb.errorf(text, a.span, "Unable to associate this filter with added tables")
				}
				continue
			}
			if ua != ub && ua != -3 && ub != -3 {
				idx := len(rb.edges)
				rb.edges = append(rb.edges, edgeDef{ua: ua, ub: ub, ea: a.args[0], eb: a.args[1]})
				rb.info(ua).edges = append(rb.info(ua).edges, idx)
				rb.info(ub).edges = append(rb.info(ub).edges, idx)
				continue
			}
			u := ua
			if u == -3 {
				u = ub
			}
			rb.info(u).filters = append(rb.info(u).filters, a)
			continue
		}
		u, ok := rb.checkSingleUnit(text, a)
		if !ok {
			continue
		}
		rb.info(u).filters = append(rb.info(u).filters, a)
	}
	// Attached table-valued sources referenced in this conjunction.
	seen := map[int]bool{}
	for _, a := range atoms {
		a.walk(func(n *sxExpr) {
			if n.kind == sxTVF && !seen[n.src] {
				seen[n.src] = true
				if u := unitOfSource(rb.q.sources, n.src); u != n.src {
					rb.info(u).tvfs = append(rb.info(u).tvfs, n.src)
				}
			}
		})
	}
	for _, ui := range rb.units {
		sort.Ints(ui.tvfs)
	}
}

// isStage reports whether unit u is a json_each over request data (or
// constants), evaluated at request time.
func (rb *resolverBuild) isStage(u int) bool {
	return u >= 0 && rb.q.sources[u].kind == srcTVF
}

func (rb *resolverBuild) isTable(u int) bool {
	return u >= 0 && rb.q.sources[u].kind == srcTable
}

// side returns the expression on unit u's side of an edge, the other
// side, and the other unit.
func (e edgeDef) side(u int) (mine, other *sxExpr, ou int) {
	if e.ua == u {
		return e.ea, e.eb, e.ub
	}
	return e.eb, e.ea, e.ua
}

// requestValue builds a value source from request data (and request
// table-valued stages).
func (rb *resolverBuild) requestValue(e *sxExpr) valueSrc {
	b := binding{table: -1, tvf: map[int]int{}}
	auth := authNeutral
	var warn syntax.Span
	e.walk(func(n *sxExpr) {
		switch n.kind {
		case sxTVF:
			b.tvf[n.src] = rb.stage(n.src)
		case sxReq:
			if n.name == reqAuth {
				auth = authAuthenticated
			} else if auth != authAuthenticated {
				auth = authUnauthenticated
				if warn == (syntax.Span{}) {
					warn = n.span
				}
			}
		}
	})
	// A table-valued stage inherits the class of its argument.
	for src := range b.tvf {
		arg := rb.q.sources[src].arg
		a, u := arg.requestKinds()
		switch {
		case a:
			auth = authAuthenticated
		case u && auth == authNeutral:
			auth = authUnauthenticated
			warn = rb.q.sources[src].span
		}
	}
	return valueSrc{fn: e.compile(b, rb.p.opts), lookup: -1, key: e.key(rb.srcKey), auth: auth, span: warn, text: atomText(rb.q, e)}
}

// srcKey names sources in expression keys: request stages by their
// argument so equal resolvers of different queries compare equal.
func (rb *resolverBuild) srcKey(i int) string {
	s := rb.q.sources[i]
	if s.kind == srcTVF {
		return "tvf(" + s.arg.key(rb.srcKey) + ")"
	}
	return "t"
}

// stage returns the position of a request table-valued source's stage.
func (rb *resolverBuild) stage(src int) int {
	if p, ok := rb.stages[src]; ok {
		return p
	}
	p := len(rb.stageList)
	rb.stages[src] = p
	rb.stageList = append(rb.stageList, src)
	return p
}

// valueFor resolves the value of `other` (on unit ou) for a key or
// partition of the unit being resolved.
func (rb *resolverBuild) valueFor(ou int, other *sxExpr) (valueSrc, bool) {
	if ou == unitRequest || !rb.isTable(ou) {
		if ou != unitRequest {
			// A json_each over request data: it must not link two tables.
			linked := map[int]bool{}
			for _, ei := range rb.info(ou).edges {
				_, _, x := rb.edges[ei].side(ou)
				if rb.isTable(x) {
					linked[x] = true
				}
			}
			if len(linked) > 1 {
				src := rb.q.sources[ou]
				if rb.reportedTVF[ou] {
					rb.failed = true
					return valueSrc{}, false
				}
				rb.reportedTVF[ou] = true
				rb.errorf(src.text, src.span, "This table-valued function depends on request data and can't be partitioned. If possible, try rewriting the query to not use = operators on this function and multiple other tables.")
				return valueSrc{}, false
			}
		}
		return rb.requestValue(other), true
	}
	if rb.visiting[ou] {
		return valueSrc{}, false
	}
	node, ok := rb.resolved[ou]
	if !ok {
		node = rb.resolveUnit(ou)
		if node == nil {
			return valueSrc{}, false
		}
	}
	out := -1
	k := other.key(rb.srcKey)
	for i, o := range node.outputs {
		if o.key(rb.srcKey) == k {
			out = i
		}
	}
	if out < 0 {
		out = len(node.outputs)
		node.outputs = append(node.outputs, other)
	}
	auth := authNeutral
	var warn syntax.Span
	text := 0
	for _, kv := range node.keys {
		if kv.auth == authAuthenticated {
			auth = authAuthenticated
		} else if kv.auth == authUnauthenticated && auth != authAuthenticated {
			auth = authUnauthenticated
			warn, text = kv.span, kv.text
		}
	}
	return valueSrc{lookup: node.pos, out: out, auth: auth, span: warn, text: text,
		key: "lookup(" + strconv.Itoa(node.pos) + "," + strconv.Itoa(out) + ")"}, true
}

// resolveUnit builds the lookup node of a table unit other than the
// synced one.
func (rb *resolverBuild) resolveUnit(u int) *lookupBuild {
	node := &lookupBuild{unit: u, pos: -1}
	rb.resolved[u] = node
	rb.visiting[u] = true
	for _, ei := range rb.info(u).edges {
		mine, other, ou := rb.edges[ei].side(u)
		if ou == rb.q.primary || rb.visiting[ou] {
			continue
		}
		v, ok := rb.valueFor(ou, other)
		if !ok {
			continue
		}
		node.keyExpr = append(node.keyExpr, mine)
		node.keys = append(node.keys, v)
	}
	rb.visiting[u] = false
	node.pos = len(rb.order)
	rb.order = append(rb.order, node)
	return node
}

// build resolves one conjunction into a resolver and its data source.
func (p *planner) buildResolver(q *lquery, atoms conj) (*resolver, *dataSource) {
	rb := &resolverBuild{p: p, q: q, units: map[int]*unitInfo{}, resolved: map[int]*lookupBuild{},
		visiting: map[int]bool{}, stages: map[int]int{}, reportedTVF: map[int]bool{}}
	rb.classify(atoms)
	if rb.failed {
		return nil, nil
	}
	P := q.primary
	rb.visiting[P] = true
	type part struct {
		expr *sxExpr
		key  string
		vals []valueSrc
	}
	var parts []*part
	for _, ei := range rb.info(P).edges {
		mine, other, ou := rb.edges[ei].side(P)
		v, ok := rb.valueFor(ou, other)
		if !ok {
			continue
		}
		k := mine.key(rb.srcKey)
		var pt *part
		for _, x := range parts {
			if x.key == k {
				pt = x
			}
		}
		if pt == nil {
			pt = &part{expr: mine, key: k}
			parts = append(parts, pt)
		}
		pt.vals = append(pt.vals, v)
	}
	// Units not linked to the synced table: existence lookups, or errors.
	var rest []int
	for u := range rb.units {
		rest = append(rest, u)
	}
	sort.Ints(rest)
	for _, u := range rest {
		if u == P || u == unitRequest || u == -3 {
			continue
		}
		ui := rb.units[u]
		if _, done := rb.resolved[u]; done {
			continue
		}
		if _, isStage := rb.stages[u]; isStage {
			continue
		}
		if len(ui.edges) == 0 && rb.isStage(u) {
			// A json_each over request data with only filters: the
			// bucket exists when some element passes them.
			rb.stage(u)
			continue
		}
		if len(ui.edges) == 0 {
			if len(ui.filters) > 0 {
				f := ui.filters[0]
				rb.errorf(atomText(q, f), f.span, "This filter is unrelated to the request or the table being synced, and not supported.")
			}
			continue
		}
		if rb.isTable(u) {
			rb.resolveUnit(u)
		} else {
			rb.stage(u)
		}
	}
	if rb.failed {
		return nil, nil
	}
	r := &resolver{}
	// Request filters (and constant filters).
	var keyParts []string
	reqB := binding{table: -1, tvf: map[int]int{}}
	for _, u := range []int{unitRequest, -3} {
		if ui, ok := rb.units[u]; ok {
			for _, f := range ui.filters {
				f.walk(func(n *sxExpr) {
					if n.kind == sxReq {
						if n.name == reqAuth {
							r.filterAuth = authAuthenticated
						} else if r.filterAuth != authAuthenticated {
							r.filterAuth = authUnauthenticated
							if r.warnSpan == (syntax.Span{}) {
								r.warnSpan, r.warnText = n.span, atomText(q, f)
							}
						}
					}
				})
				r.reqFilters = append(r.reqFilters, f.compile(reqB, p.opts))
				keyParts = append(keyParts, "rf:"+f.key(rb.srcKey))
			}
		}
	}
	// Request table-valued stages, in the order they were first used.
	for i := 0; i < len(rb.stageList); i++ {
		src := rb.stageList[i]
		s := q.sources[src]
		sb := binding{table: -1, tvf: map[int]int{src: 0}}
		stg := &tvfStage{arg: s.arg.compile(binding{table: -1, tvf: map[int]int{}}, p.opts), key: "stage:" + s.arg.key(rb.srcKey)}
		if ui, ok := rb.units[src]; ok {
			for _, f := range ui.filters {
				stg.filters = append(stg.filters, f.compile(sb, p.opts))
				stg.key += ";" + f.key(rb.srcKey)
			}
		}
		r.stages = append(r.stages, stg)
		keyParts = append(keyParts, stg.key)
	}
	// Lookups, in dependency order.
	for _, n := range rb.order {
		idx := p.internIndex(rb, n)
		r.lookups = append(r.lookups, &lookupNode{index: idx, keys: n.keys})
		kp := "lookup:" + strconv.Itoa(idx.id)
		for _, k := range n.keys {
			kp += "," + k.key
		}
		keyParts = append(keyParts, kp)
	}
	// Partition values, ordered by where their values come from, so that
	// queries writing the same conditions in another order share buckets.
	ds := &dataSource{}
	sort.SliceStable(parts, func(i, j int) bool { return partKey(parts[i].vals) < partKey(parts[j].vals) })
	for _, pt := range parts {
		v := pt.vals[0]
		if len(pt.vals) > 1 {
			v = valueSrc{lookup: -1, parts: pt.vals}
			cl := make([]authClass, len(pt.vals))
			keys := make([]string, len(pt.vals))
			for i, x := range pt.vals {
				cl[i] = x.auth
				keys[i] = x.key
			}
			v.auth = combineAuth(cl...)
			for _, x := range pt.vals {
				if x.auth == authUnauthenticated {
					v.span, v.text = x.span, x.text
					break
				}
			}
			v.key = "and(" + strings.Join(keys, ",") + ")"
		}
		r.params = append(r.params, v)
		keyParts = append(keyParts, "param:"+v.key)
		ds.partitionExprs = append(ds.partitionExprs, pt.expr)
	}
	r.instKey = strings.Join(keyParts, "|")
	ds.filterExprs = rb.info(P).filters
	ds.tvfSources = rb.info(P).tvfs
	return r, ds
}

// partKey is the sort key of a partition: its value sources' keys.
func partKey(vals []valueSrc) string {
	keys := make([]string, len(vals))
	for i, v := range vals {
		keys[i] = v.key
	}
	return strings.Join(keys, ",")
}

// internIndex turns a lookup node into a parameter index of the config,
// sharing identical indexes.
func (p *planner) internIndex(rb *resolverBuild, n *lookupBuild) *paramIndex {
	q := rb.q
	src := q.sources[n.unit]
	idx := &paramIndex{table: p.pattern(src)}
	ui := rb.info(n.unit)
	b := binding{table: n.unit, tvf: map[int]int{}}
	for i, t := range ui.tvfs {
		b.tvf[t] = i
		idx.tvfArgs = append(idx.tvfArgs, q.sources[t].arg.compile(binding{table: n.unit}, p.opts))
	}
	var kb strings.Builder
	kb.WriteString(src.schema + "." + src.table + "/" + src.tag)
	for _, t := range ui.tvfs {
		kb.WriteString("|tvf:" + q.sources[t].arg.key(rb.srcKey))
	}
	for _, f := range ui.filters {
		idx.filters = append(idx.filters, f.compile(b, p.opts))
		kb.WriteString("|f:" + f.key(rb.srcKey))
	}
	for _, k := range n.keyExpr {
		idx.keys = append(idx.keys, k.compile(b, p.opts))
		kb.WriteString("|k:" + k.key(rb.srcKey))
	}
	for _, o := range n.outputs {
		idx.outputs = append(idx.outputs, o.compile(b, p.opts))
		kb.WriteString("|o:" + o.key(rb.srcKey))
	}
	key := kb.String()
	for _, x := range p.plan.indexes {
		if x.key == key {
			return x
		}
	}
	idx.key = key
	idx.id = len(p.plan.indexes)
	idx.queryID = strconv.Itoa(idx.id)
	p.plan.indexes = append(p.plan.indexes, idx)
	return idx
}

// pattern resolves a table source's pattern.
func (p *planner) pattern(s *qsource) tablePattern3 {
	schema := s.schema
	if schema == "" {
		schema = p.defaultS
	}
	tp := tablePattern3{schema: schema, name: s.table, tag: s.tag}
	if strings.HasSuffix(tp.name, "%") {
		tp.name, tp.wildcard = strings.TrimSuffix(tp.name, "%"), true
	}
	if strings.HasSuffix(tp.schema, "%") {
		tp.schema = strings.TrimSuffix(tp.schema, "%")
		tp.schemaWildcard = true
	}
	return tp
}

// finishDataSource compiles the row side of a resolver.
func (p *planner) finishDataSource(q *lquery, ds *dataSource) *dataSource {
	P := q.primary
	src := q.sources[P]
	ds.table = p.pattern(src)
	ds.outputTable = src.alias
	ds.useSourceName = !src.hasAlias && ds.table.wildcard
	b := binding{table: P, tvf: map[int]int{}}
	srcKey := func(i int) string {
		s := q.sources[i]
		if s.kind == srcTVF {
			return "tvf(" + s.arg.key(func(int) string { return "t" }) + ")"
		}
		return "t"
	}
	var kb strings.Builder
	kb.WriteString(ds.table.schema + "." + ds.table.name + "/" + ds.table.tag + "/" + ds.outputTable)
	if ds.table.wildcard {
		kb.WriteString("%")
	}
	for i, t := range ds.tvfSources {
		b.tvf[t] = i
		ds.tvfArgs = append(ds.tvfArgs, q.sources[t].arg.compile(binding{table: P}, p.opts))
		kb.WriteString("|tvf:" + q.sources[t].arg.key(srcKey))
	}
	for _, f := range ds.filterExprs {
		ds.filters = append(ds.filters, f.compile(b, p.opts))
		kb.WriteString("|f:" + f.key(srcKey))
	}
	for _, e := range ds.partitionExprs {
		ds.partitions = append(ds.partitions, e.compile(b, p.opts))
		kb.WriteString("|p:" + e.key(srcKey))
	}
	for _, c := range q.columns {
		if c.star {
			ds.columns = append(ds.columns, outputColumn{star: true})
			kb.WriteString("|*")
			continue
		}
		ds.columns = append(ds.columns, outputColumn{name: c.name, fn: c.expr.compile(b, p.opts)})
		kb.WriteString("|c:" + strconv.Quote(c.name) + "=" + c.expr.key(srcKey))
	}
	ds.key = kb.String()
	for _, x := range p.plan.dataSources {
		if x.key == ds.key {
			return x
		}
	}
	p.plan.dataSources = append(p.plan.dataSources, ds)
	return ds
}

// finishStream merges the resolvers of a stream into buckets and names
// them.
func (p *planner) finishStream(st *stream3) string {
	type group struct {
		r       *resolver
		members []*resolver
	}
	// Resolvers merge when they have the same instantiation, come from
	// different queries (the disjuncts of one query stay separate buckets,
	// as the reference counts them) and do not sync the same table in two
	// different ways (a row must not reach one bucket twice).
	canJoin := func(g *group, r *resolver) bool {
		for _, m := range g.members {
			if m.query == r.query {
				return false
			}
			for _, a := range m.sources {
				for _, b := range r.sources {
					if a != b && a.table == b.table {
						return false
					}
				}
			}
		}
		return true
	}
	var groups []*group
	for _, r := range st.resolvers {
		var g *group
		for _, x := range groups {
			if x.r.instKey == r.instKey && canJoin(x, r) {
				g = x
				break
			}
		}
		if g == nil {
			g = &group{r: r}
			groups = append(groups, g)
		}
		g.members = append(g.members, r)
	}
	if len(groups) > maxBucketsPerStream {
		p.failed = true
		return "This stream defines too many buckets (" + strconv.Itoa(len(groups)) + ", at most 100 are allowed). Try splitting queries into separate streams or move inner OR operators in filters to separate queries."
	}
	var merged []*resolver
	n := 0
	for _, g := range groups {
		var sources []*dataSource
		for _, m := range g.members {
			for _, s := range m.sources {
				if !slices.Contains(sources, s) {
					sources = append(sources, s)
				}
			}
		}
		keys := make([]string, len(sources))
		for i, s := range sources {
			keys[i] = s.key
		}
		sort.Strings(keys)
		setKey := strings.Join(keys, "\x00")
		// Buckets are shared within a stream only: two streams selecting
		// the same data still have their own buckets (each stream's bucket
		// count is what its users see).
		var bk *bucket3
		for _, x := range p.plan.buckets {
			if x.key == setKey && x.stream == st.name {
				bk = x
			}
		}
		if bk == nil {
			bk = &bucket3{name: st.name + "|" + strconv.Itoa(n), stream: st.name, key: setKey, sources: sources}
			n++
			p.plan.buckets = append(p.plan.buckets, bk)
			for _, s := range sources {
				s.buckets = append(s.buckets, bk)
			}
		}
		g.r.bucket = bk
		merged = append(merged, g.r)
	}
	st.resolvers = merged
	return ""
}
