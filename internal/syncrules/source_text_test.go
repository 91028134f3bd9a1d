package syncrules_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/powersync-go/powersync/internal/syncrules"
)

// TestSQLPositionsInYAMLScalars checks that an error inside SQL points at
// the right file line and column whatever the YAML scalar style: the
// unknown function zz_bad must be reported where it is written.
func TestSQLPositionsInYAMLScalars(t *testing.T) {
	docs := map[string]string{
		"plain":               "bucket_definitions:\n  b:\n    data:\n      - SELECT id, zz_bad(1) AS x FROM t\n",
		"plain multi-line":    "bucket_definitions:\n  b:\n    data:\n      - SELECT id,\n        upper(name) AS n,\n\n        zz_bad(1) AS x FROM t\n",
		"single-quoted":       "bucket_definitions:\n  b:\n    data:\n      - 'SELECT id, ''it''''s'' AS q, zz_bad(1) AS x FROM t'\n",
		"single multi-line":   "bucket_definitions:\n  b:\n    data:\n      - 'SELECT id, ''a'' AS q,\n         zz_bad(1) AS x FROM t'\n",
		"double-quoted":       "bucket_definitions:\n  b:\n    data:\n      - \"SELECT id, \\\"Q\\\" AS q, '\\t\\u00e9' AS e, zz_bad(1) AS x FROM t\"\n",
		"double continuation": "bucket_definitions:\n  b:\n    data:\n      - \"SELECT id, 'a' AS q, \\\n         zz_bad(1) AS x FROM t\"\n",
		"literal block":       "bucket_definitions:\n  b:\n    data:\n      - |\n        SELECT id,\n          zz_bad(1) AS x\n        FROM t\n",
		"literal keep":        "bucket_definitions:\n  b:\n    data:\n      - |+\n        SELECT id, 'é' AS e,\n\n          zz_bad(1) AS x FROM t\n\n",
		"folded block":        "bucket_definitions:\n  b:\n    data:\n      - >-\n        SELECT id,\n        'x' AS y,\n\n        zz_bad(1) AS x FROM t\n",
		"indent indicator":    "bucket_definitions:\n  b:\n    data:\n      - |2\n          SELECT id, zz_bad(1) AS x FROM t\n",
		"flow sequence":       "bucket_definitions: {b: {data: [\"SELECT id, zz_bad(1) AS x FROM t\"]}}\n",
		"parameters scalar":   "bucket_definitions:\n  b:\n    parameters: >\n      SELECT zz_bad(1)\n        AS x\n    data: []\n",
		"unicode before":      "# ünïcödé\nbucket_definitions:\n  b:\n    data: [\"SELECT 'ü€😀' AS u, zz_bad(1) AS x FROM t\"]\n",
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			_, diags := syncrules.Parse([]byte(doc), syncrules.ParseOptions{})
			if len(diags) != 1 {
				t.Fatalf("diagnostics: %v", diags)
			}
			off := strings.Index(doc, "zz_bad")
			line := strings.Count(doc[:off], "\n") + 1
			col := utf8.RuneCountInString(doc[strings.LastIndex(doc[:off], "\n")+1:off]) + 1
			d := diags[0]
			if d.Line != line || d.Column != col || !strings.Contains(d.Message, "zz_bad") {
				t.Errorf("got %d:%d %q, want %d:%d", d.Line, d.Column, d.Message, line, col)
			}
		})
	}
}
