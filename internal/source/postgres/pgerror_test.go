package postgres

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestServerErrorsByCode: the source decides what a server error means by
// its SQLSTATE, through wrapping, and never by its text (which a
// translated server, another version or a table named like a message
// would change).
func TestServerErrorsByCode(t *testing.T) {
	pg := func(code, msg string) error { return &pgconn.PgError{Severity: "ERROR", Code: code, Message: msg} }
	for _, c := range []struct {
		name        string
		err         error
		lost, inUse bool
	}{
		{"slot missing", pg("42704", `replication slot "s" does not exist`), true, false},
		{"publication missing", pg("42704", `publication "powersync" does not exist`), true, false},
		{"slot invalidated", pg("55000", `can no longer get changes from replication slot "s"`), true, false},
		{"WAL removed", pg("58P01", `requested WAL segment 000000010000000000000001 has already been removed`), true, false},
		{"wrapped", fmt.Errorf("start replication: %w", pg("42704", "x")), true, false},
		{"translated message", pg("42704", `el slot de replicación «s» no existe`), true, false},
		{"slot active", pg("55006", `replication slot "s" is active for PID 42`), false, true},
		{"same words, other code", pg("42P01", `relation "replication slot does not exist" does not exist`), false, false},
		{"text only", errors.New(`replication slot "s" does not exist; is active for PID 1`), false, false},
		{"permission", pg("42501", "permission denied"), false, false},
		{"nil", nil, false, false},
	} {
		if got := slotLost(c.err); got != c.lost {
			t.Errorf("%s: slotLost = %v, want %v", c.name, got, c.lost)
		}
		if got := slotInUse(c.err); got != c.inUse {
			t.Errorf("%s: slotInUse = %v, want %v", c.name, got, c.inUse)
		}
	}
}
