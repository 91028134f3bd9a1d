package syncrules

import (
	"strings"
	"testing"
)

// TestParseJSONContainers pins how arrays and objects end: a separator, the
// closing bracket, or an error that says which was expected.
func TestParseJSONContainers(t *testing.T) {
	for _, tc := range []struct{ in, errPart string }{
		{`[1, 2, 3]`, ""},
		{`{"a": [1, {"b": 2}], "c": {}}`, ""},
		{`[]`, ""},
		{`[1 2]`, "expected , or ]"},
		{`{"a": 1 "b": 2}`, "expected , or }"},
		{`[1,`, "unexpected end of input"},
		{`{"a": 1`, "unexpected end of input"},
		{`{"a": 1, "a": 2}`, `duplicate key "a"`},
	} {
		_, err := parseJSON(tc.in)
		switch {
		case tc.errPart == "" && err != nil:
			t.Errorf("parseJSON(%s): %v", tc.in, err)
		case tc.errPart != "" && (err == nil || !strings.Contains(err.Error(), tc.errPart)):
			t.Errorf("parseJSON(%s) = %v, want an error with %q", tc.in, err, tc.errPart)
		}
	}
}
