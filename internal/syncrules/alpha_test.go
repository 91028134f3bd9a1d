package syncrules_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

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
	rows, errs := c.EvaluateRow(syncrules.TableRef{Schema: "public", Name: "lists"}, syncrules.Row{"id": syncrules.Text("l1"), "owner_id": syncrules.Text("u1")})
	if errs != nil {
		t.Fatal(errs)
	}
	if got := rowsString(rows); !slices.Equal(got, []string{`1#own|0["u1"] lists/l1 {"id":"l1","owner_id":"u1"}`, `1#own|1[] lists/l1 {"id":"l1","owner_id":"u1"}`}) {
		t.Errorf("lists rows: %v", got)
	}
	rows, _ = c.EvaluateRow(syncrules.TableRef{Schema: "public", Name: "todos"}, syncrules.Row{"id": syncrules.Text("t1"), "list_id": syncrules.Text("l1")})
	if got := rowsString(rows); !slices.Equal(got, []string{`1#by_list|0["l1"] todos/t1 {"id":"t1","list_id":"l1"}`, `1#shared|0["l1"] todos/t1 {"id":"t1","list_id":"l1"}`}) {
		t.Errorf("todos rows: %v", got)
	}
	entries, _ := c.EvaluateParameterRow(syncrules.TableRef{Schema: "public", Name: "shares"}, syncrules.Row{"list_id": syncrules.Text("l1"), "user_id": syncrules.Text("u1")})
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
