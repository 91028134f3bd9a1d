package syntax_test

import (
	"testing"

	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// FuzzParseSelect fuzzes the SQL parser alone.
func FuzzParseSelect(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM t WHERE a = 1 AND (b OR NOT c)",
		"SELECT a.*, CAST(x AS text) AS y FROM a JOIN b ON a.id = b.a LEFT JOIN c USING (d) WHERE x IN (SELECT 1) ORDER BY 1 LIMIT 2",
		"SELECT CASE WHEN a THEN 'x' ELSE 'y''z' END, ARRAY[1,-2], ROW(1) FROM json_each($1) e(v)",
		"SELECT x::integer, -1.5e3, x'ab' -- comment\n /* c */",
		"WITH a AS (SELECT 1) SELECT \"Q\"\"\" FROM a; SELECT",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		sel, err := syntax.ParseSelect(sql)
		if (sel == nil) == (err == nil) {
			t.Fatalf("ParseSelect(%q): sel %v err %v", sql, sel, err)
		}
		if err != nil && (err.Span.Start < 0 || err.Span.Start > len(sql)) {
			t.Fatalf("error span out of range: %+v", err)
		}
	})
}
