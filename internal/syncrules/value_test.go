package syncrules_test

import (
	"math"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

func TestFormatJSNumber(t *testing.T) {
	tenth := 0.1
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {1, "1"}, {-1.5, "-1.5"}, {3.14, "3.14"}, {1e21, "1e+21"}, {1e20, "100000000000000000000"},
		{1e-7, "1e-7"}, {0.000001, "0.000001"}, {123456789012345680000, "123456789012345680000"},
		{1.7976931348623157e308, "1.7976931348623157e+308"}, {5e-324, "5e-324"}, {tenth + 0.2, "0.30000000000000004"},
		{math.Inf(1), "Infinity"}, {math.NaN(), "NaN"}, {-2.5e-8, "-2.5e-8"}, {9007199254740993, "9007199254740992"},
	}
	for _, tt := range tests {
		if got := sqlvalue.FormatJSNumber(tt.in); got != tt.want {
			t.Errorf("FormatJSNumber(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCompareAndTruthy(t *testing.T) {
	v := func(x any) sqlvalue.Value {
		r, err := syncrules.FromGo(x, syncrules.TimestampFormat{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cmp := []struct {
		a, b sqlvalue.Value
		want int
	}{
		{v(1), v(1.0), 0}, {v(1), v(1.5), -1}, {v(int64(math.MaxInt64)), v(9.3e18), -1}, {v("a"), v("b"), -1},
		{v(nil), v(0), -1}, {v(5), v("1"), -1}, {v("text"), v([]byte{1}), -1},
	}
	for _, tt := range cmp {
		got, err := sqlvalue.Compare(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("Compare(%v, %v) = %d %v, want %d", tt.a, tt.b, got, err, tt.want)
		}
	}
	if _, err := sqlvalue.Compare(v([]byte{1}), v([]byte{1})); err == nil {
		t.Error("comparing blobs should fail")
	}
	truthy := []struct {
		v    sqlvalue.Value
		want bool
	}{
		{v(nil), false}, {v(0), false}, {v(2), true}, {v(0.5), true}, {v("1abc"), true}, {v("0.5"), false},
		{v("abc"), false}, {v(" -3"), true}, {v([]byte{1}), false},
	}
	for _, tt := range truthy {
		if got := tt.v.Truthy(); got != tt.want {
			t.Errorf("Truthy(%v) = %v", tt.v, got)
		}
	}
	if n := sqlvalue.UTF16Len("a😀é"); n != 4 {
		t.Errorf("UTF16Len = %d", n)
	}
}

func TestFromGo(t *testing.T) {
	ts := time.Date(2023, 3, 6, 15, 47, 0, 123456789, time.FixedZone("x", 3600))
	tests := []struct {
		in   any
		f    syncrules.TimestampFormat
		want string
	}{
		{true, syncrules.TimestampFormat{}, "1"},
		{uint64(math.MaxUint64), syncrules.TimestampFormat{}, "18446744073709552000.0"},
		{map[string]any{"b": true, "a": []any{1, 2.5, "x", nil}, "bin": []byte{1}}, syncrules.TimestampFormat{}, `'{"a":[1,2.5,"x",null],"b":1}'`},
		{ts, syncrules.TimestampFormat{ISO8601: true, MaxDigits: -1}, "'2023-03-06T14:47:00.123456Z'"},
		{ts, syncrules.TimestampFormat{ISO8601: true, MaxDigits: 3}, "'2023-03-06T14:47:00.123Z'"},
		{ts, syncrules.TimestampFormat{ISO8601: true, MaxDigits: 0}, "'2023-03-06T14:47:00Z'"},
		{ts, syncrules.TimestampFormat{}, "'2023-03-06 14:47:00.123456789Z'"},
		{[]any{"static value", time.Date(2025, 8, 19, 9, 21, 0, 0, time.UTC)}, syncrules.TimestampFormat{ISO8601: true, MaxDigits: 0}, `'["static value","2025-08-19T09:21:00Z"]'`},
		{[]any{"static value", time.Date(2025, 8, 19, 9, 21, 0, 0, time.UTC)}, syncrules.TimestampFormat{}, `'["static value","2025-08-19 09:21:00Z"]'`},
	}
	for _, tt := range tests {
		got, err := syncrules.FromGo(tt.in, tt.f)
		if err != nil || got.String() != tt.want {
			t.Errorf("FromGo(%v) = %v %v, want %s", tt.in, got, err, tt.want)
		}
	}
	deep := any("x")
	for i := 0; i < 12; i++ {
		deep = []any{deep}
	}
	if _, err := syncrules.FromGo(deep, syncrules.TimestampFormat{}); err != syncrules.ErrJSONDepth {
		t.Errorf("deep nesting: %v", err)
	}
	if _, err := syncrules.FromGo(struct{}{}, syncrules.TimestampFormat{}); err == nil {
		t.Error("struct should not convert")
	}
}

func TestFormatPostgresTimestamp(t *testing.T) {
	legacy := syncrules.TimestampFormat{MaxDigits: -1}
	iso := syncrules.TimestampFormat{ISO8601: true, MaxDigits: -1}
	tests := []struct {
		f    syncrules.TimestampFormat
		in   string
		zone bool
		want string
	}{
		{legacy, "2023-03-06 15:47:00.123+01", true, "'2023-03-06 14:47:00.123Z'"},
		{legacy, "2023-03-06 15:47:00+00", true, "'2023-03-06 15:47:00Z'"},
		{legacy, "2023-03-06 15:47:00.5", false, "'2023-03-06 15:47:00.5'"},
		{iso, "2023-03-06 15:47:00.123+01", true, "'2023-03-06T14:47:00.123000Z'"},
		{iso, "2023-03-06 15:47:00", false, "'2023-03-06T15:47:00.000000'"},
		{iso, "infinity", true, "'9999-12-31T23:59:59Z'"},
		{legacy, "-infinity", true, "'0000-01-01 00:00:00Z'"},
		{legacy, "0044-03-15 12:00:00 BC", false, "NULL"},
		{iso, "2023-03-06 15:47:00+05:30", true, "'2023-03-06T10:17:00.000000Z'"},
	}
	for _, tt := range tests {
		if got := tt.f.FormatPostgresTimestamp(tt.in, tt.zone); got.String() != tt.want {
			t.Errorf("FormatPostgresTimestamp(%q) = %v, want %s", tt.in, got, tt.want)
		}
	}
}

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
