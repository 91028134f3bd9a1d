package mysql

import (
	"encoding/binary"
	"math"
	"testing"
)

// smallObject builds a small binary JSON object from keys and already
// encoded (type, inline-or-data) values.
type jv struct {
	typ    byte
	inline []byte // 2 bytes, for inline types
	data   []byte // stored after the entries
}

func container(object bool, keys []string, vals []jv) []byte {
	n := len(vals)
	header := 4
	entries := n * 3
	if object {
		entries += n * 4
	}
	size := header + entries
	for _, k := range keys {
		size += len(k)
	}
	for _, v := range vals {
		size += len(v.data)
	}
	b := binary.LittleEndian.AppendUint16(nil, uint16(n))
	b = binary.LittleEndian.AppendUint16(b, uint16(size))
	off := header + entries
	if object {
		for _, k := range keys {
			b = binary.LittleEndian.AppendUint16(b, uint16(off))
			b = binary.LittleEndian.AppendUint16(b, uint16(len(k)))
			off += len(k)
		}
	}
	for _, v := range vals {
		b = append(b, v.typ)
		if v.inline != nil {
			b = append(b, v.inline...)
			continue
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(off))
		off += len(v.data)
	}
	for _, k := range keys {
		b = append(b, k...)
	}
	for _, v := range vals {
		b = append(b, v.data...)
	}
	return b
}

// Binary JSON (MySQL) decodes to the same canonical text as MySQL's text
// rendering of the same document.
func TestBinaryJSON(t *testing.T) {
	dbl := binary.LittleEndian.AppendUint64(nil, math.Float64bits(2.5))
	inner := container(false, nil, []jv{
		{typ: jsonInt16, inline: []byte{1, 0}},
		{typ: jsonDouble, data: dbl},
		{typ: jsonString, data: append([]byte{3}, "x\"y"...)},
		{typ: jsonLiteral, inline: []byte{2, 0}},
	})
	doc := container(true, []string{"a", "bb"}, []jv{
		{typ: jsonSmallArray, data: inner},
		{typ: jsonLiteral, inline: []byte{0, 0}},
	})
	got, err := decodeBinaryJSON(append([]byte{jsonSmallObject}, doc...))
	if err != nil {
		t.Fatal(err)
	}
	want, err := canonicalJSON(`{"a": [1, 2.5, "x\"y", false], "bb": null}`)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || got != `{"a": [1, 2.5, "x\"y", false], "bb": null}` {
		t.Fatalf("binary %s, text %s", got, want)
	}
	// MySQL prints an integral double as 100000.0; both sides agree.
	d := binary.LittleEndian.AppendUint64(nil, math.Float64bits(100000))
	b, _ := decodeBinaryJSON(append([]byte{jsonDouble}, d...))
	if c, _ := canonicalJSON("100000.0"); b != c {
		t.Fatalf("double: binary %s, text %s", b, c)
	}
	for _, s := range []string{`{"a": "\u00e9\ud83d\ude00"}`, `[]`, `{}`, `-12`, `18446744073709551615`, `"\n"`} {
		if _, err := canonicalJSON(s); err != nil {
			t.Errorf("canonicalJSON(%s): %v", s, err)
		}
	}
	for _, s := range []string{`{`, `[1,`, `{"a" 1}`, `"abc`, `tru`, `1 2`, `{"a": [}`} {
		if _, err := canonicalJSON(s); err == nil {
			t.Errorf("canonicalJSON(%s) accepted", s)
		}
	}
	// Truncated and hostile binary documents are errors.
	full := append([]byte{jsonSmallObject}, doc...)
	for n := 1; n < len(full); n++ {
		if _, err := decodeBinaryJSON(full[:n]); err == nil {
			t.Errorf("binary JSON cut at %d bytes accepted", n)
		}
	}
}

func FuzzBinaryJSON(f *testing.F) {
	f.Add([]byte{jsonSmallArray, 1, 0, 7, 0, jsonInt16, 5, 0})
	f.Add([]byte{jsonString, 2, 'h', 'i'})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeBinaryJSON(b)
		_, _ = canonicalJSON(string(b))
	})
}
