package sqlite

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// Key encoding: a row's id value as bytes, one tag byte for the storage
// class followed by the payload. Integers are big-endian with the sign bit
// flipped so that encoded integers sort like the numbers. The encoding is
// used as the storage key of a source row and as a snapshot cursor.
const (
	tagInteger byte = 'i'
	tagReal    byte = 'r'
	tagText    byte = 't'
	tagBlob    byte = 'b'
)

// encodeKey encodes an id value. NULL ids have no key.
func encodeKey(v sqlvalue.Value) ([]byte, bool) {
	switch v.Kind() {
	case sqlvalue.KindInteger:
		b := make([]byte, 9)
		b[0] = tagInteger
		binary.BigEndian.PutUint64(b[1:], uint64(v.Int64())^(1<<63))
		return b, true
	case sqlvalue.KindReal:
		b := make([]byte, 9)
		b[0] = tagReal
		binary.BigEndian.PutUint64(b[1:], math.Float64bits(v.Float64()))
		return b, true
	case sqlvalue.KindText:
		return append([]byte{tagText}, v.Str()...), true
	case sqlvalue.KindBlob:
		return append([]byte{tagBlob}, v.Str()...), true
	}
	return nil, false
}

// decodeKey turns an encoded key back into a value to bind in a query.
func decodeKey(k []byte) (any, error) {
	if len(k) == 0 {
		return nil, fmt.Errorf("empty key")
	}
	p := k[1:]
	switch k[0] {
	case tagInteger:
		if len(p) != 8 {
			return nil, fmt.Errorf("bad integer key of %d bytes", len(p))
		}
		return int64(binary.BigEndian.Uint64(p) ^ (1 << 63)), nil
	case tagReal:
		if len(p) != 8 {
			return nil, fmt.Errorf("bad real key of %d bytes", len(p))
		}
		return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
	case tagText:
		return string(p), nil
	case tagBlob:
		return append([]byte(nil), p...), nil
	}
	return nil, fmt.Errorf("unknown key tag %q", k[0])
}

// toValue converts a value read through database/sql into a sync rules
// value. The source selects expressions (not bare columns) so the driver
// never turns DATE/DATETIME text into time.Time.
func toValue(x any) sqlvalue.Value {
	switch v := x.(type) {
	case nil:
		return sqlvalue.Null
	case int64:
		return sqlvalue.Int(v)
	case float64:
		return sqlvalue.Real(v)
	case string:
		return sqlvalue.Text(v)
	case []byte:
		return sqlvalue.Blob(v)
	case bool:
		return sqlvalue.Bool(v)
	}
	// Not produced by the driver for expression columns; keep it readable.
	return sqlvalue.Text(fmt.Sprint(x))
}
