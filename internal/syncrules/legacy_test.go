package syncrules_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// mustParse parses a config that must compile without a fatal problem.
func mustParse(t testing.TB, yaml string) *syncrules.Config {
	t.Helper()
	c, diags := syncrules.Parse([]byte(yaml), syncrules.ParseOptions{DefaultSchema: "public"})
	if c == nil || diags.HasFatal() {
		t.Fatalf("Parse: %v", diags)
	}
	return c
}

func rowsString(rows []syncrules.EvaluatedRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s %s/%s %s", r.Bucket, r.Table, r.ID, r.Data))
	}
	return out
}

var todos = sqlvalue.TableRef{Schema: "public", Name: "todos"}
var lists = sqlvalue.TableRef{Schema: "public", Name: "lists"}

const basicConfig = `
bucket_definitions:
  by_user:
    parameters: SELECT request.user_id() AS user_id
    data:
      - SELECT * FROM todos WHERE owner_id = bucket.user_id
  by_list:
    parameters: SELECT id AS list_id FROM lists WHERE owner_id = request.user_id()
    data:
      - SELECT * FROM todos WHERE list_id = bucket.list_id
  global:
    data: ["SELECT * FROM lists"]
`

func TestLegacyEndToEnd(t *testing.T) {
	c := mustParse(t, basicConfig).Versioned(7)
	rows, errs := c.EvaluateRow(todos, sqlvalue.Row{
		"id": sqlvalue.Text("t1"), "owner_id": sqlvalue.Text("u1"), "list_id": sqlvalue.Text("l1"),
		"done": sqlvalue.Int(0), "weight": sqlvalue.Real(2), "_hidden": sqlvalue.Int(1),
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []string{
		`7#by_user["u1"] todos/t1 {"done":0,"id":"t1","list_id":"l1","owner_id":"u1","weight":2.0}`,
		`7#by_list["l1"] todos/t1 {"done":0,"id":"t1","list_id":"l1","owner_id":"u1","weight":2.0}`,
	}
	if got := rowsString(rows); !slices.Equal(got, want) {
		t.Errorf("EvaluateRow(todos) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rows, _ = c.EvaluateRow(lists, sqlvalue.Row{"id": sqlvalue.Text("l1"), "owner_id": sqlvalue.Text("u1")})
	if got := rowsString(rows); !slices.Equal(got, []string{`7#global[] lists/l1 {"id":"l1","owner_id":"u1"}`}) {
		t.Errorf("EvaluateRow(lists) = %v", got)
	}
	entries, errs := c.EvaluateParameterRow(lists, sqlvalue.Row{"id": sqlvalue.Text("l1"), "owner_id": sqlvalue.Text("u1")})
	if len(errs) > 0 || len(entries) != 1 {
		t.Fatalf("EvaluateParameterRow = %v %v", entries, errs)
	}
	if string(entries[0].Key) != `["by_list","1","u1"]` || string(entries[0].Result) != `{"list_id":"l1"}` {
		t.Errorf("lookup entry = %s → %s", entries[0].Key, entries[0].Result)
	}
	if tables := c.SourceTables(); len(tables) != 2 {
		t.Errorf("SourceTables = %v", tables)
	}

	q, err := c.NewQuerier(syncrules.Request{UserID: "u1", Claims: []byte(`{"sub":"u1"}`), IncludeDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	if !q.Dynamic() {
		t.Error("querier should be dynamic")
	}
	index := map[string][][]byte{string(entries[0].Key): {entries[0].Result}}
	lookup := func(keys [][]byte) ([][][]byte, error) {
		out := make([][][]byte, len(keys))
		for i, k := range keys {
			out[i] = index[string(k)]
		}
		return out, nil
	}
	buckets, err := q.Buckets(context.Background(), lookup)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range buckets {
		names = append(names, fmt.Sprintf("%s p%d d%v", b.Bucket, b.Priority, b.Default))
	}
	wantB := []string{`7#by_user["u1"] p3 d[0]`, `7#global[] p3 d[2]`, `7#by_list["l1"] p3 d[1]`}
	if !slices.Equal(names, wantB) {
		t.Errorf("Buckets = %v, want %v", names, wantB)
	}
	streams := q.Streams()
	if len(streams) != 3 || streams[1].Name != "by_list" || !streams[1].IsDefault {
		t.Errorf("Streams = %+v", streams)
	}
	q2, _ := c.NewQuerier(syncrules.Request{UserID: "u1", IncludeDefaults: false})
	if b, _ := q2.Buckets(context.Background(), lookup); len(b) != 0 {
		t.Errorf("include_defaults false: %v", b)
	}
}

func TestLegacyLimits(t *testing.T) {
	c := mustParse(t, `
bucket_definitions:
  by_group:
    parameters: SELECT id AS g FROM groups WHERE request.user_id() IN groups.members
    data: []
`)
	q, err := c.NewQuerier(syncrules.Request{UserID: "u", IncludeDefaults: true, MaxBuckets: 2, MaxLookupResults: 5})
	if err != nil {
		t.Fatal(err)
	}
	many := func(n int) syncrules.LookupFunc {
		return func(keys [][]byte) ([][][]byte, error) {
			var res [][]byte
			for i := 0; i < n; i++ {
				res = append(res, []byte(fmt.Sprintf(`{"g":%d}`, i)))
			}
			return [][][]byte{res}, nil
		}
	}
	if _, err := q.Buckets(context.Background(), many(3)); err == nil || !strings.Contains(err.Error(), "Too many buckets: 3 (limit of 2)") {
		t.Errorf("bucket limit: %v", err)
	}
	if _, err := q.Buckets(context.Background(), many(6)); err == nil || !strings.Contains(err.Error(), "Too many parameter query results (limit of 5)") {
		t.Errorf("lookup limit: %v", err)
	}
	b, err := q.Buckets(context.Background(), many(2))
	if err != nil || len(b) != 2 || b[0].Bucket != "by_group[0]" {
		t.Errorf("Buckets = %v %v", b, err)
	}
}

type evalCase struct {
	name   string
	config string
	table  string
	row    sqlvalue.Row
	want   []string
}

func TestLegacyDataQueries(t *testing.T) {
	tests := []evalCase{
		{
			name: "IN on a row array",
			config: `
bucket_definitions:
  mybucket:
    parameters: SELECT token_parameters.category
    data:
      - SELECT id, name FROM assets WHERE bucket.category IN assets.categories`,
			table: "assets",
			row:   sqlvalue.Row{"id": sqlvalue.Text("a1"), "name": sqlvalue.Text("x"), "categories": sqlvalue.Text(`["red","green"]`)},
			want:  []string{`mybucket["red"] assets/a1 {"id":"a1","name":"x"}`, `mybucket["green"] assets/a1 {"id":"a1","name":"x"}`},
		},
		{
			name: "static row filters and math",
			config: `
bucket_definitions:
  b:
    data:
      - SELECT id, (5 / 2) AS int, (5 / 2.0) AS float, CAST(5 AS real) / 2 AS float2, upper(name) AS up FROM assets WHERE assets.condition IN '["good","great"]'`,
			table: "assets",
			row:   sqlvalue.Row{"id": sqlvalue.Int(5), "name": sqlvalue.Text("ab"), "condition": sqlvalue.Text("good")},
			want:  []string{`b[] assets/5 {"id":5,"int":2,"float":2.5,"float2":2.5,"up":"AB"}`},
		},
		{
			name: "filtered out",
			config: `
bucket_definitions:
  b:
    data:
      - SELECT * FROM assets WHERE condition IN '["good","great"]'`,
			table: "assets",
			row:   sqlvalue.Row{"id": sqlvalue.Text("x"), "condition": sqlvalue.Text("bad")},
		},
		{
			name: "NULL parameter value gives no bucket",
			config: `
bucket_definitions:
  b:
    parameters: SELECT request.user_id() AS org_id
    data: [SELECT * FROM assets WHERE assets.org_id = bucket.org_id]`,
			table: "assets",
			row:   sqlvalue.Row{"id": sqlvalue.Text("x"), "org_id": sqlvalue.Null},
		},
		{
			name: "json operators",
			config: `
bucket_definitions:
  b:
    data:
      - SELECT id, data ->> 'count' AS count, data -> 'bool' AS bool1, data ->> 'bool' AS bool2, 'true' ->> '$' AS bool3, json_extract(data, '$.bool') AS bool4 FROM assets`,
			table: "assets",
			row:   sqlvalue.Row{"id": sqlvalue.Text("x"), "data": sqlvalue.Text(`{"count":5,"bool":true}`)},
			want:  []string{`b[] assets/x {"id":"x","count":5,"bool1":"true","bool2":1,"bool3":1,"bool4":1}`},
		},
		{
			name: "alias keeps priority over star, output table alias",
			config: `
bucket_definitions:
  b:
    data:
      - SELECT client_id AS id, * FROM assets_123 AS assets`,
			table: "assets_123",
			row:   sqlvalue.Row{"id": sqlvalue.Text("x"), "client_id": sqlvalue.Text("c")},
			want:  []string{`b[] assets/c {"id":"c","client_id":"c"}`},
		},
		{
			name: "wildcard table and suffix",
			config: `
bucket_definitions:
  b:
    data:
      - SELECT id, _table_suffix AS suffix FROM "assets_%"`,
			table: "assets_123",
			row:   sqlvalue.Row{"id": sqlvalue.Text("x")},
			want:  []string{`b[] assets_123/x {"id":"x","suffix":"123"}`},
		},
		{
			name: "OR over the same parameters",
			config: `
bucket_definitions:
  mybucket:
    parameters: SELECT token_parameters.is_admin
    data:
      - SELECT id FROM assets WHERE (bucket.is_admin OR bucket.is_admin = false) AND assets.role != 'admin'`,
			table: "assets",
			row:   sqlvalue.Row{"id": sqlvalue.Text("x"), "role": sqlvalue.Text("user")},
			want:  []string{`mybucket[1] assets/x {"id":"x"}`, `mybucket[0] assets/x {"id":"x"}`},
		},
		{
			name: "numeric id and REAL output",
			config: `
bucket_definitions:
  b:
    data:
      - SELECT id, v FROM assets`,
			table: "assets",
			row:   sqlvalue.Row{"id": sqlvalue.Real(1.5), "v": sqlvalue.Real(1e21)},
			want:  []string{`b[] assets/1.5 {"id":1.5,"v":1e+21}`},
		},
		{
			name: "bucket parameter REAL formatting",
			config: `
bucket_definitions:
  b:
    parameters: SELECT token_parameters.x
    data: [SELECT id FROM assets WHERE assets.x = bucket.x]`,
			table: "assets",
			row:   sqlvalue.Row{"id": sqlvalue.Text("i"), "x": sqlvalue.Real(314)},
			want:  []string{`b[314] assets/i {"id":"i"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.config)
			rows, errs := c.EvaluateRow(sqlvalue.TableRef{Schema: "public", Name: tt.table}, tt.row)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := rowsString(rows); !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func staticBuckets(t *testing.T, c *syncrules.Config, claims, params string) []string {
	t.Helper()
	req := syncrules.Request{Claims: []byte(claims), IncludeDefaults: true}
	if params != "" {
		req.Parameters = []byte(params)
	}
	q, err := c.NewQuerier(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.Buckets(context.Background(), func(keys [][]byte) ([][][]byte, error) { return make([][][]byte, len(keys)), nil })
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range b {
		out = append(out, fmt.Sprintf("%s/%d", x.Bucket, x.Priority))
	}
	for _, s := range q.Streams() {
		for _, e := range s.Errors {
			out = append(out, "error: "+e.Message)
		}
	}
	return out
}

func TestLegacyStaticParameterQueries(t *testing.T) {
	tests := []struct {
		query, claims, params string
		want                  []string
	}{
		{"SELECT", `{"sub":"u"}`, "", []string{"mybucket[]/3"}},
		{"SELECT token_parameters.user_id WHERE token_parameters.is_admin", `{"sub":"user1","parameters":{"is_admin":true}}`, "", []string{`mybucket["user1"]/3`}},
		{"SELECT token_parameters.user_id WHERE token_parameters.is_admin", `{"sub":"user1","parameters":{"is_admin":false}}`, "", nil},
		{"SELECT upper(token_parameters.user_id) AS upper_id", `{"sub":"user1"}`, "", []string{`mybucket["USER1"]/3`}},
		{"SELECT request.jwt() ->> 'sub' AS user_id", `{"sub":123}`, "", []string{`mybucket[123]/3`}},
		{"SELECT request.jwt() ->> 'sub' AS user_id", `{"sub":true}`, "", []string{`mybucket[1]/3`}},
		{"SELECT request.jwt() ->> 'sub' AS user_id", `{"sub":{"a":123}}`, "", []string{`mybucket["{\"a\":123.0}"]/3`}},
		{"SELECT typeof(request.user_id()) AS t", `{"sub":123}`, "", []string{`mybucket["real"]/3`}},
		{"SELECT 'read:users' IN (request.jwt() ->> 'permissions') AS access_granted", `{"sub":"u","permissions":["read:users"]}`, "", []string{`mybucket[1]/3`}},
		{"SELECT 'read:users' IN (request.jwt() ->> 'permissions') AS access_granted", `{"sub":"u","permissions":["x"]}`, "", []string{`mybucket[0]/3`}},
		{`SELECT WHERE request.jwt() ->> 'role' IN '["admin","superuser"]'`, `{"sub":"u","role":"admin"}`, "", []string{`mybucket[]/3`}},
		{`SELECT WHERE request.jwt() ->> 'role' IN '["admin","superuser"]'`, `{"sub":"u","role":"user"}`, "", nil},
		{"SELECT request.parameter('p') AS p, 1 AS _priority", `{"sub":"u"}`, `{"p":"x"}`, []string{`mybucket["x"]/1`}},
		{"SELECT user_parameters.p", `{"sub":"u"}`, `{"p":2.0}`, []string{`mybucket[2]/3`}},
		{"SELECT json_each.value AS v FROM json_each(request.parameters() -> 'array')", `{}`, `{"array":[1,2,3,null]}`, []string{`mybucket[1]/3`, `mybucket[2]/3`, `mybucket[3]/3`, `mybucket["null"]/3`}},
		{"SELECT e.value AS v FROM json_each(request.parameters() -> 'array') e WHERE e.value >= 2", `{}`, `{"array":[1,2,3]}`, []string{`mybucket[2]/3`, `mybucket[3]/3`}},
		{"SELECT value ->> 'id' AS project_id FROM json_each(request.jwt() -> 'projects') WHERE (value ->> 'role') = 'admin'", `{"projects":[{"id":"p1","role":"admin"},{"id":"p2","role":"x"}]}`, "", []string{`mybucket["p1"]/3`}},
	}
	for _, tt := range tests {
		config := "bucket_definitions:\n  mybucket:\n    accept_potentially_dangerous_queries: true\n    parameters: " + strings.ReplaceAll(tt.query, "'", "''") + "\n    data: []\n"
		config = strings.Replace(config, "parameters: ", "parameters: '", 1)
		config = strings.Replace(config, "\n    data", "'\n    data", 1)
		c := mustParse(t, config)
		if got := staticBuckets(t, c, tt.claims, tt.params); !slices.Equal(got, tt.want) {
			t.Errorf("%s with %s %s: got %v, want %v", tt.query, tt.claims, tt.params, got, tt.want)
		}
	}
}

func lookupKeys(t *testing.T, c *syncrules.Config, claims, params string) []string {
	t.Helper()
	req := syncrules.Request{Claims: []byte(claims), IncludeDefaults: true}
	if params != "" {
		req.Parameters = []byte(params)
	}
	q, err := c.NewQuerier(req)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	_, err = q.Buckets(context.Background(), func(ks [][]byte) ([][][]byte, error) {
		for _, k := range ks {
			keys = append(keys, string(k))
		}
		return make([][][]byte, len(ks)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestLegacyParameterTableQueries(t *testing.T) {
	tests := []struct {
		query   string
		table   string
		row     sqlvalue.Row
		entries []string
		claims  string
		params  string
		lookups []string
	}{
		{
			query:   "SELECT id AS group_id FROM groups WHERE token_parameters.user_id IN groups.user_ids",
			table:   "groups",
			row:     sqlvalue.Row{"id": sqlvalue.Text("group1"), "user_ids": sqlvalue.Text(`["user1","user2"]`)},
			entries: []string{`["mybucket","1","user1"] {"group_id":"group1"}`, `["mybucket","1","user2"] {"group_id":"group1"}`},
			claims:  `{"sub":"user1"}`,
			lookups: []string{`["mybucket","1","user1"]`},
		},
		{
			query:   "SELECT id FROM users WHERE role IS NULL",
			table:   "users",
			row:     sqlvalue.Row{"id": sqlvalue.Text("u")},
			entries: []string{`["mybucket","1"] {"id":"u"}`},
			claims:  `{"sub":"x"}`,
			lookups: []string{`["mybucket","1"]`},
		},
		{
			query:   "SELECT id FROM users WHERE users.id = token_parameters.user_id AND token_parameters.some_param IS NULL",
			table:   "users",
			row:     sqlvalue.Row{"id": sqlvalue.Text("user1")},
			entries: []string{`["mybucket","1","user1",1] {"id":"user1"}`},
			claims:  `{"sub":"user1"}`,
			lookups: []string{`["mybucket","1","user1",1]`},
		},
		{
			query:   "SELECT id AS region_id FROM regions WHERE name IN token_parameters.region_names",
			table:   "regions",
			row:     sqlvalue.Row{"id": sqlvalue.Int(3), "name": sqlvalue.Text("texas")},
			entries: []string{`["mybucket","1","texas"] {"region_id":3}`},
			claims:  `{"sub":"u","parameters":{"region_names":["colorado","texas"]}}`,
			lookups: []string{`["mybucket","1","colorado"]`, `["mybucket","1","texas"]`},
		},
		{
			query:   "SELECT id FROM users WHERE filter_param = upper(token_parameters.user_id)",
			table:   "users",
			row:     sqlvalue.Row{"id": sqlvalue.Real(2), "filter_param": sqlvalue.Real(3)},
			entries: []string{`["mybucket","1",3] {"id":2.0}`},
			claims:  `{"sub":"test"}`,
			lookups: []string{`["mybucket","1","TEST"]`},
		},
		{
			query:   "SELECT id FROM users WHERE users.id = cast(token_parameters.user_id as text)",
			table:   "users",
			row:     sqlvalue.Row{"id": sqlvalue.Text("123")},
			entries: []string{`["mybucket","1","123"] {"id":"123"}`},
			claims:  `{"sub":123}`,
			lookups: []string{`["mybucket","1","123"]`},
		},
	}
	for _, tt := range tests {
		c := mustParse(t, "bucket_definitions:\n  mybucket:\n    parameters: "+tt.query+"\n    data: []\n")
		got, errs := c.EvaluateParameterRow(sqlvalue.TableRef{Schema: "public", Name: tt.table}, tt.row)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		var entries []string
		for _, e := range got {
			entries = append(entries, string(e.Key)+" "+string(e.Result))
		}
		if !slices.Equal(entries, tt.entries) {
			t.Errorf("%s: entries %v, want %v", tt.query, entries, tt.entries)
		}
		if keys := lookupKeys(t, c, tt.claims, tt.params); !slices.Equal(keys, tt.lookups) {
			t.Errorf("%s: lookups %v, want %v", tt.query, keys, tt.lookups)
		}
	}
}

func TestParseDiagnostics(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // "line:col: severity: message"
	}{
		{"unknown key", "bucket_definitions: {}\nfoo: 1\n", []string{"2:1: error: Unknown key 'foo'."}},
		{"missing data", "bucket_definitions:\n  b:\n    parameters: SELECT\n", []string{"3:5: error: Missing required keys: data"}},
		{"bad priority", "bucket_definitions:\n  b:\n    priority: 5\n    data: []\n", []string{"3:15: error: Invalid priority, expected a number between 0 and 3 (inclusive)."}},
		{"sql error in plain scalar", "bucket_definitions:\n  b:\n    data:\n      - SELECT * FROM assets WHERE x = bucket.y\n",
			[]string{`4:36: error: Query must cover all bucket parameters. Expected: [] Got: ["bucket.y"]`}},
		{"sql error in block scalar", "bucket_definitions:\n  b:\n    data:\n      - |\n        SELECT *\n          FROM assets WHERE nope(x)\n",
			[]string{"6:29: error: Function 'nope' is not defined"}},
		{"sql error in double quotes", "bucket_definitions:\n  b:\n    data: [\"SELECT \\\"x\\\", foo(1) FROM t\"]\n",
			[]string{"3:27: error: Function 'foo' is not defined"}},
		{"missing id", "bucket_definitions:\n  b:\n    data: ['SELECT name FROM t']\n", []string{`3:13: error: Query must return an "id" column`}},
		{"coverage", "bucket_definitions:\n  b:\n    parameters: SELECT request.user_id() AS u\n    data: ['SELECT * FROM t']\n",
			[]string{`4:13: error: Query must cover all bucket parameters. Expected: ["bucket.u"] Got: []`}},
		{"upper-case warning", "bucket_definitions:\n  b:\n    data: ['SELECT id, Name FROM t']\n",
			[]string{`3:24: warning: Unquoted identifiers are converted to lower-case. Use "Name" instead.`}},
		{"dangerous", "bucket_definitions:\n  b:\n    parameters: SELECT id AS p FROM projects WHERE id = request.parameters() ->> 'p'\n    data: []\n",
			[]string{"3:17: warning: " + "Potentially dangerous query based on parameters set by the client. The client can send any value for these parameters so it's not a good place to do authorization."}},
		{"streams need edition 2", "streams:\n  s:\n    query: SELECT * FROM t\n", []string{"2:3: error: Sync streams require edition 2 or later. Try adding a `config: {edition: 2} block to the end of the file."}},
		{"syntax error", "bucket_definitions:\n  b:\n    data: ['SELECT * FROM t WHERE']\n", []string{"3:34: error: Unexpected end of input"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := syncrules.Parse([]byte(tt.yaml), syncrules.ParseOptions{})
			var got []string
			for _, d := range diags {
				got = append(got, d.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRowJSONIsValid(t *testing.T) {
	c := mustParse(t, "bucket_definitions:\n  b:\n    data: ['SELECT * FROM t']\n")
	rows, _ := c.EvaluateRow(sqlvalue.TableRef{Schema: "public", Name: "t"}, sqlvalue.Row{
		"id": sqlvalue.Text("a\"b\u2028<>&\x01"), "blob": sqlvalue.Blob([]byte{1}), "n": sqlvalue.Null,
	})
	if len(rows) != 1 {
		t.Fatal(rows)
	}
	var m map[string]any
	if err := json.Unmarshal(rows[0].Data, &m); err != nil {
		t.Fatal(err)
	}
	if string(rows[0].Data) != "{\"id\":\"a\\\"b\u2028<>&\\u0001\",\"n\":null}" {
		t.Errorf("data = %s", rows[0].Data)
	}
}

func TestLegacyLookupsBatched(t *testing.T) {
	c := mustParse(t, `
bucket_definitions:
  by_list:
    parameters: SELECT id AS list_id FROM lists WHERE owner_id = request.user_id()
    data: []
  by_group:
    parameters:
      - SELECT id AS g FROM groups WHERE request.user_id() IN groups.members
      - SELECT id AS g FROM groups WHERE admin = request.user_id()
    data: []
`)
	q, err := c.NewQuerier(syncrules.Request{UserID: "u", IncludeDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	b, err := q.Buckets(context.Background(), func(keys [][]byte) ([][][]byte, error) {
		calls++
		out := make([][][]byte, len(keys))
		for i, k := range keys {
			switch string(k) {
			case `["by_list","1","u"]`:
				out[i] = [][]byte{[]byte(`{"list_id":"l1"}`)}
			case `["by_group","2","u"]`:
				out[i] = [][]byte{[]byte(`{"g":7}`)}
			}
		}
		return out, nil
	})
	if err != nil || calls != 1 {
		t.Fatalf("Buckets: %v, %d lookup calls", err, calls)
	}
	var names []string
	for _, x := range b {
		names = append(names, x.Bucket)
	}
	if !slices.Equal(names, []string{`by_list["l1"]`, `by_group[7]`}) {
		t.Errorf("buckets %v", names)
	}
}

// TestConfigConcurrentUse evaluates rows and requests from several
// goroutines at once (run with -race): a Config is shared by replication
// and every connection.
func TestConfigConcurrentUse(t *testing.T) {
	c := mustParse(t, benchConfig).Versioned(3)
	rows := benchRows(64)
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func(g int) {
			for i := 0; i < 200; i++ {
				row := rows[(i+g)%len(rows)]
				if i%7 == 0 {
					row = sqlvalue.Row{"id": sqlvalue.Text("x"), "owner_id": sqlvalue.Text("u"), "extra": sqlvalue.Int(int64(i))}
				}
				out, errs := c.EvaluateRow(todos, row)
				if len(errs) > 0 || len(out) == 0 {
					done <- fmt.Errorf("EvaluateRow: %v %v", out, errs)
					return
				}
				if _, err := c.NewQuerier(syncrules.Request{UserID: "u", IncludeDefaults: true}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}(g)
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestRowDataSizeLimit(t *testing.T) {
	c := mustParse(t, "bucket_definitions:\n  b:\n    data: ['SELECT * FROM t']\n")
	big := strings.Repeat("x", syncrules.MaxRowDataSize)
	rows, errs := c.EvaluateRow(sqlvalue.TableRef{Schema: "public", Name: "t"}, sqlvalue.Row{"id": sqlvalue.Text("1"), "v": sqlvalue.Text(big)})
	if len(rows) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "exceeds the limit") {
		t.Errorf("rows %d, errs %v", len(rows), errs)
	}
}

func TestEventDefinitionsKept(t *testing.T) {
	c := mustParse(t, "bucket_definitions:\n  b:\n    data: []\nevent_definitions:\n  write_checkpoints:\n    payloads:\n      - SELECT user_id, checkpoint, client_id FROM checkpoints\n")
	ev := c.EventDefinitions()
	if len(ev) != 1 || ev[0].Name != "write_checkpoints" || len(ev[0].Payloads) != 1 || ev[0].Payloads[0] != "SELECT user_id, checkpoint, client_id FROM checkpoints" {
		t.Errorf("EventDefinitions = %+v", ev)
	}
}
