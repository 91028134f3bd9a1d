package syncrules_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/protocol"
)

// This file tests edition-3 Sync Streams through the public API beyond
// what the corpus covers: limits, subscription errors, inclusion reasons,
// evaluation errors, diagnostics positions and concurrent use.

// memIndex is a parameter index built from rows, as storage would hold it.
type memIndex map[string][][]byte

func (m memIndex) add(t testing.TB, c *syncrules.Config, table string, rows ...sqlvalue.Row) {
	t.Helper()
	for _, r := range rows {
		entries, errs := c.EvaluateParameterRow(sqlvalue.TableRef{Schema: "public", Name: table}, r)
		if len(errs) > 0 {
			t.Fatalf("parameter row: %v", errs)
		}
		for _, e := range entries {
			m[string(e.Key)] = append(m[string(e.Key)], e.Result)
		}
	}
}

func (m memIndex) lookup(keys [][]byte) ([][][]byte, error) {
	out := make([][][]byte, len(keys))
	for i, k := range keys {
		out[i] = m[string(k)]
	}
	return out, nil
}

const membershipStreams = `
config:
  edition: 3
streams:
  lists:
    auto_subscribe: true
    query: SELECT * FROM lists WHERE id IN (SELECT list_id FROM members WHERE user_id = auth.user_id())
  todos:
    accept_potentially_dangerous_queries: true
    priority: 1
    query: SELECT * FROM todos WHERE list_id = subscription.parameter('list')
`

func TestStreamsLimits(t *testing.T) {
	c := mustParse(t, membershipStreams)
	idx := memIndex{}
	for i := 0; i < 20; i++ {
		idx.add(t, c, "members", sqlvalue.Row{"list_id": sqlvalue.Text("l" + strconv.Itoa(i)), "user_id": sqlvalue.Text("u")})
	}
	claims := []byte(`{"sub":"u"}`)

	tests := []struct {
		name       string
		maxBuckets int
		maxLookups int
		wantErr    string
		wantCount  int
	}{
		{name: "within limits", wantCount: 20},
		{name: "too many buckets", maxBuckets: 10, wantErr: "Too many buckets"},
		{name: "too many lookup results", maxLookups: 5, wantErr: "Too many parameter query results"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := c.NewQuerier(syncrules.Request{Claims: claims, IncludeDefaults: true, MaxBuckets: tc.maxBuckets, MaxLookupResults: tc.maxLookups})
			if err != nil {
				t.Fatal(err)
			}
			if !q.Dynamic() {
				t.Fatal("querier should be dynamic")
			}
			got, err := q.Buckets(context.Background(), idx.lookup)
			if tc.wantErr != "" {
				var pe *protocol.Error
				if !errors.As(err, &pe) || pe.Code != protocol.CodeTooManyBuckets || !strings.Contains(pe.Description, tc.wantErr) {
					t.Fatalf("err = %v, want %s %q", err, protocol.CodeTooManyBuckets, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != tc.wantCount {
				t.Fatalf("got %d buckets, err %v; want %d", len(got), err, tc.wantCount)
			}
		})
	}
}

func TestStreamsInclusionReasons(t *testing.T) {
	c := mustParse(t, membershipStreams)
	idx := memIndex{}
	idx.add(t, c, "members", sqlvalue.Row{"list_id": sqlvalue.Text("l1"), "user_id": sqlvalue.Text("u")})
	prio := 0
	req := syncrules.Request{
		Claims:          []byte(`{"sub":"u"}`),
		IncludeDefaults: true,
		Streams: []syncrules.Subscription{
			{Stream: "todos", Parameters: []byte(`{"list":"l1"}`)},
			{Stream: "todos", Parameters: []byte(`{"list":"l1"}`), OverridePriority: &prio},
			{Stream: "lists"},
			{Stream: "todos", Parameters: []byte(`[1]`)},
		},
	}
	q, err := c.NewQuerier(req)
	if err != nil {
		t.Fatal(err)
	}
	streams := q.Streams()
	if len(streams) != 2 || streams[0].Name != "lists" || !streams[0].IsDefault || streams[1].Name != "todos" || streams[1].IsDefault {
		t.Fatalf("streams = %+v", streams)
	}
	if len(streams[1].Errors) != 1 || streams[1].Errors[0].Subscription != 3 {
		t.Fatalf("todos errors = %+v, want one for subscription 3", streams[1].Errors)
	}
	got, err := q.Buckets(context.Background(), idx.lookup)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]syncrules.BucketDescription{}
	for _, b := range got {
		byName[b.Bucket] = b
	}
	lists, todos := byName[`lists|0["l1"]`], byName[`todos|0["l1"]`]
	if lists.Priority != 3 || len(lists.Default) != 1 || lists.Default[0] != 0 || len(lists.Subs) != 1 || lists.Subs[0] != 2 {
		t.Errorf("lists bucket = %+v, want default stream 0 and subscription 2", lists)
	}
	if todos.Priority != 0 || len(todos.Default) != 0 || len(todos.Subs) != 2 {
		t.Errorf("todos bucket = %+v, want priority 0 from subscriptions 0 and 1", todos)
	}
}

func TestStreamsRowErrors(t *testing.T) {
	c := mustParse(t, `
config:
  edition: 3
streams:
  tagged:
    accept_potentially_dangerous_queries: true
    query: SELECT * FROM posts WHERE subscription.parameter('tag') IN tags
  all:
    query: SELECT * FROM posts
`)
	rows, errs := c.EvaluateRow(sqlvalue.TableRef{Schema: "public", Name: "posts"}, sqlvalue.Row{"id": sqlvalue.Text("p"), "tags": sqlvalue.Text("not json")})
	if len(errs) != 1 {
		t.Fatalf("errs = %v, want one evaluation error", errs)
	}
	if len(rows) != 1 || rows[0].Bucket != "all|0[]" {
		t.Fatalf("rows = %+v, want the other stream's row", rows)
	}
}

func TestStreamsDiagnosticPosition(t *testing.T) {
	yaml := "config:\n  edition: 3\nstreams:\n  s:\n    query: |\n      SELECT * FROM items\n        WHERE owner = request.user_id()\n"
	_, diags := syncrules.Parse([]byte(yaml), syncrules.ParseOptions{DefaultSchema: "public"})
	if len(diags) != 1 {
		t.Fatalf("diags = %v", diags)
	}
	d := diags[0]
	if d.Message != "Invalid schema in function name" || d.Line != 7 || d.Column != 23 || d.EndLine != 7 || d.EndColumn != 38 {
		t.Fatalf("diag = %+v, want line 7 columns 23-38", d)
	}
}

func TestStreamsSourceTablesAndVersion(t *testing.T) {
	c := mustParse(t, membershipStreams)
	tables := map[sqlvalue.TablePattern]bool{}
	for _, p := range c.SourceTables() {
		tables[p] = true
	}
	for _, name := range []string{"lists", "members", "todos"} {
		if !tables[sqlvalue.TablePattern{Schema: "public", Name: name}] {
			t.Errorf("SourceTables() = %v, missing %s", c.SourceTables(), name)
		}
	}
	rows, _ := c.Versioned(7).EvaluateRow(sqlvalue.TableRef{Schema: "public", Name: "todos"}, sqlvalue.Row{"id": sqlvalue.Text("t"), "list_id": sqlvalue.Text("l")})
	if len(rows) != 1 || rows[0].Bucket != `7#todos|0["l"]` {
		t.Fatalf("rows = %+v", rows)
	}
}

// TestStreamsConcurrentUse evaluates one config from several goroutines
// (run with -race).
func TestStreamsConcurrentUse(t *testing.T) {
	c := mustParse(t, membershipStreams)
	idx := memIndex{}
	idx.add(t, c, "members", sqlvalue.Row{"list_id": sqlvalue.Text("l1"), "user_id": sqlvalue.Text("u")})
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				rows, errs := c.EvaluateRow(sqlvalue.TableRef{Schema: "public", Name: "lists"}, sqlvalue.Row{"id": sqlvalue.Text("l1")})
				if len(rows) != 1 || len(errs) != 0 {
					done <- errors.New("bad row result")
					return
				}
				q, err := c.NewQuerier(syncrules.Request{Claims: []byte(`{"sub":"u"}`), IncludeDefaults: true})
				if err != nil {
					done <- err
					return
				}
				if b, err := q.Buckets(context.Background(), idx.lookup); err != nil || len(b) != 1 {
					done <- errors.New("bad buckets")
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// benchStreams is the edition-3 form of benchConfig: a per-user, a
// per-list and a global stream.
const benchStreams = `
config:
  edition: 3
streams:
  by_user:
    auto_subscribe: true
    query: SELECT * FROM todos WHERE owner_id = auth.user_id()
  by_list:
    auto_subscribe: true
    query: SELECT id, description, completed, list_id FROM todos WHERE list_id IN (SELECT id FROM lists WHERE owner_id = auth.user_id())
  global:
    auto_subscribe: true
    query: SELECT * FROM lists
`

// BenchmarkStreamsEvaluateRow measures the replication hot path for
// edition-3 streams: one todo row → two buckets.
func BenchmarkStreamsEvaluateRow(b *testing.B) {
	benchmarkEvaluateRow(b, mustParse(b, benchStreams), 2)
}

// BenchmarkStreamsQuerier measures resolving the buckets of a connection
// with one lookup stage.
func BenchmarkStreamsQuerier(b *testing.B) {
	c := mustParse(b, benchStreams)
	idx := memIndex{}
	for i := 0; i < 50; i++ {
		idx.add(b, c, "lists", sqlvalue.Row{"id": sqlvalue.Text("list-" + strconv.Itoa(i)), "owner_id": sqlvalue.Text("user-1")})
	}
	req := syncrules.Request{Claims: []byte(`{"sub":"user-1"}`), IncludeDefaults: true}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q, err := c.NewQuerier(req)
		if err != nil {
			b.Fatal(err)
		}
		got, err := q.Buckets(context.Background(), idx.lookup)
		if err != nil || len(got) != 52 {
			b.Fatal(len(got), err)
		}
	}
}

// FuzzStreamsCompile compiles arbitrary stream queries and evaluates what
// compiles: no panics, no hangs.
func FuzzStreamsCompile(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM users",
		"SELECT * FROM comments WHERE issue_id IN (SELECT id FROM issues WHERE owner_id = auth.user_id())",
		"SELECT a.* FROM a, b, c WHERE a.c1 = b.c1 AND b.c2 = c.c2 AND c.u = auth.user_id()",
		"SELECT * FROM notes WHERE state NOT IN '[\"a\"]' OR owner = subscription.parameter('o')",
		"SELECT users.* FROM users, orgs, json_each(orgs.members) AS m WHERE users.id = m.value AND orgs.id = auth.parameter('org')",
		"SELECT id, CASE WHEN n BETWEEN 1 AND 2 THEN 'x' END AS k FROM t WHERE tags && connection.parameter('tags')",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		yaml := "config:\n  edition: 3\nstreams:\n  s:\n    auto_subscribe: true\n    query: " + strconv.Quote(sql) + "\n"
		c, _ := syncrules.Parse([]byte(yaml), syncrules.ParseOptions{DefaultSchema: "public"})
		if c == nil {
			return
		}
		row := sqlvalue.Row{"id": sqlvalue.Text("x"), "a": sqlvalue.Int(1), "tags": sqlvalue.Text(`["a"]`)}
		for _, p := range c.SourceTables() {
			ref := sqlvalue.TableRef{Schema: strings.TrimSuffix(p.Schema, "%"), Name: strings.TrimSuffix(p.Name, "%")}
			c.EvaluateRow(ref, row)
			c.EvaluateParameterRow(ref, row)
		}
		q, err := c.NewQuerier(syncrules.Request{Claims: []byte(`{"sub":"u","org":"o"}`), Parameters: []byte(`{"tags":["a"]}`), IncludeDefaults: true})
		if err != nil {
			return
		}
		_, _ = q.Buckets(context.Background(), func(keys [][]byte) ([][][]byte, error) {
			return make([][][]byte, len(keys)), nil
		})
	})
}

func TestStreamsDynamicErrors(t *testing.T) {
	c := mustParse(t, membershipStreams)
	req := syncrules.Request{Claims: []byte(`{"sub":"u"}`), IncludeDefaults: true}

	// A storage failure fails Buckets.
	q, err := c.NewQuerier(req)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("storage down")
	if _, err := q.Buckets(context.Background(), func([][]byte) ([][][]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the lookup error", err)
	}

	// A result that cannot be read concerns this subscription only.
	q, err = c.NewQuerier(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.Buckets(context.Background(), func(keys [][]byte) ([][][]byte, error) {
		out := make([][][]byte, len(keys))
		for i := range out {
			out[i] = [][]byte{[]byte("not json")}
		}
		return out, nil
	})
	if err != nil || len(got) != 0 {
		t.Fatalf("buckets %v, err %v; want none and no error", got, err)
	}
	streams := q.Streams()
	if len(streams) != 1 || len(streams[0].Errors) != 1 || streams[0].Errors[0].Subscription != "default" {
		t.Fatalf("streams = %+v, want one error for the default subscription", streams)
	}
}
