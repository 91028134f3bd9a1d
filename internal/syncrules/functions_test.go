package syncrules_test

import (
	"testing"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

func TestEvalFunctions(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{"substring('abcde', 2, 3)", "'bcd'"}, {"substring('abcde', 0, 2)", "'a'"}, {"substring('abcde', -2)", "'de'"},
		{"substring('abcde', 5, -2)", "'cd'"}, {"substring('😀ab', 2)", "'\uFFFDab'"}, {"instr('abc', 'c')", "3"},
		{"instr('abc', '')", "1"}, {"length(123.4)", "5"}, {"hex(NULL)", "''"}, {"hex('a')", "'61'"},
		{"base64('hi')", "'aGk='"}, {"typeof(1.0)", "'real'"}, {"ifnull(NULL, 2)", "2"}, {"iif('a', 1, 2)", "2"},
		{"upper('straße')", "'STRASSE'"}, {"lower('ÀB')", "'àb'"}, {"CAST('-12.9abc' AS integer)", "-12"},
		{"CAST(-1.5 AS integer)", "-2"}, {"CAST('+1.2e2abc' AS numeric)", "120.0"}, {"CAST(3.0 AS text)", "'3'"},
		{"CAST('x' AS real)", "0.0"}, {"json_extract('{\"a\":{\"b\":1.5}}', '$.a.b')", "1.5"},
		{"json_array_length('[1,2,3]')", "3"}, {"json_array_length('{}')", "0"}, {"json_valid('{\"a\":1,\"a\":2}')", "0"},
		{"json_keys('{\"b\":1,\"2\":2,\"1\":3}')", "'[\"1\",\"2\",\"b\"]'"}, {"unixepoch('2023-06-28 14:12')", "1687961520"},
		{"datetime(1687961520.567, 'unixepoch', 'subsec')", "'2023-06-28 14:12:00.567'"}, {"datetime('2023-06-28T14:12:00+02:00')", "'2023-06-28 12:12:00'"},
		{"unixepoch('2023-06-28', 'auto')", "NULL"}, {"datetime(0)", "'-4713-11-24 12:00:00'"},
		{"uuid_blob('00112233-4455-6677-8899-aabbccddeeff')", "x'00112233445566778899AABBCCDDEEFF'"},
		{"st_x('0101000000000000000000F03F0000000000000040')", "1.0"},
		{"st_asgeojson('0101000000000000000000F03F0000000000000040')", "'{\"type\":\"Point\",\"coordinates\":[1.0,2.0]}'"},
		{"st_astext('0101000000000000000000F03F0000000000000040')", "'POINT(1 2)'"},
		{"5 / 2", "2"}, {"5 / 2.0", "2.5"}, {"1 + '2.0'", "3.0"}, {"1 / 0", "NULL"}, {"3.1 || 'a'", "'3.1a'"},
		{"NOT NULL", "1"}, {"NULL AND 1", "0"}, {"'a' < 'b'", "1"}, {"1 = '1'", "0"}, {"NULL IS NULL", "1"},
		{"9223372036854775807 + 1", "9223372036854776000.0"}, {"2 IN '[1, 2.0]'", "1"},
		{"'{\"a\":null}' ->> 'a'", "NULL"}, {"'{\"a\":null}' -> 'a'", "'null'"}, {"'{\"a.b\":1}' ->> 'a.b'", "1"},
	}
	for _, tt := range tests {
		got, err := evalStatic(tt.expr)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if got.String() != tt.want {
			t.Errorf("%s = %v, want %s", tt.expr, got, tt.want)
		}
	}
}

// evalStatic evaluates a constant expression through a data query of an
// edition-2 config (fixed JSON extraction).
func evalStatic(expr string) (sqlvalue.Value, error) {
	e, serr := syntax.ParseExpr(expr)
	if serr != nil {
		return sqlvalue.Null, serr
	}
	return syncrules.EvalConstant(e, true)
}

func TestEvalConstantRejectsNonConstant(t *testing.T) {
	for _, expr := range []string{"request.user_id() || 'x'", "upper(col)", "token_parameters.a + 1", "bucket.x"} {
		e, serr := syntax.ParseExpr(expr)
		if serr != nil {
			t.Fatal(serr)
		}
		if _, err := syncrules.EvalConstant(e, false); err == nil {
			t.Errorf("EvalConstant(%s): no error", expr)
		}
	}
}
