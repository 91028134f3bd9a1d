package storage

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/powersync-go/powersync/protocol"
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
// line, as protocol.AppendPutOp and protocol.AppendRemoveOp encode it.
func AppendRowOpJSON(b []byte, op int64, kind OpKind, objectType, objectID, subkey string, data []byte, checksum uint32) []byte {
	if kind == OpPut {
		return protocol.AppendPutOp(b, op, objectType, objectID, subkey, data, checksum)
	}
	return protocol.AppendRemoveOp(b, op, objectType, objectID, subkey, checksum)
}

// AppendBareOpJSON appends the wire JSON of a MOVE (kind OpMove) or CLEAR
// op.
func AppendBareOpJSON(b []byte, op int64, kind OpKind, checksum uint32) []byte {
	if kind == OpMove {
		return protocol.AppendMoveOp(b, op, checksum)
	}
	return protocol.AppendClearOp(b, op, checksum)
}
