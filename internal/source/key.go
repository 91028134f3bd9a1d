package source

import (
	"encoding/binary"
	"math"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// AppendKey appends the canonical encoding of a row's key values (the
// Postgres replica identity, the MySQL primary key) to dst: per key column a
// kind byte followed by the value (8 bytes big-endian for numbers, a uvarint
// length and the bytes for TEXT and BLOB). A source decodes snapshot rows and
// streamed changes into the same values, so a row gets the same key from
// both; the bytes are stored as the row's identity, so they must not change.
func AppendKey(dst []byte, vals []sqlvalue.Value) []byte {
	for _, v := range vals {
		dst = append(dst, byte(v.Kind()))
		switch v.Kind() {
		case sqlvalue.KindInteger:
			dst = binary.BigEndian.AppendUint64(dst, uint64(v.Int64()))
		case sqlvalue.KindReal:
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(v.Float64()))
		case sqlvalue.KindText, sqlvalue.KindBlob:
			dst = binary.AppendUvarint(dst, uint64(len(v.Str())))
			dst = append(dst, v.Str()...)
		}
	}
	return dst
}
