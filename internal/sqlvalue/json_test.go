package sqlvalue_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// TestAppendRowJSON pins the row-data form: column order kept, REAL 1
// written 1.0, non-finite REALs as null, BLOBs left out, strings escaped as
// JSON.stringify does.
func TestAppendRowJSON(t *testing.T) {
	got := string(sqlvalue.AppendRowJSON(nil, []sqlvalue.Column{
		{Name: "z", Value: sqlvalue.Int(1)},
		{Name: "a", Value: sqlvalue.Real(1)},
		{Name: "bin", Value: sqlvalue.Blob([]byte{0, 1})},
		{Name: "inf", Value: sqlvalue.Real(math.Inf(1))},
		{Name: "n", Value: sqlvalue.Null},
		{Name: "t", Value: sqlvalue.Text("\"\\\n\x01\u2028<>&")},
		{Name: "bad", Value: sqlvalue.Text("a\xffb")},
	}))
	want := `{"z":1,"a":1.0,"inf":null,"n":null,"t":"\"\\\n\u0001` + "\u2028" + `<>&","bad":"a` + "\ufffd" + `b"}`
	if got != want {
		t.Errorf("AppendRowJSON:\n got %s\nwant %s", got, want)
	}
}

// FuzzAppendRowJSON feeds arbitrary names and text: the row must always be
// valid JSON that decodes to the same strings (invalid UTF-8 replaced by
// U+FFFD).
func FuzzAppendRowJSON(f *testing.F) {
	for _, s := range []string{"", "a", "\x00\x1f\"\\", "\u2028\u2029", "\xff\xfe", "😀", "\xed\xa0\x80"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, name, text string) {
		b := sqlvalue.AppendRowJSON(nil, []sqlvalue.Column{{Name: name, Value: sqlvalue.Text(text)}})
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("AppendRowJSON(%q, %q) = %s: not JSON: %v", name, text, b, err)
		}
		wantName, wantText := strings.ToValidUTF8(name, "\ufffd"), strings.ToValidUTF8(text, "\ufffd")
		if !utf8.ValidString(name) || !utf8.ValidString(text) {
			// ToValidUTF8 folds a run of bad bytes into one U+FFFD; the
			// writer replaces every bad byte. Compare the valid parts only.
			wantName, wantText = strings.ReplaceAll(wantName, "\ufffd", ""), strings.ReplaceAll(wantText, "\ufffd", "")
			for k, v := range m {
				delete(m, k)
				m[strings.ReplaceAll(k, "\ufffd", "")] = strings.ReplaceAll(v, "\ufffd", "")
			}
		}
		if len(m) != 1 || m[wantName] != wantText {
			t.Fatalf("AppendRowJSON(%q, %q) = %s, decodes to %q", name, text, b, m)
		}
	})
}
