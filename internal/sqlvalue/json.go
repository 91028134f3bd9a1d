package sqlvalue

import (
	"math"
	"strconv"

	"github.com/powersync-go/powersync/protocol"
)

// Values are written as JSON by three writers:
//
//   - bucket-id parameter arrays (AppendBucketValue): plain JavaScript
//     number formatting, so REAL 314.0 is written 314;
//   - row data (AppendRowJSON): REAL values that look like
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
	dst = appendJSNumber(dst, f)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

// appendPlainReal writes a REAL as JavaScript's JSON.stringify does.
func appendPlainReal(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return appendJSNumber(dst, f)
}

// AppendJSONString writes s as a JSON string literal: protocol's one
// escaper (JSON.stringify's rules, invalid UTF-8 as U+FFFD), so row data,
// bucket ids and lookup keys escape exactly as the wire does and as the
// reference's checksums expect.
func AppendJSONString(dst []byte, s string) []byte { return protocol.AppendJSONString(dst, s) }

// AppendBucketValue writes one bucket parameter value of a bucket id:
// INTEGER digits, REAL as plain JavaScript number text, TEXT quoted, NULL
// as null. BLOBs never reach bucket ids.
func AppendBucketValue(dst []byte, v Value) []byte {
	switch v.kind {
	case KindInteger:
		return strconv.AppendInt(dst, v.Int64(), 10)
	case KindReal:
		return appendPlainReal(dst, v.Float64())
	case KindText:
		return AppendJSONString(dst, v.str)
	}
	return append(dst, "null"...)
}

// appendRowValue writes one output column value of row data.
func appendRowValue(dst []byte, v Value) []byte {
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
		dst = appendRowValue(dst, c.Value)
	}
	return append(dst, '}')
}
