package pebble

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"unicode/utf8"

	"github.com/powersync-go/powersync/protocol"
)

// An op value is a fixed header followed by the op's wire JSON, the exact
// object that goes into the "data" array of a data line:
//
//	kind      1 byte  (opPut, opRemove, opMove, opClear)
//	checksum  4 bytes big-endian
//	target    8 bytes big-endian (compaction target op id, 0 if none)
//	identity 16 bytes (PUT and REMOVE only): hash of (object_type, object_id, subkey)
//	wire JSON
//
// Reads hand out the wire JSON without decoding it; compaction uses the
// header alone.
const (
	opPut    byte = 1
	opRemove byte = 2
	opMove   byte = 3
	opClear  byte = 4

	opHeaderShort = 1 + 4 + 8
	opHeaderLong  = opHeaderShort + identityLen
	identityLen   = 16
)

type opHeader struct {
	kind     byte
	checksum uint32
	target   int64
	identity []byte // nil for MOVE and CLEAR
	wire     []byte
}

func decodeOp(v []byte) (opHeader, error) {
	if len(v) < opHeaderShort {
		return opHeader{}, errCorrupt
	}
	h := opHeader{
		kind:     v[0],
		checksum: binary.BigEndian.Uint32(v[1:5]),
		target:   int64(binary.BigEndian.Uint64(v[5:13])),
	}
	switch h.kind {
	case opPut, opRemove:
		if len(v) < opHeaderLong {
			return opHeader{}, errCorrupt
		}
		h.identity = v[opHeaderShort:opHeaderLong]
		h.wire = v[opHeaderLong:]
	case opMove, opClear:
		h.wire = v[opHeaderShort:]
	default:
		return opHeader{}, errCorrupt
	}
	return h, nil
}

// rowIdentity is the hash of a row's identity inside a bucket, used by
// compaction to find superseded ops.
func rowIdentity(objectType, objectID, subkey string) [identityLen]byte {
	// The hashed bytes are built in a stack buffer (one hash call, no
	// allocation for usual sizes).
	buf := make([]byte, 0, 256)
	for _, s := range [3]string{objectType, objectID, subkey} {
		buf = appendStrPart(buf, s)
	}
	sum := sha256.Sum256(buf)
	var id [identityLen]byte
	copy(id[:], sum[:])
	return id
}

// subkeyOf derives the stable subkey of a source row: 32 hex digits of a
// hash of (source table, key). Clients treat it as opaque; it only has to
// be the same for every op of the row.
func subkeyOf(table string, key []byte) string {
	buf := make([]byte, 0, 256)
	buf = appendStrPart(buf, table)
	buf = append(buf, key...)
	sum := sha256.Sum256(buf)
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}

// appendRowOp appends the value of a PUT (data != nil) or REMOVE op.
func appendRowOp(b []byte, op int64, kind byte, objectType, objectID, subkey string, data []byte, checksum uint32) []byte {
	b = append(b, kind)
	b = binary.BigEndian.AppendUint32(b, checksum)
	b = binary.BigEndian.AppendUint64(b, 0)
	id := rowIdentity(objectType, objectID, subkey)
	b = append(b, id[:]...)
	b = append(b, `{"op_id":"`...)
	b = strconv.AppendInt(b, op, 10)
	if kind == opPut {
		b = append(b, `","op":"PUT","object_type":`...)
	} else {
		b = append(b, `","op":"REMOVE","object_type":`...)
	}
	b = appendJSONString(b, objectType)
	b = append(b, `,"object_id":`...)
	b = appendJSONString(b, objectID)
	b = append(b, `,"subkey":`...)
	b = appendJSONString(b, subkey)
	if kind == opPut {
		b = append(b, `,"data":`...)
		b = appendJSONString(b, data)
	} else {
		b = append(b, `,"data":null`...)
	}
	b = append(b, `,"checksum":`...)
	b = strconv.AppendUint(b, uint64(checksum), 10)
	return append(b, '}')
}

// appendBareOp appends the value of a MOVE or CLEAR op.
func appendBareOp(b []byte, op int64, kind byte, checksum uint32, target int64) []byte {
	b = append(b, kind)
	b = binary.BigEndian.AppendUint32(b, checksum)
	b = binary.BigEndian.AppendUint64(b, uint64(target))
	b = append(b, `{"op_id":"`...)
	b = strconv.AppendInt(b, op, 10)
	if kind == opMove {
		b = append(b, `","op":"MOVE","checksum":`...)
	} else {
		b = append(b, `","op":"CLEAR","checksum":`...)
	}
	b = strconv.AppendUint(b, uint64(checksum), 10)
	return append(b, '}')
}

// putChecksum is protocol.PutChecksum (SHA-256 over
// "put.<object_type>.<object_id>.<data>"), hashing in one call from
// *scratch (grown as needed, may be nil) instead of allocating a digest.
func putChecksum(scratch *[]byte, objectType, objectID string, data []byte) uint32 {
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

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does, so the output is always valid JSON.
// Row data comes as []byte, so both kinds are taken without a conversion.
func appendJSONString[S string | []byte](b []byte, s S) []byte {
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

func removeChecksum(subkey string) uint32 { return protocol.RemoveChecksum(subkey) }
