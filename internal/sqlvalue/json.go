package sqlvalue

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Values are written as JSON by three writers:
//
//   - bucket-id parameter arrays (AppendBucketValue): plain JavaScript
//     number formatting, so REAL 314.0 is written 314;
//   - row data (AppendRowJSON, AppendRowValue): REAL values that look like
//     integers get ".0" (REAL 1 → 1.0), as the reference's JSONBig does;
//   - lookup keys (AppendLookupValue): integer-valued REALs are normalized
//     to INTEGER first so 314 and 314.0 produce the same key.
//
// All three escape strings like JavaScript's JSON.stringify (no HTML
// escaping; U+2028 and U+2029 are written raw).

// AppendRowReal writes a REAL the way row data carries it: JavaScript
// number text with ".0" appended when that text looks like an integer.
// Non-finite numbers become null, as JSON.stringify writes them.
func AppendRowReal(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	start := len(dst)
	dst = AppendJSNumber(dst, f)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

// AppendPlainReal writes a REAL as JavaScript's JSON.stringify does.
func AppendPlainReal(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return AppendJSNumber(dst, f)
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the bytes a JSON string can carry unescaped (for bytes
// of 0x80 and above: when the string is valid UTF-8).
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendJSONString writes s as a JSON string literal, escaping like
// JavaScript's JSON.stringify. Invalid UTF-8 bytes become U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	// validity of the non-ASCII tail is checked once, at its first byte
	checked, valid := false, false
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && jsonSafe[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf && !checked {
			checked, valid = true, utf8.ValidString(s[i:])
		}
		if c >= utf8.RuneSelf && valid {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendBucketValue writes one bucket parameter value of a bucket id:
// INTEGER digits, REAL as plain JavaScript number text, TEXT quoted, NULL
// as null. BLOBs never reach bucket ids.
func AppendBucketValue(dst []byte, v Value) []byte {
	switch v.kind {
	case KindInteger:
		return strconv.AppendInt(dst, v.Int64(), 10)
	case KindReal:
		return AppendPlainReal(dst, v.Float64())
	case KindText:
		return AppendJSONString(dst, v.str)
	}
	return append(dst, "null"...)
}

// AppendRowValue writes one output column value of row data.
func AppendRowValue(dst []byte, v Value) []byte {
	if v.kind == KindReal {
		return AppendRowReal(dst, v.Float64())
	}
	return AppendBucketValue(dst, v)
}

// NormalizeParameter turns an integer-valued REAL into INTEGER so that
// lookups for 314 and 314.0 meet.
func NormalizeParameter(v Value) Value {
	if v.kind == KindReal {
		f := v.Float64()
		if f == math.Trunc(f) && f >= -9.2e18 && f <= 9.2e18 {
			return Int(int64(f))
		}
	}
	return v
}

// AppendLookupValue writes one component of a canonical lookup key.
func AppendLookupValue(dst []byte, v Value) []byte {
	return AppendBucketValue(dst, NormalizeParameter(v))
}

// Column is one output column of an evaluated row, in output order.
type Column struct {
	Name  string
	Value Value
}

// AppendRowJSON writes an output row as a JSON object in the reference's
// row-data format (column order kept, REAL 1 written 1.0, BLOBs left out).
func AppendRowJSON(dst []byte, cols []Column) []byte {
	dst = append(dst, '{')
	first := true
	for _, c := range cols {
		if c.Value.kind == KindBlob {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = AppendJSONString(dst, c.Name)
		dst = append(dst, ':')
		dst = AppendRowValue(dst, c.Value)
	}
	return append(dst, '}')
}
