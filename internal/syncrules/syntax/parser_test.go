package syntax_test

import (
	"testing"

	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

func TestParseExprPrecedence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1 + 2 * 3", "(+ 1 (* 2 3))"},
		{"a = 1 OR b = 2 AND c", "(OR (= a 1) (AND (= b 2) c))"},
		{"NOT a = b", "(NOT (= a b))"},
		{"x ->> 'a' || 'b'", "(|| (->> x 'a') 'b')"},
		{"data -> 'a' ->> 'b'", "(->> (-> data 'a') 'b')"},
		{"a <> b", "(!= a b)"},
		{"a IS NOT NULL AND b IS TRUE", "(AND (IS NOT a NULL) (IS b TRUE))"},
		{"x BETWEEN 1 AND 3 AND y", "(AND (BETWEEN x 1 3) y)"},
		{"x NOT IN (1, 2)", "(NOT IN x (LIST 1 2))"},
		{"'a' IN (request.jwt() ->> 'p')", "(IN 'a' (->> (request.jwt) 'p'))"},
		{"bucket.id IN t.ids", "(IN bucket.id t.ids)"},
		{"CAST(x AS TEXT)", "(CAST x text)"},
		{"x::integer + 1", "(+ (CAST x integer) 1)"},
		{"-1", "-1"},
		{"- 1", "(- 1)"},
		{"a - 1", "(- a 1)"},
		{"1.5e3", "1500.0"},
		{"TRUE AND FALSE", "(AND 1 0)"},
		{`"Quoted"."Col" = Upper`, `(= "Quoted"."Col" upper)`},
		{"CASE WHEN a THEN 1 ELSE 2 END", "(CASE (WHEN a 1) (ELSE 2))"},
		{"CASE x WHEN 1 THEN 'a' END", "(CASE x (WHEN 1 'a'))"},
		{"x IN ARRAY[1, 2]", "(IN x (ARRAY 1 2))"},
		{"x && ROW(1)", "(&& x (ROW 1))"},
		{"'it''s'", "'it''s'"},
		{"x'0aFF'", "x'0AFF'"},
		{"a /* c */ = -- c\n b", "(= a b)"},
		{"upper(name) LIKE 'a%'", "(LIKE (upper name) 'a%')"},
		{"$1", "$1"},
		{"NULL", "NULL"},
	}
	for _, tt := range tests {
		e, err := syntax.ParseExpr(tt.in)
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", tt.in, err)
			continue
		}
		if got := syntax.ExprString(e); got != tt.want {
			t.Errorf("ParseExpr(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParseSelect(t *testing.T) {
	sel, err := syntax.ParseSelect(`SELECT c.*, id AS "ID", upper(name) n FROM "s"."Todos" AS c INNER JOIN lists l ON l.id = c.list_id, json_each(x) WHERE a = 1 ORDER BY id LIMIT 3;`)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Items) != 3 || !sel.Items[0].Star || sel.Items[0].StarTable.Name != "c" {
		t.Fatalf("items: %+v", sel.Items)
	}
	if sel.Items[1].Alias.Name != "ID" || !sel.Items[1].Alias.Quoted || sel.Items[2].Alias.Name != "n" {
		t.Errorf("aliases: %+v", sel.Items)
	}
	if len(sel.From) != 3 || sel.From[0].Schema.Name != "s" || sel.From[0].Table.Name != "Todos" || sel.From[0].Alias.Name != "c" {
		t.Fatalf("from: %+v", sel.From)
	}
	if sel.From[1].Join != syntax.JoinInner || sel.From[1].On == nil || sel.From[2].Join != syntax.JoinComma || sel.From[2].Func == nil {
		t.Errorf("joins: %+v", sel.From)
	}
	if len(sel.Unsupported) != 2 || sel.Unsupported[0].Name != "ORDER BY" || sel.Unsupported[1].Name != "LIMIT" {
		t.Errorf("unsupported: %+v", sel.Unsupported)
	}
	if sel, err := syntax.ParseSelect("SELECT"); err != nil || len(sel.Items) != 0 {
		t.Errorf("empty select: %v %v", sel, err)
	}
}

func TestParseSelectErrors(t *testing.T) {
	tests := []struct {
		in   string
		kind syntax.ErrorKind
		msg  string
		at   int
	}{
		{"UPDATE x SET a = 1", syntax.NotSelect, "Only SELECT statements are supported", 0},
		{"SELECT 1; SELECT 2", syntax.Multiple, "Only a single SELECT statement is supported", 10},
		{"SELECT * FROM", syntax.General, "Expected a table name but reached end of input", 13},
		{"SELECT 'abc", syntax.General, "Unterminated string literal", 7},
		{"SELECT a FROM t WHERE (a = 1", syntax.General, "Expected ')' but reached end of input", 28},
		{"SELECT a b c", syntax.General, "Unexpected identifier 'c'", 11},
	}
	for _, tt := range tests {
		_, err := syntax.ParseSelect(tt.in)
		if err == nil {
			t.Errorf("ParseSelect(%q): no error", tt.in)
			continue
		}
		if err.Kind != tt.kind || err.Message != tt.msg || err.Span.Start != tt.at {
			t.Errorf("ParseSelect(%q) = %v %q at %d, want %v %q at %d", tt.in, err.Kind, err.Message, err.Span.Start, tt.kind, tt.msg, tt.at)
		}
	}
}

func TestParseDepthBounded(t *testing.T) {
	deep := ""
	for i := 0; i < 10000; i++ {
		deep += "("
	}
	if _, err := syntax.ParseSelect("SELECT " + deep + "1"); err == nil {
		t.Fatal("expected an error for deep nesting")
	}
}
