// Package source defines a replication source: a database whose tables are
// copied once (the snapshot) and then followed as an ordered stream of
// committed transactions of row changes, each ending at a position that
// replication can resume from.
//
// Adapters live in subpackages named after what they wrap (sqlite, postgres).
// Replication acknowledges a position to the source only after bucket storage
// has committed it.
package source

import (
	"context"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

// Table is a source table resolved from the sync config's table patterns.
type Table struct {
	Ref sqlvalue.TableRef
	// ID is a stable identifier used as the storage table name
	// (for example "public.todos").
	ID string
	// KeyColumns are the replica identity columns (usually the primary key).
	KeyColumns []string
}

// ChangeKind is the kind of a row change.
type ChangeKind uint8

// Row change kinds.
const (
	Insert ChangeKind = iota + 1
	Update
	Delete
	Truncate
)

// Change is one row change of a transaction.
type Change struct {
	Kind  ChangeKind
	Table *Table
	// Key is the canonical encoding of the replica identity after the
	// change (before it, for Delete).
	Key []byte
	// OldKey is set on an Update that changed the replica identity.
	OldKey []byte
	// Row is the new row for Insert and Update.
	Row sqlvalue.Row
	// Unchanged lists columns the source did not send because they did not
	// change (Postgres TOAST); replication merges them from current data.
	Unchanged []string
	// Copy marks a Truncate that starts a full copy of Table's current rows
	// (a table that appeared while streaming): the Inserts that follow in
	// the same transaction are its rows, and replication records the table
	// as copied atomically with the commit that ends the transaction.
	Copy bool
}

// Handler receives the stream of changes.
type Handler interface {
	// Change is called for each change of a transaction, in order.
	Change(ctx context.Context, c Change) error
	// Commit ends a transaction at pos. When it returns nil the position is
	// durable in storage and the source may release everything before it.
	Commit(ctx context.Context, pos storage.Position) error
	// Keepalive reports that the source reached pos with no changes for
	// replication (so checkpoints and write checkpoints can advance).
	Keepalive(ctx context.Context, pos storage.Position) error
}

// SnapshotPage is one page of a table's initial snapshot.
type SnapshotPage struct {
	Rows []sqlvalue.Row
	Keys [][]byte
	// Cursor resumes the snapshot after this page; nil on the last page.
	Cursor []byte
}

// Source is a replication source. Start prepares the change stream (for
// Postgres, the replication slot) and returns the position from which
// Stream replays; rows read by Snapshot may also be replayed by Stream,
// which replication tolerates because saving a row is idempotent.
type Source interface {
	// Check verifies the source's settings and permissions, returning an
	// error that says what is wrong and how to fix it.
	Check(ctx context.Context) error
	// Tables resolves table patterns to the tables that exist.
	Tables(ctx context.Context, patterns []sqlvalue.TablePattern) ([]*Table, error)
	// Start prepares the change stream for a sync config version. fresh
	// reports that the stream was (re)created and a full snapshot is
	// needed; pos is where Stream must start.
	Start(ctx context.Context, slot string, resume storage.Position) (pos storage.Position, fresh bool, err error)
	// Snapshot reads table in key order after cursor (nil: from the start)
	// and calls fn per page.
	Snapshot(ctx context.Context, t *Table, cursor []byte, fn func(SnapshotPage) error) error
	// Head returns the current position of the source (for write
	// checkpoints). It may force a marker into the change stream so that an
	// idle source still moves past it.
	Head(ctx context.Context) (storage.Position, error)
	// Stream delivers every transaction committed after from on the change
	// stream of slot (as prepared by Start), until ctx is done or an error
	// occurs. Tables for which tables returns nil are skipped. A source may
	// group several committed transactions into one Handler.Commit; it never
	// splits one.
	Stream(ctx context.Context, slot string, from storage.Position, tables func(sqlvalue.TableRef) *Table, h Handler) error
	// Drop removes the source-side stream of a replaced version.
	Drop(ctx context.Context, slot string) error
	// Close releases the source's connections; safe to call twice.
	Close(ctx context.Context) error
}
