package replication

import (
	"sort"
	"sync"
	"time"

	"github.com/powersync-go/powersync/internal/storage"
)

// State is the state of a Replicator.
type State string

// Replicator states.
const (
	StateStarting State = "starting"
	// StateStandby: another process holds the replication lease.
	StateStandby State = "standby"
	// StateRunning: this process holds the lease and replicates.
	StateRunning State = "running"
	StateStopped State = "stopped"
)

// Phase is what a version's job is doing.
type Phase string

// Job phases.
const (
	PhaseStarting  Phase = "starting"
	PhaseSnapshot  Phase = "snapshot"
	PhaseStreaming Phase = "streaming"
	PhaseRetrying  Phase = "retrying"
)

// Status is a point-in-time view of replication, for the admin API,
// diagnostics and metrics.
type Status struct {
	State  State
	Holder string
	// Versions are the live sync config versions, oldest first.
	Versions []VersionStatus
	// LastCommit is when the last storage commit finished.
	LastCommit time.Time
	// Lag is the time from the first change of the last committed group
	// reaching replication to its storage commit.
	Lag time.Duration
	// RowsReplicated counts row changes written since start (snapshot rows
	// included).
	RowsReplicated int64
	// Commits counts storage commits that carried row changes.
	Commits int64
	// Errors counts failed attempts since start; LastError is the latest.
	Errors      int64
	LastError   string
	LastErrorAt time.Time
}

// VersionStatus is one version's replication state.
type VersionStatus struct {
	ID    int64
	State storage.VersionState
	Phase Phase
	// Checkpoint is the last checkpoint replication committed.
	Checkpoint storage.Checkpoint
	// SnapshotRows is the number of rows copied by the initial snapshot
	// in this process.
	SnapshotRows int64
	// SnapshotTable is the table being copied during PhaseSnapshot.
	SnapshotTable string
}

// statusTracker holds the Status; every method is safe for concurrent use.
type statusTracker struct {
	mu sync.Mutex
	s  Status
	v  map[int64]*VersionStatus
	// stateChanged is closed and replaced at every change of s.State.
	stateChanged chan struct{}
}

func (t *statusTracker) init(holder string) {
	t.s = Status{State: StateStarting, Holder: holder}
	t.v = map[int64]*VersionStatus{}
	t.stateChanged = make(chan struct{})
}

// StateChanged returns the current state and a channel closed at its next
// change (to wait for standby, running or stopped without polling).
func (r *Replicator) StateChanged() (State, <-chan struct{}) {
	t := &r.status
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s.State, t.stateChanged
}

// Status returns a copy of the current status.
func (r *Replicator) Status() Status {
	t := &r.status
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.s
	s.Versions = make([]VersionStatus, 0, len(t.v))
	for _, v := range t.v {
		s.Versions = append(s.Versions, *v)
	}
	sort.Slice(s.Versions, func(i, j int) bool { return s.Versions[i].ID < s.Versions[j].ID })
	return s
}

func (t *statusTracker) setState(s State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.s.State == s {
		return
	}
	t.s.State = s
	close(t.stateChanged)
	t.stateChanged = make(chan struct{})
}

func (t *statusTracker) recordError(err error) {
	t.mu.Lock()
	t.s.Errors++
	t.s.LastError = err.Error()
	t.s.LastErrorAt = time.Now()
	t.mu.Unlock()
}

// setVersions keeps the entries of the live versions.
func (t *statusTracker) setVersions(vs []storage.Version) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keep := map[int64]bool{}
	for _, v := range vs {
		if v.State == storage.StateStop {
			continue
		}
		keep[v.ID] = true
		e := t.v[v.ID]
		if e == nil {
			e = &VersionStatus{ID: v.ID, Phase: PhaseStarting, Checkpoint: v.Checkpoint}
			t.v[v.ID] = e
		}
		e.State = v.State
	}
	for id := range t.v {
		if !keep[id] {
			delete(t.v, id)
		}
	}
}

func (t *statusTracker) version(id int64, fn func(*VersionStatus)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.v[id]
	if e == nil {
		e = &VersionStatus{ID: id}
		t.v[id] = e
	}
	fn(e)
}

func (t *statusTracker) committed(id int64, cp storage.Checkpoint, rows int64, lag time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.LastCommit = time.Now()
	t.s.RowsReplicated += rows
	if rows > 0 {
		t.s.Commits++
	}
	if lag > 0 {
		t.s.Lag = lag
	}
	if e := t.v[id]; e != nil {
		e.Checkpoint = cp
	}
}
