package protocol_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/protocol"
)

func TestOpIDJSON(t *testing.T) {
	b, err := json.Marshal(protocol.OpID(9223372036854775807))
	if err != nil || string(b) != `"9223372036854775807"` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	for _, tc := range []struct {
		in   string
		want protocol.OpID
	}{{`"42"`, 42}, {`42`, 42}, {` "0" `, 0}, {`"-5"`, -5}} {
		var id protocol.OpID
		if err := json.Unmarshal([]byte(tc.in), &id); err != nil || id != tc.want {
			t.Errorf("unmarshal %s = %d, %v; want %d", tc.in, id, err, tc.want)
		}
	}
	for _, bad := range []string{`"4.5"`, `"x"`, `"99999999999999999999"`, `true`, `""`} {
		var id protocol.OpID
		err := json.Unmarshal([]byte(bad), &id)
		if err == nil || !strings.Contains(err.Error(), "base-10 64-bit integer") {
			t.Errorf("unmarshal %s: err = %v, want a base-10 error", bad, err)
		}
	}
}

func TestChecksums(t *testing.T) {
	// The checksum is the first four bytes of SHA-256, read little-endian.
	// Expected values computed independently with sha256sum:
	//   printf 'delete.' | sha256sum                   → 9362fcce…
	//   printf 'put.todos.t1.{"id":"t1"}' | sha256sum  → 639dc497…
	if got := protocol.RemoveChecksum(""); got != 0xcefc6293 {
		t.Errorf("RemoveChecksum(\"\") = %#x, want 0xcefc6293", got)
	}
	if got := protocol.PutChecksum("todos", "t1", `{"id":"t1"}`); got != 0x97c49d63 {
		t.Errorf("PutChecksum = %#x, want 0x97c49d63", got)
	}
	// Wrapping sum and the signed form used for bucket checksums.
	if got := protocol.AddChecksums(0xffffffff, 2); got != 1 {
		t.Fatalf("AddChecksums wrap = %d", got)
	}
	if got := protocol.SignedChecksum(2582164875); got != -1712802421 {
		t.Fatalf("SignedChecksum = %d", got)
	}
}
