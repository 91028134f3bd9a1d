package syncrules_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// TestCorpus runs every case of testdata/corpus (see its README.md)
// through the public API of the package.
func TestCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	total, pending := 0, 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cf corpusFile
		if err := yaml.Unmarshal(raw, &cf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		base := strings.TrimSuffix(filepath.Base(f), ".yaml")
		seen := map[string]bool{}
		run := func(name, pend string, fn func() []string) {
			total++
			if pend != "" {
				pending++
			}
			if seen[name] {
				t.Errorf("%s: duplicate case name %q", base, name)
			}
			seen[name] = true
			t.Run(base+"/"+name, func(t *testing.T) {
				failures := fn()
				switch {
				case pend != "" && len(failures) == 0:
					t.Errorf("case is marked pending (%s) but passes now: remove the marker", pend)
				case pend != "":
					t.Logf("pending (%s): %s", pend, strings.Join(failures, "; "))
				default:
					for _, m := range failures {
						t.Error(m)
					}
				}
			})
		}
		for _, c := range cf.Cases {
			run(c.Name, c.Pending, c.run)
		}
		for i, e := range cf.Expressions {
			name := fmt.Sprintf("%03d %s", i, e.Expr)
			run(name, e.Pending, e.run)
		}
		for i, p := range cf.Parity {
			name := fmt.Sprintf("%s/%s/%03d", p.Mode, p.Slot, i)
			run(name, p.Pending, p.run)
		}
	}
	t.Logf("corpus: %d cases, %d pending", total, pending)
}

type corpusFile struct {
	Cases       []corpusCase `yaml:"cases"`
	Expressions []exprCase   `yaml:"expressions"`
	Parity      []parityCase `yaml:"parity"`
}

type corpusCase struct {
	Name      string `yaml:"name"`
	From      string `yaml:"from"`
	Note      string `yaml:"note"`
	Pending   string `yaml:"pending"`
	Config    string `yaml:"config"`
	StreamSQL string `yaml:"stream_sql"`
	// ParameterSQL is shorthand for a bucket definition "mybucket" with
	// this parameter query and no data queries.
	ParameterSQL    string `yaml:"parameter_sql"`
	AcceptDangerous bool   `yaml:"accept_dangerous"`
	// DataSQL is shorthand for a bucket definition "mybucket" with this
	// data query; Params names its bucket parameters (from token_parameters).
	DataSQL       string        `yaml:"data_sql"`
	Params        []string      `yaml:"params"`
	Generate      string        `yaml:"generate"`
	DefaultSchema *string       `yaml:"default_schema"`
	Version       int64         `yaml:"version"`
	Diagnostics   *[]diagExpect `yaml:"diagnostics"`
	// DiagnosticsContain lists substrings each some diagnostic must have;
	// other diagnostics (fatal ones too) are allowed.
	DiagnosticsContain []string       `yaml:"diagnostics_contain"`
	Rows               []rowCase      `yaml:"rows"`
	ParameterRows      []paramRowCase `yaml:"parameter_rows"`
	Requests           []requestCase  `yaml:"requests"`
}

type diagExpect struct {
	Message  string  `yaml:"message"`
	Source   *string `yaml:"source"`
	Severity string  `yaml:"severity"`
	// At is the span as "line:col-line:col" (1-based, end exclusive).
	At string `yaml:"at"`
	// Line is the 1-based line the diagnostic starts on; Contains a
	// substring of its message.
	Line     int    `yaml:"line"`
	Contains string `yaml:"contains"`
}

type rowCase struct {
	Table       string         `yaml:"table"`
	Row         map[string]any `yaml:"row"`
	Expect      []rowExpect    `yaml:"expect"`
	ExpectError bool           `yaml:"expect_error"`
	Note        string         `yaml:"note"`
}

type rowExpect struct {
	Bucket string         `yaml:"bucket"`
	Table  string         `yaml:"table"`
	ID     string         `yaml:"id"`
	Data   map[string]any `yaml:"data"`
}

type paramRowCase struct {
	Table  string         `yaml:"table"`
	Row    map[string]any `yaml:"row"`
	Expect []lookupExpect `yaml:"expect"`
}

type lookupExpect struct {
	Lookup []any            `yaml:"lookup"`
	Rows   []map[string]any `yaml:"rows"`
}

type requestCase struct {
	Token           map[string]any `yaml:"token"`
	Parameters      map[string]any `yaml:"parameters"`
	IncludeDefaults *bool          `yaml:"include_defaults"`
	Subscriptions   []struct {
		Stream           string         `yaml:"stream"`
		Parameters       map[string]any `yaml:"parameters"`
		OverridePriority *int           `yaml:"override_priority"`
	} `yaml:"subscriptions"`
	Index []struct {
		Table string         `yaml:"table"`
		Row   map[string]any `yaml:"row"`
	} `yaml:"index"`
	Expect []struct {
		Bucket   string `yaml:"bucket"`
		Priority int    `yaml:"priority"`
		// Default and Subs, when given, are the inclusion reasons:
		// indexes into the checkpoint's streams / the subscriptions.
		Default *[]int `yaml:"default"`
		Subs    *[]int `yaml:"subs"`
	} `yaml:"expect"`
	// Streams, when given, are the checkpoint's stream descriptions as
	// "name" or "name (default)".
	Streams *[]string `yaml:"streams"`
	// StreamErrors are expected subscription errors, as
	// "stream/subscription: message substring".
	StreamErrors []string `yaml:"stream_errors"`
	Dynamic      *bool    `yaml:"dynamic"`
	MaxBuckets   int      `yaml:"max_buckets"`
	MaxLookups   int      `yaml:"max_lookup_results"`
	ExpectError  string   `yaml:"expect_error"`
	Note         string   `yaml:"note"`
}

type exprCase struct {
	Expr     string         `yaml:"expr"`
	With     map[string]any `yaml:"with"`
	Want     any            `yaml:"want"`
	Error    bool           `yaml:"error"`
	Editions []int          `yaml:"editions"`
	Note     string         `yaml:"note"`
	Pending  string         `yaml:"pending"`
}

type parityCase struct {
	Mode    string   `yaml:"mode"`
	Slot    string   `yaml:"slot"`
	SQL     string   `yaml:"sql"`
	Accept  bool     `yaml:"accept"`
	Err     string   `yaml:"err"`
	Params  []string `yaml:"params"`
	Pending string   `yaml:"pending"`
}

const corpusSchema = "test_schema"

// value converts a corpus value (README.md "Typed values") to a Value.
func value(x any) (sqlvalue.Value, error) {
	switch v := x.(type) {
	case nil:
		return sqlvalue.Null, nil
	case string:
		return sqlvalue.Text(v), nil
	case bool:
		return sqlvalue.Bool(v), nil
	case int:
		return sqlvalue.Int(int64(v)), nil
	case int64:
		return sqlvalue.Int(v), nil
	case uint64:
		if v > math.MaxInt64 {
			return sqlvalue.Null, fmt.Errorf("integer %d out of range", v)
		}
		return sqlvalue.Int(int64(v)), nil
	case float64:
		return sqlvalue.Real(v), nil
	case map[string]any:
		if len(v) == 1 {
			for k, inner := range v {
				s := fmt.Sprint(inner)
				switch k {
				case "$int":
					i, err := strconv.ParseInt(s, 10, 64)
					return sqlvalue.Int(i), err
				case "$real":
					f, err := strconv.ParseFloat(s, 64)
					return sqlvalue.Real(f), err
				case "$blob":
					b, err := hex.DecodeString(s)
					return sqlvalue.Blob(b), err
				}
			}
		}
	}
	b, err := json.Marshal(x)
	if err != nil {
		return sqlvalue.Null, err
	}
	return sqlvalue.Text(string(b)), nil
}

// row converts a corpus row. A {$timestamp: "RFC 3339", $digits: n} value
// is rendered the way a source would for this config (cfg), as a
// timestamptz with n sub-second digits of source precision.
func row(cfg *syncrules.Config, m map[string]any) (sqlvalue.Row, error) {
	r := sqlvalue.Row{}
	for k, x := range m {
		if ts, ok := x.(map[string]any); ok && ts["$timestamp"] != nil {
			t, err := time.Parse(time.RFC3339Nano, fmt.Sprint(ts["$timestamp"]))
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", k, err)
			}
			digits := 6
			if d, ok := ts["$digits"]; ok {
				digits, _ = strconv.Atoi(fmt.Sprint(d))
			}
			r[k] = sqlvalue.Text(cfg.TimestampFormat().Format(t, digits, true))
			continue
		}
		v, err := value(x)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", k, err)
		}
		r[k] = v
	}
	return r, nil
}

func tableRef(name string) sqlvalue.TableRef {
	if i := strings.IndexByte(name, '.'); i >= 0 && !strings.ContainsAny(name[:i], "[\"") {
		return sqlvalue.TableRef{Schema: name[:i], Name: name[i+1:]}
	}
	return sqlvalue.TableRef{Schema: corpusSchema, Name: name}
}

// canonicalJSON re-encodes JSON with sorted keys, keeping number text.
func canonicalJSON(b []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return "", fmt.Errorf("invalid JSON %q: %w", b, err)
	}
	out, err := json.Marshal(x)
	return string(out), err
}

// dataJSON is the row-data JSON of expected columns.
func dataJSON(m map[string]any) (string, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	cols := make([]sqlvalue.Column, 0, len(m))
	for _, k := range names {
		v, err := value(m[k])
		if err != nil {
			return "", err
		}
		cols = append(cols, sqlvalue.Column{Name: k, Value: v})
	}
	return canonicalJSON(sqlvalue.AppendRowJSON(nil, cols))
}

// paramJSON is the bucket-id / lookup style JSON of one value (no ".0").
func paramJSON(x any) (any, error) {
	v, err := value(x)
	if err != nil {
		return nil, err
	}
	switch v.Kind() {
	case sqlvalue.KindNull:
		return nil, nil
	case sqlvalue.KindInteger:
		return json.Number(strconv.FormatInt(v.Int64(), 10)), nil
	case sqlvalue.KindReal:
		f := v.Float64()
		if f == math.Trunc(f) && math.Abs(f) < 1e18 {
			return json.Number(strconv.FormatInt(int64(f), 10)), nil
		}
		return json.Number(sqlvalue.FormatJSNumber(f)), nil
	}
	return v.Str(), nil
}

func (c *corpusCase) configText() string {
	switch c.Generate {
	case "dnf_60":
		var terms []string
		for i := 0; i < 60; i++ {
			terms = append(terms, fmt.Sprintf("(subscription.parameter('skip_cond_%d') OR tbl.column%d = subscription.parameter('filter_%d'))", i, i, i))
		}
		return streamConfig("SELECT * FROM tbl WHERE " + strings.Join(terms, " AND "))
	case "buckets_128":
		gen := func(table string) string {
			var terms []string
			for i := 0; i < 6; i++ {
				terms = append(terms, fmt.Sprintf("(subscription.parameter('skip_%s_%d') OR %s.column%d = subscription.parameter('filter_%s_%d'))", table, i, table, i, table, i))
			}
			return strings.Join(terms, " AND ")
		}
		return "config:\n  edition: 3\nstreams:\n  manybuckets:\n    accept_potentially_dangerous_queries: true\n    queries:\n" +
			"      - " + jsonString("SELECT * FROM tbl0 WHERE "+gen("tbl0")) + "\n" +
			"      - " + jsonString("SELECT * FROM tbl1 WHERE "+gen("tbl1")) + "\n"
	}
	if c.StreamSQL != "" {
		return streamConfig(c.StreamSQL)
	}
	if c.DataSQL != "" {
		text := "bucket_definitions:\n  mybucket:\n"
		if len(c.Params) > 0 {
			var cols []string
			for _, p := range c.Params {
				cols = append(cols, "token_parameters."+p+" AS "+p)
			}
			text += "    parameters: SELECT " + strings.Join(cols, ", ") + "\n"
		}
		return text + "    data:\n      - |\n        " + c.DataSQL + "\n"
	}
	if c.ParameterSQL != "" {
		text := "bucket_definitions:\n  mybucket:\n"
		if c.AcceptDangerous {
			text += "    accept_potentially_dangerous_queries: true\n"
		}
		return text + "    parameters: |\n      " + c.ParameterSQL + "\n    data: []\n"
	}
	return c.Config
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// streamConfig wraps one query into an edition-3 config (dangerous
// parameter warnings off), as a block scalar so spans are the SQL text.
func streamConfig(sql string) string {
	return "config:\n  edition: 3\nstreams:\n  stream:\n    accept_potentially_dangerous_queries: true\n    query: |\n      " + sql + "\n"
}

// sourceOf returns the config text under a diagnostic's span.
func sourceOf(text string, d syncrules.Diagnostic) string {
	off := func(line, col int) int {
		pos := 0
		for l := 1; l < line && pos <= len(text); l++ {
			i := strings.IndexByte(text[pos:], '\n')
			if i < 0 {
				return len(text)
			}
			pos += i + 1
		}
		for c := 1; c < col && pos < len(text); c++ {
			_, size := utf8.DecodeRuneInString(text[pos:])
			pos += size
		}
		return pos
	}
	a, b := off(d.Line, d.Column), off(d.EndLine, d.EndColumn)
	if a > b || b > len(text) {
		return ""
	}
	return text[a:b]
}

func describeDiags(text string, ds syncrules.Diagnostics) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%s [%q at %d:%d-%d:%d]", d.String(), sourceOf(text, d), d.Line, d.Column, d.EndLine, d.EndColumn))
	}
	return strings.Join(parts, "; ")
}

func (c *corpusCase) run() (failures []string) {
	fail := func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) }
	defer func() {
		if r := recover(); r != nil {
			fail("panic: %v", r)
		}
	}()
	text := c.configText()
	schema := corpusSchema
	if c.DefaultSchema != nil {
		schema = *c.DefaultSchema
	}
	cfg, diags := syncrules.Parse([]byte(text), syncrules.ParseOptions{DefaultSchema: schema})
	for _, sub := range c.DiagnosticsContain {
		found := false
		for _, d := range diags {
			found = found || strings.Contains(d.Message, sub)
		}
		if !found {
			fail("no diagnostic containing %q: %s", sub, describeDiags(text, diags))
		}
	}
	if c.Diagnostics != nil {
		failures = append(failures, matchDiags(text, diags, *c.Diagnostics)...)
	} else if diags.HasFatal() && len(c.DiagnosticsContain) == 0 {
		fail("unexpected errors: %s", describeDiags(text, diags))
	}
	if cfg == nil {
		if len(c.Rows)+len(c.ParameterRows)+len(c.Requests) > 0 {
			fail("config did not compile: %s", describeDiags(text, diags))
		}
		return failures
	}
	if c.Version != 0 {
		cfg = cfg.Versioned(c.Version)
	}
	for i, rc := range c.Rows {
		failures = append(failures, prefixAll(fmt.Sprintf("rows[%d] %s", i, rc.Table), checkRow(cfg, rc))...)
	}
	for i, pc := range c.ParameterRows {
		failures = append(failures, prefixAll(fmt.Sprintf("parameter_rows[%d] %s", i, pc.Table), checkParamRow(cfg, pc))...)
	}
	for i, rq := range c.Requests {
		failures = append(failures, prefixAll(fmt.Sprintf("requests[%d]", i), checkRequest(cfg, rq))...)
	}
	return failures
}

func prefixAll(p string, ms []string) []string {
	for i := range ms {
		ms[i] = p + ": " + ms[i]
	}
	return ms
}

func matchDiags(text string, got syncrules.Diagnostics, want []diagExpect) []string {
	used := make([]bool, len(got))
	var failures []string
	for _, w := range want {
		found := false
		for i, d := range got {
			if used[i] {
				continue
			}
			if w.Severity != "" && (w.Severity == "warning") != (d.Severity == syncrules.SeverityWarning) {
				continue
			}
			if w.Message != "" && w.Message != d.Message {
				continue
			}
			if w.Source != nil && *w.Source != sourceOf(text, d) {
				continue
			}
			if w.At != "" && w.At != fmt.Sprintf("%d:%d-%d:%d", d.Line, d.Column, d.EndLine, d.EndColumn) {
				continue
			}
			if w.Line != 0 && w.Line != d.Line {
				continue
			}
			if w.Contains != "" && !strings.Contains(d.Message, w.Contains) {
				continue
			}
			used[i], found = true, true
			break
		}
		if !found {
			src := ""
			if w.Source != nil {
				src = fmt.Sprintf(" at %q", *w.Source)
			}
			if w.At != "" {
				src += " [" + w.At + "]"
			}
			if w.Line != 0 {
				src += fmt.Sprintf(" on line %d", w.Line)
			}
			if w.Contains != "" {
				src += fmt.Sprintf(" containing %q", w.Contains)
			}
			failures = append(failures, fmt.Sprintf("missing %s diagnostic %q%s", w.Severity, w.Message, src))
		}
	}
	for i, d := range got {
		if !used[i] {
			failures = append(failures, fmt.Sprintf("unexpected diagnostic %s [%q]", d.String(), sourceOf(text, d)))
		}
	}
	return failures
}

func checkRow(cfg *syncrules.Config, rc rowCase) []string {
	r, err := row(cfg, rc.Row)
	if err != nil {
		return []string{err.Error()}
	}
	got, errs := cfg.EvaluateRow(tableRef(rc.Table), r)
	var failures []string
	if rc.ExpectError != (len(errs) > 0) {
		failures = append(failures, fmt.Sprintf("errors: got %v, want error=%v", errs, rc.ExpectError))
	}
	var gotS, wantS []string
	for _, g := range got {
		d, err := canonicalJSON(g.Data)
		if err != nil {
			return append(failures, err.Error())
		}
		gotS = append(gotS, fmt.Sprintf("%s %s %s %s", g.Bucket, g.Table, g.ID, d))
	}
	for _, w := range rc.Expect {
		d, err := dataJSON(w.Data)
		if err != nil {
			return append(failures, err.Error())
		}
		wantS = append(wantS, fmt.Sprintf("%s %s %s %s", w.Bucket, w.Table, w.ID, d))
	}
	sort.Strings(gotS)
	sort.Strings(wantS)
	if !slices.Equal(gotS, wantS) {
		failures = append(failures, fmt.Sprintf("rows:\n got  %q\n want %q", gotS, wantS))
	}
	return failures
}

// decodeEntries groups lookup entries by key: key JSON → sorted row JSONs.
func decodeEntries(entries []syncrules.LookupEntry) (map[string][]string, error) {
	out := map[string][]string{}
	for _, e := range entries {
		k, err := canonicalJSON(e.Key)
		if err != nil {
			return nil, err
		}
		d := json.NewDecoder(bytes.NewReader(e.Result))
		d.UseNumber()
		var x any
		if err := d.Decode(&x); err != nil {
			return nil, fmt.Errorf("result %q: %w", e.Result, err)
		}
		rows, ok := x.([]any)
		if !ok {
			rows = []any{x}
		}
		for _, r := range rows {
			b, _ := json.Marshal(normalizeNumbers(r))
			out[k] = append(out[k], string(b))
		}
		sort.Strings(out[k])
	}
	return out, nil
}

// normalizeNumbers writes integral JSON numbers without a fraction (314.0
// → 314): lookup results are compared as parameter values, where the two
// are the same.
func normalizeNumbers(x any) any {
	switch v := x.(type) {
	case json.Number:
		if f, err := v.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1e18 && strings.ContainsAny(string(v), ".eE") {
			return json.Number(strconv.FormatInt(int64(f), 10))
		}
	case map[string]any:
		for k, e := range v {
			v[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = normalizeNumbers(e)
		}
	}
	return x
}

func checkParamRow(cfg *syncrules.Config, pc paramRowCase) []string {
	r, err := row(cfg, pc.Row)
	if err != nil {
		return []string{err.Error()}
	}
	got, errs := cfg.EvaluateParameterRow(tableRef(pc.Table), r)
	var failures []string
	if len(errs) > 0 {
		failures = append(failures, fmt.Sprintf("errors: %v", errs))
	}
	gotM, err := decodeEntries(got)
	if err != nil {
		return append(failures, err.Error())
	}
	wantM := map[string][]string{}
	for _, w := range pc.Expect {
		key := make([]any, len(w.Lookup))
		for i, x := range w.Lookup {
			if key[i], err = paramJSON(x); err != nil {
				return append(failures, err.Error())
			}
		}
		kb, _ := json.Marshal(key)
		k := string(kb)
		for _, rw := range w.Rows {
			m := map[string]any{}
			for c, x := range rw {
				if m[c], err = paramJSON(x); err != nil {
					return append(failures, err.Error())
				}
			}
			b, _ := json.Marshal(m)
			wantM[k] = append(wantM[k], string(b))
		}
		if len(w.Rows) == 0 {
			wantM[k] = append(wantM[k], "{}")
		}
		sort.Strings(wantM[k])
	}
	if !reflect.DeepEqual(gotM, wantM) && !(len(gotM) == 0 && len(wantM) == 0) {
		failures = append(failures, fmt.Sprintf("lookup entries:\n got  %v\n want %v", gotM, wantM))
	}
	return failures
}

func jsonOf(m map[string]any) ([]byte, error) {
	if m == nil {
		return nil, nil
	}
	return json.Marshal(m)
}

func checkRequest(cfg *syncrules.Config, rq requestCase) []string {
	var failures []string
	claims, err := jsonOf(rq.Token)
	if err != nil {
		return []string{err.Error()}
	}
	if claims == nil {
		claims = []byte("{}")
	}
	req := syncrules.Request{Claims: claims, IncludeDefaults: true, MaxBuckets: rq.MaxBuckets, MaxLookupResults: rq.MaxLookups}
	if sub, ok := rq.Token["sub"].(string); ok {
		req.UserID = sub
	}
	if req.Parameters, err = jsonOf(rq.Parameters); err != nil {
		return []string{err.Error()}
	}
	if rq.IncludeDefaults != nil {
		req.IncludeDefaults = *rq.IncludeDefaults
	}
	for _, s := range rq.Subscriptions {
		p, err := jsonOf(s.Parameters)
		if err != nil {
			return []string{err.Error()}
		}
		req.Streams = append(req.Streams, syncrules.Subscription{Stream: s.Stream, Parameters: p, OverridePriority: s.OverridePriority})
	}
	index := map[string][][]byte{}
	for _, ir := range rq.Index {
		r, err := row(cfg, ir.Row)
		if err != nil {
			return []string{err.Error()}
		}
		entries, errs := cfg.EvaluateParameterRow(tableRef(ir.Table), r)
		if len(errs) > 0 {
			failures = append(failures, fmt.Sprintf("index row %s: %v", ir.Table, errs))
		}
		for _, e := range entries {
			index[string(e.Key)] = append(index[string(e.Key)], e.Result)
		}
	}
	lookup := func(keys [][]byte) ([][][]byte, error) {
		out := make([][][]byte, len(keys))
		for i, k := range keys {
			out[i] = index[string(k)]
		}
		return out, nil
	}
	q, err := cfg.NewQuerier(req)
	var buckets []syncrules.BucketDescription
	if err == nil {
		if rq.Dynamic != nil && q.Dynamic() != *rq.Dynamic {
			failures = append(failures, fmt.Sprintf("Dynamic() = %v, want %v", q.Dynamic(), *rq.Dynamic))
		}
		buckets, err = q.Buckets(context.Background(), lookup)
		var gotStreams []string
		matched := make([]bool, len(rq.StreamErrors))
		for _, s := range q.Streams() {
			name := s.Name
			if s.IsDefault {
				name += " (default)"
			}
			gotStreams = append(gotStreams, name)
			for _, e := range s.Errors {
				found := false
				for i, w := range rq.StreamErrors {
					prefix, msg, _ := strings.Cut(w, ": ")
					if !matched[i] && prefix == fmt.Sprintf("%s/%v", s.Name, e.Subscription) && strings.Contains(e.Message, msg) {
						matched[i], found = true, true
						break
					}
				}
				if !found {
					failures = append(failures, fmt.Sprintf("stream %s error for %v: %s", s.Name, e.Subscription, e.Message))
				}
			}
		}
		for i, ok := range matched {
			if !ok {
				failures = append(failures, "missing stream error "+rq.StreamErrors[i])
			}
		}
		if rq.Streams != nil && !slices.Equal(gotStreams, *rq.Streams) {
			failures = append(failures, fmt.Sprintf("streams: got %q, want %q", gotStreams, *rq.Streams))
		}
	}
	if rq.ExpectError != "" {
		if err == nil || !strings.Contains(err.Error(), rq.ExpectError) {
			failures = append(failures, fmt.Sprintf("error %v, want one containing %q", err, rq.ExpectError))
		}
		return failures
	}
	if err != nil {
		return append(failures, "querier: "+err.Error())
	}
	var got, want []string
	for _, b := range buckets {
		got = append(got, fmt.Sprintf("%s@%d", b.Bucket, b.Priority))
	}
	for _, e := range rq.Expect {
		want = append(want, fmt.Sprintf("%s@%d", e.Bucket, e.Priority))
		for _, b := range buckets {
			if b.Bucket != e.Bucket {
				continue
			}
			if e.Default != nil && !sameInts(b.Default, *e.Default) {
				failures = append(failures, fmt.Sprintf("%s: default reasons %v, want %v", b.Bucket, b.Default, *e.Default))
			}
			if e.Subs != nil && !sameInts(b.Subs, *e.Subs) {
				failures = append(failures, fmt.Sprintf("%s: subscription reasons %v, want %v", b.Bucket, b.Subs, *e.Subs))
			}
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		failures = append(failures, fmt.Sprintf("buckets:\n got  %q\n want %q", got, want))
	}
	return failures
}

// sameInts compares two index sets regardless of order.
func sameInts(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func (e *exprCase) run() (failures []string) {
	defer func() {
		if r := recover(); r != nil {
			failures = append(failures, fmt.Sprintf("panic: %v", r))
		}
	}()
	editions := e.Editions
	if len(editions) == 0 {
		editions = []int{1, 3}
	}
	for _, ed := range editions {
		for _, m := range e.runEdition(ed) {
			failures = append(failures, fmt.Sprintf("edition %d: %s", ed, m))
		}
	}
	return failures
}

func (e *exprCase) runEdition(ed int) []string {
	sql := jsonString("SELECT id, " + e.Expr + " AS r FROM t")
	var text string
	switch ed {
	case 3:
		text = "config:\n  edition: 3\nstreams:\n  s:\n    query: " + sql + "\n"
	default:
		text = fmt.Sprintf("config:\n  edition: %d\nbucket_definitions:\n  b:\n    data:\n      - %s\n", ed, sql)
	}
	cfg, diags := syncrules.Parse([]byte(text), syncrules.ParseOptions{DefaultSchema: corpusSchema})
	if cfg == nil {
		return []string{"config did not compile: " + describeDiags(text, diags)}
	}
	m := map[string]any{"id": "x"}
	for k, v := range e.With {
		m[k] = v
	}
	r, err := row(cfg, m)
	if err != nil {
		return []string{err.Error()}
	}
	got, errs := cfg.EvaluateRow(sqlvalue.TableRef{Schema: corpusSchema, Name: "t"}, r)
	if e.Error {
		if len(errs) == 0 {
			var data []string
			for _, g := range got {
				data = append(data, string(g.Data))
			}
			return []string{fmt.Sprintf("want an evaluation error, got %v", data)}
		}
		return nil
	}
	if len(errs) > 0 {
		return []string{fmt.Sprintf("evaluation errors: %v", errs)}
	}
	if len(got) != 1 {
		return []string{fmt.Sprintf("got %d rows, want 1", len(got))}
	}
	var gotData map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(got[0].Data))
	d.UseNumber()
	if err := d.Decode(&gotData); err != nil {
		return []string{err.Error()}
	}
	want, err := dataJSON(map[string]any{"r": e.Want})
	if err != nil {
		return []string{err.Error()}
	}
	gotR, ok := gotData["r"]
	if !ok {
		return []string{fmt.Sprintf("no column r in %s", got[0].Data)}
	}
	gotS, err := canonicalJSON([]byte(`{"r":` + string(gotR) + `}`))
	if err != nil {
		return []string{err.Error()}
	}
	if gotS != want {
		return []string{fmt.Sprintf("got %s, want %s", gotS, want)}
	}
	return nil
}

func (p *parityCase) run() (failures []string) {
	defer func() {
		if r := recover(); r != nil {
			failures = append(failures, fmt.Sprintf("panic: %v", r))
		}
	}()
	var text string
	block := "|\n      " + p.SQL
	switch p.Mode + "/" + p.Slot {
	case "new_compiler/query":
		text = streamConfig(p.SQL)
	case "new_compiler/with":
		text = "config:\n  edition: 3\nwith:\n  cte: " + block + "\nstreams:\n  stream:\n    query: SELECT * FROM users\n"
	case "sync_streams_alpha/query":
		text = "config:\n  edition: 2\nstreams:\n  stream:\n    query: " + block + "\n"
	case "bucket_definitions/parameters":
		text = "bucket_definitions:\n  bucket:\n    accept_potentially_dangerous_queries: true\n    parameters: " + block + "\n    data: []\n"
	case "bucket_definitions/data":
		text = "bucket_definitions:\n  bucket:\n"
		if len(p.Params) > 0 {
			var cols []string
			for _, x := range p.Params {
				cols = append(cols, "token_parameters."+x+" AS "+x)
			}
			text += "    parameters: SELECT " + strings.Join(cols, ", ") + "\n"
		}
		text += "    data:\n      - " + jsonString(p.SQL) + "\n"
	default:
		return []string{"unknown parity mode/slot " + p.Mode + "/" + p.Slot}
	}
	_, diags := syncrules.Parse([]byte(text), syncrules.ParseOptions{DefaultSchema: corpusSchema})
	var fatal []string
	for _, d := range diags {
		if d.Severity == syncrules.SeverityFatal {
			fatal = append(fatal, d.Message)
		}
	}
	if p.Accept {
		if len(fatal) > 0 {
			return []string{"rejected: " + describeDiags(text, diags)}
		}
		return nil
	}
	if len(fatal) == 0 {
		return []string{"accepted, want rejected"}
	}
	if p.Err != "" {
		for _, m := range fatal {
			if strings.Contains(strings.ToLower(m), strings.ToLower(p.Err)) {
				return nil
			}
		}
		return []string{fmt.Sprintf("no error containing %q: %s", p.Err, describeDiags(text, diags))}
	}
	return nil
}
