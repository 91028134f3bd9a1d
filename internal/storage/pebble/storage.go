package pebble

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/powersync-go/powersync/internal/storage"
)

// Options configure a Storage. The zero value is usable.
type Options struct {
	// Dir is the storage directory, created if it does not exist.
	Dir string
	// Logger receives storage and Pebble log lines (slog.Default if nil).
	Logger *slog.Logger
	// SpillBytes is the size at which an open Batch writes what it holds
	// to the database (invisible to readers until Commit). Default 32 MiB.
	SpillBytes int
	// CacheBytes is the block cache size. Default 128 MiB. Pebble reserves
	// memtable memory from it (up to 64 MiB here), the rest holds blocks.
	CacheBytes int64
	// Now returns the current time (time.Now if nil); tests move it to
	// expire leases.
	Now func() time.Time
}

const (
	defaultSpillBytes = 32 << 20
	defaultCacheBytes = 128 << 20
)

// Storage is the Pebble bucket storage. It is safe for concurrent use.
//
// Lock order: inflight (shared), compactMu, commitMu, mu. commitMu
// serialises every write of version records and of the op sequence (batch
// spills and commits, Deploy, SetState, Clear); mu guards the in-memory
// copies read by everyone; compactMu keeps Clear out of a running
// compaction.
type Storage struct {
	db   *pebble.DB
	log  *slog.Logger
	now  func() time.Time
	opts Options

	// opSeq is the last allocated op id (global, all versions).
	opSeq atomic.Int64

	commitMu sync.Mutex

	mu        sync.Mutex
	closed    bool
	versions  map[int64]*versionRecord
	notify    chan struct{}
	changes   map[int64]*changeLog
	openBatch map[int64]bool

	// inflight is held shared by every operation that uses the database
	// and exclusively by Close, which so waits for them.
	inflight sync.RWMutex

	wcMu      sync.Mutex // write checkpoints read-modify-write
	leaseMu   sync.Mutex
	compactMu sync.Mutex
}

var _ storage.Storage = (*Storage)(nil)

// versionRecord is the stored form of a version.
type versionRecord struct {
	ID             int64                `json:"id"`
	State          storage.VersionState `json:"state"`
	Content        string               `json:"content"`
	SlotName       string               `json:"slot_name,omitempty"`
	SnapshotDone   bool                 `json:"snapshot_done,omitempty"`
	CheckpointOp   int64                `json:"checkpoint_op"`
	CheckpointPos  uint64               `json:"checkpoint_pos"`
	CheckpointTime time.Time            `json:"checkpoint_time"`
	LastError      string               `json:"last_error,omitempty"`
	CreatedAt      time.Time            `json:"created_at"`
	// CommittedOp is the highest op id committed for this version; every
	// op key above it belongs to an uncommitted batch.
	CommittedOp int64 `json:"committed_op"`
	// PendingOp is the highest committed op id not yet covered by a
	// checkpoint (commits made while checkpoints were blocked).
	PendingOp          int64  `json:"pending_op,omitempty"`
	NoCheckpointBefore uint64 `json:"no_checkpoint_before,omitempty"`
}

func (v *versionRecord) public() storage.Version {
	return storage.Version{
		ID:           v.ID,
		State:        v.State,
		Content:      v.Content,
		SlotName:     v.SlotName,
		SnapshotDone: v.SnapshotDone,
		Checkpoint:   v.checkpoint(),
		LastError:    v.LastError,
		CreatedAt:    v.CreatedAt,
	}
}

func (v *versionRecord) checkpoint() storage.Checkpoint {
	return storage.Checkpoint{
		VersionID: v.ID,
		OpID:      v.CheckpointOp,
		Position:  storage.Position(v.CheckpointPos),
		Time:      v.CheckpointTime,
	}
}

func (v *versionRecord) served() bool {
	return v.State == storage.StateActive || v.State == storage.StateErrored
}

// Open opens (creating if needed) the bucket storage in opts.Dir. It rolls
// back any batch that was open when the previous process stopped. ctx bounds
// the open only; Close releases the storage.
func Open(ctx context.Context, opts Options) (*Storage, error) {
	if opts.Dir == "" {
		return nil, errors.New("open bucket storage: no directory given")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open bucket storage %s: %w", opts.Dir, err)
	}
	dir := opts.Dir
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SpillBytes <= 0 {
		opts.SpillBytes = defaultSpillBytes
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = defaultCacheBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open bucket storage: %w", err)
	}
	log := opts.Logger.With("component", "storage")
	po := &pebble.Options{
		CacheSize: opts.CacheBytes,
		Logger:    pebbleLogger{log},
		// Larger memtables than the 4 MiB default: replication writes in
		// bursts of large batches, and fewer, larger flushes cost less.
		// Memtables are accounted against the block cache, which must
		// stay larger than MemTableSize × MemTableStopWritesThreshold.
		MemTableSize:                16 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       8,
		L0StopWritesThreshold:       32,
		LBaseMaxBytes:               256 << 20,
	}
	// Bloom filters: most current-data reads of replication are for rows
	// that are not stored yet (inserts), which a filter answers without
	// reading index and data blocks.
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// Fewer, larger files and a deeper L0 before compacting: less
	// background CPU per op written (about 20% in WriteSnapshotRows).
	for i := range po.TargetFileSizes {
		po.TargetFileSizes[i] = 8 << 20 << i
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) || strings.Contains(err.Error(), "lock held") {
			return nil, fmt.Errorf("open bucket storage %s: the directory is in use by another process (a storage directory can be open in one process only): %w", dir, err)
		}
		return nil, fmt.Errorf("open bucket storage %s: %w", dir, err)
	}
	s := &Storage{
		db:        db,
		log:       log,
		now:       opts.Now,
		opts:      opts,
		versions:  map[int64]*versionRecord{},
		notify:    make(chan struct{}),
		changes:   map[int64]*changeLog{},
		openBatch: map[int64]bool{},
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open bucket storage %s: %w", dir, err)
	}
	return s, nil
}

func (s *Storage) load() error {
	seq, err := s.getU64(metaOpSeq)
	if err != nil {
		return err
	}
	s.opSeq.Store(int64(seq))
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{spaceVersion}, UpperBound: []byte{spaceVersion + 1}})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		var v versionRecord
		if err := json.Unmarshal(it.Value(), &v); err != nil {
			_ = it.Close()
			return fmt.Errorf("version record: %w", err)
		}
		s.versions[v.ID] = &v
	}
	if err := it.Close(); err != nil {
		return err
	}
	for id := range s.versions {
		if err := s.rollback(id); err != nil {
			return fmt.Errorf("roll back the unfinished batch of version %d: %w", id, err)
		}
	}
	return nil
}

func (s *Storage) getU64(key []byte) (uint64, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, errCorrupt
	}
	return binary.BigEndian.Uint64(v), nil
}

// Close closes the database. It is safe to call twice.
func (s *Storage) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.notify)
	s.mu.Unlock()
	// Wait for operations in flight; later ones see closed.
	s.inflight.Lock()
	defer s.inflight.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close bucket storage: %w", err)
	}
	return nil
}

// enter registers an operation on the database; Close waits until the
// returned function is called. Public methods call it once, never nested.
func (s *Storage) enter() (func(), error) {
	s.inflight.RLock()
	if err := s.checkOpen(); err != nil {
		s.inflight.RUnlock()
		return nil, err
	}
	return s.inflight.RUnlock, nil
}

func (s *Storage) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	return nil
}

// Versions returns every version not yet cleared, oldest first.
func (s *Storage) Versions(ctx context.Context) ([]storage.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	out := make([]storage.Version, 0, len(s.versions))
	for _, v := range s.versions {
		out = append(out, v.public())
	}
	slices.SortFunc(out, func(a, b storage.Version) int { return cmpInt(a.ID, b.ID) })
	return out, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// version returns a copy of a version record.
func (s *Storage) version(id int64) (versionRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return versionRecord{}, storage.ErrClosed
	}
	v, ok := s.versions[id]
	if !ok {
		return versionRecord{}, fmt.Errorf("version %d: %w", id, storage.ErrNotFound)
	}
	return *v, nil
}

func putVersion(b *pebble.Batch, v *versionRecord) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Set(versionKey(v.ID), data, nil)
}

// writeVersions stores changed version records in one synced write and
// then publishes them in memory. The caller holds commitMu.
func (s *Storage) writeVersions(changed []*versionRecord, wake bool) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, v := range changed {
		if err := putVersion(b, v); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range changed {
		s.versions[v.ID] = v
	}
	if wake {
		s.wakeLocked()
	}
	return nil
}

// wakeLocked wakes every Watch caller. The caller holds mu.
func (s *Storage) wakeLocked() {
	if s.closed {
		return
	}
	close(s.notify)
	s.notify = make(chan struct{})
}

// Deploy stores a new sync config as a PROCESSING version.
func (s *Storage) Deploy(ctx context.Context, content string) (storage.Version, error) {
	done, err := s.enter()
	if err != nil {
		return storage.Version{}, err
	}
	defer done()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	seq, err := s.getU64(metaVersionSeq)
	if err != nil {
		return storage.Version{}, fmt.Errorf("deploy sync config: %w", err)
	}
	id := int64(seq) + 1
	nv := &versionRecord{ID: id, State: storage.StateProcessing, Content: content, CreatedAt: s.now().UTC()}
	changed := []*versionRecord{nv}
	s.mu.Lock()
	for _, v := range s.versions {
		if v.State == storage.StateProcessing {
			c := *v
			c.State = storage.StateStop
			changed = append(changed, &c)
		}
	}
	s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.Set(metaVersionSeq, appendU64(nil, uint64(id)), nil); err != nil {
		return storage.Version{}, err
	}
	for _, v := range changed {
		if err := putVersion(b, v); err != nil {
			return storage.Version{}, err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return storage.Version{}, fmt.Errorf("deploy sync config: %w", err)
	}
	s.mu.Lock()
	for _, v := range changed {
		s.versions[v.ID] = v
	}
	s.mu.Unlock()
	return nv.public(), nil
}

// updateVersion runs change on a copy of version id's record with the
// storage entered and the commit lock held; change writes what it changed.
func (s *Storage) updateVersion(id int64, change func(v versionRecord) error) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	v, err := s.version(id)
	if err != nil {
		return err
	}
	return change(v)
}

// SetSlotName records the source-side stream name of a version.
func (s *Storage) SetSlotName(ctx context.Context, versionID int64, slot string) error {
	return s.updateVersion(versionID, func(v versionRecord) error {
		v.SlotName = slot
		return s.writeVersions([]*versionRecord{&v}, false)
	})
}

// SetState changes a version's state. Making a version ACTIVE stops every
// other ACTIVE or ERRORED version, as activation by Commit does.
func (s *Storage) SetState(ctx context.Context, versionID int64, state storage.VersionState, errMsg string) error {
	switch state {
	case storage.StateProcessing, storage.StateActive, storage.StateErrored, storage.StateStop:
	default:
		return fmt.Errorf("set state of version %d: unknown state %q", versionID, state)
	}
	return s.updateVersion(versionID, func(v versionRecord) error {
		v.State = state
		if state == storage.StateErrored {
			v.LastError = errMsg
		}
		changed := []*versionRecord{&v}
		if state == storage.StateActive {
			changed = append(changed, s.stopOthers(versionID)...)
		}
		return s.writeVersions(changed, true)
	})
}

// stopOthers returns copies of every served version other than id, set to
// STOP.
func (s *Storage) stopOthers(id int64) []*versionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*versionRecord
	for _, v := range s.versions {
		if v.ID != id && v.served() {
			c := *v
			c.State = storage.StateStop
			out = append(out, &c)
		}
	}
	return out
}

// Clear deletes all data of a STOP version and the version itself.
func (s *Storage) Clear(ctx context.Context, versionID int64) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	// Not while a compaction of the version writes.
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	v, err := s.version(versionID)
	if err != nil {
		return err
	}
	if v.State != storage.StateStop {
		return fmt.Errorf("clear version %d: it is %s, only a STOP version can be cleared", versionID, v.State)
	}
	s.mu.Lock()
	busy := s.openBatch[versionID]
	s.mu.Unlock()
	if busy {
		return fmt.Errorf("clear version %d: a batch is open", versionID)
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, space := range []byte{spaceOp, spaceTotals, spaceCleared, spaceCurrent, spaceLookup, spaceUndo, spaceSnapshot, spaceVersion} {
		p := versionPrefix(space, versionID)
		if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("clear version %d: %w", versionID, err)
	}
	s.mu.Lock()
	delete(s.versions, versionID)
	delete(s.changes, versionID)
	s.mu.Unlock()
	return nil
}

// Bucket returns the bucket storage of one version.
func (s *Storage) Bucket(versionID int64) storage.BucketStorage {
	return &bucketStorage{s: s, vid: versionID}
}

// Active returns the newest ACTIVE or ERRORED version.
func (s *Storage) Active(ctx context.Context) (storage.Version, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.Version{}, storage.ErrClosed
	}
	v := s.activeLocked()
	if v == nil {
		return storage.Version{}, fmt.Errorf("active version: %w", storage.ErrNotFound)
	}
	return v.public(), nil
}

func (s *Storage) activeLocked() *versionRecord {
	var best *versionRecord
	for _, v := range s.versions {
		if v.served() && (best == nil || v.ID > best.ID) {
			best = v
		}
	}
	return best
}

// Watch returns the latest checkpoint of the active version (the zero
// Checkpoint when there is none yet) and a channel closed when a newer
// checkpoint of any version is committed, a version is activated, or the
// storage is closed.
func (s *Storage) Watch(ctx context.Context) (storage.Checkpoint, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.Checkpoint{}, nil, storage.ErrClosed
	}
	var cp storage.Checkpoint
	if v := s.activeLocked(); v != nil {
		cp = v.checkpoint()
	}
	return cp, s.notify, nil
}

// Settings is the instance settings area.
func (s *Storage) Settings() storage.Settings { return settings{s} }

// WriteCheckpoints returns the write checkpoint store.
func (s *Storage) WriteCheckpoints() storage.WriteCheckpoints { return writeCheckpoints{s} }

// DiskUsage estimates the bytes on disk of the whole database.
func (s *Storage) DiskUsage() (uint64, error) {
	return s.db.EstimateDiskUsage([]byte{0}, []byte{0xff})
}

// Flush writes the memtable to disk (for measurements of bytes on disk).
func (s *Storage) Flush() error { return s.db.Flush() }

type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "source", "pebble")
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "source", "pebble")
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "source", "pebble")
	os.Exit(1)
}
