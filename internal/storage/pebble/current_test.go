package pebble

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/protocol"
)

func TestCurrentRecordRoundTrip(t *testing.T) {
	recs := []*storage.CurrentRecord{
		{},
		{HasRow: true, Row: []byte{}},
		{Buckets: []storage.Membership{{Bucket: "b1", Table: "t", ID: "1"}, {Bucket: "b2", Table: "t", ID: ""}}, Lookups: [][]byte{[]byte("k1"), {}}, HasRow: true, Row: []byte("row")},
	}
	for _, rec := range recs {
		got, err := storage.DecodeCurrentRecord(rec.Append(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got.HasRow != rec.HasRow || !bytes.Equal(got.Row, rec.Row) || len(got.Buckets) != len(rec.Buckets) ||
			(len(rec.Buckets) > 0 && !reflect.DeepEqual(got.Buckets, rec.Buckets)) || len(got.Lookups) != len(rec.Lookups) {
			t.Fatalf("round trip of %+v = %+v", rec, got)
		}
	}
}

// FuzzDecodeCurrent: corrupt records give an error, never a panic.
func FuzzDecodeCurrent(f *testing.F) {
	f.Add((&storage.CurrentRecord{Buckets: []storage.Membership{{Bucket: "b", Table: "t", ID: "i"}}, Lookups: [][]byte{[]byte("k")}, HasRow: true, Row: []byte("r")}).Append(nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, v []byte) {
		rec, err := storage.DecodeCurrentRecord(v)
		if err == nil {
			if _, err := storage.DecodeCurrentRecord(rec.Append(nil)); err != nil {
				t.Fatalf("re-encoded record does not decode: %v", err)
			}
		}
		_, _ = decodeOp(v)
	})
}

// FuzzWireJSON: every op encoding is valid JSON that decodes to the fields
// written, and its checksum is the protocol's.
func FuzzWireJSON(f *testing.F) {
	f.Add("todos", "1", []byte(`{"id":"1"}`), "sub")
	f.Add("t\"\\\n\u2028", "\xff\x00", []byte("\x01<>&"), "")
	f.Fuzz(func(t *testing.T, table, id string, data []byte, subkey string) {
		sum := storage.PutChecksum(nil, table, id, data)
		if want := protocol.PutChecksum(table, id, string(data)); sum != want {
			t.Fatalf("checksum %d, protocol's %d", sum, want)
		}
		v := appendRowOp(nil, 42, opPut, table, id, subkey, data, sum)
		h, err := decodeOp(v)
		if err != nil {
			t.Fatal(err)
		}
		var e protocol.OplogEntry
		if err := json.Unmarshal(h.wire, &e); err != nil {
			t.Fatalf("wire JSON %q: %v", h.wire, err)
		}
		if e.OpID != 42 || e.Op != protocol.OpPut || e.Checksum != sum || e.Data == nil {
			t.Fatalf("decoded %+v", e)
		}
		if isUTF8(table) && isUTF8(id) && isUTF8(string(data)) && isUTF8(subkey) {
			if e.ObjectType != table || e.ObjectID != id || *e.Data != string(data) || e.Subkey != subkey {
				t.Fatalf("fields changed: %+v", e)
			}
		}
	})
}

func isUTF8(s string) bool { return utf8.ValidString(s) }
