package syncrules

import (
	"math"
	"strconv"
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
// type conversions of the sync rules value model already applied.
type Row map[string]Value
