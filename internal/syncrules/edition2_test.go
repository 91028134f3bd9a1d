package syncrules_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules"
)

func TestAlphaStreams(t *testing.T) {
	c, diags := syncrules.Parse([]byte(`
config:
  edition: 2
streams:
  own:
    auto_subscribe: true
    priority: 1
    query: SELECT * FROM lists WHERE owner_id = auth.user_id() OR auth.parameter('admin')
  by_list:
    query: SELECT * FROM todos WHERE list_id = subscription.parameter('list')
  shared:
    query: SELECT * FROM todos WHERE list_id IN (SELECT list_id FROM shares WHERE user_id = auth.user_id())
`), syncrules.ParseOptions{DefaultSchema: "public"})
	if c == nil {
		t.Fatal(diags)
	}
	if len(diags) != 1 || diags[0].Severity != syncrules.SeverityWarning {
		t.Errorf("diagnostics: %v", diags)
	}
	c = c.Versioned(1)
	rows, errs := c.EvaluateRow(sqlvalue.TableRef{Schema: "public", Name: "lists"}, sqlvalue.Row{"id": sqlvalue.Text("l1"), "owner_id": sqlvalue.Text("u1")})
	if errs != nil {
		t.Fatal(errs)
	}
	if got := rowsString(rows); !slices.Equal(got, []string{`1#own|0["u1"] lists/l1 {"id":"l1","owner_id":"u1"}`, `1#own|1[] lists/l1 {"id":"l1","owner_id":"u1"}`}) {
		t.Errorf("lists rows: %v", got)
	}
	rows, _ = c.EvaluateRow(sqlvalue.TableRef{Schema: "public", Name: "todos"}, sqlvalue.Row{"id": sqlvalue.Text("t1"), "list_id": sqlvalue.Text("l1")})
	if got := rowsString(rows); !slices.Equal(got, []string{`1#by_list|0["l1"] todos/t1 {"id":"t1","list_id":"l1"}`, `1#shared|0["l1"] todos/t1 {"id":"t1","list_id":"l1"}`}) {
		t.Errorf("todos rows: %v", got)
	}
	entries, _ := c.EvaluateParameterRow(sqlvalue.TableRef{Schema: "public", Name: "shares"}, sqlvalue.Row{"list_id": sqlvalue.Text("l1"), "user_id": sqlvalue.Text("u1")})
	if len(entries) != 1 || string(entries[0].Key) != `["shared","0","u1"]` || string(entries[0].Result) != `{"result":"l1"}` {
		t.Fatalf("entries: %v", entries)
	}
	index := map[string][][]byte{string(entries[0].Key): {entries[0].Result}}
	lookup := func(keys [][]byte) ([][][]byte, error) {
		out := make([][][]byte, len(keys))
		for i, k := range keys {
			out[i] = index[string(k)]
		}
		return out, nil
	}
	two := 2
	q, err := c.NewQuerier(syncrules.Request{Claims: []byte(`{"sub":"u1"}`), IncludeDefaults: true, Streams: []syncrules.Subscription{
		{Stream: "by_list", Parameters: []byte(`{"list":"l1"}`), OverridePriority: &two},
		{Stream: "shared"},
		{Stream: "unknown"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.Buckets(context.Background(), lookup)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range b {
		got = append(got, fmt.Sprintf("%s p%d d%v s%v", x.Bucket, x.Priority, x.Default, x.Subs))
	}
	want := []string{`1#own|0["u1"] p1 d[0] s[]`, `1#by_list|0["l1"] p2 d[] s[0]`, `1#shared|0["l1"] p3 d[] s[1]`}
	if !slices.Equal(got, want) {
		t.Errorf("buckets %v, want %v", got, want)
	}
	var names []string
	for _, s := range q.Streams() {
		names = append(names, fmt.Sprintf("%s/%v", s.Name, s.IsDefault))
	}
	if !slices.Equal(names, []string{"own/true", "by_list/false", "shared/false"}) {
		t.Errorf("streams %v", names)
	}
}

// TestAlphaStreamSemantics follows the reference's alpha-stream tests:
// variants from OR, pure row/request ORs kept whole, negation handling,
// overlap and NULL request values.
func TestAlphaStreamSemantics(t *testing.T) {
	type rowCase struct {
		table string
		row   sqlvalue.Row
		want  []string
	}
	tests := []struct {
		name, query string
		rows        []rowCase
		claims      string
		params      string // subscription parameters
		lookup      map[string][]string
		buckets     []string
	}{
		{
			name:  "row condition or row condition is one variant",
			query: "SELECT * FROM comments WHERE LENGTH(content) > 5 OR json_array_length(tagged_users) > 1",
			rows: []rowCase{
				{"comments", sqlvalue.Row{"id": sqlvalue.Text("a"), "content": sqlvalue.Text("short"), "tagged_users": sqlvalue.Text(`["a","b"]`)}, []string{`stream|0[]`}},
				{"comments", sqlvalue.Row{"id": sqlvalue.Text("a"), "content": sqlvalue.Text("longer"), "tagged_users": sqlvalue.Text(`["a","b"]`)}, []string{`stream|0[]`}},
				{"comments", sqlvalue.Row{"id": sqlvalue.Text("a"), "content": sqlvalue.Text("short"), "tagged_users": sqlvalue.Text(`[]`)}, nil},
			},
		},
		{
			name:    "request condition or request condition is one variant",
			query:   "SELECT * FROM comments WHERE auth.parameter('a') OR auth.parameters() ->> 'b'",
			rows:    []rowCase{{"comments", sqlvalue.Row{"id": sqlvalue.Text("a")}, []string{`stream|0[]`}}},
			claims:  `{"a":true,"b":false}`,
			buckets: []string{`stream|0[]`},
		},
		{
			name:    "parameter match or row condition",
			query:   "SELECT * FROM issues WHERE owner_id = auth.user_id() OR LENGTH(name) = 3",
			rows:    []rowCase{{"issues", sqlvalue.Row{"id": sqlvalue.Text("f"), "owner_id": sqlvalue.Text("a"), "name": sqlvalue.Text("aaa")}, []string{`stream|0["a"]`, `stream|1[]`}}},
			claims:  `{"sub":"u1"}`,
			buckets: []string{`stream|0["u1"]`, `stream|1[]`},
		},
		{
			name:    "double negation",
			query:   "select * from comments where NOT (issue_id not in (select id from issues where owner_id = auth.user_id()))",
			rows:    []rowCase{{"comments", sqlvalue.Row{"id": sqlvalue.Text("c"), "issue_id": sqlvalue.Text("i")}, []string{`stream|0["i"]`}}, {"issues", sqlvalue.Row{"id": sqlvalue.Text("i"), "owner_id": sqlvalue.Text("user1")}, []string{`["stream","0","user1"] {"result":"i"}`}}},
			claims:  `{"sub":"user1"}`,
			lookup:  map[string][]string{`["stream","0","user1"]`: {`{"result":"i"}`}},
			buckets: []string{`stream|0["i"]`},
		},
		{
			name:  "negated and",
			query: "select * from comments where not (length(content) = 5 AND issue_id not in (select id from issues where owner_id = auth.user_id()))",
			rows: []rowCase{
				{"comments", sqlvalue.Row{"id": sqlvalue.Text("c"), "issue_id": sqlvalue.Text("i"), "content": sqlvalue.Text("foo")}, []string{`stream|0[]`, `stream|1["i"]`}},
				{"comments", sqlvalue.Row{"id": sqlvalue.Text("c"), "issue_id": sqlvalue.Text("i"), "content": sqlvalue.Text("foooo")}, []string{`stream|1["i"]`}},
			},
		},
		{
			name:    "overlap with a subquery",
			query:   "SELECT * FROM comments WHERE tagged_users && (SELECT user_a FROM friends WHERE user_b = auth.user_id())",
			rows:    []rowCase{{"comments", sqlvalue.Row{"id": sqlvalue.Text("c"), "tagged_users": sqlvalue.Text(`["a", "b"]`)}, []string{`stream|0["a"]`, `stream|0["b"]`}}, {"friends", sqlvalue.Row{"user_a": sqlvalue.Text("a"), "user_b": sqlvalue.Text("b")}, []string{`["stream","0","b"] {"result":"a"}`}}},
			claims:  `{"sub":"user1"}`,
			lookup:  map[string][]string{`["stream","0","user1"]`: {`{"result":"issue_id"}`}},
			buckets: []string{`stream|0["issue_id"]`},
		},
		{
			name:    "token array against literal",
			query:   `SELECT * FROM comments WHERE auth.parameters() -> 'tags' && '["foo"]'`,
			claims:  `{"sub":"u1","tags":["bar","foo"]}`,
			buckets: []string{`stream|0[]`},
		},
		{
			name:    "auth and subscription match on the same column",
			query:   "SELECT * FROM comments WHERE issue_id = subscription.parameter('issue') AND issue_id IN auth.parameter('issues')",
			rows:    []rowCase{{"comments", sqlvalue.Row{"id": sqlvalue.Text("a"), "issue_id": sqlvalue.Text("i")}, []string{`stream|0["i","i"]`}}},
			claims:  `{"sub":"a","issues":["i","i2"]}`,
			params:  `{"issue":"i"}`,
			buckets: []string{`stream|0["i","i"]`, `stream|0["i","i2"]`},
		},
		{
			name:    "NULL subscription parameter names a bucket",
			query:   "SELECT * FROM comments WHERE label = subscription.parameter('comment_label')",
			claims:  `{"sub":"u1"}`,
			buckets: []string{`stream|0[null]`},
		},
		{
			name:    "multiple matchers in a subquery",
			query:   `SELECT _id as id, * FROM "Scene" WHERE project IN (SELECT project FROM "ProjectInvitation" WHERE "appliedTo" != '' AND (auth.parameters() ->> 'haystack_id') IN "appliedTo" AND project = subscription.parameter('project') AND "status" = 'CLAIMED')`,
			rows:    []rowCase{{"ProjectInvitation", sqlvalue.Row{"project": sqlvalue.Text("foo"), "appliedTo": sqlvalue.Text("[1,2]"), "status": sqlvalue.Text("CLAIMED")}, []string{`["stream","0",1,"foo"] {"result":"foo"}`, `["stream","0",2,"foo"] {"result":"foo"}`}}},
			claims:  `{"sub":"user1","haystack_id":1}`,
			params:  `{"project":"foo"}`,
			lookup:  map[string][]string{`["stream","0",1,"foo"]`: {`{"result":"foo"}`}},
			buckets: []string{`stream|0["foo"]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, diags := syncrules.Parse([]byte("config:\n  edition: 2\nstreams:\n  stream:\n    query: '"+strings.ReplaceAll(tt.query, "'", "''")+"'\n"), syncrules.ParseOptions{DefaultSchema: "public"})
			if c == nil {
				t.Fatal(diags)
			}
			for _, rc := range tt.rows {
				table := sqlvalue.TableRef{Schema: "public", Name: rc.table}
				var got []string
				rows, errs := c.EvaluateRow(table, rc.row)
				entries, errs2 := c.EvaluateParameterRow(table, rc.row)
				if len(errs)+len(errs2) > 0 {
					t.Fatal(errs, errs2)
				}
				for _, r := range rows {
					got = append(got, r.Bucket)
				}
				for _, e := range entries {
					got = append(got, string(e.Key)+" "+string(e.Result))
				}
				if !slices.Equal(got, rc.want) {
					t.Errorf("%s row %v: got %v, want %v", rc.table, rc.row, got, rc.want)
				}
			}
			if tt.buckets == nil {
				return
			}
			sub := syncrules.Subscription{Stream: "stream"}
			if tt.params != "" {
				sub.Parameters = []byte(tt.params)
			}
			q, err := c.NewQuerier(syncrules.Request{Claims: []byte(tt.claims), IncludeDefaults: true, Streams: []syncrules.Subscription{sub}})
			if err != nil {
				t.Fatal(err)
			}
			b, err := q.Buckets(context.Background(), func(keys [][]byte) ([][][]byte, error) {
				out := make([][][]byte, len(keys))
				for i, k := range keys {
					for _, r := range tt.lookup[string(k)] {
						out[i] = append(out[i], []byte(r))
					}
				}
				return out, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range b {
				got = append(got, x.Bucket)
			}
			for _, s := range q.Streams() {
				for _, e := range s.Errors {
					got = append(got, "error: "+e.Message)
				}
			}
			if !slices.Equal(got, tt.buckets) {
				t.Errorf("buckets %v, want %v", got, tt.buckets)
			}
		})
	}
}

func TestAlphaDiagnosticsReportedOnce(t *testing.T) {
	_, diags := syncrules.Parse([]byte("config: {edition: 2}\nstreams:\n  s:\n    query: SELECT Name FROM t WHERE a = auth.user_id() OR b = auth.user_id()\n"), syncrules.ParseOptions{})
	var msgs []string
	for _, d := range diags {
		msgs = append(msgs, d.String())
	}
	want := []string{
		"2:1: warning: This is using an alpha version of Sync Streams. We recommend upgrading `config.edition` to version 3 to support the latest features.",
		`4:19: warning: Unquoted identifiers are converted to lower-case. Use "Name" instead.`,
		`4:12: error: Query must return an "id" column`,
	}
	slices.Sort(msgs)
	slices.Sort(want)
	if !slices.Equal(msgs, want) {
		t.Errorf("got %q\nwant %q", msgs, want)
	}
}
