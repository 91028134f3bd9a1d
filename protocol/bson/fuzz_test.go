package bson_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/powersync-go/powersync/protocol/bson"
)

// FuzzToJSON feeds arbitrary bytes to the decoder: it must never panic, and
// whatever it accepts must come out as valid JSON that transcodes back to a
// document giving the same value again.
func FuzzToJSON(f *testing.F) {
	for _, g := range goldens {
		f.Add(unhex(f, g.bson))
	}
	f.Add([]byte{5, 0, 0, 0, 0})
	f.Add([]byte{0x0d, 0, 0, 0, 3, 'a', 0, 5, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, err := bson.ToJSON(nil, doc)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("ToJSON gave invalid JSON %q", out)
		}
		again, err := bson.AppendJSON(nil, out)
		if err != nil {
			t.Fatalf("AppendJSON(ToJSON(doc)) failed: %v\njson %s", err, out)
		}
		out2, err := bson.ToJSON(nil, again)
		if err != nil {
			t.Fatalf("ToJSON(AppendJSON(ToJSON(doc))): %v", err)
		}
		// Same value; the text may differ only where invalid UTF-8 was
		// written as \ufffd the first time and as the character after.
		var a, b any
		if json.Unmarshal(out, &a) != nil || json.Unmarshal(out2, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("not stable: %s then %s", out, out2)
		}
	})
}

// FuzzAppendJSON: for any JSON object encoding/json accepts, the transcoder
// must succeed and the document must decode to the same value.
func FuzzAppendJSON(f *testing.F) {
	for _, g := range goldens {
		f.Add([]byte(g.json))
	}
	f.Add([]byte(`{"data":{"bucket":"b","data":[{"op_id":"1","op":"PUT","data":"{\"a\":1}","checksum":4294967295}]}}`))
	f.Add([]byte(` { "a" : [ 1 , -2.5e3 , "\ud83d\ude00" , { } ] } `))
	f.Fuzz(func(t *testing.T, src []byte) {
		doc, err := bson.AppendJSON(nil, src)
		var want any
		jsonErr := json.Unmarshal(src, &want)
		_, isObject := want.(map[string]any)
		if err != nil {
			if jsonErr == nil && isObject && !hasNULKey(want) && depth(want) <= bson.MaxDepth {
				t.Fatalf("AppendJSON rejected a JSON object encoding/json accepts: %v\n%q", err, src)
			}
			return
		}
		if jsonErr != nil {
			// encoding/json refuses some numbers out of float range that
			// the transcoder turns into infinity; everything else it
			// accepts must be JSON.
			if !json.Valid(src) {
				t.Fatalf("AppendJSON accepted invalid JSON %q", src)
			}
			return
		}
		out, err := bson.ToJSON(nil, doc)
		if err != nil {
			t.Fatalf("ToJSON(AppendJSON(src)): %v", err)
		}
		var got any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("ToJSON output %q: %v", out, err)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("value changed\n src %s\n out %s", src, out)
		}
	})
}

func hasNULKey(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			for i := 0; i < len(k); i++ {
				if k[i] == 0 {
					return true
				}
			}
			if hasNULKey(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasNULKey(e) {
				return true
			}
		}
	}
	return false
}

func depth(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}
