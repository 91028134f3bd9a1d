package pebble

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/powersync-go/powersync/protocol"
)

func TestCurrentRecordRoundTrip(t *testing.T) {
	recs := []*currentRecord{
		{},
		{hasRow: true, row: []byte{}},
		{buckets: []membership{{"b1", "t", "1"}, {"b2", "t", ""}}, lookups: [][]byte{[]byte("k1"), {}}, hasRow: true, row: []byte("row")},
	}
	for _, rec := range recs {
		got, err := decodeCurrent(rec.encode(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got.hasRow != rec.hasRow || !bytes.Equal(got.row, rec.row) || len(got.buckets) != len(rec.buckets) ||
			(len(rec.buckets) > 0 && !reflect.DeepEqual(got.buckets, rec.buckets)) || len(got.lookups) != len(rec.lookups) {
			t.Fatalf("round trip of %+v = %+v", rec, got)
		}
	}
}

// FuzzDecodeCurrent: corrupt records give an error, never a panic.
func FuzzDecodeCurrent(f *testing.F) {
	f.Add((&currentRecord{buckets: []membership{{"b", "t", "i"}}, lookups: [][]byte{[]byte("k")}, hasRow: true, row: []byte("r")}).encode(nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, v []byte) {
		rec, err := decodeCurrent(v)
		if err == nil {
			if _, err := decodeCurrent(rec.encode(nil)); err != nil {
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
		sum := putChecksum(nil, table, id, data)
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
