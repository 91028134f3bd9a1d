package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

// job replicates one sync config version: snapshot, then the change
// stream, retried with back-off until stopped.
type job struct {
	id     int64
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *Replicator) startJob(ctx context.Context, v storage.Version, kick chan<- struct{}) *job {
	ctx, cancel := context.WithCancel(ctx)
	j := &job{id: v.ID, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(j.done)
		delay := r.opts.RetryDelay
		for ctx.Err() == nil {
			err := r.runVersion(ctx, v.ID, kick)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				// The version is no longer live; the supervisor stops us.
				<-ctx.Done()
				return
			}
			r.status.version(v.ID, func(s *VersionStatus) { s.Phase = PhaseRetrying })
			r.fail(ctx, fmt.Errorf("version %d: %w", v.ID, err), &delay)
		}
	}()
	return j
}

// stop cancels the job and waits for it.
func (j *job) stop() {
	j.cancel()
	<-j.done
}

// runVersion runs one attempt of a version's replication. It returns nil
// only when the version is no longer live.
func (r *Replicator) runVersion(ctx context.Context, id int64, kick chan<- struct{}) error {
	st := r.opts.Storage
	bs := st.Bucket(id)
	v, err := bs.Version(ctx)
	if err != nil {
		return fmt.Errorf("read version: %w", err)
	}
	if v.State == storage.StateStop {
		return nil
	}
	log := r.log.With("version", id)
	rules, err := r.opts.Compile(v.Content, v.ID)
	if err != nil {
		return fmt.Errorf("compile sync config: %w", err)
	}
	src := r.opts.Source
	tables, err := src.Tables(ctx, rules.SourceTables())
	if err != nil {
		return fmt.Errorf("resolve source tables: %w", err)
	}
	slot := v.SlotName
	if slot == "" {
		slot = r.slotName(v.ID)
		if err := st.SetSlotName(ctx, v.ID, slot); err != nil {
			return fmt.Errorf("record slot name: %w", err)
		}
	}
	pos, fresh, err := src.Start(ctx, slot, v.Checkpoint.Position)
	if err != nil {
		return fmt.Errorf("start source stream %s: %w", slot, err)
	}
	if fresh && v.SnapshotDone {
		// The source lost this version's change stream (a dropped slot):
		// changes in between are gone, so the data is rebuilt in a new
		// version while this one keeps serving and following the new
		// stream (reference: restartReplication).
		if err := r.rebuild(ctx, v, kick); err != nil {
			return err
		}
	}
	batch, err := bs.NewBatch(ctx)
	if err != nil {
		return fmt.Errorf("open storage batch: %w", err)
	}
	defer batch.Close()
	pipe := newPipeline(ctx, batch)
	defer pipe.close()

	w := &writer{
		r:       r,
		log:     log,
		version: v.ID,
		state:   v.State,
		rules:   rules,
		pipe:    pipe,
		kick:    kick,
		tables:  newTableIndex(tables),
	}
	if !v.SnapshotDone {
		if err := w.snapshot(ctx, bs, tables, pos, fresh); err != nil {
			return err
		}
	} else if err := w.catchUp(ctx, bs, tables, pos); err != nil {
		return err
	}
	r.status.version(id, func(s *VersionStatus) { s.Phase = PhaseStreaming; s.SnapshotTable = "" })
	log.Info("streaming changes", "slot", slot, "from", uint64(pos))
	err = src.Stream(ctx, slot, pos, w.tables.lookup, w)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("stream changes: %w", err)
	}
	return err
}

// rebuild deploys v's sync config again as a new version, unless a newer
// version is already being built.
func (r *Replicator) rebuild(ctx context.Context, v storage.Version, kick chan<- struct{}) error {
	versions, err := r.opts.Storage.Versions(ctx)
	if err != nil {
		return fmt.Errorf("list sync config versions: %w", err)
	}
	for _, o := range versions {
		if o.ID > v.ID && o.State == storage.StateProcessing {
			return nil
		}
	}
	nv, err := r.opts.Storage.Deploy(ctx, v.Content)
	if err != nil {
		return fmt.Errorf("deploy a rebuild of version %d: %w", v.ID, err)
	}
	r.log.Warn("the source lost the change stream of a replicated version; rebuilding its data in a new version while the old one keeps serving",
		"version", v.ID, "new_version", nv.ID)
	select {
	case kick <- struct{}{}:
	default:
	}
	return nil
}

// tableIndex finds a replicated table by the reference a source gives.
type tableIndex struct {
	byRef  map[sqlvalue.TableRef]*source.Table
	byName map[string]*source.Table // only names that are unique
}

func newTableIndex(tables []*source.Table) *tableIndex {
	ix := &tableIndex{byRef: map[sqlvalue.TableRef]*source.Table{}, byName: map[string]*source.Table{}}
	dup := map[string]bool{}
	for _, t := range tables {
		ix.byRef[t.Ref] = t
		if _, ok := ix.byName[t.Ref.Name]; ok {
			dup[t.Ref.Name] = true
		}
		ix.byName[t.Ref.Name] = t
	}
	for n := range dup {
		delete(ix.byName, n)
	}
	return ix
}

func (ix *tableIndex) lookup(ref sqlvalue.TableRef) *source.Table {
	if t := ix.byRef[ref]; t != nil {
		return t
	}
	return ix.byName[ref.Name]
}

// writer applies source rows to one version's storage batch. It is the
// source.Handler of the version's change stream.
type writer struct {
	r       *Replicator
	log     *slog.Logger
	version int64
	state   storage.VersionState
	rules   Rules
	pipe    *pipeline
	kick    chan<- struct{}
	tables  *tableIndex

	pending     int64     // row changes since the last commit
	firstChange time.Time // when the first of them arrived
	// copied are tables the stream copied inline (source.Change.Copy) since
	// the last commit; the commit records them as copied.
	copied []string

	evalErrors  int64
	lastEvalLog time.Time
}

var _ source.Handler = (*writer)(nil)

// save evaluates a row and saves it. isNew marks a row known not to be
// stored for the version yet (storage.RowUpdate.New).
func (w *writer) save(ctx context.Context, t *source.Table, key, oldKey []byte, row sqlvalue.Row, isNew bool) error {
	ev, errs := w.rules.EvaluateRow(t.Ref, row)
	w.evalFailed(t, errs)
	lk, errs := w.rules.EvaluateParameterRow(t.Ref, row)
	w.evalFailed(t, errs)
	u := storage.RowUpdate{Table: t.ID, Key: key, OldKey: oldKey, New: isNew}
	if len(ev) > 0 {
		u.Buckets = make([]storage.BucketRow, len(ev))
		for i, e := range ev {
			u.Buckets[i] = storage.BucketRow{Bucket: e.Bucket, Table: e.Table, ID: e.ID, Data: e.Data}
		}
	}
	if len(lk) > 0 {
		u.Lookups = make([]storage.LookupRow, len(lk))
		for i, l := range lk {
			u.Lookups[i] = storage.LookupRow{Key: l.Key, Result: l.Result}
		}
	}
	return w.pipe.add(ctx, write{kind: writeSave, u: u})
}

// evalFailed logs sync rule evaluation errors, at most one line per 10s.
// They do not stop replication (the row is saved with what evaluated).
func (w *writer) evalFailed(t *source.Table, errs []error) {
	if len(errs) == 0 {
		return
	}
	w.evalErrors += int64(len(errs))
	if time.Since(w.lastEvalLog) < 10*time.Second {
		return
	}
	w.lastEvalLog = time.Now()
	w.log.Warn("sync rules could not evaluate a row", "table", t.ID, "error", errors.Join(errs...), "errors_so_far", w.evalErrors)
}

// Change applies one row change to the batch.
func (w *writer) Change(ctx context.Context, c source.Change) error {
	if w.pending == 0 {
		w.firstChange = time.Now()
	}
	w.pending++
	switch c.Kind {
	case source.Insert, source.Update:
		if len(c.Unchanged) > 0 {
			return fmt.Errorf("table %s: the source sent a partial row (unchanged columns %v), which replication does not merge yet", c.Table.ID, c.Unchanged)
		}
		return w.save(ctx, c.Table, c.Key, c.OldKey, c.Row, false)
	case source.Delete:
		return w.pipe.add(ctx, write{kind: writeDelete, u: storage.RowUpdate{Table: c.Table.ID, Key: c.Key}})
	case source.Truncate:
		if c.Copy && !slices.Contains(w.copied, c.Table.ID) {
			w.copied = append(w.copied, c.Table.ID)
		}
		return w.pipe.add(ctx, write{kind: writeTruncate, u: storage.RowUpdate{Table: c.Table.ID}})
	default:
		return fmt.Errorf("table %s: unknown change kind %d", c.Table.ID, c.Kind)
	}
}

// largeCommit is the number of row changes from which a commit is logged.
const largeCommit = 10000

// Commit commits the batch with a checkpoint at pos. A table copied inline
// since the last commit is recorded as copied in the same commit as its
// rows; when several were, the others are recorded by follow-up commits
// without rows (a crash in between only makes the next start copy them
// again, which is idempotent).
func (w *writer) Commit(ctx context.Context, pos storage.Position) error {
	opts := storage.CommitOptions{Position: pos, Checkpoint: true}
	if len(w.copied) > 0 {
		opts.SnapshotTable, opts.SnapshotTableDone = w.copied[0], true
	}
	cp, err := w.pipe.commit(ctx, opts)
	if err != nil {
		return fmt.Errorf("commit at position %d: %w", pos, err)
	}
	for _, id := range w.copied {
		if id == opts.SnapshotTable {
			continue
		}
		if _, err := w.pipe.commit(ctx, storage.CommitOptions{Position: pos, SnapshotTable: id, SnapshotTableDone: true}); err != nil {
			return fmt.Errorf("record inline copy of %s: %w", id, err)
		}
	}
	for _, id := range w.copied {
		w.log.Info("table copied inline from the change stream", "table", id, "position", uint64(pos))
	}
	w.copied = w.copied[:0]
	var lag time.Duration
	if w.pending > 0 {
		lag = time.Since(w.firstChange)
	}
	w.r.status.committed(w.version, cp, w.pending, lag)
	if w.pending >= largeCommit {
		w.log.Info("committed a large group of changes", "rows", w.pending, "seconds", lag.Seconds(),
			"rows_per_second", rate(w.pending, lag), "checkpoint", cp.OpID, "position", uint64(pos))
	}
	w.pending = 0
	if w.state == storage.StateProcessing && (cp.Position > 0 || cp.OpID > 0) {
		// Storage activated this version with its first checkpoint and
		// stopped the others; the supervisor clears them.
		w.state = storage.StateActive
		w.log.Info("version is active", "checkpoint", cp.OpID, "position", uint64(cp.Position))
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Keepalive records that the source reached pos without row changes.
func (w *writer) Keepalive(ctx context.Context, pos storage.Position) error {
	return w.Commit(ctx, pos)
}

// snapshot copies every table not yet copied, committing per page with the
// resume cursor, then marks the snapshot done. Checkpoints stay blocked
// until the stream passes the source head read after the copy.
//
// Snapshot rows are saved as storage.RowUpdate.New (storage skips looking
// up their previous state) because none of them can be stored yet: the
// version's stream starts only after its snapshot is done (runVersion),
// each page commits atomically with its resume cursor (a crash or a
// failed attempt rolls back anything after the last cursor), and a page
// holds only keys after the cursor in the source's order, which no earlier
// page held. Two cases break that and save with the lookup instead: a
// copy started over from the beginning over earlier pages, and a key
// repeated within one page (a source table whose key is not unique).
func (w *writer) snapshot(ctx context.Context, bs storage.BucketStorage, tables []*source.Table, pos storage.Position, fresh bool) error {
	progress, err := bs.SnapshotProgress(ctx)
	if err != nil {
		return fmt.Errorf("read snapshot progress: %w", err)
	}
	rowsNew := true
	if fresh && len(progress) > 0 {
		w.log.Warn("source stream was recreated during the initial snapshot; copying every table again")
		progress = nil
		rowsNew = false
	}
	if err := w.copyTables(ctx, tables, progress, pos, rowsNew); err != nil {
		return err
	}
	src := w.r.opts.Source
	head, err := src.Head(ctx)
	if err != nil {
		return fmt.Errorf("read source head: %w", err)
	}
	if _, err := w.pipe.commit(ctx, storage.CommitOptions{Position: pos, SnapshotDone: true, NoCheckpointBefore: head}); err != nil {
		return fmt.Errorf("commit snapshot done: %w", err)
	}
	w.log.Info("initial snapshot done", "no_checkpoint_before", uint64(head))
	return nil
}

// catchUp copies, before the stream resumes, every table of a version
// whose snapshot is done that has not been copied yet: a table that
// started matching the sync config or was published while replication was
// stopped, or one whose inline copy (source.Change.Copy) did not commit
// before a crash. Its pages commit with their resume cursor at the resume
// position without a checkpoint, so clients see the table only together
// with the stream's next checkpoint, and the changes the stream replays
// from pos converge as after the initial snapshot. Rows are saved with the
// lookup of their previous state, since an earlier copy may have stored
// them.
func (w *writer) catchUp(ctx context.Context, bs storage.BucketStorage, tables []*source.Table, pos storage.Position) error {
	progress, err := bs.SnapshotProgress(ctx)
	if err != nil {
		return fmt.Errorf("read snapshot progress: %w", err)
	}
	var missing []*source.Table
	for _, t := range tables {
		if !progress[t.ID].Done {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	ids := make([]string, len(missing))
	for i, t := range missing {
		ids[i] = t.ID
	}
	w.log.Info("copying tables that are replicated but not copied yet", "tables", ids, "position", uint64(pos))
	return w.copyTables(ctx, missing, progress, pos, false)
}

// copyTables copies each table of tables not done in progress, resuming
// after its recorded cursor, committing per page at pos. rowsNew saves the
// rows as storage.RowUpdate.New (see snapshot).
func (w *writer) copyTables(ctx context.Context, tables []*source.Table, progress map[string]storage.TableSnapshot, pos storage.Position, rowsNew bool) error {
	src := w.r.opts.Source
	seen := map[string]struct{}{} // keys of the current page
	for _, t := range tables {
		p := progress[t.ID]
		if p.Done {
			continue
		}
		w.r.status.version(w.version, func(s *VersionStatus) { s.Phase = PhaseSnapshot; s.SnapshotTable = t.ID })
		start := time.Now()
		lastLog := start
		var rows int64
		done := false
		w.log.Info("snapshot table", "table", t.ID, "resume", p.Cursor != nil)
		err := src.Snapshot(ctx, t, p.Cursor, func(page source.SnapshotPage) error {
			clear(seen)
			done = page.Cursor == nil
			for i, row := range page.Rows {
				key := page.Keys[i]
				isNew := rowsNew
				if isNew {
					if _, dup := seen[string(key)]; dup {
						isNew = false
					} else {
						seen[string(key)] = struct{}{}
					}
				}
				if err := w.save(ctx, t, key, nil, row, isNew); err != nil {
					return err
				}
			}
			_, err := w.pipe.commit(ctx, storage.CommitOptions{
				Position:          pos,
				SnapshotTable:     t.ID,
				SnapshotCursor:    page.Cursor,
				SnapshotTableDone: page.Cursor == nil,
			})
			if err != nil {
				return fmt.Errorf("commit snapshot page of %s: %w", t.ID, err)
			}
			n := int64(len(page.Rows))
			rows += n
			w.r.status.version(w.version, func(s *VersionStatus) { s.SnapshotRows += n })
			w.r.status.committed(w.version, storage.Checkpoint{}, n, 0)
			if time.Since(lastLog) >= w.r.opts.ProgressInterval {
				lastLog = time.Now()
				w.log.Info("snapshot progress", "table", t.ID, "rows", rows, "rows_per_second", rate(rows, time.Since(start)))
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("snapshot %s: %w", t.ID, err)
		}
		if !done {
			// The source sent no last page (an empty table): record the
			// table as copied all the same.
			if _, err := w.pipe.commit(ctx, storage.CommitOptions{Position: pos, SnapshotTable: t.ID, SnapshotTableDone: true}); err != nil {
				return fmt.Errorf("commit snapshot of %s: %w", t.ID, err)
			}
		}
		el := time.Since(start)
		w.log.Info("snapshot table done", "table", t.ID, "rows", rows, "seconds", el.Seconds(), "rows_per_second", rate(rows, el))
	}
	return nil
}

func rate(n int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}
