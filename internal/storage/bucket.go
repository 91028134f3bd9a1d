package storage

import (
	"context"
	"time"
)

// BucketStorage is the data of one sync config version.
type BucketStorage interface {
	// Version returns the version record (state, checkpoint, snapshot).
	Version(ctx context.Context) (Version, error)

	// NewBatch starts a write batch. Only one batch of a version is open at
	// a time (replication is the only writer).
	NewBatch(ctx context.Context) (Batch, error)
	// SnapshotProgress returns the initial-snapshot state of every table
	// that has recorded any (see CommitOptions.SnapshotTable); a table not
	// in the map has not been started.
	SnapshotProgress(ctx context.Context) (map[string]TableSnapshot, error)

	// Checksums returns each bucket's checksum and op count as of cp.
	// A bucket without ops has checksum 0 and count 0.
	Checksums(ctx context.Context, cp Checkpoint, buckets []string) ([]BucketChecksum, error)
	// ReadData calls fn with chunks of the ops of each bucket with
	// After < op id ≤ cp.OpID, in op id order, one bucket after another in
	// the order given. A chunk holds at most Limits.Ops ops and is closed
	// once it reaches Limits.Bytes. fn's chunk is only valid during the call.
	ReadData(ctx context.Context, cp Checkpoint, reqs []BucketPosition, lim Limits, fn func(Chunk) error) error
	// Lookup reads the parameter lookup index as of cp: for each key, the
	// results of every source row whose latest entry for that key at or
	// before cp is non-empty.
	Lookup(ctx context.Context, cp Checkpoint, keys [][]byte) ([][][]byte, error)
	// Changes reports what changed between two checkpoints of this version
	// (from exclusive, to inclusive). All is set when the backend cannot
	// tell (for example, after compaction or a restart).
	Changes(ctx context.Context, from, to Checkpoint) (Changes, error)

	// Compact rewrites superseded ops to MOVE and folds leading
	// MOVE/REMOVE runs into CLEAR, keeping every bucket checksum.
	Compact(ctx context.Context, opts CompactOptions) (CompactStats, error)
}

// TableSnapshot is the initial-snapshot state of one source table.
type TableSnapshot struct {
	// Cursor resumes the copy after the last committed page.
	Cursor []byte
	// Done is set once the table has been fully copied.
	Done bool
}

// BucketChecksum is a bucket's checksum and count as of a checkpoint.
type BucketChecksum struct {
	Bucket   string
	Checksum uint32
	// Count is the number of ops (informational for clients). After a
	// compaction a backend may report either the count before it or the
	// number of ops left.
	Count int64
}

// BucketPosition is a bucket and the op id a reader already has.
type BucketPosition struct {
	Bucket string
	After  int64
}

// Limits bound one data chunk.
type Limits struct {
	Ops   int // default DefaultChunkOps (1000)
	Bytes int // default DefaultChunkBytes (1 MiB)
}

// Chunk is a run of one bucket's ops. Ops holds each op already encoded as
// the JSON object of a data line's "data" array (protocol.OplogEntry form),
// so the sync API only joins them.
type Chunk struct {
	Bucket    string
	After     int64
	NextAfter int64
	HasMore   bool
	Ops       [][]byte
	// TargetOp is the greatest compaction target op id in the chunk: when
	// it exceeds the checkpoint the checkpoint must not be completed.
	TargetOp int64
}

// Changes is what a new checkpoint changed.
type Changes struct {
	All     bool
	Buckets []string
	Lookups [][]byte
}

// CompactOptions select what Compact does.
type CompactOptions struct {
	// Buckets limits compaction to these buckets (all when empty).
	Buckets []string
	// MoveBatch bounds the ops rewritten per write (0 = DefaultMoveBatch).
	MoveBatch int
}

// CompactStats reports what a compaction did.
type CompactStats struct {
	Buckets int
	Moved   int64
	Cleared int64
	Elapsed time.Duration
}

// Batch writes one or more source transactions. Nothing written becomes
// visible to readers before Commit creates a checkpoint. A Batch may spill
// to storage before Commit; a crash before Commit must leave the version as
// it was at the last checkpoint when replication resumes (no lost and no
// duplicated ops).
type Batch interface {
	// Save records the new state of one source row and emits ops: a PUT per
	// bucket in u.Buckets, a REMOVE for each bucket the row was in before
	// but is no longer, and the lookup entries (an empty result tombstones
	// a lookup the row no longer produces).
	Save(ctx context.Context, u RowUpdate) error
	// Delete removes a source row: a REMOVE for every bucket it was in and
	// tombstones for its lookups. Deleting a row storage does not know (a
	// replayed delete) does nothing.
	Delete(ctx context.Context, table string, key []byte) error
	// Truncate deletes every row of a source table, including rows saved
	// earlier in the same batch.
	Truncate(ctx context.Context, table string) error
	// CurrentRow returns the stored row data of a source row (to merge a
	// partial update), and false when there is none.
	CurrentRow(ctx context.Context, table string, key []byte) ([]byte, bool, error)
	// Commit makes everything saved so far durable, and visible to readers
	// once a checkpoint covers it. When opts.Checkpoint is set, the snapshot
	// is done, and opts.Position is not before the last checkpoint nor
	// before NoCheckpointBefore, it creates a checkpoint at opts.Position
	// that includes every op committed so far (also by earlier commits that
	// could not create one). The first checkpoint of a PROCESSING version
	// activates it atomically: it becomes ACTIVE and every other ACTIVE or
	// ERRORED version becomes STOP. Commit returns the version's checkpoint
	// after the commit. The batch stays usable for the next transaction.
	Commit(ctx context.Context, opts CommitOptions) (Checkpoint, error)
	// Close discards anything not committed. It is safe to call twice.
	Close() error
}

// RowUpdate is the evaluated new state of one source row.
type RowUpdate struct {
	// Table identifies the source table (for example "public.todos").
	Table string
	// Key is the row's replica identity, canonically encoded by the source.
	Key []byte
	// OldKey is set when the replica identity changed (its old value).
	OldKey []byte
	// New tells storage that the row is certainly not stored for this
	// version (a row of a table's initial snapshot, copied once), so it
	// skips looking up the row's previous state. Set it only when that
	// holds: a stored row saved as New keeps its old bucket memberships
	// and lookups without REMOVEs and tombstones.
	New bool
	// Row is the source row (as the source encodes it), kept in current
	// data when the source may send partial updates; may be nil.
	Row []byte
	// Buckets are the row's bucket memberships from the sync rules.
	Buckets []BucketRow
	// Lookups are the row's parameter lookup entries.
	Lookups []LookupRow
}

// BucketRow is one bucket membership with its output row.
type BucketRow struct {
	Bucket string
	Table  string // output table (object_type)
	ID     string // output row id (object_id)
	Data   []byte // JSON text
}

// LookupRow is one parameter lookup entry of a source row.
type LookupRow struct {
	Key    []byte
	Result []byte
}

// CommitOptions say what a commit records besides the batch's data.
type CommitOptions struct {
	// Position is the source position the batch reaches.
	Position Position
	// Checkpoint creates a checkpoint (only once SnapshotDone is set on the
	// version, now or earlier, and Position ≥ NoCheckpointBefore).
	Checkpoint bool
	// SnapshotTable and SnapshotCursor record the resume point of a table's
	// initial snapshot, atomically with the rows it wrote.
	SnapshotTable  string
	SnapshotCursor []byte
	// SnapshotTableDone marks SnapshotTable as fully copied.
	SnapshotTableDone bool
	// SnapshotDone marks the initial snapshot complete; checkpoints are
	// only created from NoCheckpointBefore on.
	SnapshotDone       bool
	NoCheckpointBefore Position
}
