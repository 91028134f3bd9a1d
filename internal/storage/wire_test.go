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
