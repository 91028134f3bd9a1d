package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors.
var (
	// ErrNotFound is returned when a version, setting or lease does not exist.
	ErrNotFound = errors.New("not found")
	// ErrLeaseHeld is returned when another holder has the replication lease.
	ErrLeaseHeld = errors.New("replication lease is held by another process")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("storage is closed")
)

// Position is a source position (a Postgres LSN, a SQLite change sequence).
// Positions of one source increase with time and compare as numbers.
type Position uint64

// VersionState is the lifecycle state of a sync config version.
type VersionState string

// The states of a version (a "replication stream" in the reference).
const (
	// StateProcessing: new, replicating its initial snapshot; not served.
	StateProcessing VersionState = "PROCESSING"
	// StateActive: served to clients and replicating.
	StateActive VersionState = "ACTIVE"
	// StateErrored: a permanent error; still served until replaced.
	StateErrored VersionState = "ERRORED"
	// StateStop: replaced by a newer version; to be cleared.
	StateStop VersionState = "STOP"
)

// Version is one deployed sync config with its replication state.
type Version struct {
	ID      int64
	State   VersionState
	Content string // the sync config YAML
	// SlotName is the source-side name of this version's change stream (a
	// Postgres replication slot); empty until the source assigns one.
	SlotName     string
	SnapshotDone bool
	// Checkpoint is the last committed checkpoint of this version.
	Checkpoint Checkpoint
	// LastError is the last fatal replication error, if any.
	LastError string
	CreatedAt time.Time
}

// Checkpoint is a consistent point of a version's bucket data: every op with
// an id ≤ OpID is included, and the source has been replicated up to
// Position. Checkpoints of a version never go backwards.
type Checkpoint struct {
	VersionID int64
	OpID      int64
	Position  Position
	// Time is when the checkpoint was committed.
	Time time.Time
}

// Storage is a bucket storage backend. It is safe for concurrent use.
type Storage interface {
	// Versions returns every version not yet cleared, oldest first.
	Versions(ctx context.Context) ([]Version, error)
	// Deploy stores a new sync config as a PROCESSING version (a PROCESSING
	// version that is already there moves to STOP) and returns it.
	Deploy(ctx context.Context, content string) (Version, error)
	// SetSlotName records the source-side stream name of a version.
	SetSlotName(ctx context.Context, versionID int64, slot string) error
	// SetState changes a version's state, recording errMsg for ERRORED.
	SetState(ctx context.Context, versionID int64, state VersionState, errMsg string) error
	// Clear deletes all data of a STOP version and the version itself.
	Clear(ctx context.Context, versionID int64) error
	// Bucket returns the bucket storage of one version.
	Bucket(versionID int64) BucketStorage

	// Active returns the version served to clients (the newest ACTIVE or
	// ERRORED one), or ErrNotFound.
	Active(ctx context.Context) (Version, error)
	// Watch returns the latest checkpoint of the active version and a
	// channel closed when a newer checkpoint (of any version, or an
	// activation) is committed. Callers call Watch again after it fires.
	Watch(ctx context.Context) (Checkpoint, <-chan struct{}, error)

	// WriteCheckpoints are per (user id, client id) counters.
	WriteCheckpoints() WriteCheckpoints
	// Settings is the small key-value area of instance settings.
	Settings() Settings
	// AcquireLease tries to take the replication lease for holder. It
	// returns ErrLeaseHeld while another live holder has it.
	AcquireLease(ctx context.Context, holder string, ttl time.Duration) (Lease, error)

	// Close releases resources. It is safe to call twice.
	Close(ctx context.Context) error
}

// Lease is a held replication lease. It must be renewed before its TTL.
type Lease interface {
	// Renew extends the lease; it fails with ErrLeaseHeld if it was lost.
	Renew(ctx context.Context) error
	// Release gives the lease up.
	Release(ctx context.Context) error
}

// Settings is a small key-value store for instance settings (such as the
// development-token switch and the instance signing key).
type Settings interface {
	Get(ctx context.Context, key string) ([]byte, error) // ErrNotFound if unset
	Put(ctx context.Context, key string, value []byte) error
}

// WriteCheckpoints tracks write checkpoints: per key (user id and client id)
// a counter, each value recorded with the source position current when it
// was created. A checkpoint at position P reports the greatest value whose
// recorded position is ≤ P.
type WriteCheckpoints interface {
	// Create increments the counter of (user, client), records it with
	// head, and returns the new value.
	Create(ctx context.Context, user, client string, head Position) (int64, error)
	// Request records max(current, id) with head and returns that maximum
	// (checkpoint-request mode; stale ids are no-ops).
	Request(ctx context.Context, user, client string, id int64, head Position) (int64, error)
	// At returns the greatest value of (user, client) recorded at a
	// position ≤ pos, and false if there is none.
	At(ctx context.Context, user, client string, pos Position) (int64, bool, error)
}
