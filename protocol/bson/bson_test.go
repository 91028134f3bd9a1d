package bson_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/protocol/bson"
)

// unhex decodes hex with spaces and "|" separators, for readable goldens.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden documents, worked out by hand from bsonspec.org: int32 0x10,
// int64 0x12, double 0x01, string 0x02 (int32 length including the zero
// byte), bool 0x08, null 0x0A, array 0x04 (keys "0", "1", …), document 0x03.
var goldens = []struct {
	name string
	json string
	bson string
}{
	{"one int", `{"a":1}`,
		`0c000000 | 10 6100 01000000 | 00`},
	{"keepalive line", `{"token_expires_in":1795}`,
		`1b000000 | 10 746f6b656e5f657870697265735f696e00 03070000 | 00`},
	{"every type", `{"s":"x\n","n":-2,"big":4294967295,"f":1.5,"t":true,"z":null,"arr":["a"],"o":{}}`,
		`50000000
		 | 02 7300 03000000 780a00
		 | 10 6e00 feffffff
		 | 12 62696700 ffffffff00000000
		 | 01 6600 000000000000f83f
		 | 08 7400 01
		 | 0a 7a00
		 | 04 61727200 0e000000 02 3000 02000000 6100 00
		 | 03 6f00 05000000 00
		 | 00`},
	{"op data stays a JSON string", `{"data":"{\"id\":\"t1\"}"}`,
		// the string holds the 11 bytes {"id":"t1"} plus the zero byte
		`1b000000 | 02 6461746100 0c000000 7b226964223a227431227d00 | 00`},
	{"int32 and int64 bounds", `{"a":2147483647,"b":-2147483648,"c":2147483648,"d":-9223372036854775808}`,
		`29000000
		 | 10 6100 ffffff7f
		 | 10 6200 00000080
		 | 12 6300 0000008000000000
		 | 12 6400 0000000000000080
		 | 00`},
}

func TestGoldenDocuments(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			want := unhex(t, g.bson)
			got, err := bson.AppendJSON(nil, []byte(g.json))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("AppendJSON(%s)\n got %x\nwant %x", g.json, got, want)
			}
			back, err := bson.ToJSON(nil, want)
			if err != nil {
				t.Fatal(err)
			}
			if string(back) != g.json {
				t.Fatalf("ToJSON = %s, want %s", back, g.json)
			}
		})
	}
}

func TestElementAppenders(t *testing.T) {
	// The element API builds the same bytes as the transcoder.
	b, top := bson.StartDocument(nil)
	b = bson.AppendStringElement(b, "s", "x\n")
	b = bson.AppendInt32Element(b, "n", -2)
	b = bson.AppendIntElement(b, "big", 4294967295)
	b = bson.AppendDoubleElement(b, "f", 1.5)
	b = bson.AppendBoolElement(b, "t", true)
	b = bson.AppendNullElement(b, "z")
	b, arr := bson.AppendArrayElementStart(b, "arr")
	b = bson.AppendStringElement(b, bson.ArrayKey(0), "a")
	b = bson.EndDocument(b, arr)
	b, obj := bson.AppendDocumentElementStart(b, "o")
	b = bson.EndDocument(b, obj)
	b = bson.EndDocument(b, top)
	if want := unhex(t, goldens[2].bson); !bytes.Equal(b, want) {
		t.Fatalf("got %x\nwant %x", b, want)
	}
	if bson.ArrayKey(12345) != "12345" || bson.ArrayKey(7) != "7" {
		t.Fatal("ArrayKey")
	}
}

func TestRoundTripSyncLines(t *testing.T) {
	// Lines as the service writes them: ToJSON(AppendJSON(x)) gives x back
	// byte for byte, because both sides escape strings the same way.
	lines := []string{
		`{"checkpoint":{"last_op_id":"1507","write_checkpoint":"42","buckets":[{"bucket":"by_user[\"u1\"]","checksum":-1712802421,"count":120,"priority":3,"subscriptions":[{"default":0}]}],"streams":[{"name":"by_user","is_default":true,"errors":[]}]}}`,
		`{"checkpoint_diff":{"last_op_id":"1600","updated_buckets":[],"removed_buckets":["old[]"]}}`,
		`{"data":{"bucket":"b[]","after":"0","next_after":"3","has_more":false,"data":[` +
			`{"op_id":"1","op":"PUT","object_type":"todos","object_id":"t1","subkey":"e5aa","data":"{\"id\":\"t1\",\"d\":\"café \\u2028 \\\\ \\\" \\n\"}","checksum":2582164875},` +
			`{"op_id":"2","op":"REMOVE","object_type":"todos","object_id":"t0","subkey":"e5ab","data":null,"checksum":91237},` +
			`{"op_id":"3","op":"MOVE","checksum":0}]}}`,
		`{"checkpoint_complete":{"last_op_id":"1600"}}`,
		`{"partial_checkpoint_complete":{"last_op_id":"1600","priority":1}}`,
		`{"token_expires_in":0}`,
		`{"s":"\u0001\t\r\u2029\ud83d\ude00 ✓"}`,
	}
	for _, l := range lines {
		doc, err := bson.AppendJSON(nil, []byte(l))
		if err != nil {
			t.Fatalf("AppendJSON(%s): %v", l, err)
		}
		back, err := bson.ToJSON(nil, doc)
		if err != nil {
			t.Fatalf("ToJSON: %v", err)
		}
		// Escapes that are not canonical (\u0001 stays, 😀 is written as
		// UTF-8) compare by meaning; canonical lines compare exactly.
		var a, b any
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(back, &b); err != nil {
			t.Fatalf("ToJSON output %s is not JSON: %v", back, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the line\n in %s\nout %s", l, back)
		}
		if !strings.Contains(l, `\ud83d`) && string(back) != l {
			t.Fatalf("round trip is not byte-exact\n in %s\nout %s", l, back)
		}
	}
}

func TestAppendJSONDecodesStrings(t *testing.T) {
	// The BSON string holds the decoded text: escapes resolved, a surrogate
	// pair joined, lone surrogates and invalid UTF-8 replaced by U+FFFD.
	doc, err := bson.AppendJSON(nil, []byte("{\"k\":\"a\\/\\b\\f\\ud83d\\ude00\\ud800x\xff\"}"))
	if err != nil {
		t.Fatal(err)
	}
	want := "a/\b\f\U0001F600\uFFFDx\uFFFD"
	// document: len, type, "k\0", string length, text, 0, 0
	got := string(doc[4+1+2+4 : len(doc)-2])
	if got != want {
		t.Fatalf("string = %q, want %q", got, want)
	}
	if _, err := bson.AppendJSON(nil, []byte(`{"a\u0000b":1}`)); err == nil {
		t.Fatal("a key with U+0000 was accepted (BSON keys are C strings)")
	}
	// A string value may hold U+0000.
	doc, err = bson.AppendJSON(nil, []byte(`{"a":"x\u0000y"}`))
	if err != nil {
		t.Fatal(err)
	}
	back, err := bson.ToJSON(nil, doc)
	if err != nil || string(back) != `{"a":"x\u0000y"}` {
		t.Fatalf("ToJSON = %s, %v", back, err)
	}
}

func TestAppendJSONNumbers(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{`{"n":0}`, `{"n":0}`},
		{`{"n":-0}`, `{"n":0}`},
		{`{"n":1e3}`, `{"n":1000}`},
		{`{"n":0.25}`, `{"n":0.25}`},
		{`{"n":-1.5E-3}`, `{"n":-0.0015}`},
		// Beyond int64: a double, written as JavaScript would.
		{`{"n":18446744073709551616}`, `{"n":18446744073709552000}`},
		{`{"n":9223372036854775808}`, `{"n":9223372036854776000}`},
		{`{"n":-9223372036854775809}`, `{"n":-9223372036854776000}`},
		{`{"n":1e400}`, `{"n":null}`}, // out of range → +Inf → null
	} {
		doc, err := bson.AppendJSON(nil, []byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		back, err := bson.ToJSON(nil, doc)
		if err != nil || string(back) != tc.out {
			t.Errorf("%s → %s, %v; want %s", tc.in, back, err, tc.out)
		}
	}
}

func TestAppendJSONRejectsMalformed(t *testing.T) {
	for _, in := range []string{
		``, ` `, `[]`, `1`, `"s"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1]`, `{a:1}`,
		`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":+1}`, `{"a":tru}`, `{"a":nul}`,
		`{"a":"x`, `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":[1,]}`, `{"a":[1 2]}`,
		`{"a":1} x`, `{"a":1}{}`, `{"a":"\`,
		strings.Repeat(`{"a":`, bson.MaxDepth+1) + `1` + strings.Repeat(`}`, bson.MaxDepth+1),
		`{"a":` + strings.Repeat(`[`, bson.MaxDepth) + strings.Repeat(`]`, bson.MaxDepth) + `}`,
	} {
		dst := []byte("keep")
		out, err := bson.AppendJSON(dst, []byte(in))
		if err == nil {
			t.Errorf("AppendJSON(%.60q) succeeded: %x", in, out)
			continue
		}
		var se *bson.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("AppendJSON(%.60q): error %v is not a SyntaxError", in, err)
		}
		if string(out) != "keep" {
			t.Errorf("AppendJSON(%.60q) changed dst on error: %q", in, out)
		}
	}
	// The deepest nesting allowed still works.
	in := strings.Repeat(`{"a":`, bson.MaxDepth-1) + `1` + strings.Repeat(`}`, bson.MaxDepth-1)
	if _, err := bson.AppendJSON(nil, []byte(in)); err != nil {
		t.Fatalf("nesting of %d: %v", bson.MaxDepth-1, err)
	}
}

func TestAppendJSONTooLarge(t *testing.T) {
	in := `{"a":"` + strings.Repeat("x", bson.MaxDocumentSize) + `"}`
	if _, err := bson.AppendJSON(nil, []byte(in)); !errors.Is(err, bson.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestToJSONLenientTypes(t *testing.T) {
	// What a client library may send: binary, ObjectId, datetime, timestamp,
	// undefined, a whole double (JavaScript's bson writes large integers as
	// doubles), NaN.
	doc := unhex(t, `00000000
		| 05 6200 03000000 00 616263
		| 07 6f00 0102030405060708090a0b0c
		| 09 6400 e803000000000000
		| 11 7400 0100000002000000
		| 06 7500
		| 01 6300 000060b1163de341
		| 01 6e00 010000000000f87f
		| 00`)
	doc[0] = byte(len(doc))
	got, err := bson.ToJSON(nil, doc)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"b":"YWJj","o":"0102030405060708090a0b0c","d":1000,"t":8589934593,"u":null,"c":2582164875,"n":null}`
	if string(got) != want {
		t.Fatalf("ToJSON = %s\nwant %s", got, want)
	}
}

func TestToJSONRejectsMalformed(t *testing.T) {
	for _, tc := range []struct{ name, hex string }{
		{"empty", ``},
		{"short", `05000000`},
		{"length below 5", `04000000 00`},
		{"length larger than input", `10000000 00`},
		{"length smaller than input", `05000000 00 00`},
		{"negative length", `ffffffff 00`},
		{"no terminator", `05000000 01`},
		{"key runs off the end", `08000000 10 616200`},
		{"truncated int32", `0a000000 10 6100 0100 00`},
		{"truncated int64", `0e000000 12 6100 01000000000000 00`},
		{"truncated double", `0a000000 01 6100 0000 00`},
		{"string length lies (too long)", `0e000000 02 6100 09000000 7800 00`},
		{"string length zero", `0c000000 02 6100 00000000 00`},
		{"string length negative", `0e000000 02 6100 feffffff 7800 00`},
		{"string without zero", `0e000000 02 6100 02000000 7879 00`},
		{"nested length lies", `0d000000 03 6100 09000000 0000`},
		{"nested length below 5", `0d000000 03 6100 04000000 0000`},
		{"nested without terminator", `0d000000 03 6100 05000000 01 00`},
		{"binary length lies", `0f000000 05 6100 09000000 00 7800 00`},
		{"bad bool", `09000000 08 6100 02 00`},
		{"regex is unsupported", `0b000000 0b 6100 0000 00 00`},
		{"decimal128 is unsupported", `18000000 13 6100 00000000000000000000000000000000 00`},
		{"unknown type", `08000000 7f 6100 00`},
		{"truncated ObjectId", `0c000000 07 6100 010203040500`},
	} {
		b := unhex(t, tc.hex)
		out, err := bson.ToJSON([]byte("keep"), b)
		if err == nil {
			t.Errorf("%s: accepted, gave %s", tc.name, out)
			continue
		}
		if string(out) != "keep" {
			t.Errorf("%s: dst changed on error", tc.name)
		}
	}
}

func TestToJSONDeepNesting(t *testing.T) {
	// MaxDepth+1 nested documents: {"a":{"a":…{}…}}.
	build := func(depth int) []byte {
		inner := []byte{5, 0, 0, 0, 0}
		for i := 1; i < depth; i++ {
			b, top := bson.StartDocument(nil)
			b = append(b, bson.TypeDocument, 'a', 0)
			b = append(b, inner...)
			inner = bson.EndDocument(b, top)
		}
		return inner
	}
	if _, err := bson.ToJSON(nil, build(bson.MaxDepth)); err != nil {
		t.Fatalf("depth %d: %v", bson.MaxDepth, err)
	}
	_, err := bson.ToJSON(nil, build(bson.MaxDepth+1))
	var fe *bson.FormatError
	if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "nesting") {
		t.Fatalf("depth %d: err = %v, want a nesting error", bson.MaxDepth+1, err)
	}
}

func TestReader(t *testing.T) {
	var stream []byte
	var want []string
	for _, l := range []string{`{"a":1}`, `{"token_expires_in":5}`, `{"s":"` + strings.Repeat("y", 5000) + `"}`} {
		var err error
		stream, err = bson.AppendJSON(stream, []byte(l))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, l)
	}
	r := bson.NewReader(bytes.NewReader(stream), 0)
	for _, w := range want {
		doc, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		got, err := bson.ToJSON(nil, doc)
		if err != nil || string(got) != w {
			t.Fatalf("got %.40s, %v; want %.40s", got, err, w)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}

	// Truncated inside the length and inside the body.
	for _, n := range []int{2, 9} {
		r := bson.NewReader(bytes.NewReader(stream[:n]), 0)
		if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("truncated at %d: %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
	// A length over the limit is refused before anything is allocated.
	r = bson.NewReader(bytes.NewReader(unhex(t, `ffffff7f 00`)), 1024)
	if _, err := r.Next(); !errors.Is(err, bson.ErrDocumentTooLarge) {
		t.Errorf("huge length: %v", err)
	}
	r = bson.NewReader(bytes.NewReader(unhex(t, `03000000 00`)), 0)
	if _, err := r.Next(); err == nil {
		t.Error("length 3 accepted")
	}
	r = bson.NewReader(bytes.NewReader(unhex(t, `05000000 01`)), 0)
	if _, err := r.Next(); err == nil {
		t.Error("missing terminator accepted")
	}
}

// dataLine is a data line of n PUT ops shaped like the stored op JSON.
func dataLine(n int) []byte {
	b := []byte(`{"data":{"bucket":"by_user[\"u1\"]","after":"0","next_after":"1000","has_more":false,"data":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op_id":"`...)
		b = append(b, bson.ArrayKey(i+1)...)
		b = append(b, `","op":"PUT","object_type":"todos","object_id":"9f1c6a2e-8d4b-4c1e-9a3f-1b2c3d4e5f60","subkey":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","data":"{\"id\":\"9f1c6a2e-8d4b-4c1e-9a3f-1b2c3d4e5f60\",\"description\":\"Buy milk and bread\",\"completed\":0,\"list_id\":\"l1\"}","checksum":2582164875}`...)
	}
	return append(b, `]}}`...)
}

func BenchmarkAppendJSONDataLine(b *testing.B) {
	line := dataLine(1000)
	var dst []byte
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		dst, err = bson.AppendJSON(dst[:0], line)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(dst))/float64(len(line)), "bson/json")
}

func BenchmarkToJSONDataLine(b *testing.B) {
	doc, err := bson.AppendJSON(nil, dataLine(1000))
	if err != nil {
		b.Fatal(err)
	}
	var dst []byte
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if dst, err = bson.ToJSON(dst[:0], doc); err != nil {
			b.Fatal(err)
		}
	}
}
