package mysql

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// encodeKey is the canonical encoding of a primary key: per key column a
// kind byte followed by the value (8 bytes big-endian for numbers, a
// uvarint length and the bytes for TEXT and BLOB). Snapshot rows and binlog
// rows decode values the same way, so a row gets the same key from both.
func encodeKey(dst []byte, vals []sqlvalue.Value) []byte {
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

// cursor is a snapshot resume point: the raw text-protocol bytes of the key
// columns of the last row copied.
type cursor [][]byte

func (c cursor) encode() []byte {
	b, _ := json.Marshal([][]byte(c))
	return b
}

func decodeCursor(b []byte, n int) (cursor, error) {
	var c [][]byte
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("snapshot cursor: %w", err)
	}
	if len(c) != n {
		return nil, fmt.Errorf("snapshot cursor has %d key values, the table has %d key columns", len(c), n)
	}
	return c, nil
}
