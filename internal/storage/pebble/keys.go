package pebble

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/cockroachdb/pebble/v2"

	"github.com/powersync-go/powersync/internal/storage"
)

// Key spaces. Every key starts with one of these bytes. Variable-length
// parts are prefixed with their uvarint length, which makes each part
// prefix-free, so a prefix names exactly one bucket, table or lookup key.
//
//	meta        0x01 name                                   → value
//	version     0x02 vid                                    → versionRecord (JSON)
//	op          0x03 vid len bucket opid                    → op header + wire JSON
//	totals      0x04 vid len bucket ^opid                   → cumulative checksum, count
//	current     0x05 vid len table key                      → storage.CurrentRecord
//	lookup      0x06 vid len lookupKey len sourceRow ^opid  → result ("" = tombstone)
//	undo        0x07 vid seq                                → undo entry of an open batch
//	snapshot    0x08 vid table                              → TableSnapshot
//	write ckpt  0x09 len user len client value              → position
//	setting     0x0a name                                   → value
//	lease       0x0b                                        → leaseRecord (JSON)
//	cleared     0x0c vid len bucket ^opid                   → ops removed by CLEARs up to opid
//
// vid, opid, seq and value are 8-byte big-endian, so numeric order is key
// order: a bucket's ops after X up to C are one contiguous key range.
// Lookup entries, totals and cleared records store the complement of the
// op id, newest first, so "the newest record at or before C" is one SeekGE.
const (
	spaceMeta     byte = 0x01
	spaceVersion  byte = 0x02
	spaceOp       byte = 0x03
	spaceTotals   byte = 0x04
	spaceCurrent  byte = 0x05
	spaceLookup   byte = 0x06
	spaceUndo     byte = 0x07
	spaceSnapshot byte = 0x08
	spaceWriteCp  byte = 0x09
	spaceSetting  byte = 0x0a
	spaceLease    byte = 0x0b
	spaceCleared  byte = 0x0c
)

var (
	metaOpSeq      = []byte{spaceMeta, 'o'}
	metaVersionSeq = []byte{spaceMeta, 'v'}
	leaseKey       = []byte{spaceLease}
)

var errCorrupt = storage.ErrCorruptRecord

func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// versionPrefix is space + vid: every key of one version in a space.
func versionPrefix(space byte, vid int64) []byte {
	return appendU64([]byte{space}, uint64(vid))
}

func versionKey(vid int64) []byte { return versionPrefix(spaceVersion, vid) }

// bucketPrefix is the prefix of a bucket's ops (spaceOp) or totals
// (spaceTotals).
func bucketPrefix(space byte, vid int64, bucket string) []byte {
	b := make([]byte, 0, 1+8+2+len(bucket)+8)
	b = append(b, space)
	b = appendU64(b, uint64(vid))
	return storage.AppendStrPart(b, bucket)
}

func bucketOpKey(space byte, vid int64, bucket string, op int64) []byte {
	return appendU64(bucketPrefix(space, vid, bucket), uint64(op))
}

// bucketEnd is greater than every op key of the bucket prefix p (op ids are
// positive int64s, so their first byte is at most 0x7f).
func bucketEnd(p []byte) []byte {
	return appendU64(append([]byte(nil), p...), math.MaxUint64)
}

// prefixEnd returns the smallest key greater than every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func tablePrefix(vid int64, table string) []byte {
	b := make([]byte, 0, 1+8+2+len(table))
	b = append(b, spaceCurrent)
	b = appendU64(b, uint64(vid))
	return storage.AppendStrPart(b, table)
}

func currentKey(vid int64, table string, key []byte) []byte {
	b := make([]byte, 0, 1+8+binary.MaxVarintLen64+len(table)+len(key))
	b = append(b, spaceCurrent)
	b = appendU64(b, uint64(vid))
	b = storage.AppendStrPart(b, table)
	return append(b, key...)
}

// sourceRow identifies a source row inside lookup keys.
func sourceRow(table string, key []byte) []byte {
	b := make([]byte, 0, 2+len(table)+len(key))
	b = storage.AppendStrPart(b, table)
	return append(b, key...)
}

func lookupPrefix(vid int64, key []byte) []byte {
	b := make([]byte, 0, 1+8+2+len(key)+2+32+8)
	b = append(b, spaceLookup)
	b = appendU64(b, uint64(vid))
	return storage.AppendPart(b, key)
}

func lookupEntryKey(vid int64, key, row []byte, op int64) []byte {
	b := storage.AppendPart(lookupPrefix(vid, key), row)
	return appendU64(b, ^uint64(op))
}

// lookupRowPrefix returns the key prefix of one source row's entries,
// given any entry key of the lookup prefix p.
func lookupRowPrefix(k []byte, prefixLen int) ([]byte, bool) {
	rest := k[prefixLen:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || uint64(len(rest)-w) != n+8 {
		return nil, false
	}
	return k[:prefixLen+w+int(n)], true
}

func snapshotKey(vid int64, table string) []byte {
	return append(versionPrefix(spaceSnapshot, vid), table...)
}

func writeCpPrefix(user, client string) []byte {
	b := make([]byte, 0, 1+4+len(user)+len(client)+8)
	b = append(b, spaceWriteCp)
	b = storage.AppendStrPart(b, user)
	return storage.AppendStrPart(b, client)
}

func settingKey(name string) []byte {
	return append([]byte{spaceSetting}, name...)
}

// recordKey is the key of a per-bucket record (totals, cleared) at op.
func recordKey(space byte, vid int64, bucket string, op int64) []byte {
	return appendU64(bucketPrefix(space, vid, bucket), ^uint64(op))
}

// recordAsOf returns the value of the newest per-bucket record at or before
// op (math.MaxInt64: the newest), using an unbounded iterator.
func recordAsOf(it *pebble.Iterator, space byte, vid int64, bucket string, op int64) ([]byte, bool, error) {
	p := bucketPrefix(space, vid, bucket)
	if !it.SeekGE(appendU64(p[:len(p):len(p)], ^uint64(op))) {
		return nil, false, it.Error()
	}
	k := it.Key()
	if len(k) != len(p)+8 || !bytes.HasPrefix(k, p) {
		return nil, false, nil
	}
	v, err := it.ValueAndErr()
	return v, err == nil, err
}

// tailU64 reads the 8-byte big-endian number at the end of k.
func tailU64(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(k)-8:])
}
