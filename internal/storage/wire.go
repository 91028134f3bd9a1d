package storage

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"unicode/utf8"
)

// OpKind is the kind of a stored op. The numbers are part of both backends'
// stored formats (the Pebble op header byte, the Postgres bucket_data.kind
// column) and must never change.
type OpKind byte

// The op kinds.
const (
	OpPut    OpKind = 1
	OpRemove OpKind = 2
	OpMove   OpKind = 3
	OpClear  OpKind = 4
)

// IdentityLen is the length of a RowIdentity.
const IdentityLen = 16

// SubkeyOf derives the stable subkey of a source row: 32 hex digits of a
// SHA-256 over (length-prefixed source table, key). Clients treat it as
// opaque; it only has to be the same for every op of the row, and it is the
// same whichever backend stores the row.
func SubkeyOf(table string, key []byte) string {
	// One hash call over a stack buffer (no allocation for usual sizes).
	buf := make([]byte, 0, 256)
	buf = AppendStrPart(buf, table)
	buf = append(buf, key...)
	sum := sha256.Sum256(buf)
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}

// RowIdentity is the hash of a row's identity inside a bucket (the first
// IdentityLen bytes of a SHA-256 over the length-prefixed object_type,
// object_id and subkey), used by compaction to find superseded ops.
func RowIdentity(objectType, objectID, subkey string) [IdentityLen]byte {
	// One hash call over a stack buffer (no allocation for usual sizes).
	buf := make([]byte, 0, 256)
	for _, s := range [3]string{objectType, objectID, subkey} {
		buf = AppendStrPart(buf, s)
	}
	sum := sha256.Sum256(buf)
	var id [IdentityLen]byte
	copy(id[:], sum[:])
	return id
}

// PutChecksum is protocol.PutChecksum (SHA-256 over
// "put.<object_type>.<object_id>.<data>"), hashing in one call from
// *scratch (grown as needed, may be nil) instead of allocating a digest and
// copying data to a string.
func PutChecksum(scratch *[]byte, objectType, objectID string, data []byte) uint32 {
	var x []byte
	if scratch != nil {
		x = (*scratch)[:0]
	}
	x = append(x, "put."...)
	x = append(x, objectType...)
	x = append(x, '.')
	x = append(x, objectID...)
	x = append(x, '.')
	x = append(x, data...)
	if scratch != nil {
		*scratch = x
	}
	sum := sha256.Sum256(x)
	return binary.LittleEndian.Uint32(sum[:4])
}

// AppendRowOpJSON appends the wire JSON of a PUT (kind OpPut, with data) or
// REMOVE op: the exact object that goes into the "data" array of a data
// line.
func AppendRowOpJSON(b []byte, op int64, kind OpKind, objectType, objectID, subkey string, data []byte, checksum uint32) []byte {
	b = append(b, `{"op_id":"`...)
	b = strconv.AppendInt(b, op, 10)
	if kind == OpPut {
		b = append(b, `","op":"PUT","object_type":`...)
	} else {
		b = append(b, `","op":"REMOVE","object_type":`...)
	}
	b = AppendJSONString(b, objectType)
	b = append(b, `,"object_id":`...)
	b = AppendJSONString(b, objectID)
	b = append(b, `,"subkey":`...)
	b = AppendJSONString(b, subkey)
	if kind == OpPut {
		b = append(b, `,"data":`...)
		b = AppendJSONString(b, data)
	} else {
		b = append(b, `,"data":null`...)
	}
	b = append(b, `,"checksum":`...)
	b = strconv.AppendUint(b, uint64(checksum), 10)
	return append(b, '}')
}

// AppendBareOpJSON appends the wire JSON of a MOVE (kind OpMove) or CLEAR
// op.
func AppendBareOpJSON(b []byte, op int64, kind OpKind, checksum uint32) []byte {
	b = append(b, `{"op_id":"`...)
	b = strconv.AppendInt(b, op, 10)
	if kind == OpMove {
		b = append(b, `","op":"MOVE","checksum":`...)
	} else {
		b = append(b, `","op":"CLEAR","checksum":`...)
	}
	b = strconv.AppendUint(b, uint64(checksum), 10)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string the way JavaScript's
// JSON.stringify writes it, except that invalid UTF-8 becomes U+FFFD (as
// encoding/json does) and U+2028/U+2029 are escaped, so the output is always
// valid JSON and valid JavaScript. Row data comes as []byte, so both kinds
// are taken without a conversion.
func AppendJSONString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
