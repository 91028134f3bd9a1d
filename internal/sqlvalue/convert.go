package sqlvalue

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file holds the conversions from Go values (as database drivers and
// decoded JSON give them) to Values (§4.3, §4.4), and the timestamp text
// forms. They run once per column while a Row is built, not per query.

// TimestampFormat says how timestamps are rendered as TEXT. Get it from
// the sync config (syncrules Config.TimestampFormat) so it follows the
// config's compatibility options.
type TimestampFormat struct {
	// ISO8601 selects "YYYY-MM-DDThh:mm:ss.ffffffZ" with a fixed number of
	// sub-second digits (timestamps_iso8601, on from edition 2). Off, the
	// legacy form "YYYY-MM-DD hh:mm:ss[.f]Z" keeps the fraction as the
	// source wrote it.
	ISO8601 bool
	// MaxDigits caps the sub-second digits (timestamp_max_precision: 0, 3,
	// 6 or 9), or -1 for the source's precision.
	MaxDigits int
}

// ErrJSONDepth is returned by FromGo for objects nested deeper than the
// reference allows (PSYNC_S1004).
var ErrJSONDepth = errors.New("json nested object depth exceeds the limit of 10")

// maxSourceJSONDepth is the reference's nesting limit for source objects.
const maxSourceJSONDepth = 10

// FromGo converts a Go value from a database driver (or decoded JSON) to
// a Value: nil → NULL; bool → 1/0; integers → INTEGER (uint64 beyond int64
// → REAL); floats → REAL; string → TEXT; []byte → BLOB; json.RawMessage →
// its text; json.Number → INTEGER or REAL by its syntax; time.Time → TEXT
// by f with microsecond source precision; maps, slices and arrays → JSON
// TEXT with booleans as 1/0, timestamps as text by f and BLOBs left out
// (deeper than 10 levels → ErrJSONDepth). Anything else is an error naming its type.
func FromGo(v any, f TimestampFormat) (Value, error) {
	switch x := v.(type) {
	case nil:
		return Null, nil
	case Value:
		return x, nil
	case bool:
		return Bool(x), nil
	case int:
		return Int(int64(x)), nil
	case int8:
		return Int(int64(x)), nil
	case int16:
		return Int(int64(x)), nil
	case int32:
		return Int(int64(x)), nil
	case int64:
		return Int(x), nil
	case uint:
		return fromUint(uint64(x)), nil
	case uint8:
		return Int(int64(x)), nil
	case uint16:
		return Int(int64(x)), nil
	case uint32:
		return Int(int64(x)), nil
	case uint64:
		return fromUint(x), nil
	case float32:
		return Real(float64(x)), nil
	case float64:
		return Real(x), nil
	case string:
		return Text(x), nil
	case []byte:
		if x == nil {
			return Null, nil
		}
		return Blob(x), nil
	case json.RawMessage:
		if x == nil {
			return Null, nil
		}
		return Text(string(x)), nil
	case json.Number:
		return CastNumeric(Text(string(x))), nil
	case time.Time:
		return Text(f.Format(x, 6, true)), nil
	case *time.Time:
		if x == nil {
			return Null, nil
		}
		return Text(f.Format(*x, 6, true)), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		b, err := appendGoJSON(nil, rv, 0, f)
		if err != nil {
			return Null, err
		}
		return Text(string(b)), nil
	case reflect.Pointer:
		if rv.IsNil() {
			return Null, nil
		}
		return FromGo(rv.Elem().Interface(), f)
	}
	return Null, fmt.Errorf("sqlvalue: cannot convert %T to a value", v)
}

func fromUint(u uint64) Value {
	if u > math.MaxInt64 {
		return Real(float64(u))
	}
	return Int(int64(u))
}

// appendGoJSON writes a nested Go value as JSON the way the reference
// stores nested source values: booleans as 1/0, BLOBs dropped.
func appendGoJSON(dst []byte, rv reflect.Value, depth int, f TimestampFormat) ([]byte, error) {
	if depth > maxSourceJSONDepth {
		return nil, ErrJSONDepth
	}
	for rv.Kind() == reflect.Interface || rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return append(dst, "null"...), nil
		}
		rv = rv.Elem()
	}
	if t, ok := rv.Interface().(time.Time); ok {
		return AppendJSONString(dst, f.Format(t, 6, true)), nil
	}
	switch rv.Kind() {
	case reflect.Bool:
		if rv.Bool() {
			return append(dst, '1'), nil
		}
		return append(dst, '0'), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(dst, rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(dst, rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return appendPlainReal(dst, rv.Float()), nil
	case reflect.String:
		if n, ok := rv.Interface().(json.Number); ok {
			return append(dst, string(n)...), nil
		}
		return AppendJSONString(dst, rv.String()), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return append(dst, "null"...), nil // binary is not JSON
		}
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendGoJSON(dst, rv.Index(i), depth+1, f); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case reflect.Map:
		if rv.IsNil() {
			return append(dst, "null"...), nil
		}
		keys := rv.MapKeys()
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = fmt.Sprint(k.Interface())
		}
		order := make([]int, len(keys))
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool { return names[order[a]] < names[order[b]] })
		dst = append(dst, '{')
		first := true
		for _, i := range order {
			val := rv.MapIndex(keys[i])
			if b, ok := val.Interface().([]byte); ok && b != nil {
				continue // BLOBs are left out of JSON
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = AppendJSONString(dst, names[i])
			dst = append(dst, ':')
			var err error
			if dst, err = appendGoJSON(dst, val, depth+1, f); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
	return nil, fmt.Errorf("sqlvalue: cannot convert %s to JSON", rv.Type())
}

// Format renders t. sourceDigits is the sub-second precision of the
// source (Postgres 6, MongoDB 3, SQL Server 9); withZone adds the "Z" of a
// UTC instant (timestamptz) — timestamps without a zone are rendered as
// written.
func (f TimestampFormat) Format(t time.Time, sourceDigits int, withZone bool) string {
	if withZone {
		t = t.UTC()
	}
	y := t.Year()
	if y < 0 || y > 9999 {
		return ""
	}
	var b []byte
	b = fmt.Appendf(b, "%04d-%02d-%02d", y, int(t.Month()), t.Day())
	if f.ISO8601 {
		b = append(b, 'T')
	} else {
		b = append(b, ' ')
	}
	b = fmt.Appendf(b, "%02d:%02d:%02d", t.Hour(), t.Minute(), t.Second())
	frac := fmt.Sprintf("%09d", t.Nanosecond())
	if f.ISO8601 {
		digits := sourceDigits
		if f.MaxDigits >= 0 && f.MaxDigits < digits {
			digits = f.MaxDigits
		}
		if digits > 9 {
			digits = 9
		}
		if digits > 0 {
			b = append(b, '.')
			b = append(b, frac[:digits]...)
		}
	} else if t.Nanosecond() != 0 {
		b = append(b, '.')
		b = append(b, strings.TrimRight(frac, "0")...)
	}
	if withZone {
		b = append(b, 'Z')
	}
	return string(b)
}

// FormatPostgresTimestamp converts the text form of a Postgres timestamp
// ("2023-03-06 15:47:00.123+01", "infinity", "2023-03-06 15:47:00") as
// pgoutput sends it: timestamptz (withZone) is normalized to UTC; the legacy
// format keeps the fraction exactly as written; "infinity" and "-infinity"
// become 9999-12-31 23:59:59 and 0000-01-01 00:00:00; years out of range
// (BC) become NULL.
func (f TimestampFormat) FormatPostgresTimestamp(text string, withZone bool) Value {
	sep := " "
	if f.ISO8601 {
		sep = "T"
	}
	z := ""
	if withZone {
		z = "Z"
	}
	switch text {
	case "infinity":
		return Text("9999-12-31" + sep + "23:59:59" + z)
	case "-infinity":
		return Text("0000-01-01" + sep + "00:00:00" + z)
	}
	t, fraction, ok := parsePostgresTimestamp(text, withZone)
	if !ok {
		return Null
	}
	if f.ISO8601 {
		return Text(f.Format(t, 6, withZone))
	}
	if withZone {
		t = t.UTC()
	}
	s := fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
	if fraction != "" && strings.Trim(fraction, "0") != "" {
		s += "." + fraction
	}
	return Text(s + z)
}

// parsePostgresTimestamp parses "YYYY-MM-DD hh:mm:ss[.f][±hh[:mm[:ss]]]".
func parsePostgresTimestamp(text string, withZone bool) (time.Time, string, bool) {
	if strings.HasSuffix(text, " BC") || len(text) < 19 {
		return time.Time{}, "", false
	}
	base, err := time.Parse("2006-01-02 15:04:05", text[:19])
	if err != nil {
		return time.Time{}, "", false
	}
	rest := text[19:]
	fraction := ""
	if strings.HasPrefix(rest, ".") {
		i := 1
		for i < len(rest) && isDigit(rest[i]) {
			i++
		}
		fraction = rest[1:i]
		rest = rest[i:]
		ns, _ := strconv.Atoi((fraction + "000000000")[:9])
		base = base.Add(time.Duration(ns))
	}
	if rest != "" {
		if !withZone || (rest[0] != '+' && rest[0] != '-') {
			return time.Time{}, "", false
		}
		sign := 1
		if rest[0] == '-' {
			sign = -1
		}
		parts := strings.Split(rest[1:], ":")
		secs := 0
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || i > 2 {
				return time.Time{}, "", false
			}
			secs += n * []int{3600, 60, 1}[i]
		}
		base = base.Add(-time.Duration(sign*secs) * time.Second)
	}
	return base, fraction, true
}
