package sqlvalue_test

import (
	"math"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/sqlvalue"
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
		r, err := sqlvalue.FromGo(x, sqlvalue.TimestampFormat{})
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
		f    sqlvalue.TimestampFormat
		want string
	}{
		{true, sqlvalue.TimestampFormat{}, "1"},
		{uint64(math.MaxUint64), sqlvalue.TimestampFormat{}, "18446744073709552000.0"},
		{map[string]any{"b": true, "a": []any{1, 2.5, "x", nil}, "bin": []byte{1}}, sqlvalue.TimestampFormat{}, `'{"a":[1,2.5,"x",null],"b":1}'`},
		{ts, sqlvalue.TimestampFormat{ISO8601: true, MaxDigits: -1}, "'2023-03-06T14:47:00.123456Z'"},
		{ts, sqlvalue.TimestampFormat{ISO8601: true, MaxDigits: 3}, "'2023-03-06T14:47:00.123Z'"},
		{ts, sqlvalue.TimestampFormat{ISO8601: true, MaxDigits: 0}, "'2023-03-06T14:47:00Z'"},
		{ts, sqlvalue.TimestampFormat{}, "'2023-03-06 14:47:00.123456789Z'"},
		{[]any{"static value", time.Date(2025, 8, 19, 9, 21, 0, 0, time.UTC)}, sqlvalue.TimestampFormat{ISO8601: true, MaxDigits: 0}, `'["static value","2025-08-19T09:21:00Z"]'`},
		{[]any{"static value", time.Date(2025, 8, 19, 9, 21, 0, 0, time.UTC)}, sqlvalue.TimestampFormat{}, `'["static value","2025-08-19 09:21:00Z"]'`},
	}
	for _, tt := range tests {
		got, err := sqlvalue.FromGo(tt.in, tt.f)
		if err != nil || got.String() != tt.want {
			t.Errorf("FromGo(%v) = %v %v, want %s", tt.in, got, err, tt.want)
		}
	}
	deep := any("x")
	for i := 0; i < 12; i++ {
		deep = []any{deep}
	}
	if _, err := sqlvalue.FromGo(deep, sqlvalue.TimestampFormat{}); err != sqlvalue.ErrJSONDepth {
		t.Errorf("deep nesting: %v", err)
	}
	if _, err := sqlvalue.FromGo(struct{}{}, sqlvalue.TimestampFormat{}); err == nil {
		t.Error("struct should not convert")
	}
}

func TestFormatPostgresTimestamp(t *testing.T) {
	legacy := sqlvalue.TimestampFormat{MaxDigits: -1}
	iso := sqlvalue.TimestampFormat{ISO8601: true, MaxDigits: -1}
	tests := []struct {
		f    sqlvalue.TimestampFormat
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
