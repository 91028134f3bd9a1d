package postgres

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/powersync-go/powersync/protocol"
)

// Op kinds as stored in bucket_data.kind.
const (
	opPut    int16 = 1
	opRemove int16 = 2
	opMove   int16 = 3
	opClear  int16 = 4
)

var errCorrupt = errors.New("corrupt storage record")

// subkeyOf is the stable subkey of a source row: 32 hex digits of a hash of
// (source table, key). It matches the embedded backend, so a client sees the
// same subkeys whichever storage serves it.
func subkeyOf(table string, key []byte) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(table)))])
	h.Write([]byte(table))
	h.Write(key)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// rowIdentity identifies a row inside a bucket (object_type, object_id,
// subkey) for compaction.
func rowIdentity(objectType, objectID, subkey string) []byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, s := range [3]string{objectType, objectID, subkey} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	var sum [sha256.Size]byte
	return h.Sum(sum[:0])[:16]
}

// appendRowOp appends the wire JSON of a PUT (kind opPut) or REMOVE op.
func appendRowOp(b []byte, op int64, kind int16, objectType, objectID, subkey string, data []byte, checksum uint32) []byte {
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
		b = appendJSONString(b, string(data))
	} else {
		b = append(b, `,"data":null`...)
	}
	b = append(b, `,"checksum":`...)
	b = strconv.AppendUint(b, uint64(checksum), 10)
	return append(b, '}')
}

// appendBareOp appends the wire JSON of a MOVE or CLEAR op.
func appendBareOp(b []byte, op int64, kind int16, checksum uint32) []byte {
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

func putChecksum(objectType, objectID string, data []byte) uint32 {
	return protocol.PutChecksum(objectType, objectID, string(data))
}

func removeChecksum(subkey string) uint32 { return protocol.RemoveChecksum(subkey) }

// appendJSONString appends s as a JSON string the way JavaScript's
// JSON.stringify writes it, except that invalid UTF-8 becomes U+FFFD and
// U+2028/U+2029 are escaped, so the line is valid JSON and valid JavaScript.
func appendJSONString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[last:i]...)
			switch c {
			case '"':
				b = append(b, `\"`...)
			case '\\':
				b = append(b, `\\`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
			}
			i++
			last = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[last:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[last:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexd[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		last = i
	}
	b = append(b, s[last:]...)
	return append(b, '"')
}

// record is what storage remembers of a source row: the bucket memberships
// and lookup keys it produced last, and optionally the row itself.
type record struct {
	buckets []membership
	lookups [][]byte
	row     []byte
	hasRow  bool
}

type membership struct {
	bucket, table, id string
}

func (r *record) empty() bool {
	return len(r.buckets) == 0 && len(r.lookups) == 0 && !r.hasRow
}

func appendPart(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendStrPart(b []byte, p string) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func (r *record) encode(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(r.buckets)))
	for _, m := range r.buckets {
		b = appendStrPart(b, m.bucket)
		b = appendStrPart(b, m.table)
		b = appendStrPart(b, m.id)
	}
	b = binary.AppendUvarint(b, uint64(len(r.lookups)))
	for _, l := range r.lookups {
		b = appendPart(b, l)
	}
	if r.hasRow {
		b = append(b, 1)
		b = append(b, r.row...)
	} else {
		b = append(b, 0)
	}
	return b
}

type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) part() []byte {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

// decodeRecord decodes a record, copying everything out of v.
func decodeRecord(v []byte) (*record, error) {
	r := reader{b: v}
	rec := &record{}
	n := r.uvarint()
	if n > uint64(len(v)) {
		return nil, errCorrupt
	}
	rec.buckets = make([]membership, 0, n)
	for i := uint64(0); i < n && !r.bad; i++ {
		rec.buckets = append(rec.buckets, membership{string(r.part()), string(r.part()), string(r.part())})
	}
	n = r.uvarint()
	if n > uint64(len(v)) {
		return nil, errCorrupt
	}
	for i := uint64(0); i < n && !r.bad; i++ {
		rec.lookups = append(rec.lookups, append([]byte(nil), r.part()...))
	}
	if r.bad || len(r.b) == 0 {
		return nil, errCorrupt
	}
	if r.b[0] == 1 {
		rec.hasRow = true
		rec.row = append([]byte{}, r.b[1:]...)
	}
	return rec, nil
}

// sourceRow identifies a source row in the lookup index; length-prefixed so
// rows sort the same way as in the embedded backend.
func sourceRow(table string, key []byte) []byte {
	row := appendStrPart(make([]byte, 0, 2+len(table)+len(key)), table)
	row = append(row, key...)
	return appendPart(make([]byte, 0, len(row)+2), row)
}
