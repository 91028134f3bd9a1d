package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// ErrCorruptRecord reports a stored record that does not decode.
var ErrCorruptRecord = errors.New("corrupt storage record")

// AppendPart appends p with a uvarint length prefix, the building block of
// the stored key and record formats.
func AppendPart(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// AppendStrPart is AppendPart for a string.
func AppendStrPart(b []byte, p string) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// PartReader reads what AppendPart wrote. A read past the end or a bad
// length sets Bad and returns zero values; check Bad after a run of reads.
type PartReader struct {
	B   []byte // what is left to read
	Bad bool
}

// Uvarint reads a uvarint.
func (r *PartReader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.Bad = true
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Part reads a length-prefixed part; the result aliases the input.
func (r *PartReader) Part() []byte {
	n := r.Uvarint()
	if r.Bad || n > uint64(len(r.B)) {
		r.Bad = true
		return nil
	}
	p := r.B[:n]
	r.B = r.B[n:]
	return p
}

// CurrentRecord is what storage remembers of a source row: the bucket
// memberships and lookup keys it produced last, and optionally the row.
// Both backends store it in the encoding of Append.
type CurrentRecord struct {
	Buckets []Membership
	Lookups [][]byte
	Row     []byte // nil when the source does not need it
	HasRow  bool
}

// Membership is one bucket a source row put an object into.
type Membership struct {
	Bucket, Table, ID string
}

// Empty reports whether the record holds nothing worth storing.
func (r *CurrentRecord) Empty() bool {
	return len(r.Buckets) == 0 && len(r.Lookups) == 0 && !r.HasRow
}

// Append appends the stored encoding of r: the memberships and lookup keys
// as counted, length-prefixed parts, then a byte 1 and the row, or a byte 0.
func (r *CurrentRecord) Append(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(r.Buckets)))
	for _, m := range r.Buckets {
		b = AppendStrPart(b, m.Bucket)
		b = AppendStrPart(b, m.Table)
		b = AppendStrPart(b, m.ID)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Lookups)))
	for _, l := range r.Lookups {
		b = AppendPart(b, l)
	}
	if r.HasRow {
		b = append(b, 1)
		b = append(b, r.Row...)
	} else {
		b = append(b, 0)
	}
	return b
}

// DecodeCurrentRecord decodes what Append wrote, copying everything out of
// v. A malformed record gives ErrCorruptRecord.
func DecodeCurrentRecord(v []byte) (*CurrentRecord, error) {
	r := PartReader{B: v}
	rec := &CurrentRecord{}
	n := r.Uvarint()
	if n > uint64(len(v)) {
		return nil, ErrCorruptRecord
	}
	rec.Buckets = make([]Membership, 0, n)
	for i := uint64(0); i < n && !r.Bad; i++ {
		rec.Buckets = append(rec.Buckets, Membership{string(r.Part()), string(r.Part()), string(r.Part())})
	}
	n = r.Uvarint()
	if n > uint64(len(v)) {
		return nil, ErrCorruptRecord
	}
	for i := uint64(0); i < n && !r.Bad; i++ {
		rec.Lookups = append(rec.Lookups, append([]byte(nil), r.Part()...))
	}
	if r.Bad || len(r.B) == 0 {
		return nil, ErrCorruptRecord
	}
	if r.B[0] == 1 {
		rec.HasRow = true
		rec.Row = append([]byte{}, r.B[1:]...)
	}
	return rec, nil
}

// ContainsMembership reports whether ms holds m.
func ContainsMembership(ms []Membership, m Membership) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// GoneLookups returns the lookup keys of prev (nil: a new row) that the
// row's new lookups no longer produce.
func GoneLookups(prev *CurrentRecord, now []LookupRow) [][]byte {
	if prev == nil {
		return nil
	}
	var gone [][]byte
	for _, l := range prev.Lookups {
		if !containsLookup(now, l) {
			gone = append(gone, l)
		}
	}
	return gone
}

func containsLookup(ls []LookupRow, key []byte) bool {
	for _, l := range ls {
		if bytes.Equal(l.Key, key) {
			return true
		}
	}
	return false
}
