package protocol

import (
	"crypto/sha256"
	"encoding/binary"
)

// PutChecksum is the checksum of a PUT operation: the first four bytes,
// little-endian, of SHA-256 over "put.<table>.<id>.<data>", where data is the
// exact JSON text sent in the op's data field.
func PutChecksum(table, id, data string) uint32 {
	h := sha256.New()
	h.Write([]byte("put."))
	h.Write([]byte(table))
	h.Write([]byte{'.'})
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(data))
	var sum [sha256.Size]byte
	return binary.LittleEndian.Uint32(h.Sum(sum[:0]))
}

// RemoveChecksum is the checksum of a REMOVE operation: the first four bytes,
// little-endian, of SHA-256 over "delete.<subkey>".
func RemoveChecksum(subkey string) uint32 {
	h := sha256.New()
	h.Write([]byte("delete."))
	h.Write([]byte(subkey))
	var sum [sha256.Size]byte
	return binary.LittleEndian.Uint32(h.Sum(sum[:0]))
}

// AddChecksums adds two checksums with 32-bit wrap-around, as a bucket
// checksum is the wrapping sum of the checksums of its ops.
func AddChecksums(a, b uint32) uint32 { return a + b }

// SignedChecksum returns c as the signed 32-bit value the reference service
// writes for bucket checksums. Clients accept either representation.
func SignedChecksum(c uint32) int32 { return int32(c) }
