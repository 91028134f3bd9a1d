package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/powersync-go/powersync/protocol"
)

// Connector is what the application provides to Connect, in the shape of
// the official SDKs' backend connector.
type Connector interface {
	// FetchCredentials returns the service endpoint and a token for the
	// current user. It is called before the first connection, after a 401,
	// and when the token is about to expire.
	FetchCredentials(ctx context.Context) (Credentials, error)
	// UploadData sends queued local writes to the application's backend:
	// typically GetCRUDBatch, send, then batch.Complete. An error is retried
	// with backoff.
	UploadData(ctx context.Context, db *DB) error
}

// ConnectOptions tune Connect. The zero value is usable.
type ConnectOptions struct {
	// Params are the client parameters passed to sync rules and streams.
	Params map[string]any
	// AppMetadata is sent for the service's logs.
	AppMetadata map[string]string
	// IncludeDefaultStreams subscribes to auto-subscribed streams; default true.
	IncludeDefaultStreams *bool
	// RetryDelay is the first wait after a failed connection or upload; it
	// doubles up to MaxRetryDelay, with jitter. Defaults 1 s and 30 s.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// HTTPClient is used for every request; default http.DefaultClient.
	HTTPClient *http.Client
	// Transport is how the sync stream is read: TransportHTTP (NDJSON, the
	// default), TransportBSON or TransportWebSocket. Uploads and write
	// checkpoints are HTTP requests on every transport.
	Transport Transport
	// IdleTimeout ends a stream that sent nothing for this long (services
	// send a keepalive about every 20 s); default 60 s.
	IdleTimeout time.Duration
	// CheckpointRequests uses POST /sync/checkpoint-request (the newer,
	// opt-in mode of the official SDKs) instead of GET
	// /write-checkpoint2.json to confirm uploads: the client numbers its
	// requests itself, and seeds the service with its counter on every
	// connection.
	CheckpointRequests bool
}

// errReconnect ends a stream so the loop reconnects at once (new
// credentials, changed subscriptions).
var errReconnect = errors.New("reconnect")

// errStreamEnded is a stream that ended without error from the service
// (token expiry, sync config change, shutdown).
var errStreamEnded = errors.New("sync stream ended by the service")

// connection is one Connect: the sync loop and the upload loop, with the
// state they share. Lock order: applyMu, then connection.mu, then DB.writeMu.
type connection struct {
	db        *DB
	connector Connector
	opts      ConnectOptions
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	// applyMu is held while a stream line is handled and while a pending
	// checkpoint is published, so neither sees the other half done.
	applyMu sync.Mutex

	mu      sync.Mutex
	creds   *Credentials
	pending *checkpoint // validated, waiting for uploads to be confirmed
	stream  context.CancelFunc

	streams int // streams opened
}

// Connect starts syncing with the service the connector names: a sync loop
// that downloads, validates and applies checkpoints, and an upload loop
// that calls connector.UploadData whenever local writes are queued. It
// returns at once; progress is visible in Status. A running connection is
// replaced. The loops stop at Disconnect, Close or when ctx ends.
func (db *DB) Connect(ctx context.Context, connector Connector, opts ConnectOptions) error {
	if connector == nil {
		return errors.New("client.Connect: nil connector")
	}
	db.Disconnect()
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = time.Second
	}
	if opts.MaxRetryDelay < opts.RetryDelay {
		opts.MaxRetryDelay = max(30*time.Second, opts.RetryDelay)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &connection{db: db, connector: connector, opts: opts, cancel: cancel}
	db.status.update(func(s *SyncStatus) { s.Connecting = true; s.Connected = false })
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.syncLoop(ctx) }()
	go func() { defer c.wg.Done(); c.uploadLoop(ctx) }()
	db.connMu.Lock()
	db.conn = c
	db.connMu.Unlock()
	return nil
}

// Disconnect stops the sync and upload loops and waits for them. Safe to
// call when not connected.
func (db *DB) Disconnect() {
	db.connMu.Lock()
	c := db.conn
	db.conn = nil
	db.connMu.Unlock()
	if c == nil {
		return
	}
	c.cancel()
	c.wg.Wait()
	db.status.update(func(s *SyncStatus) {
		s.Connected, s.Connecting, s.Downloading, s.Uploading = false, false, false, false
		s.Progress = nil
	})
}

// reconnect ends the current stream so the sync loop opens a new one (used
// when subscriptions change).
func (db *DB) reconnect() {
	db.connMu.Lock()
	c := db.conn
	db.connMu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.stream != nil {
		c.stream()
	}
	c.mu.Unlock()
}

func (c *connection) backoff(ctx context.Context, attempt int) {
	d := c.opts.RetryDelay << min(attempt, 16)
	if d > c.opts.MaxRetryDelay || d <= 0 {
		d = c.opts.MaxRetryDelay
	}
	// ±20 % jitter so many clients do not reconnect in lock-step.
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// credentials returns the cached credentials or fetches new ones.
func (c *connection) credentials(ctx context.Context) (Credentials, error) {
	c.mu.Lock()
	cr := c.creds
	c.mu.Unlock()
	if cr != nil {
		return *cr, nil
	}
	return c.refreshCredentials(ctx)
}

func (c *connection) refreshCredentials(ctx context.Context) (Credentials, error) {
	cr, err := c.connector.FetchCredentials(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("fetch credentials: %w", err)
	}
	if cr.Endpoint == "" || cr.Token == "" {
		return Credentials{}, errors.New("fetch credentials: endpoint or token is empty")
	}
	c.mu.Lock()
	c.creds = &cr
	c.mu.Unlock()
	return cr, nil
}

func (c *connection) invalidateCredentials() {
	c.mu.Lock()
	c.creds = nil
	c.mu.Unlock()
}

func (c *connection) syncLoop(ctx context.Context) {
	db := c.db
	defer db.status.update(func(s *SyncStatus) {
		s.Connected, s.Connecting, s.Downloading = false, false, false
		s.Progress = nil
	})
	attempt := 0
	for ctx.Err() == nil {
		progressed, err := c.iteration(ctx)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			attempt = 0
		}
		if errors.Is(err, errReconnect) {
			continue
		}
		var ce *ChecksumError
		if errors.As(err, &ce) {
			db.status.update(func(s *SyncStatus) { s.ChecksumFailures++ })
		}
		if IsUnauthorized(err) {
			c.invalidateCredentials()
		}
		db.log.Warn("sync stream", "error", err)
		db.status.update(func(s *SyncStatus) {
			s.Connected, s.Downloading, s.Connecting = false, false, true
			s.Progress = nil
			if !errors.Is(err, errStreamEnded) {
				s.DownloadError = err
			}
		})
		c.backoff(ctx, attempt)
		attempt++
	}
}

// request builds the sync request from the local bucket state.
func (c *connection) request(ctx context.Context) (*protocol.StreamingSyncRequest, error) {
	db := c.db
	req := &protocol.StreamingSyncRequest{
		IncludeChecksum: true, RawData: true, ClientID: db.clientID, AppMetadata: c.opts.AppMetadata,
		Buckets: []protocol.BucketRequest{},
	}
	params := c.opts.Params
	if params == nil {
		params = map[string]any{}
	}
	p, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("connect params: %w", err)
	}
	req.Parameters = p
	rows, err := db.sql.QueryContext(ctx, `SELECT name, last_op FROM ps_buckets WHERE last_op > 0 ORDER BY name`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var b protocol.BucketRequest
		var after int64
		if err := rows.Scan(&b.Name, &after); err != nil {
			rows.Close()
			return nil, err
		}
		b.After = protocol.OpID(after)
		req.Buckets = append(req.Buckets, b)
	}
	rows.Close()
	subs, err := db.Subscriptions(ctx)
	if err != nil {
		return nil, err
	}
	inc := c.opts.IncludeDefaultStreams == nil || *c.opts.IncludeDefaultStreams
	req.Streams = &protocol.StreamsRequest{IncludeDefaults: &inc, Subscriptions: []protocol.StreamSubscription{}}
	for _, s := range subs {
		ps, _ := json.Marshal(s.Parameters)
		req.Streams.Subscriptions = append(req.Streams.Subscriptions, protocol.StreamSubscription{
			Stream: s.Stream, Parameters: ps, OverridePriority: s.Priority})
	}
	return req, nil
}

// iteration runs one sync stream until it fails or ends. progressed is
// true when at least one checkpoint completed.
func (c *connection) iteration(ctx context.Context) (progressed bool, err error) {
	db := c.db
	creds, err := c.credentials(ctx)
	if err != nil {
		return false, err
	}
	req, err := c.request(ctx)
	if err != nil {
		return false, err
	}
	if c.opts.CheckpointRequests {
		if _, err := c.checkpointRequest(ctx, creds, false); err != nil {
			return false, err
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.stream = cancel
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.stream = nil
		c.pending = nil
		c.mu.Unlock()
	}()
	st, err := OpenStreamWith(sctx, creds, req, StreamOptions{HTTPClient: c.opts.HTTPClient, Transport: c.opts.Transport, Idle: c.opts.IdleTimeout})
	if err != nil {
		if sctx.Err() != nil && ctx.Err() == nil {
			return false, errReconnect
		}
		return false, err
	}
	defer st.Close()
	c.streams++
	reconnects := c.streams - 1
	db.status.update(func(s *SyncStatus) {
		s.Connected, s.Connecting = true, false
		s.Reconnects = reconnects
	})

	// Over HTTP the service sends a keepalive line about every 20 s, so a
	// stream without lines for IdleTimeout is dead. Over WebSocket there
	// are keepalive frames instead of lines, watched by the stream itself.
	lineIdle := c.opts.IdleTimeout
	if c.opts.Transport == TransportWebSocket {
		lineIdle = time.Duration(math.MaxInt64)
	}
	var idle atomic.Bool
	idleTimer := time.AfterFunc(lineIdle, func() { idle.Store(true); cancel() })
	defer idleTimer.Stop()

	var cp *checkpoint
	progress := map[string]*BucketProgress{}
	for {
		raw, err := st.NextRaw()
		if err == nil {
			idleTimer.Reset(lineIdle)
		}
		if err != nil {
			if idle.Load() {
				return progressed, fmt.Errorf("read sync stream: nothing received for %s", c.opts.IdleTimeout)
			}
			if sctx.Err() != nil && ctx.Err() == nil {
				return progressed, errReconnect
			}
			if errors.Is(err, io.EOF) {
				return progressed, errStreamEnded
			}
			return progressed, fmt.Errorf("read sync stream: %w", err)
		}
		line, err := ParseLine(raw)
		if err != nil {
			return progressed, err
		}
		// applyMu keeps the upload loop from publishing a pending
		// checkpoint while this line's data is half stored.
		c.applyMu.Lock()
		completed, err := func() (completed bool, err error) {
			switch {
			case line.Checkpoint != nil:
				cp = newCheckpoint(line.Checkpoint)
				if err := c.onCheckpoint(ctx, cp, progress); err != nil {
					return false, err
				}
			case line.CheckpointDiff != nil:
				if cp == nil {
					return false, errors.New("protocol error: checkpoint_diff before checkpoint")
				}
				cp = cp.applyDiff(line.CheckpointDiff)
				if err := c.onDiff(ctx, cp, line.CheckpointDiff, progress); err != nil {
					return false, err
				}
			case line.Data != nil:
				if err := c.onData(ctx, line.Data, len(raw), progress); err != nil {
					return false, err
				}
			case line.CheckpointComplete != nil, line.PartialCheckpointComplete != nil:
				if cp == nil {
					return false, errors.New("protocol error: checkpoint_complete before checkpoint")
				}
				var prio *int
				if line.PartialCheckpointComplete != nil {
					prio = line.PartialCheckpointComplete.Priority
				}
				if err := c.onComplete(ctx, cp, prio); err != nil {
					return false, err
				}
				if prio == nil {
					completed = true
					// Writes made through SQL() rather than Execute are
					// noticed here at the latest.
					db.wakeUpload()
					db.status.update(func(s *SyncStatus) { s.Downloading = false; s.Progress = nil; s.DownloadError = nil })
				}
			case line.TokenExpiresIn != nil:
				n := *line.TokenExpiresIn
				if n <= 0 {
					// Expired: the service ends the stream; connect again with
					// new credentials at once.
					c.invalidateCredentials()
					return false, errReconnect
				}
				if n <= 30 {
					if _, err := c.refreshCredentials(ctx); err != nil {
						return false, err
					}
					return false, errReconnect
				}
			}
			return completed, nil
		}()
		c.applyMu.Unlock()
		if completed {
			progressed = true
		}
		if err != nil {
			return progressed, err
		}
	}
}

func (c *connection) setProgress(progress map[string]*BucketProgress, downloading bool) {
	list := make([]BucketProgress, 0, len(progress))
	for _, p := range progress {
		list = append(list, *p)
	}
	sortProgress(list)
	c.db.status.update(func(s *SyncStatus) {
		s.Progress = list
		s.Downloading = downloading
	})
}

func (c *connection) onCheckpoint(ctx context.Context, cp *checkpoint, progress map[string]*BucketProgress) error {
	db := c.db
	c.mu.Lock()
	c.pending = nil
	c.mu.Unlock()
	err := db.writeTx(ctx, func(tx *sql.Tx) error { return saveCheckpoint(ctx, tx, cp) })
	if err != nil {
		return err
	}
	clear(progress)
	if err := c.loadProgress(ctx, cp.inScope(nil), progress); err != nil {
		return err
	}
	c.setProgress(progress, true)
	db.status.update(func(s *SyncStatus) { s.Streams = cp.streams })
	return nil
}

func (c *connection) onDiff(ctx context.Context, cp *checkpoint, d *CheckpointDiffLine, progress map[string]*BucketProgress) error {
	db := c.db
	c.mu.Lock()
	c.pending = nil
	c.mu.Unlock()
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := deleteBuckets(ctx, tx, d.RemovedBuckets); err != nil {
			return err
		}
		return saveExpectations(ctx, tx, d.UpdatedBuckets)
	})
	if err != nil {
		return err
	}
	for _, r := range d.RemovedBuckets {
		delete(progress, r)
	}
	if err := c.loadProgress(ctx, d.UpdatedBuckets, progress); err != nil {
		return err
	}
	c.setProgress(progress, true)
	return nil
}

func (c *connection) loadProgress(ctx context.Context, bs []BucketChecksum, progress map[string]*BucketProgress) error {
	stmt, err := c.db.sql.PrepareContext(ctx, `SELECT count_at_last, count_since_last FROM ps_buckets WHERE name = ?`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, b := range bs {
		var atLast, since int64
		if err := stmt.QueryRowContext(ctx, b.Bucket).Scan(&atLast, &since); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		total := max(b.Count-atLast, since, 0)
		progress[b.Bucket] = &BucketProgress{Bucket: b.Bucket, Priority: b.EffectivePriority(), Downloaded: since, Total: total}
	}
	return nil
}

func (c *connection) onData(ctx context.Context, d *DataLine, size int, progress map[string]*BucketProgress) error {
	err := c.db.writeTx(ctx, func(tx *sql.Tx) error {
		st, err := prepareData(ctx, tx)
		if err != nil {
			return err
		}
		defer st.close()
		return saveData(ctx, tx, st, d, size)
	})
	if err != nil {
		return fmt.Errorf("save data of bucket %s: %w", d.Bucket, err)
	}
	if p := progress[d.Bucket]; p != nil {
		p.Downloaded += int64(len(d.Data))
		p.Total = max(p.Total, p.Downloaded)
		c.setProgress(progress, true)
	}
	return nil
}

// onComplete validates the buckets in scope, records the checkpoint as
// their position, and publishes the data when nothing holds it back.
func (c *connection) onComplete(ctx context.Context, cp *checkpoint, prio *int) error {
	db := c.db
	var ce *ChecksumError
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if ce, err = validate(ctx, tx, cp, prio); err != nil {
			return err
		}
		if ce != nil {
			// Delete the failing buckets: the next connection asks for them
			// from the start.
			var names []string
			for _, b := range ce.Buckets {
				names = append(names, b.Bucket)
			}
			return deleteBuckets(ctx, tx, names)
		}
		return markValidated(ctx, tx, cp, prio)
	})
	if err != nil {
		return err
	}
	if ce != nil {
		return ce
	}
	applied, err := c.tryApply(ctx, cp, prio)
	if err != nil {
		return err
	}
	if !applied && prio == nil {
		c.mu.Lock()
		c.pending = cp
		c.mu.Unlock()
	}
	return nil
}

// tryApply publishes the checkpoint if canApply allows it.
func (c *connection) tryApply(ctx context.Context, cp *checkpoint, prio *int) (bool, error) {
	db := c.db
	var applied bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		ok, err := canApply(ctx, tx, prio)
		if err != nil || !ok {
			return err
		}
		applied = true
		return db.applyRows(ctx, tx, cp, prio)
	})
	if err != nil {
		return false, fmt.Errorf("apply checkpoint %d: %w", cp.lastOpID, err)
	}
	if applied {
		db.loadSyncState(ctx)
		if prio == nil {
			db.status.update(func(s *SyncStatus) { s.Checkpoint = cp.lastOpID })
		}
	}
	return applied, nil
}

// applyPending publishes a validated checkpoint that waited for uploads.
func (c *connection) applyPending(ctx context.Context) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.mu.Lock()
	cp := c.pending
	c.mu.Unlock()
	if cp == nil {
		return nil
	}
	applied, err := c.tryApply(ctx, cp, nil)
	if applied {
		c.mu.Lock()
		if c.pending == cp {
			c.pending = nil
		}
		c.mu.Unlock()
	}
	return err
}

// writeTx runs fn in a write transaction of the sync machinery.
func (db *DB) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// uploadLoop drains the upload queue through the connector whenever local
// writes happen, then fetches a write checkpoint so downloaded data is
// published only once the service has replicated the uploaded writes.
func (c *connection) uploadLoop(ctx context.Context) {
	db := c.db
	attempt := 0
	for {
		err := c.uploadAll(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			db.log.Warn("upload", "error", err)
			db.status.update(func(s *SyncStatus) { s.Uploading = false; s.UploadError = err })
			c.backoff(ctx, attempt)
			attempt++
			continue
		}
		attempt = 0
		select {
		case <-ctx.Done():
			return
		case <-db.uploadWake:
		}
	}
}

func (c *connection) uploadAll(ctx context.Context) error {
	db := c.db
	for {
		first, err := firstCRUDID(ctx, db.sql)
		if err != nil {
			return err
		}
		if first == 0 {
			break
		}
		db.status.update(func(s *SyncStatus) { s.Uploading = true })
		if err := c.connector.UploadData(ctx, db); err != nil {
			return fmt.Errorf("upload data: %w", err)
		}
		next, err := firstCRUDID(ctx, db.sql)
		if err != nil {
			return err
		}
		if next == first {
			return fmt.Errorf("upload data: the connector returned without completing upload queue entry %d", first)
		}
		db.status.update(func(s *SyncStatus) { s.UploadError = nil })
	}
	db.status.update(func(s *SyncStatus) { s.Uploading = false })
	var target sql.NullInt64
	_ = db.sql.QueryRowContext(ctx, `SELECT value FROM ps_kv WHERE key = 'target_op'`).Scan(&target)
	if !target.Valid || target.Int64 != maxOpID {
		return c.applyPending(ctx)
	}
	creds, err := c.credentials(ctx)
	if err != nil {
		return err
	}
	var w int64
	if c.opts.CheckpointRequests {
		w, err = c.checkpointRequest(ctx, creds, true)
	} else {
		w, err = WriteCheckpoint(ctx, c.opts.HTTPClient, creds, db.clientID)
	}
	if err != nil {
		if IsUnauthorized(err) {
			c.invalidateCredentials()
		}
		return fmt.Errorf("write checkpoint: %w", err)
	}
	// Only when no write happened meanwhile: a new write keeps the gate shut.
	if err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE ps_kv SET value = ? WHERE key = 'target_op' AND NOT EXISTS (SELECT 1 FROM ps_crud)`, w)
		return err
	}); err != nil {
		return err
	}
	return c.applyPending(ctx)
}

// checkpointRequest posts a checkpoint request: the next id after the local
// counter when next is true (after an upload), else the counter itself (at
// connect, to seed the service). The counter becomes the service's answer.
func (c *connection) checkpointRequest(ctx context.Context, creds Credentials, next bool) (int64, error) {
	db := c.db
	var counter, target sql.NullInt64
	_ = db.sql.QueryRowContext(ctx, `SELECT value FROM ps_kv WHERE key = 'checkpoint_request_id'`).Scan(&counter)
	_ = db.sql.QueryRowContext(ctx, `SELECT value FROM ps_kv WHERE key = 'target_op'`).Scan(&target)
	id := max(counter.Int64, 1)
	if target.Valid && target.Int64 != maxOpID {
		id = max(id, target.Int64)
	}
	if next {
		id++
	}
	got, err := RequestCheckpoint(ctx, c.opts.HTTPClient, creds, db.clientID, id)
	if err != nil {
		if IsUnauthorized(err) {
			c.invalidateCredentials()
		}
		return 0, fmt.Errorf("checkpoint request: %w", err)
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO ps_kv (key, value) VALUES ('checkpoint_request_id', ?1)
ON CONFLICT (key) DO UPDATE SET value = max(value, ?1)`, got)
		return err
	})
	return got, err
}
