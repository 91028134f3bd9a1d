package pebble

import (
	"encoding/binary"

	"github.com/powersync-go/powersync/internal/storage"
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
	opPut    = byte(storage.OpPut)
	opRemove = byte(storage.OpRemove)
	opMove   = byte(storage.OpMove)
	opClear  = byte(storage.OpClear)

	opHeaderShort = 1 + 4 + 8
	opHeaderLong  = opHeaderShort + identityLen
	identityLen   = storage.IdentityLen
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

// appendRowOp appends the value of a PUT (kind opPut) or REMOVE op.
func appendRowOp(b []byte, op int64, kind byte, objectType, objectID, subkey string, data []byte, checksum uint32) []byte {
	b = append(b, kind)
	b = binary.BigEndian.AppendUint32(b, checksum)
	b = binary.BigEndian.AppendUint64(b, 0)
	id := storage.RowIdentity(objectType, objectID, subkey)
	b = append(b, id[:]...)
	return storage.AppendRowOpJSON(b, op, storage.OpKind(kind), objectType, objectID, subkey, data, checksum)
}

// appendBareOp appends the value of a MOVE or CLEAR op.
func appendBareOp(b []byte, op int64, kind byte, checksum uint32, target int64) []byte {
	b = append(b, kind)
	b = binary.BigEndian.AppendUint32(b, checksum)
	b = binary.BigEndian.AppendUint64(b, uint64(target))
	return storage.AppendBareOpJSON(b, op, storage.OpKind(kind), checksum)
}
