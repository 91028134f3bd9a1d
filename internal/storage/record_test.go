package storage_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/powersync-go/powersync/internal/storage"
)

// TestCurrentRecordEncoding pins the stored encoding of a current-data
// record (both backends store these bytes) and checks it decodes back.
func TestCurrentRecordEncoding(t *testing.T) {
	for _, c := range []struct {
		rec  storage.CurrentRecord
		want []byte
	}{
		{storage.CurrentRecord{}, []byte{0, 0, 0}},
		{storage.CurrentRecord{HasRow: true, Row: []byte{}}, []byte{0, 0, 1}},
		{
			storage.CurrentRecord{
				Buckets: []storage.Membership{{Bucket: "b", Table: "t", ID: "1"}},
				Lookups: [][]byte{[]byte("k"), {}},
				HasRow:  true, Row: []byte("row"),
			},
			[]byte("\x01\x01b\x01t\x011\x02\x01k\x00\x01row"),
		},
	} {
		got := c.rec.Append(nil)
		if !bytes.Equal(got, c.want) {
			t.Errorf("Append(%+v) = %q, want %q", c.rec, got, c.want)
		}
		back, err := storage.DecodeCurrentRecord(got)
		if err != nil {
			t.Fatalf("decode %q: %v", got, err)
		}
		if back.HasRow != c.rec.HasRow || !bytes.Equal(back.Row, c.rec.Row) ||
			len(back.Buckets) != len(c.rec.Buckets) || (len(c.rec.Buckets) > 0 && !reflect.DeepEqual(back.Buckets, c.rec.Buckets)) ||
			len(back.Lookups) != len(c.rec.Lookups) {
			t.Errorf("round trip of %+v = %+v", c.rec, back)
		}
	}
	for _, bad := range [][]byte{nil, {0, 0}, {1, 5, 'x'}, {0xff, 0xff, 0xff, 0xff, 0x0f}} {
		if _, err := storage.DecodeCurrentRecord(bad); err == nil {
			t.Errorf("DecodeCurrentRecord(%q) succeeded", bad)
		}
	}
}

func TestGoneLookups(t *testing.T) {
	prev := &storage.CurrentRecord{Lookups: [][]byte{[]byte("a"), []byte("b")}}
	now := []storage.LookupRow{{Key: []byte("b")}, {Key: []byte("c")}}
	if got := storage.GoneLookups(prev, now); len(got) != 1 || string(got[0]) != "a" {
		t.Errorf("GoneLookups = %q, want [a]", got)
	}
	if got := storage.GoneLookups(nil, now); got != nil {
		t.Errorf("GoneLookups(nil) = %q, want nil", got)
	}
}

func TestDefaults(t *testing.T) {
	if got := (storage.Limits{}).WithDefaults(); got.Ops != storage.DefaultChunkOps || got.Bytes != storage.DefaultChunkBytes {
		t.Errorf("Limits{}.WithDefaults() = %+v", got)
	}
	if got := (storage.Limits{Ops: 5, Bytes: 7}).WithDefaults(); got.Ops != 5 || got.Bytes != 7 {
		t.Errorf("set limits changed: %+v", got)
	}
	if got := (storage.CompactOptions{}).WithDefaults(); got.MoveBatch != storage.DefaultMoveBatch {
		t.Errorf("CompactOptions{}.WithDefaults() = %+v", got)
	}
	if got := (storage.CompactOptions{MoveBatch: 3}).WithDefaults(); got.MoveBatch != 3 {
		t.Errorf("set MoveBatch changed: %+v", got)
	}
}
