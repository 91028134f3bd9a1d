package syncrules_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/syncrules"
)

// messages compiles one query into a bucket definition and returns its
// diagnostics as "E:" / "W:" + message.
func messages(t *testing.T, slot, bucketParam, sql string) []string {
	t.Helper()
	var b strings.Builder
	b.WriteString("bucket_definitions:\n  mybucket:\n")
	quoted := "'" + strings.ReplaceAll(sql, "'", "''") + "'"
	switch slot {
	case "parameters":
		b.WriteString("    parameters: " + quoted + "\n    data: []\n")
	default:
		if bucketParam != "" {
			b.WriteString("    parameters: SELECT request.user_id() AS " + bucketParam + "\n")
		}
		b.WriteString("    data:\n      - " + quoted + "\n")
	}
	_, diags := syncrules.Parse([]byte(b.String()), syncrules.ParseOptions{DefaultSchema: "test_schema"})
	var out []string
	for _, d := range diags {
		p := "E:"
		if d.Severity == syncrules.SeverityWarning {
			p = "W:"
		}
		out = append(out, p+d.Message)
	}
	return out
}

const dangerous = "W:Potentially dangerous query based on parameters set by the client. The client can send any value for these parameters so it's not a good place to do authorization."

func TestLegacyQueryDiagnostics(t *testing.T) {
	tests := []struct {
		slot, param, sql string
		want             []string
	}{
		// data queries
		{"data", "categories", "SELECT * FROM assets WHERE assets.category IN bucket.categories", []string{"E:Cannot use bucket parameters on the right side of IN operators"}},
		{"data", "org_id", "SELECT * FROM assets WHERE 1", []string{`E:Query must cover all bucket parameters. Expected: ["bucket.org_id"] Got: []`}},
		{"data", "", "SELECT * FROM assets WHERE assets.org_id = bucket.org_id", []string{`E:Query must cover all bucket parameters. Expected: [] Got: ["bucket.org_id"]`}},
		{"data", "org_id", "SELECT * FROM assets WHERE assets.org_id = upper(bucket.org_id)", []string{"E:Cannot use bucket parameters in expressions"}},
		{"data", "", "SELECT * FROM assets WHERE assets.org_id = upper(bucket.org_id)", []string{"E:Cannot use bucket parameters in expressions"}},
		{"data", "org_id", "SELECT id, (bucket.org_id = assets.org_id) as org_matches FROM assets where org_id = bucket.org_id", []string{"E:Parameter match expression is not allowed here"}},
		{"data", "", "SELECT * FROM Assets", []string{`W:Unquoted identifiers are converted to lower-case. Use "Assets" instead.`}},
		{"data", "", "SELECT *, Name FROM assets", []string{`W:Unquoted identifiers are converted to lower-case. Use "Name" instead.`}},
		{"data", "", "SELECT * FROM assets WHERE Archived = False", []string{`W:Unquoted identifiers are converted to lower-case. Use "Archived" instead.`}},
		{"data", "", "SELECT * FROM assets as others WHERE others.org_id = 'x'", nil},
		{"data", "", "SELECT id, name FROM a, b", []string{"E:Must SELECT from a single table"}},
		{"data", "", "SELECT upper(id) FROM a", []string{"E:alias is required"}},
		{"data", "", "SELECT id, x % 2 AS m FROM a", []string{"E:Operator not supported: %"}},
		{"data", "", "SELECT id, -x AS m FROM a", []string{"E:Operator - is not supported"}},
		{"data", "", "SELECT id, x -> 0 AS m FROM a", []string{"E:Unsupported member operation ->"}},
		{"data", "", "SELECT id, CAST(x AS varchar) AS m FROM a", []string{"E:CAST not supported for 'varchar'"}},
		{"data", "", "SELECT id FROM a WHERE x IN ('a', 'b')", []string{"E:list not supported here"}},
		{"data", "", "SELECT id FROM a WHERE request.user_id() = x", []string{"E:request schema is not available in data queries"}},
		{"data", "", "SELECT DISTINCT id FROM a", []string{"E:DISTINCT is not supported"}},
		{"data", "", "SELECT id FROM a GROUP BY id", []string{"E:GROUP BY is not supported"}},
		{"data", "", "DELETE FROM a", []string{"E:Only SELECT statements are supported"}},
		{"data", "", "SELECT id FROM a; SELECT id FROM b", []string{"E:Only a single SELECT statement is supported"}},
		// parameter queries
		{"parameters", "", "SELECT workspaces.id AS workspace_id FROM workspaces WHERE workspaces.user_id = token_parameters.user_id OR visibility = 'public'",
			[]string{`E:Left and right sides of OR must use the same parameters, or split into separate queries. ["token_parameters.user_id"] != []`}},
		{"parameters", "", "SELECT FROM users WHERE (id = token_parameters.user_id) = false", []string{"E:Parameter match clauses cannot be used here"}},
		{"parameters", "", "SELECT FROM users WHERE NOT (id = token_parameters.user_id)", []string{"E:Parameter match clauses cannot be used here"}},
		{"parameters", "", "SELECT FROM users WHERE token_parameters.start_at < users.created_at", []string{"E:Cannot use table values and parameters in the same clauses"}},
		{"parameters", "", "SELECT FROM users WHERE json_extract(users.description, token_parameters.path)", []string{"E:Cannot use table values and parameters in the same clauses"}},
		{"parameters", "", "SELECT (user_parameters.role = posts.roles) as r FROM posts", []string{"E:Parameter match expression is not allowed here"}},
		{"parameters", "", "SELECT FROM users WHERE something.length(users.id) = 0", []string{"E:Function 'something.length' is not defined"}},
		{"parameters", "", "SELECT request.nope() AS x", []string{"E:Function 'request.nope' is not defined"}},
		{"parameters", "", "SELECT request.parameter('a', 'b') AS x", []string{"E:Function 'request.parameter' takes 1 arguments."}},
		{"parameters", "", "SELECT id FROM users u WHERE u.id = request.user_id()", []string{"E:Table aliases not supported in parameter queries"}},
		{"parameters", "", "SELECT id FROM users WHERE Users.id = request.user_id()", []string{`W:Unquoted identifiers are converted to lower-case. Use "Users" instead.`}},
		{"parameters", "", "SELECT user_id as userId FROM users", []string{`W:Unquoted identifiers are converted to lower-case. Use "userId" instead.`}},
		{"parameters", "", "SELECT upper(users.name) AS x FROM users", []string{"E:Parameter match expression is not allowed here"}},
		{"parameters", "", "SELECT * FROM users", []string{"E:* is not supported here - use explicit columns"}},
		{"parameters", "", "SELECT v FROM nope(1)", []string{"E:Table-valued function nope is not defined."}},
		{"parameters", "", "SELECT LENGTH(assets.name) AS _priority FROM assets", []string{"E:Priority must be a simple integer literal"}},
		{"parameters", "", "SELECT 'very fast please' AS _priority", []string{"E:Priority must be a simple integer literal"}},
		{"parameters", "", "SELECT 15 AS _priority", []string{"E:Invalid value for priority, must be between 0 and 3 (inclusive)."}},
		// dangerous-query detection
		{"parameters", "", "SELECT id as user_id FROM users WHERE users.user_id = request.user_id()", nil},
		{"parameters", "", "SELECT request.jwt() ->> 'org_id' as org_id, id as project_id FROM projects WHERE id = request.parameters() ->> 'project_id'", nil},
		{"parameters", "", "SELECT id as project_id FROM projects WHERE org_id = request.jwt() ->> 'org_id' AND id = request.parameters() ->> 'project_id'", nil},
		{"parameters", "", "SELECT id as category_id FROM categories", nil},
		{"parameters", "", "SELECT id as project_id FROM projects WHERE id = request.parameters() ->> 'project_id' AND request.jwt() ->> 'role' = 'authenticated'", nil},
		{"parameters", "", "SELECT id as project_id FROM projects WHERE id = request.parameters() ->> 'project_id'", []string{dangerous}},
		{"parameters", "", "SELECT id as category_id, request.parameters() ->> 'project_id' as project_id FROM categories", []string{dangerous}},
		{"parameters", "", "SELECT id as category_id FROM categories WHERE request.parameters() ->> 'include_categories'", []string{dangerous}},
		{"parameters", "", "select request.parameters() ->> 'project_id' as project_id where request.jwt() ->> 'role' = 'authenticated'", []string{dangerous}},
		{"parameters", "", "select value from json_each(request.user_id())", nil},
		{"parameters", "", "select value from json_each(request.parameters() ->> 'project_ids')", []string{dangerous}},
	}
	for _, tt := range tests {
		if got := messages(t, tt.slot, tt.param, tt.sql); !slices.Equal(got, tt.want) {
			t.Errorf("%s %q:\n got  %q\n want %q", tt.slot, tt.sql, got, tt.want)
		}
	}
}

func TestLegacyLookupsFromRequest(t *testing.T) {
	tests := []struct {
		sql, claims, params string
		want                []string
	}{
		{"SELECT id from users WHERE filter_param = token_parameters.some_param ->> 'description'", `{"parameters":{"some_param":{"description":"d"}}}`, "", []string{`["mybucket","1","d"]`}},
		{"SELECT id from users WHERE filter_param = token_parameters.some_param + 2", `{"parameters":{"some_param":3}}`, "", []string{`["mybucket","1",5]`}},
		{"SELECT id from users WHERE filter_param = (token_parameters.some_param IS NULL)", `{"parameters":{"some_param":null}}`, "", []string{`["mybucket","1",1]`}},
		{"SELECT FROM users WHERE token_parameters.some_param", `{"parameters":{"some_param":null}}`, "", []string{`["mybucket","1",0]`}},
		{"SELECT FROM users WHERE token_parameters.some_param", `{"parameters":{"some_param":123}}`, "", []string{`["mybucket","1",1]`}},
		{"SELECT FROM users WHERE NOT token_parameters.is_admin", `{"parameters":{"is_admin":false}}`, "", []string{`["mybucket","1",1]`}},
		{"SELECT FROM users WHERE users.id = token_parameters.user_id AND token_parameters.some_param", `{"sub":"user1","parameters":{"some_param":null}}`, "", []string{`["mybucket","1","user1",0]`}},
		{"SELECT id from users WHERE filter_param = upper(token_parameters.user_id) AND filter_param = lower(token_parameters.user_id)", `{"sub":"Test"}`, "", []string{`["mybucket","1","TEST","test"]`}},
		{"SELECT id from users WHERE filter_param1 = upper(token_parameters.user_id) OR filter_param2 = upper(token_parameters.user_id)", `{"sub":"test"}`, "", []string{`["mybucket","1","TEST"]`}},
		{"SELECT FROM posts WHERE category = request.parameters() -> 'details' ->> 'category'", `{}`, `{"details":{"category":"red"}}`, []string{`["mybucket","1","red"]`}},
		{"SELECT FROM posts WHERE category = request.parameters() ->> 'details.category'", `{}`, `{"details":{"category":"red"}}`, []string{`["mybucket","1","red"]`}},
		{"SELECT id as region_id FROM regions WHERE name IN request.parameters() -> 'region_names'", `{}`, `{"region_names":["colorado","texas"]}`, []string{`["mybucket","1","colorado"]`, `["mybucket","1","texas"]`}},
		{"SELECT FROM users WHERE id = request.jwt() ->> 'sub'", `{"sub":123}`, "", []string{`["mybucket","1",123]`}},
		{"SELECT FROM users WHERE id = request.user_id()", `{"sub":true}`, "", []string{`["mybucket","1",1]`}},
		{"SELECT FROM users WHERE id = request.user_id()", `{"sub":{"foo":"123"}}`, "", []string{`["mybucket","1","{\"foo\":\"123\"}"]`}},
		{"SELECT users.int1 FROM users WHERE users.int1 = token_parameters.int1 AND users.float1 = token_parameters.float1", `{"parameters":{"int1":314,"float1":3.14}}`, "", []string{`["mybucket","1",314,3.14]`}},
	}
	for _, tt := range tests {
		c := mustParse(t, "bucket_definitions:\n  mybucket:\n    accept_potentially_dangerous_queries: true\n    parameters: '"+strings.ReplaceAll(tt.sql, "'", "''")+"'\n    data: []\n")
		if got := lookupKeys(t, c, tt.claims, tt.params); !slices.Equal(got, tt.want) {
			t.Errorf("%s with %s %s:\n got  %v\n want %v", tt.sql, tt.claims, tt.params, got, tt.want)
		}
	}
}

func TestConfigBlockDiagnostics(t *testing.T) {
	tests := []struct {
		yaml string
		want []string
	}{
		{"bucket_definitions:\n  mybucket:\n    parameters: SELECT token_parameters.user_id FOR UPDATE SKIP LOCKED\n    data: []\n",
			[]string{"E:SELECT FOR is not supported", "E:SKIP is not supported"}},
		{"bucket_definitions:\n  mybucket:\n    parameters: SELECT token_parameters.user_id OFFSET 10\n    data: []\n", []string{"E:LIMIT is not supported"}},
		{"bucket_definitions:\n  mybucket:\n", []string{"E:'mybucket' bucket definition must be an object"}},
		{"bucket_definitions:\n  highprio:\n    priority: 1\n    parameters: SELECT 0 as _priority;\n    data: []\n", []string{"E:Cannot set priority multiple times."}},
		{"bucket_definitions:\n  b:\n    priority: instant\n    data: []\n", []string{"E:Invalid priority, expected a number between 0 and 3 (inclusive)."}},
		{"config:\n  edition: 2\nstreams:\n  a:\n    query: SELECT * FROM users\n", []string{"W:This is using an alpha version of Sync Streams. We recommend upgrading `config.edition` to version 3 to support the latest features."}},
		{"config:\n  edition: 2\nwith:\n  foo: SELECT 1 AS id\nstreams:\n  a:\n    with:\n      bar: SELECT 1 AS id\n    query: SELECT * FROM users\n",
			[]string{"E:Common table expressions require edition 3.", "W:This is using an alpha version of Sync Streams. We recommend upgrading `config.edition` to version 3 to support the latest features.", "E:Common table expressions are not supported without the `sync_config_compiler` option."}},
		{"config:\n  edition: 3\n  storage_version: 1\nstreams: []\n", []string{"E:Storage version 1 is not supported"}},
		{"config:\n  unstable_sqlite_expression_engine: true\nbucket_definitions:\n", []string{"E:Enabling unstable_sqlite_expression_engine requires edition: 3"}},
		{"config:\n  timestamp_max_precision: hours\nbucket_definitions: {}\n", []string{"E:Unknown time precision, allowed are seconds, milliseconds, microseconds, nanoseconds"}},
		{"config:\n  timestamp_max_precision: seconds\nbucket_definitions: {}\n", []string{"E:'timestamp_max_precision' requires 'timestamps_iso8601' to be enabled."}},
		{"config:\n  edition: x\nbucket_definitions: {}\n", []string{"E:must be numeric"}},
		{"config:\n  fixed_json_extract: 1\nbucket_definitions: {}\n", []string{"E:must be a boolean"}},
		{"config:\n  edition: 3\nbucket_definitions: {}\nstreams: {}\n", []string{"E:'bucket_definitions' are not supported by the new compiler. Consider using https://powersync-community.github.io/bucket-definitions-to-sync-streams/ to translate them to streams."}},
		{"config: {edition: 1}\n", []string{"E:'bucket_definitions' or 'streams' is required"}},
		{"- a\n- b\n", []string{"E:Sync Config must be a YAML map."}},
		{"bucket_definitions:\n  a:\n    data: []\nstreams:\n  a:\n    query: SELECT * FROM t\nconfig:\n  edition: 2\n", []string{"W:This is using an alpha version of Sync Streams. We recommend upgrading `config.edition` to version 3 to support the latest features.", "E:Duplicate stream or bucket definition."}},
		{"bucket_definitions:\n  b:\n    data: []\nevent_definitions:\n  write_checkpoints:\n    payloads:\n      - SELECT user_id, checkpoint, client_id FROM checkpoints\n", nil},
	}
	for _, tt := range tests {
		_, diags := syncrules.Parse([]byte(tt.yaml), syncrules.ParseOptions{})
		var got []string
		for _, d := range diags {
			p := "E:"
			if d.Severity == syncrules.SeverityWarning {
				p = "W:"
			}
			got = append(got, p+d.Message)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q:\n got  %q\n want %q", tt.yaml, got, tt.want)
		}
	}
}

// TestYAMLStructureErrors follows the reference's YAML validation cases:
// each message on the line where the reference reports it.
func TestYAMLStructureErrors(t *testing.T) {
	tests := []struct {
		yaml string
		line int
		msg  string
	}{
		{"config:\n  edition: 'invalid'\nbucket_definitions:\n  foo:\n    data: ['SELECT * FROM users']\n", 2, "must be numeric"},
		{"config:\n  unknown_options: true\nbucket_definitions:\n  foo:\n    data: ['SELECT * FROM users']\n", 2, "Unknown key 'unknown_options'."},
		{"foo: bar\nbucket_definitions:\n  foo:\n    data: ['SELECT * FROM users']\n", 1, "Unknown key 'foo'."},
		{"config:\n  timestamp_max_precision: 3\nbucket_definitions:\n  foo:\n    data: ['SELECT * FROM users']\n", 2, "must be a string"},
		{"bucket_definitions:\n  foo:\n    parameters: SELECT token_parameters.user_id AS user_id\n", 3, "Missing required keys: data"},
		{"config:\n  edition: 2\nstreams:\n  foo:\n    query: [SELECT * FROM users]\n", 5, "Expected a scalar here."},
		{"config:\n  edition: 2\nstreams:\n  foo:\n    queries: SELECT * FROM users\n", 5, "Expected a sequence here."},
		// The YAML parser itself rejects sequence keys (the reference reports
		// "Expected a scalar here." / "Unexpected additional key." there).
		{"config:\n  edition: 2\nstreams:\n  [a, b]:\n    query: SELECT * FROM users\n", 4, "Invalid YAML: found an invalid key for this map"},
		{"config:\n  edition: 2\nstreams:\n  a:\n    query: SELECT * FROM users\n    illegal_option: foo\n", 6, "Unknown key 'illegal_option'."},
		{"config:\n  edition: 2\nstreams:\n  a:\n    query: SELECT * FROM users\n[a, b]: true\n", 6, "Invalid YAML: found an invalid key for this map"},
		{"config:\n  edition: 2\nstreams:\n  foo:\n    priority: sync fast please\n    query: SELECT * FROM users\n", 5, "Invalid priority, expected a number between 0 and 3 (inclusive)."},
		{"config:\n  edition: 2\nstreams:\n  foo:\n    auto_subscribe: 1\n    query: SELECT * FROM users\n", 5, "must be a boolean"},
	}
	for _, tt := range tests {
		_, diags := syncrules.Parse([]byte(tt.yaml), syncrules.ParseOptions{})
		found := false
		for _, d := range diags {
			if d.Severity == syncrules.SeverityFatal && d.Line == tt.line && d.Message == tt.msg {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: want %d: %s, got %v", tt.yaml, tt.line, tt.msg, diags)
		}
	}
}
