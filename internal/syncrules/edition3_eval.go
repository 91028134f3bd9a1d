package syncrules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// This file is the evaluation side of compiled edition-3 Sync Streams:
// source rows → bucket rows (data sources), parameter-table rows → lookup
// index entries (parameter indexes), and the per-request bucket resolution
// (resolvers, §8.8).

// streams3 is a compiled edition-3 config.
type streams3 struct {
	streams     []*stream3
	dataSources []*dataSource
	indexes     []*paramIndex
	buckets     []*bucket3
	opts        evalOptions
}

// stream3 is one stream with its resolvers (one per bucket).
type stream3 struct {
	name          string
	autoSubscribe bool
	priority      int
	resolvers     []*resolver
}

// bucket3 is one bucket source: a name and the data sources whose rows it
// holds.
type bucket3 struct {
	name    string
	stream  string
	key     string
	sources []*dataSource
}

// tablePattern3 is a table of a stream query: schema and name, each with
// an optional trailing % wildcard, and a connection tag.
type tablePattern3 struct {
	schema, name, tag        string
	wildcard, schemaWildcard bool
}

func (p tablePattern3) pattern() sqlvalue.TablePattern {
	s, n := p.schema, p.name
	if p.schemaWildcard {
		s += "%"
	}
	if p.wildcard {
		n += "%"
	}
	return sqlvalue.TablePattern{Schema: s, Name: n}
}

// match reports whether t is selected by p, with the wildcard suffix.
func (p tablePattern3) match(t sqlvalue.TableRef) (string, bool) {
	if p.tag != "" && p.tag != "default" {
		return "", false
	}
	if p.schemaWildcard {
		if !strings.HasPrefix(t.Schema, p.schema) {
			return "", false
		}
	} else if p.schema != t.Schema {
		return "", false
	}
	if p.wildcard {
		if !strings.HasPrefix(t.Name, p.name) {
			return "", false
		}
		return t.Name[len(p.name):], true
	}
	return "", p.name == t.Name
}

// outputColumn is one result column: a star copy of the row or a named
// expression.
type outputColumn struct {
	star bool
	name string
	fn   evalFn
}

// dataSource is the row side of one or more buckets: which table, which
// rows (filters), which bucket parameters (partitions) and what data.
type dataSource struct {
	table          tablePattern3
	outputTable    string
	useSourceName  bool
	tvfSources     []int
	tvfArgs        []evalFn
	filterExprs    []*sxExpr
	filters        []evalFn
	partitionExprs []*sxExpr
	partitions     []evalFn
	columns        []outputColumn
	key            string
	buckets        []*bucket3
}

// paramIndex is one parameter index (lookup) on a table.
type paramIndex struct {
	table   tablePattern3
	tvfArgs []evalFn
	filters []evalFn
	keys    []evalFn
	outputs []evalFn
	key     string
	id      int
	queryID string
}

func (s *streams3) sourceTables() []sqlvalue.TablePattern {
	var out []sqlvalue.TablePattern
	add := func(p sqlvalue.TablePattern) {
		for _, x := range out {
			if x == p {
				return
			}
		}
		out = append(out, p)
	}
	for _, d := range s.dataSources {
		add(d.table.pattern())
	}
	for _, x := range s.indexes {
		add(x.table.pattern())
	}
	return out
}

// jsonEachRows expands a json_each argument: array elements (key = index),
// object members (key = name) or one scalar row; NULL gives no rows.
func jsonEachRows(v sqlvalue.Value) ([]tvfRow, error) {
	if v.Kind() == sqlvalue.KindNull {
		return nil, nil
	}
	if v.Kind() != sqlvalue.KindText {
		return nil, errors.New("json_each: expected JSON text")
	}
	j, err := parseJSON(v.Str())
	if err != nil {
		return nil, fmt.Errorf("json_each: %w", err)
	}
	switch j.kind {
	case jsonArray:
		out := make([]tvfRow, len(j.arr))
		for i, e := range j.arr {
			out[i] = tvfRow{key: sqlvalue.Int(int64(i)), value: e.toValue()}
		}
		return out, nil
	case jsonObject:
		out := make([]tvfRow, len(j.arr))
		for i, e := range j.arr {
			out[i] = tvfRow{key: sqlvalue.Text(j.keys[i]), value: e.toValue()}
		}
		return out, nil
	}
	return []tvfRow{{value: j.toValue()}}, nil
}

// forEachJoined calls f for every combination of the rows of the attached
// json_each sources (once when there are none).
func forEachJoined(env *evalEnv, args []evalFn, f func() error) error {
	if len(args) == 0 {
		return f()
	}
	env.tvf = make([]tvfRow, len(args))
	var rec func(i int) error
	rec = func(i int) error {
		if i == len(args) {
			return f()
		}
		v, err := args[i](env)
		if err != nil {
			return err
		}
		rows, err := jsonEachRows(v)
		if err != nil {
			return err
		}
		for _, r := range rows {
			env.tvf[i] = r
			if err := rec(i + 1); err != nil {
				return err
			}
		}
		return nil
	}
	return rec(0)
}

func allTrue(env *evalEnv, fs []evalFn) (bool, error) {
	for _, f := range fs {
		v, err := f(env)
		if err != nil {
			return false, err
		}
		if !v.Truthy() {
			return false, nil
		}
	}
	return true, nil
}

// parameterValue reports whether v can be a bucket parameter or lookup
// key (not NULL, not BLOB).
func parameterValue(v sqlvalue.Value) bool {
	return v.Kind() != sqlvalue.KindNull && v.Kind() != sqlvalue.KindBlob
}

func (s *streams3) evaluateRow(c *Config, table sqlvalue.TableRef, row sqlvalue.Row, out []EvaluatedRow) ([]EvaluatedRow, []error) {
	var errs []error
	var env *evalEnv
	for _, ds := range s.dataSources {
		suffix, ok := ds.table.match(table)
		if !ok || len(ds.buckets) == 0 {
			continue
		}
		if env == nil {
			env = &evalEnv{row: row, schema: table.Schema, table: table.Name}
		}
		env.suffix, env.tvf = suffix, nil
		var err error
		out, err = ds.evaluate(c.prefix, env, out)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ds.buckets[0].name, err))
		}
	}
	return out, errs
}

// evaluate adds the bucket rows of one source row (env) to out.
func (ds *dataSource) evaluate(prefix string, env *evalEnv, out []EvaluatedRow) ([]EvaluatedRow, error) {
	if len(ds.tvfArgs) == 0 {
		return ds.emit(prefix, env, out)
	}
	start := len(out)
	err := forEachJoined(env, ds.tvfArgs, func() error {
		var err error
		out, err = ds.emit(prefix, env, out)
		return err
	})
	// Repeated array elements would put the row into a bucket twice; the
	// output data does not depend on the element, so keep one.
	kept := out[:start]
	for i := start; i < len(out); i++ {
		dup := false
		for _, k := range kept[start:] {
			if k.Bucket == out[i].Bucket {
				dup = true
				break
			}
		}
		if !dup {
			kept = append(kept, out[i])
		}
	}
	return kept, err
}

// emit adds the bucket rows of one joined row, if it passes the filters
// and every partition value can be a bucket parameter.
func (ds *dataSource) emit(prefix string, env *evalEnv, out []EvaluatedRow) ([]EvaluatedRow, error) {
	ok, err := allTrue(env, ds.filters)
	if err != nil || !ok {
		return out, err
	}
	var paramBuf [8]sqlvalue.Value
	params := paramBuf[:0]
	for _, p := range ds.partitions {
		v, err := p(env)
		if err != nil {
			return out, err
		}
		if !parameterValue(v) {
			return out, nil
		}
		params = append(params, v)
	}
	data, id, err := ds.outputRow(env)
	if err != nil {
		return out, err
	}
	outTable := ds.outputTable
	if ds.useSourceName {
		outTable = env.table
	}
	var idBuf [128]byte
	for _, b := range ds.buckets {
		idb := append(idBuf[:0], prefix...)
		idb = append(idb, b.name...)
		idb = append(idb, '[')
		for i, v := range params {
			if i > 0 {
				idb = append(idb, ',')
			}
			idb = sqlvalue.AppendBucketValue(idb, v)
		}
		idb = append(idb, ']')
		out = append(out, EvaluatedRow{Bucket: string(idb), Table: outTable, ID: id, Data: data})
	}
	return out, nil
}

// outputRow builds the JSON data and id of a synced row: star copies every
// non-BLOB column (in name order), named columns set or overwrite theirs.
// Rows have few columns, so this uses linear scans and an insertion sort on
// stack arrays instead of maps.
func (ds *dataSource) outputRow(env *evalEnv) ([]byte, string, error) {
	var colBuf [16]sqlvalue.Column
	cols := colBuf[:0]
	size := 2
	set := func(name string, v sqlvalue.Value) {
		for i := range cols {
			if cols[i].Name == name {
				cols[i].Value = v
				return
			}
		}
		cols = append(cols, sqlvalue.Column{Name: name, Value: v})
		size += len(name) + len(v.Str()) + 24
	}
	for _, c := range ds.columns {
		if c.star {
			var nameBuf [16]string
			names := nameBuf[:0]
			for k, v := range env.row {
				if v.Kind() == sqlvalue.KindBlob {
					continue
				}
				names = append(names, k)
				for j := len(names) - 1; j > 0 && names[j] < names[j-1]; j-- {
					names[j], names[j-1] = names[j-1], names[j]
				}
			}
			for _, k := range names {
				set(k, env.row[k])
			}
			continue
		}
		v, err := c.fn(env)
		if err != nil {
			return nil, "", err
		}
		if v.Kind() == sqlvalue.KindBlob {
			continue
		}
		set(c.name, v)
	}
	id := ""
	for i := range cols {
		if cols[i].Name != "id" {
			continue
		}
		v := cols[i].Value
		if v.Kind() == sqlvalue.KindText {
			id = v.Str()
		} else if v.Kind() != sqlvalue.KindNull {
			id = v.AsText()
		}
	}
	return sqlvalue.AppendRowJSON(make([]byte, 0, size), cols), id, nil
}

func (s *streams3) evaluateParameterRow(_ *Config, table sqlvalue.TableRef, row sqlvalue.Row, out []LookupEntry) ([]LookupEntry, []error) {
	var errs []error
	for _, idx := range s.indexes {
		suffix, ok := idx.table.match(table)
		if !ok {
			continue
		}
		var err error
		out, err = idx.evaluate(table, suffix, row, out)
		if err != nil {
			errs = append(errs, fmt.Errorf("lookup %s: %w", idx.queryID, err))
		}
	}
	return out, errs
}

// evaluate produces the index entries of one row: one entry per distinct
// key, holding every output row for that key.
func (idx *paramIndex) evaluate(table sqlvalue.TableRef, suffix string, row sqlvalue.Row, out []LookupEntry) ([]LookupEntry, error) {
	env := &evalEnv{row: row, schema: table.Schema, table: table.Name, suffix: suffix}
	type entry struct {
		key  []byte
		rows []byte
		n    int
	}
	var entries []*entry
	keyVals := make([]sqlvalue.Value, len(idx.keys))
	err := forEachJoined(env, idx.tvfArgs, func() error {
		ok, err := allTrue(env, idx.filters)
		if err != nil || !ok {
			return err
		}
		for i, k := range idx.keys {
			v, err := k(env)
			if err != nil {
				return err
			}
			if !parameterValue(v) {
				return nil
			}
			keyVals[i] = v
		}
		outVals := make([]sqlvalue.Value, len(idx.outputs))
		for i, o := range idx.outputs {
			v, err := o(env)
			if err != nil {
				return err
			}
			if !parameterValue(v) {
				return nil
			}
			outVals[i] = v
		}
		key := lookupKey("lookup", idx.queryID, keyVals)
		var e *entry
		for _, x := range entries {
			if string(x.key) == string(key) {
				e = x
			}
		}
		if e == nil {
			e = &entry{key: key}
			entries = append(entries, e)
		}
		if e.n > 0 {
			e.rows = append(e.rows, ',')
		}
		e.n++
		e.rows = appendResultRow(e.rows, outVals)
		return nil
	})
	for _, e := range entries {
		res := make([]byte, 0, len(e.rows)+2)
		res = append(res, '[')
		res = append(res, e.rows...)
		res = append(res, ']')
		out = append(out, LookupEntry{Key: e.key, Result: res})
	}
	return out, err
}

// lookupKey encodes [name, queryId, values...] as canonical JSON.
func lookupKey(name, queryID string, vals []sqlvalue.Value) []byte {
	b := []byte{'['}
	b = sqlvalue.AppendJSONString(b, name)
	b = append(b, ',')
	b = sqlvalue.AppendJSONString(b, queryID)
	for _, v := range vals {
		b = append(b, ',')
		b = sqlvalue.AppendLookupValue(b, v)
	}
	return append(b, ']')
}

// appendResultRow writes one lookup output row as {"0":v0,"1":v1,...}.
func appendResultRow(dst []byte, vals []sqlvalue.Value) []byte {
	dst = append(dst, '{')
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, itoa(i)...)
		dst = append(dst, '"', ':')
		dst = sqlvalue.AppendBucketValue(dst, v)
	}
	return append(dst, '}')
}

// decodeResultRows reads the rows written by appendResultRow (a JSON array
// of objects), as a LookupFunc returns them.
func decodeResultRows(results [][]byte, width int, dst [][]sqlvalue.Value) ([][]sqlvalue.Value, error) {
	for _, r := range results {
		j, err := parseJSON(string(r))
		if err != nil {
			return dst, fmt.Errorf("bad lookup result: %w", err)
		}
		rowsJ := j.arr
		switch j.kind {
		case jsonObject:
			rowsJ = []jsonValue{j}
		case jsonArray:
		default:
			return dst, errors.New("bad lookup result: not an array")
		}
		for _, rowJ := range rowsJ {
			row := make([]sqlvalue.Value, width)
			for i := range row {
				v, ok := rowJ.get(itoa(i))
				if !ok {
					return dst, errors.New("bad lookup result: missing column")
				}
				row[i] = v.toValue()
			}
			dst = append(dst, row)
		}
	}
	return dst, nil
}
