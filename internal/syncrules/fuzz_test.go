package syncrules_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// FuzzParse feeds arbitrary config text to Parse and, when it compiles,
// runs every entry point once: nothing may panic or hang, and a nil
// Config must come with a fatal diagnostic.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/validate/*.yaml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(string(b))
		}
	}
	f.Add(basicConfig)
	f.Add(benchConfig)
	f.Add("bucket_definitions:\n  b:\n    parameters: SELECT value AS v FROM json_each(request.parameters() -> 'a') WHERE v > 1\n    data: ['SELECT id, upper(x) || 1 AS y FROM t WHERE t.x IN bucket.v OR 1']\n")
	f.Add("bucket_definitions:\n  b:\n    data:\n      - |\n        SELECT CAST(a AS real), a -> 'b' ->> 'c', x'ff' AS id\n          FROM \"t%\" WHERE NOT (a IS NULL)\n")
	f.Add("config: {edition: 2}\nstreams:\n  s:\n    query: SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = auth.user_id()) OR d = subscription.parameter('x')\n")
	row := sqlvalue.Row{"id": sqlvalue.Text("1"), "a": sqlvalue.Text(`{"b":{"c":1}}`), "x": sqlvalue.Int(2), "v": sqlvalue.Real(1.5)}
	f.Fuzz(func(t *testing.T, text string) {
		c, diags := syncrules.Parse([]byte(text), syncrules.ParseOptions{DefaultSchema: "public"})
		if c == nil {
			if !diags.HasFatal() {
				t.Fatalf("nil config without a fatal diagnostic: %v", diags)
			}
			return
		}
		for _, d := range diags {
			if d.Line < 1 || d.Column < 1 {
				t.Fatalf("diagnostic without a position: %+v", d)
			}
		}
		for _, tp := range c.SourceTables() {
			table := sqlvalue.TableRef(tp)
			c.EvaluateRow(table, row)
			c.EvaluateParameterRow(table, row)
		}
		q, err := c.NewQuerier(syncrules.Request{UserID: "u", Claims: []byte(`{"sub":"u","parameters":{"a":[1,2]}}`), Parameters: []byte(`{"a":[1,"x"]}`), IncludeDefaults: true})
		if err == nil {
			q.Buckets(context.Background(), func(keys [][]byte) ([][][]byte, error) {
				out := make([][][]byte, len(keys))
				for i := range out {
					out[i] = [][]byte{[]byte(`{"result":1,"v":"x"}`)}
				}
				return out, nil
			})
		}
	})
}

// FuzzEvalConstant evaluates arbitrary constant expressions: operators and
// functions must return a value or an error, never panic.
func FuzzEvalConstant(f *testing.F) {
	for _, s := range []string{
		"substring('abcde', -9223372036854775807, 9223372036854775807)", "datetime(1e300, 'unixepoch')",
		"unixepoch('2023-06-28T14:12:00.123+02:00', 'subsec')", "json_extract('{\"a\":[1,{\"b\":2}]}', '$.a.1.b')",
		"st_astext(x'0107000000020000000101000000000000000000F03F0000000000000040010200000000000000')",
		"CAST('1e400' AS real) * 2", "9223372036854775807 * -1 - 2", "'[1,2]' IN '[[1,2]]'", "json_keys('{\"1\":1}')",
		"hex(uuid_blob('0011223344556677889900aabbccddeeff'))", "iif(NULL, 1, 2) || length(x'00ff')",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		e, serr := syntax.ParseExpr(expr)
		if serr != nil {
			return
		}
		syncrules.EvalConstant(e, false)
		syncrules.EvalConstant(e, true)
	})
}
