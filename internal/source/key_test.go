package source_test

import (
	"bytes"
	"testing"

	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// TestAppendKeyBytes pins the stored key bytes of the Postgres and MySQL
// sources (they were each source's own encodeKey before).
func TestAppendKeyBytes(t *testing.T) {
	got := source.AppendKey([]byte{0xee}, []sqlvalue.Value{
		sqlvalue.Int(-2), sqlvalue.Real(1.5), sqlvalue.Text("ab"), sqlvalue.Blob([]byte{0}), sqlvalue.Null,
	})
	want := []byte{0xee,
		byte(sqlvalue.KindInteger), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
		byte(sqlvalue.KindReal), 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
		byte(sqlvalue.KindText), 2, 'a', 'b',
		byte(sqlvalue.KindBlob), 1, 0,
		byte(sqlvalue.KindNull),
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
}
