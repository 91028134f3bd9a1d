package client

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/powersync-go/powersync/protocol"
)

// SyncStatus is a snapshot of the connection and sync state.
type SyncStatus struct {
	// Connected is true while a sync stream is open.
	Connected bool
	// Connecting is true between Connect and the first answer of the service,
	// and while waiting to reconnect.
	Connecting bool
	// Downloading is true while a checkpoint's data is arriving.
	Downloading bool
	// Uploading is true while UploadData runs.
	Uploading bool
	// HasSynced is true once a full checkpoint was applied (ever, for this file).
	HasSynced bool
	// LastSyncedAt is when the last full checkpoint was applied.
	LastSyncedAt time.Time
	// Checkpoint is the op id of the last applied full checkpoint.
	Checkpoint int64
	// Priorities lists, per bucket priority (0–3), when the buckets of that
	// priority and above were last published: by a partial checkpoint of
	// that priority, or by a full one (which completes every priority).
	Priorities []PriorityStatus
	// Progress lists the buckets of the checkpoint being downloaded.
	Progress []BucketProgress
	// Streams are the streams of the last checkpoint, with their errors.
	Streams []protocol.StreamDescription
	// DownloadError is the last error of the sync loop (nil once it
	// recovers); UploadError the last error of UploadData.
	DownloadError error
	UploadError   error
	// Reconnects counts streams opened after the first one.
	Reconnects int
	// ChecksumFailures counts checkpoints that failed validation.
	ChecksumFailures int
}

// PriorityStatus is the sync state of one bucket priority.
type PriorityStatus struct {
	Priority     int
	LastSyncedAt time.Time
}

// BucketProgress is the download progress of one bucket: Downloaded of
// Total operations of the current checkpoint.
type BucketProgress struct {
	Bucket     string
	Priority   int
	Downloaded int64
	Total      int64
}

// Totals sums the progress of the buckets with priority ≤ prio (all when
// prio < 0).
func (s SyncStatus) Totals(prio int) (downloaded, total int64) {
	for _, b := range s.Progress {
		if prio < 0 || b.Priority <= prio {
			downloaded += b.Downloaded
			total += b.Total
		}
	}
	return downloaded, total
}

// statusBox holds the current status and wakes watchers on every change by
// closing the channel they hold and replacing it.
type statusBox struct {
	mu      sync.Mutex
	s       SyncStatus
	changed chan struct{}
}

func (b *statusBox) init() { b.changed = make(chan struct{}) }

func (b *statusBox) get() (SyncStatus, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.s
	s.Priorities = append([]PriorityStatus(nil), s.Priorities...)
	s.Progress = append([]BucketProgress(nil), s.Progress...)
	s.Streams = append([]protocol.StreamDescription(nil), s.Streams...)
	return s, b.changed
}

func (b *statusBox) update(fn func(*SyncStatus)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fn(&b.s)
	close(b.changed)
	b.changed = make(chan struct{})
}

// Status returns the current sync status.
func (db *DB) Status() SyncStatus {
	s, _ := db.status.get()
	return s
}

// StatusChanged returns the current status and a channel that is closed at
// the next change.
func (db *DB) StatusChanged() (SyncStatus, <-chan struct{}) { return db.status.get() }

// WaitFor blocks until cond holds for the status or ctx ends.
func (db *DB) WaitFor(ctx context.Context, cond func(SyncStatus) bool) error {
	for {
		s, ch := db.status.get()
		if cond(s) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitForFirstSync blocks until a full checkpoint has been applied.
func (db *DB) WaitForFirstSync(ctx context.Context) error {
	return db.WaitFor(ctx, func(s SyncStatus) bool { return s.HasSynced })
}

// loadSyncState fills the status from ps_sync_state (at open and after
// every apply).
func (db *DB) loadSyncState(ctx context.Context) {
	rows, err := db.sql.QueryContext(ctx, `SELECT priority, last_synced_at FROM ps_sync_state ORDER BY priority`)
	if err != nil {
		return
	}
	defer rows.Close()
	var ps []PriorityStatus
	var full time.Time
	for rows.Next() {
		var p int
		var at string
		if rows.Scan(&p, &at) != nil {
			return
		}
		t, _ := time.Parse(time.RFC3339Nano, at)
		if p == maxPriorityMarker {
			full = t
			continue
		}
		ps = append(ps, PriorityStatus{Priority: p, LastSyncedAt: t})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Priority < ps[j].Priority })
	var cp int64
	_ = db.sql.QueryRowContext(ctx, `SELECT coalesce(max(last_applied_op), 0) FROM ps_buckets`).Scan(&cp)
	db.status.update(func(s *SyncStatus) {
		s.Priorities = ps
		if !full.IsZero() {
			s.HasSynced = true
			s.LastSyncedAt = full
			s.Checkpoint = cp
		}
	})
}
