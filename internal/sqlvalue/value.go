// Package sqlvalue is the SQLite value model shared by the source adapters
// and the sync rules engine: the five storage classes (NULL, INTEGER, REAL,
// TEXT, BLOB), comparison, truthiness and CAST as the reference evaluates
// them, conversion of Go values and Postgres timestamps, JavaScript number
// text, the JSON writers that turn values into row data, bucket ids and
// lookup keys, and the names of source tables.
//
// Sources build a Row of Values for every changed row they read;
// replication hands the Row with its TableRef to internal/syncrules, which
// evaluates it. Of this module the package imports only protocol, whose
// JSON string escaper the writers use.
package sqlvalue

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"
)

// Kind is the storage class of a Value, as in SQLite.
type Kind uint8

// The five storage classes. INTEGER and REAL are kept apart everywhere.
const (
	KindNull Kind = iota
	KindInteger
	KindReal
	KindText
	KindBlob
)

// String returns the lower-case name of the storage class.
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindInteger:
		return "integer"
	case KindReal:
		return "real"
	case KindText:
		return "text"
	case KindBlob:
		return "blob"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one SQLite value: NULL, INTEGER (int64), REAL (float64), TEXT or
// BLOB. The zero Value is NULL. Values are small and passed by value; TEXT
// and BLOB share the string field (a BLOB's bytes are never modified).
type Value struct {
	kind Kind
	bits uint64 // int64 or float64 bits
	str  string // TEXT or BLOB
}

// Null is the NULL value.
var Null = Value{}

// Int returns an INTEGER value.
func Int(i int64) Value { return Value{kind: KindInteger, bits: uint64(i)} }

// Real returns a REAL value.
func Real(f float64) Value { return Value{kind: KindReal, bits: math.Float64bits(f)} }

// Text returns a TEXT value.
func Text(s string) Value { return Value{kind: KindText, str: s} }

// Blob returns a BLOB value holding a copy of b.
func Blob(b []byte) Value { return Value{kind: KindBlob, str: string(b)} }

// BlobString returns a BLOB value whose bytes are those of s (no copy).
func BlobString(s string) Value { return Value{kind: KindBlob, str: s} }

// Bool returns INTEGER 1 or 0, the SQLite form of a boolean.
func Bool(b bool) Value {
	if b {
		return Int(1)
	}
	return Int(0)
}

// Kind returns the storage class.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is NULL.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Int64 returns the INTEGER payload (valid only for KindInteger).
func (v Value) Int64() int64 { return int64(v.bits) }

// Float64 returns the REAL payload (valid only for KindReal).
func (v Value) Float64() float64 { return math.Float64frombits(v.bits) }

// Str returns the TEXT payload, or a BLOB's bytes as a string.
func (v Value) Str() string { return v.str }

// Bytes returns a BLOB's bytes (a copy).
func (v Value) Bytes() []byte { return []byte(v.str) }

// Row is one source row: column name → value. Sources build rows with the
// type conversions of the value model already applied.
type Row map[string]Value

// TableRef names a source table. Schema is empty for sources without schemas
// (SQLite); Postgres uses "public" by default.
type TableRef struct {
	Schema string
	Name   string
}

// TablePattern is a table name from a query's FROM clause. A Name ending in
// "%" matches every table with that prefix (the rest is _table_suffix).
type TablePattern struct {
	Schema string
	Name   string
}

// String returns a debugging form of v: NULL, 1, 1.0, 'text' or x'0A'.
func (v Value) String() string {
	switch v.kind {
	case KindNull:
		return "NULL"
	case KindInteger:
		return strconv.FormatInt(v.Int64(), 10)
	case KindReal:
		return string(AppendRowReal(nil, v.Float64()))
	case KindText:
		return "'" + strings.ReplaceAll(v.str, "'", "''") + "'"
	default:
		return "x'" + strings.ToUpper(hex.EncodeToString([]byte(v.str))) + "'"
	}
}

// AsText returns the text form of v as the reference's JavaScript engine
// renders it: INTEGER as decimal digits, REAL as JavaScript's
// Number#toString (3.0 → "3", 1e21 → "1e+21"), TEXT unchanged, a BLOB's
// bytes as (UTF-8) text and NULL as "". Use CastText for SQL semantics
// (NULL stays NULL).
func (v Value) AsText() string {
	switch v.kind {
	case KindInteger:
		return strconv.FormatInt(v.Int64(), 10)
	case KindReal:
		return FormatJSNumber(v.Float64())
	case KindText, KindBlob:
		return v.str
	}
	return ""
}

// Truthy reports the SQLite truth value of v as the reference evaluates it:
// NULL and BLOB are false, numbers are true when not zero, and TEXT is true
// when its leading integer prefix (JavaScript parseInt) is not zero, so
// '1abc' is true and '0.5' is false.
func (v Value) Truthy() bool {
	switch v.kind {
	case KindInteger:
		return v.Int64() != 0
	case KindReal:
		f := v.Float64()
		return f != 0 && !math.IsNaN(f)
	case KindText:
		n, ok := parseIntPrefix(v.str)
		return ok && n != 0
	}
	return false
}

// parseIntPrefix mimics JavaScript parseInt(s, 10) for the truth test: leading
// white space, an optional sign and at least one digit. Only zero-ness
// matters, so overflow saturates.
func parseIntPrefix(s string) (int64, bool) {
	i := 0
	for i < len(s) && isJSSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var n int64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if n < math.MaxInt64/10 {
			n = n*10 + int64(s[i]-'0')
		}
		i++
	}
	if i == start {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

func isJSSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// ErrCompareBlobs is returned when two BLOBs are compared (the reference
// does not support it).
var ErrCompareBlobs error = userError("Comparing blobs is not supported currently")

// userError is an error whose text is shown to users as the reference
// words it (capitalized).
type userError string

func (e userError) Error() string { return string(e) }

func classRank(k Kind) int {
	switch k {
	case KindNull:
		return 0
	case KindInteger, KindReal:
		return 1
	case KindText:
		return 2
	}
	return 3
}

// Compare orders two values like the reference: numbers numerically across
// INTEGER and REAL, TEXT by bytes (no collation), and otherwise by class
// NULL < numbers < TEXT < BLOB. Two BLOBs cannot be compared.
func Compare(a, b Value) (int, error) {
	ra, rb := classRank(a.kind), classRank(b.kind)
	if ra != rb {
		if ra < rb {
			return -1, nil
		}
		return 1, nil
	}
	switch ra {
	case 0:
		return 0, nil
	case 1:
		if a.kind == KindInteger && b.kind == KindInteger {
			x, y := a.Int64(), b.Int64()
			switch {
			case x < y:
				return -1, nil
			case x > y:
				return 1, nil
			}
			return 0, nil
		}
		return compareNumbers(a, b), nil
	case 2:
		return strings.Compare(a.str, b.str), nil
	}
	return 0, ErrCompareBlobs
}

// compareNumbers compares two numbers of which at least one is REAL,
// exactly even for INTEGERs beyond 2^53.
func compareNumbers(a, b Value) int {
	if a.kind == KindInteger {
		return -compareIntFloat(b.Float64(), a.Int64())
	}
	if b.kind == KindInteger {
		return compareIntFloat(a.Float64(), b.Int64())
	}
	x, y := a.Float64(), b.Float64()
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// compareIntFloat compares float f with integer i.
func compareIntFloat(f float64, i int64) int {
	if math.IsNaN(f) {
		return -1
	}
	if f < -9.223372036854775808e18 {
		return -1
	}
	if f >= 9.223372036854775808e18 {
		return 1
	}
	t := math.Trunc(f)
	ti := int64(t)
	switch {
	case ti < i:
		return -1
	case ti > i:
		return 1
	case f > t:
		return 1
	case f < t:
		return -1
	}
	return 0
}

// Equal reports whether a and b compare equal (NULLs are equal to each
// other; BLOBs compare by bytes).
func Equal(a, b Value) bool {
	if a.kind == KindBlob && b.kind == KindBlob {
		return a.str == b.str
	}
	c, err := Compare(a, b)
	return err == nil && c == 0
}

// Identical reports whether a and b have the same kind and payload (REAL by
// bits). Used for de-duplication, not for SQL comparison.
func Identical(a, b Value) bool { return a == b }

// UTF16Len returns the length of s in UTF-16 code units, which is how the
// reference measures length(), substring() and instr().
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// FormatJSNumber formats f exactly like JavaScript's Number#toString:
// shortest round-trip digits, plain notation for exponents in [-7, 21),
// otherwise "1e+21" / "1e-7" style.
func FormatJSNumber(f float64) string {
	return string(appendJSNumber(nil, f))
}

// appendJSNumber appends the FormatJSNumber text of f to dst.
func appendJSNumber(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		return append(dst, '0')
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		if math.Abs(f) < 1<<53 {
			return strconv.AppendInt(dst, int64(f), 10)
		}
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	neg := false
	if e[0] == '-' {
		neg = true
		e = e[1:]
	}
	// e is d[.ddd]e±XX
	ei := 0
	for ei < len(e) && e[ei] != 'e' {
		ei++
	}
	mant := e[:ei]
	exp, _ := strconv.Atoi(string(e[ei+1:]))
	digits := make([]byte, 0, len(mant))
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	k := len(digits)
	n := exp + 1
	if neg {
		dst = append(dst, '-')
	}
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits...)
		for i := 0; i < n-k; i++ {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for i := 0; i < -n; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst
}
