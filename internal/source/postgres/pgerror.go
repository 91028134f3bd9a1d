package postgres

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATE codes the source acts on (Postgres, Appendix A "PostgreSQL Error
// Codes"). Errors from the server are classified by these codes, never by
// their message text, which depends on the server version and lc_messages.
const (
	// sqlstateUndefinedObject: the replication slot or the publication
	// does not exist.
	sqlstateUndefinedObject = "42704"
	// sqlstateObjectNotInPrerequisiteState: among others, the slot was
	// invalidated ("can no longer get changes from replication slot").
	sqlstateObjectNotInPrerequisiteState = "55000"
	// sqlstateObjectInUse: the slot is active for another walsender.
	sqlstateObjectInUse = "55006"
	// sqlstateUndefinedFile: the WAL the slot needs has been removed.
	sqlstateUndefinedFile = "58P01"
)

// sqlState returns the SQLSTATE of a server error in err's chain, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// slotLost reports whether an error of starting or running the replication
// stream of our own slot means the slot cannot stream any more: it or the
// publication is gone, it was invalidated, or its WAL was removed. Calling
// Start again creates a fresh slot (and a new snapshot).
func slotLost(err error) bool {
	switch sqlState(err) {
	case sqlstateUndefinedObject, sqlstateObjectNotInPrerequisiteState, sqlstateUndefinedFile:
		return true
	}
	return false
}

// slotInUse reports whether err says the slot is active for another
// process (a walsender that has not noticed its client is gone).
func slotInUse(err error) bool { return sqlState(err) == sqlstateObjectInUse }
