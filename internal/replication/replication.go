// Package replication turns a source database's changes into bucket
// storage: it snapshots the tables a sync config reads, then follows the
// source's change stream, evaluates the sync rules per row and writes the
// resulting ops, lookups and checkpoints through storage batches.
//
// Data flow (see DESIGN.md §2): source → Replicator → storage. The
// Replicator is the only writer of bucket storage. It commits one storage
// batch per source commit (a source may group several transactions into
// one, never split one) together with the source position, and only then
// lets the source acknowledge that position, so a crash anywhere replays
// from the last committed position and yields the same state.
//
// Within a job, the source's goroutine reads rows and evaluates the sync
// rules while a second goroutine applies the resulting writes to the
// storage batch (see pipeline); a commit waits for the writes queued before
// it.
//
// A Replicator holds the storage's replication lease while it works; a
// second process waits on standby and takes over when the lease expires.
// Every sync config version that is PROCESSING, ACTIVE or ERRORED has a job
// (a goroutine): a changed sync config is deployed as a new PROCESSING
// version that snapshots in the background while the old one keeps
// replicating and serving; storage activates the new one atomically with
// its first checkpoint, and the Replicator then stops the old job, drops
// its source slot and clears its data.
package replication

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// Rules is what replication needs of a compiled sync config.
type Rules interface {
	// SourceTables lists every table pattern the config reads.
	SourceTables() []sqlvalue.TablePattern
	// EvaluateRow returns the buckets a source row is in.
	EvaluateRow(table sqlvalue.TableRef, row sqlvalue.Row) ([]syncrules.EvaluatedRow, []error)
	// EvaluateParameterRow returns the lookup entries of a parameter row.
	EvaluateParameterRow(table sqlvalue.TableRef, row sqlvalue.Row) ([]syncrules.LookupEntry, []error)
}

// CompileFunc compiles the sync config content of a version; bucket ids
// must carry the version prefix ("<version>#").
type CompileFunc func(content string, version int64) (Rules, error)

// Options configure a Replicator.
type Options struct {
	// Source is the database replicated from.
	Source source.Source
	// Storage is the bucket storage written to.
	Storage storage.Storage
	// SyncConfig is the sync config content to serve. When it differs from
	// the newest deployed version it is deployed as a new version. Empty:
	// replicate whatever is deployed.
	SyncConfig string
	// Compile compiles sync config content (required).
	Compile CompileFunc
	// Logger receives logs (default slog.Default()).
	Logger *slog.Logger
	// Holder names this process in the replication lease (default
	// host-pid-random).
	Holder string
	// LeaseTTL is the lease lifetime; it is renewed every third of it
	// (default 10s: a process restarted after a crash, with a new Holder,
	// waits at most this long for the dead holder's lease).
	LeaseTTL time.Duration
	// StandbyInterval is how often a standby process retries the lease
	// (default 500ms).
	StandbyInterval time.Duration
	// RetryDelay is the first delay after a failed attempt; it doubles up
	// to 30s (default 500ms).
	RetryDelay time.Duration
	// SlotPrefix prefixes source slot names (default "powersync_").
	SlotPrefix string
	// ProgressInterval is how often a long snapshot logs progress
	// (default 5s).
	ProgressInterval time.Duration
}

// Replicator replicates one source into bucket storage.
type Replicator struct {
	opts Options
	log  *slog.Logger

	status statusTracker

	// mu guards cancel and done.
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New checks opts and returns a Replicator; Start runs it.
func New(opts Options) (*Replicator, error) {
	if opts.Source == nil {
		return nil, errors.New("replication: no source")
	}
	if opts.Storage == nil {
		return nil, errors.New("replication: no bucket storage")
	}
	if opts.Compile == nil {
		return nil, errors.New("replication: no sync rules compiler")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Holder == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.Holder = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 10 * time.Second
	}
	if opts.StandbyInterval <= 0 {
		opts.StandbyInterval = 500 * time.Millisecond
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 500 * time.Millisecond
	}
	if opts.SlotPrefix == "" {
		opts.SlotPrefix = "powersync_"
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 5 * time.Second
	}
	if opts.SyncConfig != "" {
		// Fail at start-up, not in the background, on a config that does
		// not compile.
		if _, err := opts.Compile(opts.SyncConfig, 0); err != nil {
			return nil, fmt.Errorf("replication: sync config: %w", err)
		}
	}
	r := &Replicator{opts: opts, log: opts.Logger.With("component", "replication")}
	r.status.init(opts.Holder)
	return r, nil
}

// Start runs replication in the background until ctx is done or Close is
// called. Calling Start twice is an error.
func (r *Replicator) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		return errors.New("replication: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(ctx)
	}()
	return nil
}

// Close stops replication and waits for it (or for ctx). Uncommitted work
// is discarded; it is replayed by the next holder of the lease. Safe to
// call twice.
func (r *Replicator) Close(ctx context.Context) error {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when a started Replicator has stopped.
func (r *Replicator) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// run is the lease loop: standby until the lease is ours, then replicate
// until it is lost or ctx ends.
func (r *Replicator) run(ctx context.Context) {
	defer r.status.setState(StateStopped)
	delay := r.opts.RetryDelay
	standbyLogged := false
	for ctx.Err() == nil {
		lease, err := r.opts.Storage.AcquireLease(ctx, r.opts.Holder, r.opts.LeaseTTL)
		if errors.Is(err, storage.ErrLeaseHeld) {
			if !standbyLogged {
				r.log.Info("replication lease is held by another process; standing by")
				standbyLogged = true
			}
			r.status.setState(StateStandby)
			sleep(ctx, r.opts.StandbyInterval)
			continue
		}
		if err != nil {
			r.fail(ctx, fmt.Errorf("acquire replication lease: %w", err), &delay)
			continue
		}
		standbyLogged = false
		r.log.Info("replication lease acquired", "holder", r.opts.Holder)
		err = r.replicate(ctx, lease)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if rerr := lease.Release(rctx); rerr != nil && ctx.Err() == nil {
			r.log.Warn("release replication lease", "error", rerr)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.fail(ctx, err, &delay)
			continue
		}
		delay = r.opts.RetryDelay
	}
}

// fail records err and waits before the next attempt, backing off.
func (r *Replicator) fail(ctx context.Context, err error, delay *time.Duration) {
	if ctx.Err() != nil {
		return
	}
	r.status.recordError(err)
	r.log.Error("replication failed; retrying", "error", err, "retry_in", delay.String())
	sleep(ctx, *delay)
	*delay = min(*delay*2, 30*time.Second)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// replicate runs while the lease is held: it deploys the configured sync
// config if needed and keeps one job per live version.
func (r *Replicator) replicate(ctx context.Context, lease storage.Lease) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.opts.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := lease.Renew(ctx); err != nil {
					if ctx.Err() == nil {
						cancel(fmt.Errorf("replication lease lost: %w", err))
					}
					return
				}
			}
		}
	}()

	if err := r.deploy(ctx); err != nil {
		return err
	}
	r.status.setState(StateRunning)

	jobs := map[int64]*job{}
	defer func() {
		for _, j := range jobs {
			j.stop()
		}
	}()
	kick := make(chan struct{}, 1)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		versions, err := r.opts.Storage.Versions(ctx)
		if err != nil {
			if c := context.Cause(ctx); c != nil {
				return c
			}
			return fmt.Errorf("list sync config versions: %w", err)
		}
		live := map[int64]bool{}
		for _, v := range versions {
			switch v.State {
			case storage.StateStop:
				if j := jobs[v.ID]; j != nil {
					j.stop()
					delete(jobs, v.ID)
				}
				if err := r.clear(ctx, v); err != nil {
					r.status.recordError(err)
					r.log.Warn("clear replaced version", "version", v.ID, "error", err)
				}
			case storage.StateProcessing, storage.StateActive, storage.StateErrored:
				live[v.ID] = true
				if jobs[v.ID] == nil {
					jobs[v.ID] = r.startJob(ctx, v, kick)
				}
			}
		}
		for id, j := range jobs {
			if !live[id] {
				j.stop()
				delete(jobs, id)
			}
		}
		r.status.setVersions(versions)

		select {
		case <-ctx.Done():
			if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
				return c
			}
			return nil
		case <-kick:
		case <-tick.C:
		}
	}
}

// deploy deploys opts.SyncConfig when the newest live version has other
// content.
func (r *Replicator) deploy(ctx context.Context) error {
	if r.opts.SyncConfig == "" {
		return nil
	}
	versions, err := r.opts.Storage.Versions(ctx)
	if err != nil {
		return fmt.Errorf("list sync config versions: %w", err)
	}
	var newest *storage.Version
	for i := range versions {
		if versions[i].State != storage.StateStop {
			newest = &versions[i]
		}
	}
	if newest != nil && newest.Content == r.opts.SyncConfig {
		return nil
	}
	v, err := r.opts.Storage.Deploy(ctx, r.opts.SyncConfig)
	if err != nil {
		return fmt.Errorf("deploy sync config: %w", err)
	}
	if newest != nil {
		r.log.Info("sync config changed; building a new version in the background", "version", v.ID, "serving", newest.ID)
	} else {
		r.log.Info("sync config deployed", "version", v.ID)
	}
	return nil
}

// clear drops a replaced version's source slot and its data.
func (r *Replicator) clear(ctx context.Context, v storage.Version) error {
	if v.SlotName != "" {
		if err := r.opts.Source.Drop(ctx, v.SlotName); err != nil {
			return fmt.Errorf("drop source slot %s of version %d: %w", v.SlotName, v.ID, err)
		}
	}
	if err := r.opts.Storage.Clear(ctx, v.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("clear version %d: %w", v.ID, err)
	}
	r.log.Info("replaced version cleared", "version", v.ID)
	return nil
}

// slotName returns a new source slot name for a version.
func (r *Replicator) slotName(version int64) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%d_%s", r.opts.SlotPrefix, version, hex.EncodeToString(b[:]))
}
