package storage_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/storage"
)

// TestStoredHashes pins the stored subkey and row identity hashes to their
// definitions (SHA-256 over length-prefixed parts), so that a faster
// implementation keeps what is already on disk valid.
func TestStoredHashes(t *testing.T) {
	part := func(h interface{ Write([]byte) (int, error) }, s string) {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	long := strings.Repeat("x", 300) // past the stack buffer
	for _, c := range []struct{ table, key, id string }{
		{"todos", "\x01\x02", "1"},
		{"", "", ""},
		{long, long, long},
		{"t\u00e9", "k", "\xff"},
	} {
		h := sha256.New()
		part(h, c.table)
		h.Write([]byte(c.key))
		wantSub := hex.EncodeToString(h.Sum(nil)[:16])
		if got := storage.SubkeyOf(c.table, []byte(c.key)); got != wantSub {
			t.Errorf("storage.SubkeyOf(%.20q, %.20q) = %s, want %s", c.table, c.key, got, wantSub)
		}
		h = sha256.New()
		part(h, c.table)
		part(h, c.id)
		part(h, wantSub)
		var want [storage.IdentityLen]byte
		copy(want[:], h.Sum(nil))
		if got := storage.RowIdentity(c.table, c.id, wantSub); got != want {
			t.Errorf("storage.RowIdentity(%.20q, %.20q) = %x, want %x", c.table, c.id, got, want)
		}
	}
}

// TestStoredOpBytes pins the JSON of stored ops, byte for byte: both
// backends store these bytes and the service sends them unchanged, so a
// change here changes what is on disk and on the wire.
func TestStoredOpBytes(t *testing.T) {
	for _, c := range []struct {
		name                  string
		op                    int64
		kind                  storage.OpKind
		typ, id, subkey, data string
		sum                   uint32
		want                  string
	}{
		{"put plain", 1, storage.OpPut, "todos", "t1", "0123456789abcdef0123456789abcdef", `{"id":"t1","n":1.0}`, 2582164875,
			"{\"op_id\":\"1\",\"op\":\"PUT\",\"object_type\":\"todos\",\"object_id\":\"t1\",\"subkey\":\"0123456789abcdef0123456789abcdef\",\"data\":\"{\\\"id\\\":\\\"t1\\\",\\\"n\\\":1.0}\",\"checksum\":2582164875}"},
		{"put quotes and backslashes", 42, storage.OpPut, `we"ird\table`, `a"b\c`, `s"k`, `{"q":"say \"hi\"","p":"C:\\x"}`, 0,
			"{\"op_id\":\"42\",\"op\":\"PUT\",\"object_type\":\"we\\\"ird\\\\table\",\"object_id\":\"a\\\"b\\\\c\",\"subkey\":\"s\\\"k\",\"data\":\"{\\\"q\\\":\\\"say \\\\\\\"hi\\\\\\\"\\\",\\\"p\\\":\\\"C:\\\\\\\\x\\\"}\",\"checksum\":0}"},
		{"put control chars", 7, storage.OpPut, "t\x00\x1f", "id\b\f\n\r\t\x7f", "sub\x01", "{\"c\":\"\x00\x08\x0c\x1b\x1f\"}", 4294967295,
			// \b and \f take their short escapes (JSON.stringify; until 2026-12 stored as \u0008 \u000c)
			"{\"op_id\":\"7\",\"op\":\"PUT\",\"object_type\":\"t\\u0000\\u001f\",\"object_id\":\"id\\b\\f\\n\\r\\t\x7f\",\"subkey\":\"sub\\u0001\",\"data\":\"{\\\"c\\\":\\\"\\u0000\\b\\f\\u001b\\u001f\\\"}\",\"checksum\":4294967295}"},
		{"put U+2028 U+2029", 9223372036854775807, storage.OpPut, "t\u2028", "id\u2029", "s", "{\"l\":\"a\u2028b\u2029c\"}", 1,
			// U+2028/U+2029 raw, as JSON.stringify writes them (until 2026-12 escaped)
			"{\"op_id\":\"9223372036854775807\",\"op\":\"PUT\",\"object_type\":\"t\u2028\",\"object_id\":\"id\u2029\",\"subkey\":\"s\",\"data\":\"{\\\"l\\\":\\\"a\u2028b\u2029c\\\"}\",\"checksum\":1}"},
		{"put invalid UTF-8", 3, storage.OpPut, "t\xff", "id\xc3", "s\xed\xa0\x80", "{\"x\":\"\xfe\xff\"}", 2,
			// each invalid byte becomes a raw U+FFFD (until 2026-12 the escape \ufffd)
			"{\"op_id\":\"3\",\"op\":\"PUT\",\"object_type\":\"t\uFFFD\",\"object_id\":\"id\uFFFD\",\"subkey\":\"s\uFFFD\uFFFD\uFFFD\",\"data\":\"{\\\"x\\\":\\\"\uFFFD\uFFFD\\\"}\",\"checksum\":2}"},
		{"put HTML and non-ASCII", 4, storage.OpPut, "t<&>", "é😀", "s", `{"h":"<script>&amp;</script>","u":"日本"}`, 3,
			"{\"op_id\":\"4\",\"op\":\"PUT\",\"object_type\":\"t<&>\",\"object_id\":\"é😀\",\"subkey\":\"s\",\"data\":\"{\\\"h\\\":\\\"<script>&amp;</script>\\\",\\\"u\\\":\\\"日本\\\"}\",\"checksum\":3}"},
		{"put big ints", 5, storage.OpPut, "t", "9223372036854775807", "s", `{"big":9223372036854775807,"neg":-9223372036854775808,"f":1e+21}`, 2147483648,
			"{\"op_id\":\"5\",\"op\":\"PUT\",\"object_type\":\"t\",\"object_id\":\"9223372036854775807\",\"subkey\":\"s\",\"data\":\"{\\\"big\\\":9223372036854775807,\\\"neg\\\":-9223372036854775808,\\\"f\\\":1e+21}\",\"checksum\":2147483648}"},
		{"put empty", 0, storage.OpPut, "", "", "", "", 0,
			"{\"op_id\":\"0\",\"op\":\"PUT\",\"object_type\":\"\",\"object_id\":\"\",\"subkey\":\"\",\"data\":\"\",\"checksum\":0}"},
		{"remove", 6, storage.OpRemove, "todos", "t\"1\u2028\xff", "s", "ignored", 91237,
			"{\"op_id\":\"6\",\"op\":\"REMOVE\",\"object_type\":\"todos\",\"object_id\":\"t\\\"1\u2028\uFFFD\",\"subkey\":\"s\",\"data\":null,\"checksum\":91237}"},
	} {
		got := string(storage.AppendRowOpJSON([]byte("prefix"), c.op, c.kind, c.typ, c.id, c.subkey, []byte(c.data), c.sum))
		if got != "prefix"+c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, strings.TrimPrefix(got, "prefix"), c.want)
		}
	}
	for _, c := range []struct {
		op   int64
		kind storage.OpKind
		sum  uint32
		want string
	}{
		{10, storage.OpMove, 1234, `{"op_id":"10","op":"MOVE","checksum":1234}`},
		{-1, storage.OpClear, 4294967295, `{"op_id":"-1","op":"CLEAR","checksum":4294967295}`},
	} {
		if got := string(storage.AppendBareOpJSON(nil, c.op, c.kind, c.sum)); got != c.want {
			t.Errorf("kind %d:\n got %s\nwant %s", c.kind, got, c.want)
		}
	}
}
