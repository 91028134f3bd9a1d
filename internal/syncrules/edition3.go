package syncrules

import (
	"strings"

	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// compileEdition3 compiles the streams of an edition-3 config (§8). It
// reports every problem to d and returns nil when a fatal one was found.
func compileEdition3(s *fileSpec, compat Compatibility, opts ParseOptions, d *diagList) *streams3 {
	var texts []*sqlText
	addText := func(t *sqlText) int {
		texts = append(texts, t)
		return len(texts) - 1
	}
	failed := false
	report := func(text int, span syntax.Span, sev Severity, msg string) {
		if sev == SeverityFatal {
			failed = true
		}
		d.atSQL(texts[text], span, sev, msg)
	}
	plan := &streams3{opts: evalOptions{fixedJSON: compat.FixedJSONExtract}}
	p := &planner{report: report, opts: plan.opts, defaultS: opts.DefaultSchema, plan: plan}

	globalNames := map[string]bool{}
	for _, c := range s.with {
		globalNames[strings.ToLower(c.Name)] = true
	}
	defineCTEs := func(specs []*cteSpec) map[string]*cteDef {
		names := map[string]bool{}
		for k := range globalNames {
			names[k] = true
		}
		for _, c := range specs {
			names[strings.ToLower(c.Name)] = true
		}
		out := map[string]*cteDef{}
		for _, c := range specs {
			if c.SQL == nil {
				continue
			}
			def := &cteDef{name: strings.ToLower(c.Name), spec: c, text: addText(c.SQL)}
			sel, err := syntax.ParseSelect(c.SQL.SQL)
			if err != nil {
				report(def.text, err.Span, SeverityFatal, syntaxMessage(err))
				def.bad = true
			} else {
				def.sel = sel
				// Check the body on its own, so problems are reported once
				// even when the CTE is used several times (or never).
				l := &lowerer{texts: texts, report: report, quiet: map[int]bool{}, cteNames: names}
				l.q = &lquery{primary: -1, text: def.text}
				l.text = def.text
				l.inlineSelect(sel, nil, sel.Span, def.text)
				def.bad = l.failed
			}
			out[def.name] = def
		}
		return out
	}
	global := defineCTEs(s.with)
	var allCTEs []*cteDef
	for _, c := range s.with {
		if def, ok := global[strings.ToLower(c.Name)]; ok && def.spec == c {
			allCTEs = append(allCTEs, def)
		}
	}

	for _, spec := range s.streams {
		st := &stream3{name: spec.Name, autoSubscribe: spec.AutoSubscribe, priority: spec.Priority}
		local := defineCTEs(spec.With)
		hasQuery := spec.Query != nil || len(spec.Queries) > 0
		for _, c := range spec.With {
			if def, ok := local[strings.ToLower(c.Name)]; ok && def.spec == c && hasQuery {
				allCTEs = append(allCTEs, def)
			}
		}
		visible := map[string]*cteDef{}
		for k, v := range global {
			visible[k] = v
		}
		for k, v := range local {
			visible[k] = v
		}
		queries := spec.Queries
		if spec.Query != nil {
			queries = []*sqlText{spec.Query}
		}
		quiet := map[int]bool{}
		for _, c := range visible {
			quiet[c.text] = true
		}
		warned := map[[3]int]bool{}
		for qi, qt := range queries {
			if qt == nil {
				continue
			}
			text := addText(qt)
			sel, err := syntax.ParseSelect(qt.SQL)
			if err != nil {
				report(text, err.Span, SeverityFatal, syntaxMessage(err))
				continue
			}
			names := map[string]bool{}
			for k := range visible {
				names[k] = true
			}
			l := &lowerer{texts: texts, report: report, ctes: visible, quiet: quiet, cteNames: names}
			q := l.lowerQuery(text, sel)
			if l.failed {
				continue
			}
			disjuncts, ok := queryDNF(q)
			if !ok {
				span := sel.Span
				if sel.Where != nil {
					span = sel.Where.Pos()
				}
				report(text, span, SeverityFatal, "For Sync Streams, inner OR operators need to be moved up to be top-level filters. Applying that to this query results in too many inner nodes.")
				continue
			}
			okQuery := true
			for _, c := range disjuncts {
				r, ds := p.buildResolver(q, c)
				if r == nil {
					okQuery = false
					continue
				}
				r.sources = []*dataSource{p.finishDataSource(q, ds)}
				r.query = qi
				st.resolvers = append(st.resolvers, r)
				if !spec.AcceptDangerous {
					if text, span, bad := r.dangerous(q.text); bad {
						k := [3]int{text, span.Start, span.End}
						if !warned[k] {
							warned[k] = true
							report(text, span, SeverityWarning, "Clients can send any value for this unauthenticated parameter, so this is unsuitable for authorization. Consider further constraining this with an authenticated parameter.")
						}
					}
				}
			}
			if okQuery {
				p.aliasWarning(q)
			}
		}
		if msg := p.finishStream(st); msg != "" {
			failed = true
			d.atNode(spec.NameNode, SeverityFatal, "%s", msg)
		}
		plan.streams = append(plan.streams, st)
	}
	for _, c := range allCTEs {
		if !c.used && !c.bad {
			d.atNode(c.spec.NameNode, SeverityWarning, "This common table expression isn't referenced.")
		}
	}
	if failed || p.failed {
		return nil
	}
	return plan
}

// queryDNF returns the disjuncts of a query's conditions, with single-atom
// disjuncts on the same source merged into one OR filter (§8.3).
func queryDNF(q *lquery) ([]conj, bool) {
	var all *sxExpr
	for _, c := range q.conds {
		if all == nil {
			all = c
		} else {
			all = &sxExpr{kind: sxBin, name: "AND", span: c.span, args: []*sxExpr{all, c}}
		}
	}
	if all == nil {
		return []conj{{}}, true
	}
	ds, ok := toDNF(all, false)
	if !ok {
		return nil, false
	}
	var out []conj
	merged := map[int]int{} // unit → position in out
	for _, c := range ds {
		if len(c) == 1 && !isMatchTerm(q, c[0]) {
			us := unitsOf(q.sources, c[0])
			if len(us) <= 1 {
				u := -3
				for x := range us {
					u = x
				}
				if pos, ok := merged[u]; ok {
					prev := out[pos][0]
					out[pos] = conj{{kind: sxBin, name: "OR", span: prev.span, args: []*sxExpr{prev, c[0]}}}
					continue
				}
				merged[u] = len(out)
			}
		}
		out = append(out, c)
	}
	return out, true
}

// isMatchTerm reports whether an atom is an equality between two different
// units (a join or parameter match rather than a filter).
func isMatchTerm(q *lquery, a *sxExpr) bool {
	if a.kind != sxBin || a.name != "=" {
		return false
	}
	ua, ub := unitsOf(q.sources, a.args[0]), unitsOf(q.sources, a.args[1])
	if len(ua) != 1 || len(ub) != 1 {
		return len(ua) > 1 || len(ub) > 1
	}
	for x := range ua {
		if ub[x] {
			return false
		}
	}
	return true
}

// aliasWarning warns when the synced table of a join has an unquoted alias
// that differs from its name: rows are synced under the alias.
func (p *planner) aliasWarning(q *lquery) {
	tables := 0
	for _, s := range q.sources {
		if s.kind == srcTable && s.fromQuery {
			tables++
		}
	}
	src := q.sources[q.primary]
	if tables < 2 || !src.hasAlias || src.quoted || src.alias == src.table {
		return
	}
	p.report(src.text, src.aliasSpan, SeverityWarning, "The source row is synced under its alias '"+src.alias+"' instead of '"+src.table+"'. Quote the alias to keep this name, or remove it to sync as '"+src.table+"'.")
}

// dangerous reports whether the resolver's bucket parameters (or, without
// parameters, its request filters) depend only on values the client
// chooses (§8.9), and where.
func (r *resolver) dangerous(defText int) (int, syntax.Span, bool) {
	cls := authNeutral
	var span syntax.Span
	text := defText
	for _, v := range r.params {
		switch v.auth {
		case authAuthenticated:
			return 0, syntax.Span{}, false
		case authUnauthenticated:
			if cls != authUnauthenticated {
				span, text = v.span, v.text
			}
			cls = authUnauthenticated
		}
	}
	if cls == authNeutral {
		if r.filterAuth != authUnauthenticated {
			return 0, syntax.Span{}, false
		}
		return r.warnText, r.warnSpan, true
	}
	return text, span, true
}
