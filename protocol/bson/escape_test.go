package bson_test

import (
	"testing"

	"github.com/powersync-go/powersync/protocol"
	"github.com/powersync-go/powersync/protocol/bson"
)

// TestToJSONEscapesAsProtocol: a string read from BSON is written with
// protocol's one escaper, so a line decoded from BSON reads as the same line
// sent as NDJSON (keys and values, awkward text included).
func TestToJSONEscapesAsProtocol(t *testing.T) {
	for _, s := range []string{
		"plain", "quote \" backslash \\", "\b\f\n\r\t\x01\x1f\x7f",
		"line\u2028para\u2029", "<html>&amp;", "café ☃ 𝄞", "bad \xff\xfe utf-8 \xc3",
	} {
		doc, at := bson.StartDocument(nil)
		doc = bson.AppendStringElement(doc, s, s)
		doc = bson.EndDocument(doc, at)
		got, err := bson.ToJSON(nil, doc)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		esc := string(protocol.AppendJSONString(nil, s))
		if want := "{" + esc + ":" + esc + "}"; string(got) != want {
			t.Errorf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
}
