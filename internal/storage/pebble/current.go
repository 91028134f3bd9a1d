package pebble

import (
	"encoding/binary"
)

// currentRecord is what storage remembers of a source row: the bucket
// memberships and lookup keys it produced last, and optionally the row.
type currentRecord struct {
	buckets []membership
	lookups [][]byte
	row     []byte // nil when the source does not need it
	hasRow  bool
}

type membership struct {
	bucket, table, id string
}

func (r *currentRecord) empty() bool {
	return len(r.buckets) == 0 && len(r.lookups) == 0 && !r.hasRow
}

func (r *currentRecord) encode(b []byte) []byte {
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

// decodeCurrent decodes a record, copying everything out of v.
func decodeCurrent(v []byte) (*currentRecord, error) {
	r := reader{b: v}
	rec := &currentRecord{}
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
