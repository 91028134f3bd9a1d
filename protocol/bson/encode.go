package bson

import (
	"encoding/binary"
	"math"
	"strings"
)

// Element types (bsonspec.org). Only the first group is written by this
// package; the others are read by ToJSON.
const (
	TypeDouble   byte = 0x01
	TypeString   byte = 0x02
	TypeDocument byte = 0x03
	TypeArray    byte = 0x04
	TypeBool     byte = 0x08
	TypeNull     byte = 0x0A
	TypeInt32    byte = 0x10
	TypeInt64    byte = 0x12

	TypeBinary    byte = 0x05
	TypeUndefined byte = 0x06
	TypeObjectID  byte = 0x07
	TypeDateTime  byte = 0x09
	TypeTimestamp byte = 0x11
)

// MaxDocumentSize bounds every document this package writes or reads. It is
// the RSocket frame limit of the sync protocol (16 MiB); a sync line is far
// smaller (data lines are cut at about 1 MiB).
const MaxDocumentSize = 16 << 20

// StartDocument appends the length placeholder of a document (or array) and
// returns the offset to pass to EndDocument.
func StartDocument(dst []byte) ([]byte, int) {
	return append(dst, 0, 0, 0, 0), len(dst)
}

// EndDocument appends the terminating zero byte of the document started at
// start and writes its length.
func EndDocument(dst []byte, start int) []byte {
	dst = append(dst, 0)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}

// The Append…Element functions append one element: type byte, key as a
// C string, value. A key must not contain a zero byte; the functions panic
// on one (keys are the caller's constants, not input).

// AppendStringElement appends a UTF-8 string element.
func AppendStringElement(dst []byte, key, value string) []byte {
	dst = appendKey(dst, TypeString, key)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(value)+1))
	dst = append(dst, value...)
	return append(dst, 0)
}

// AppendInt32Element appends a 32-bit integer element.
func AppendInt32Element(dst []byte, key string, value int32) []byte {
	dst = appendKey(dst, TypeInt32, key)
	return binary.LittleEndian.AppendUint32(dst, uint32(value))
}

// AppendInt64Element appends a 64-bit integer element.
func AppendInt64Element(dst []byte, key string, value int64) []byte {
	dst = appendKey(dst, TypeInt64, key)
	return binary.LittleEndian.AppendUint64(dst, uint64(value))
}

// AppendIntElement appends value as int32 when it fits and int64 otherwise,
// as AppendJSON does for JSON integers.
func AppendIntElement(dst []byte, key string, value int64) []byte {
	if value >= math.MinInt32 && value <= math.MaxInt32 {
		return AppendInt32Element(dst, key, int32(value))
	}
	return AppendInt64Element(dst, key, value)
}

// AppendDoubleElement appends a 64-bit float element.
func AppendDoubleElement(dst []byte, key string, value float64) []byte {
	dst = appendKey(dst, TypeDouble, key)
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(value))
}

// AppendBoolElement appends a boolean element.
func AppendBoolElement(dst []byte, key string, value bool) []byte {
	dst = appendKey(dst, TypeBool, key)
	if value {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// AppendNullElement appends a null element.
func AppendNullElement(dst []byte, key string) []byte {
	return appendKey(dst, TypeNull, key)
}

// AppendDocumentElementStart appends the type and key of an embedded
// document and starts it; finish it with EndDocument.
func AppendDocumentElementStart(dst []byte, key string) ([]byte, int) {
	return StartDocument(appendKey(dst, TypeDocument, key))
}

// AppendArrayElementStart appends the type and key of an array and starts
// it; its elements' keys are "0", "1", … (see ArrayKey); finish it with
// EndDocument.
func AppendArrayElementStart(dst []byte, key string) ([]byte, int) {
	return StartDocument(appendKey(dst, TypeArray, key))
}

// ArrayKey returns the key of array element i without allocating for the
// first thousands of elements.
func ArrayKey(i int) string {
	if i < len(smallKeys) {
		return smallKeys[i]
	}
	return itoa(i)
}

var smallKeys = func() []string {
	k := make([]string, 4096)
	for i := range k {
		k[i] = itoa(i)
	}
	return k
}()

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

func appendKey(dst []byte, t byte, key string) []byte {
	if strings.IndexByte(key, 0) >= 0 {
		panic("bson: key contains a zero byte")
	}
	dst = append(dst, t)
	dst = append(dst, key...)
	return append(dst, 0)
}
