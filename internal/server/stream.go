package server

import (
	"cmp"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/protocol"
)

// Chunk limits of data lines (as the reference).
const (
	chunkOps   = 1000
	chunkBytes = 1 << 20
	// supersedeAfterOps: once this many ops were sent for a checkpoint, a
	// newer checkpoint interrupts the download (positions are kept).
	supersedeAfterOps = 1000
)

var (
	errSuperseded     = errors.New("checkpoint superseded")
	errTokenExpired   = errors.New("token expired")
	errVersionChanged = errors.New("sync config version changed")
	errTokenRevoked   = errors.New("token revoked")
)

// handleStream serves POST /sync/stream.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		writeError(w, errShuttingDown)
		return
	}
	// Validation before authorization, as the reference does.
	req, err := DecodeRequest(r.Body, s.opts.MaxRequestBytes)
	if err != nil {
		s.metrics.rejected.WithLabelValues("bad_request").Inc()
		writeError(w, err)
		return
	}
	id, err := s.authenticate(r)
	if err != nil {
		s.metrics.rejected.WithLabelValues("auth").Inc()
		writeError(w, err)
		return
	}
	base, release, err := s.admit(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}

	// The same lines in either encoding, chosen by Accept.
	useBSON := prefersBSON(r.Header.Get("Accept"))
	sink := func(lw *lineWriter) lineSink {
		if useBSON {
			return &bsonLines{w: lw}
		}
		return lw
	}
	h := w.Header()
	if useBSON {
		h.Set("Content-Type", contentTypeBSON)
	} else {
		h.Set("Content-Type", contentTypeNDJSON)
	}
	h.Add("Vary", "Accept")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	// gzip when allowed (every client that compresses offers it); zstd
	// only for a client that offers zstd but not gzip.
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	zs := !gz && acceptsEncoding(r.Header.Get("Accept-Encoding"), "zstd")
	switch {
	case gz:
		h.Set("Content-Encoding", "gzip")
	case zs:
		h.Set("Content-Encoding", "zstd")
	}
	h.Add("Vary", "Accept-Encoding")
	withZstd := func(lw *lineWriter) *lineWriter {
		if zs {
			lw.zenc = s.zstdEncoder()
		}
		return lw
	}

	// Take the connection over from net/http where possible and return:
	// net/http then frees its per-connection buffers and goroutines, and a
	// waiting stream is only our parked goroutine, a one-byte reader and
	// the connection state.
	if nc := hijack(w, r); nc != nil {
		go func() {
			defer release()
			defer nc.Close()
			ctx, cancel := context.WithCancel(base)
			defer cancel()
			lw, err := newChunkedLineWriter(nc, h, gz, s.opts.WriteTimeout)
			if err != nil {
				return
			}
			// The client sends nothing more; a read returns when it goes away.
			go func() {
				var b [1]byte
				for {
					if _, err := nc.Read(b[:]); err != nil {
						cancel()
						return
					}
				}
			}()
			s.serveStream(ctx, sink(withZstd(lw)), id, req)
			lw.close()
		}()
		return
	}

	defer release()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(base, cancel)
	defer stop()
	w.WriteHeader(http.StatusOK)
	lw := newLineWriter(w, gz, s.opts.WriteTimeout)
	defer lw.close()
	if err := lw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return
	}
	s.serveStream(ctx, sink(withZstd(lw)), id, req)
}

// admit counts a new stream against the connection limit and registers it
// with the server's lifecycle, for either transport. On success the caller
// runs the stream under base (cancelled when the server closes) and calls
// release when it ends.
func (s *Server) admit(ctx context.Context) (base context.Context, release func(), err error) {
	if n := s.conns.Add(1); n > int64(s.opts.Limits.MaxConcurrentConnections) {
		s.conns.Add(-1)
		s.metrics.rejected.WithLabelValues("too_many_connections").Inc()
		return nil, nil, errTooManyConnections
	}
	if s.bc.current() == nil && !s.opts.SyncConfigExpected {
		vs, err := s.opts.Storage.Versions(ctx)
		if err == nil && len(vs) == 0 {
			s.conns.Add(-1)
			return nil, nil, errNoSyncConfig
		}
	}
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if !s.started || s.closing.Load() {
		s.conns.Add(-1)
		return nil, nil, errShuttingDown
	}
	s.streams.Add(1)
	return s.streamCtx, func() {
		s.conns.Add(-1)
		s.streams.Done()
	}, nil
}

// serveStream runs one stream until it ends, logs how it ended and returns
// why (nil when the client went away or the server closed).
func (s *Server) serveStream(ctx context.Context, out lineSink, id Identity, req *protocol.StreamingSyncRequest) error {
	s.metrics.connections.Inc()
	s.metrics.connectionsTotal.Inc()
	defer s.metrics.connections.Dec()

	c := newConn(s, id, req, out)
	start := time.Now()
	err := c.run(ctx)
	log := s.log.With("user_id", id.UserID, "client_id", req.ClientID, "ops", c.opsSent,
		"bytes", out.written(), "duration_ms", time.Since(start).Milliseconds())
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		log.Debug("sync stream ended")
	case errors.Is(err, errTokenExpired), errors.Is(err, errVersionChanged), errors.Is(err, errTokenRevoked):
		log.Debug("sync stream ended", "reason", err.Error())
	case errors.Is(err, os.ErrDeadlineExceeded):
		log.Info("sync stream ended: the client did not read for the write timeout", "timeout", s.opts.WriteTimeout)
	default:
		log.Warn("sync stream failed", "error", err)
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// bucketState is what a connection last told its client about a bucket.
type bucketState struct {
	checksum uint32
	count    int64
	priority int
}

// conn is one sync stream. It runs in the handler's goroutine and owns all
// its fields; nothing else touches them.
type conn struct {
	s   *Server
	id  Identity
	req *protocol.StreamingSyncRequest
	out lineSink
	key wcKey

	version    int64
	querier    Querier
	buckets    []syncrules.BucketDescription
	lookupKeys map[string]struct{}
	sent       map[string]*bucketState
	positions  map[string]int64
	pending    map[string]struct{}
	started    bool // the first checkpoint line was sent
	wc         int64
	wcSet      bool

	sub       *subscriber
	buf       []byte
	keepalive *time.Timer
	opsSent   int64
}

func newConn(s *Server, id Identity, req *protocol.StreamingSyncRequest, out lineSink) *conn {
	c := &conn{
		s: s, id: id, req: req, out: out,
		key:       wcKey{id.UserID, req.ClientID},
		sent:      make(map[string]*bucketState),
		positions: make(map[string]int64, len(req.Buckets)),
		pending:   make(map[string]struct{}),
	}
	for _, b := range req.Buckets {
		c.positions[b.Name] = int64(b.After)
	}
	return c
}

// run streams until the client goes away, the token expires, the sync
// config changes or the server shuts down.
func (c *conn) run(ctx context.Context) error {
	c.s.wc.register(c.key)
	defer c.s.wc.unregister(c.key)
	sub := c.s.bc.subscribe()
	defer c.s.bc.unsubscribe(sub)
	c.sub = sub
	c.keepalive = time.NewTimer(c.nextKeepalive())
	defer c.keepalive.Stop()

	// Wait for the first checkpoint, sending keepalives meanwhile.
	for started := false; !started; {
		select {
		case <-c.s.bc.first:
			started = true
		case <-c.keepalive.C:
			if err := c.sendKeepalive(); err != nil {
				return err
			}
		case <-c.id.Revoked:
			return errTokenRevoked
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	n, _ := c.s.bc.take(sub)
	ch := changeSet{all: true}
	for {
		// Take the wake channel before reading the write checkpoint, so a
		// write checkpoint created meanwhile is never missed.
		wake, _ := c.s.wc.state(c.key)
		if err := c.inWorker(func() error { return c.checkpoint(ctx, n, ch) }); err != nil {
			return err
		}
		// Waiting connections keep no line buffer.
		c.buf = nil
		c.out.idle()
		// Register for what this connection now depends on. When that set
		// changed, a checkpoint published meanwhile may have touched a new
		// key without waking us: catch up with a full check.
		_, created := c.s.wc.state(c.key)
		if c.s.bc.update(sub, c.watchKeys(), created > c.wc || c.s.opts.SharedWriteCheckpoints) {
			if next := c.s.bc.current(); next != n {
				n, ch = next, changeSet{all: true}
				continue
			}
		}
		ch = changeSet{}
		select {
		case <-sub.wake:
		case <-wake:
			// A write checkpoint of this user and client was created;
			// re-evaluate at the current checkpoint.
		case <-c.keepalive.C:
			if err := c.sendKeepalive(); err != nil {
				return err
			}
			continue
		case <-c.id.Revoked:
			return errTokenRevoked
		case <-ctx.Done():
			return ctx.Err()
		}
		// The newest checkpoint and exactly what changed for us up to it.
		n, ch = c.s.bc.take(sub)
	}
}

// inWorker runs fn on a fresh goroutine and waits for it. The work of a
// checkpoint (JSON, storage reads, writes) needs a deep stack; doing it on
// a short-lived goroutine keeps the stack of the long-lived, mostly parked
// connection goroutine small, which is most of an idle connection's memory.
func (c *conn) inWorker(fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	return <-done
}

// watchKeys are the broadcaster keys of this connection's buckets and
// parameter lookups.
func (c *conn) watchKeys() []string {
	keys := make([]string, 0, len(c.buckets)+len(c.lookupKeys))
	for _, d := range c.buckets {
		keys = append(keys, bucketKey(d.Bucket))
	}
	for k := range c.lookupKeys {
		keys = append(keys, lookupKey(k))
	}
	slices.Sort(keys)
	return keys
}

// nextKeepalive is the delay to the next token_expires_in line: about the
// keepalive interval, but also ~20 s before expiry and at expiry.
func (c *conn) nextKeepalive() time.Duration {
	d := time.Duration(float64(c.s.opts.KeepaliveInterval) * (0.9 + 0.2*rand.Float64()))
	if !c.out.periodicKeepalive() {
		d = 1 << 62 // only the expiry warning and the expiry itself
	}
	if c.id.ExpiresAt.IsZero() {
		return d
	}
	untilExp := time.Until(c.id.ExpiresAt)
	warn := untilExp - 20*time.Second
	switch {
	case warn > time.Second && warn < d:
		d = warn
	case warn <= time.Second && untilExp < d:
		d = max(untilExp, 0)
	}
	return d
}

// sendKeepalive writes {"token_expires_in":N}; at 0 it ends the stream.
func (c *conn) sendKeepalive() error {
	left := int64(math.MaxInt32)
	if !c.id.ExpiresAt.IsZero() {
		left = max(int64(math.Ceil(time.Until(c.id.ExpiresAt).Seconds())), 0)
	}
	c.buf = protocol.AppendTokenExpiresIn(c.buf[:0], left)
	if err := c.writeLine(); err != nil {
		return err
	}
	if left == 0 {
		return errTokenExpired
	}
	c.keepalive.Reset(c.nextKeepalive())
	return nil
}

// expired ends the stream with token_expires_in 0 once the token expired.
func (c *conn) expired() error {
	if c.id.ExpiresAt.IsZero() || time.Now().Before(c.id.ExpiresAt) {
		return nil
	}
	return c.sendKeepalive()
}

// checkpoint brings the client to checkpoint n: a checkpoint or
// checkpoint_diff line when anything relevant changed, then the data of the
// changed (and still pending) buckets and the completion lines.
func (c *conn) checkpoint(ctx context.Context, n *notice, ch changeSet) error {
	cp := n.cp
	if c.querier == nil {
		rules, err := c.s.rulesFor(ctx, cp.VersionID)
		if err != nil {
			return err
		}
		q, err := rules.NewQuerier(c.syncRequest())
		if err != nil {
			return err
		}
		c.querier, c.version = q, cp.VersionID
	} else if cp.VersionID != c.version {
		// The client reconnects and gets the new version's buckets.
		return errVersionChanged
	}
	bs := c.s.opts.Storage.Bucket(cp.VersionID)

	bucketsChanged := false
	if c.buckets == nil || (c.querier.Dynamic() && (ch.all || intersects(ch.lookups, c.lookupKeys))) {
		keys := make(map[string]struct{})
		lookup := func(k [][]byte) ([][][]byte, error) {
			for _, x := range k {
				keys[string(x)] = struct{}{}
			}
			return bs.Lookup(ctx, cp, k)
		}
		descs, err := c.querier.Buckets(ctx, lookup)
		if err != nil {
			return err
		}
		if len(descs) > c.s.opts.Limits.MaxBucketsPerConnection {
			return &protocol.Error{Name: protocol.NameSyncConfigLimitExceeded, Code: protocol.CodeTooManyBuckets,
				Status: http.StatusBadRequest, Description: "Too many buckets: " + strconv.Itoa(len(descs)) +
					" (limit " + strconv.Itoa(c.s.opts.Limits.MaxBucketsPerConnection) + ")"}
		}
		if descs == nil {
			descs = []syncrules.BucketDescription{}
		}
		c.buckets, c.lookupKeys, bucketsChanged = descs, keys, true
	}

	// Checksums of the buckets that may have changed.
	var need []string
	for _, d := range c.buckets {
		_, known := c.sent[d.Bucket]
		_, touched := ch.buckets[d.Bucket]
		if ch.all || !known || touched {
			need = append(need, d.Bucket)
		}
	}
	sums, err := c.s.cache.get(ctx, bs, cp, need)
	if err != nil {
		return err
	}

	wcChanged, err := c.updateWriteCheckpoint(ctx, cp)
	if err != nil {
		return err
	}

	byName := make(map[string]storage.BucketChecksum, len(sums))
	for _, x := range sums {
		byName[x.Bucket] = x
	}
	var updated []protocol.BucketChecksum
	current := make(map[string]struct{}, len(c.buckets))
	for _, d := range c.buckets {
		current[d.Bucket] = struct{}{}
		sum, ok := byName[d.Bucket]
		if !ok {
			continue
		}
		st := c.sent[d.Bucket]
		if c.started && st != nil && st.checksum == sum.Checksum && st.count == sum.Count && st.priority == d.Priority {
			continue
		}
		if st == nil {
			st = &bucketState{}
			c.sent[d.Bucket] = st
		}
		st.checksum, st.count, st.priority = sum.Checksum, sum.Count, d.Priority
		c.pending[d.Bucket] = struct{}{}
		updated = append(updated, bucketChecksum(d, sum))
	}
	var removed []string
	if bucketsChanged {
		for b := range c.sent {
			if _, ok := current[b]; !ok {
				removed = append(removed, b)
			}
		}
		slices.Sort(removed)
		for _, b := range removed {
			delete(c.sent, b)
			delete(c.positions, b)
			delete(c.pending, b)
		}
	}

	var wc *protocol.OpID
	if c.wcSet {
		v := protocol.OpID(c.wc)
		wc = &v
	}
	if !c.started {
		if updated == nil {
			updated = []protocol.BucketChecksum{}
		}
		streams := c.querier.Streams()
		c.buf = protocol.AppendCheckpoint(c.buf[:0], &protocol.Checkpoint{LastOpID: protocol.OpID(cp.OpID), WriteCheckpoint: wc, Buckets: updated, Streams: streams})
		if err := c.writeLine(); err != nil {
			return err
		}
		c.started = true
		c.s.metrics.checkpointLines.WithLabelValues("checkpoint").Inc()
	} else {
		if len(updated) == 0 && len(removed) == 0 && !wcChanged && len(c.pending) == 0 {
			return nil // nothing this client needs to hear about
		}
		if updated == nil {
			updated = []protocol.BucketChecksum{}
		}
		if removed == nil {
			removed = []string{}
		}
		c.buf = protocol.AppendCheckpointDiff(c.buf[:0], &protocol.CheckpointDiff{LastOpID: protocol.OpID(cp.OpID), WriteCheckpoint: wc,
			UpdatedBuckets: updated, RemovedBuckets: removed})
		if err := c.writeLine(); err != nil {
			return err
		}
		c.s.metrics.checkpointLines.WithLabelValues("checkpoint_diff").Inc()
	}
	return c.sendData(ctx, n, bs)
}

// updateWriteCheckpoint reads the client's write checkpoint as of cp when it
// may have changed: at the start, and while this process has created a
// value newer than the one last sent.
func (c *conn) updateWriteCheckpoint(ctx context.Context, cp storage.Checkpoint) (bool, error) {
	_, created := c.s.wc.state(c.key)
	if c.started && created <= c.wc && !c.s.opts.SharedWriteCheckpoints {
		return false, nil
	}
	v, ok, err := c.s.opts.Storage.WriteCheckpoints().At(ctx, c.key.user, c.key.client, cp.Position)
	if err != nil {
		return false, err
	}
	if !ok || (c.wcSet && v <= c.wc) {
		return false, nil
	}
	c.wc, c.wcSet = v, true
	return true, nil
}

func bucketChecksum(d syncrules.BucketDescription, sum storage.BucketChecksum) protocol.BucketChecksum {
	bc := protocol.BucketChecksum{Bucket: d.Bucket, Checksum: protocol.SignedChecksum(sum.Checksum),
		Count: sum.Count, Priority: d.Priority}
	for _, i := range d.Default {
		bc.Subscriptions = append(bc.Subscriptions, protocol.BucketSubscription{Default: &i})
	}
	for _, i := range d.Subs {
		bc.Subscriptions = append(bc.Subscriptions, protocol.BucketSubscription{Sub: &i})
	}
	return bc
}

// sendData streams the data of every pending bucket, one priority group
// after another, each ended by partial_checkpoint_complete, the last by
// checkpoint_complete.
func (c *conn) sendData(ctx context.Context, n *notice, bs storage.BucketStorage) error {
	cp := n.cp
	todo := make([]syncrules.BucketDescription, 0, len(c.pending))
	for _, d := range c.buckets {
		if _, ok := c.pending[d.Bucket]; ok {
			todo = append(todo, d)
		}
	}
	slices.SortStableFunc(todo, func(a, b syncrules.BucketDescription) int { return cmp.Compare(a.Priority, b.Priority) })
	var groups [][]syncrules.BucketDescription
	for i := 0; i < len(todo); {
		j := i
		for j < len(todo) && todo[j].Priority == todo[i].Priority {
			j++
		}
		groups = append(groups, todo[i:j])
		i = j
	}
	sentThis := 0
	for gi, g := range groups {
		reqs := make([]storage.BucketPosition, len(g))
		for i, d := range g {
			reqs[i] = storage.BucketPosition{Bucket: d.Bucket, After: c.positions[d.Bucket]}
		}
		invalid := false
		err := c.readData(ctx, bs, cp, reqs, func(ch storage.Chunk) error {
			if len(ch.Ops) > 0 {
				if err := c.writeData(ch); err != nil {
					return err
				}
				c.positions[ch.Bucket] = ch.NextAfter
				sentThis += len(ch.Ops)
			}
			if ch.TargetOp > cp.OpID {
				invalid = true
			}
			if err := c.expired(); err != nil {
				return err
			}
			if sentThis >= supersedeAfterOps && len(c.sub.wake) > 0 {
				// A newer checkpoint changed some of our buckets.
				return errSuperseded
			}
			return nil
		})
		if errors.Is(err, errSuperseded) {
			return nil // the caller moves on to the newer checkpoint
		}
		if err != nil {
			return err
		}
		if invalid {
			// Compaction moved ops past this checkpoint: withhold the
			// completion; the next checkpoint follows.
			return nil
		}
		for _, d := range g {
			c.positions[d.Bucket] = cp.OpID
			delete(c.pending, d.Bucket)
		}
		if gi < len(groups)-1 {
			c.buf = protocol.AppendPartialCheckpointComplete(c.buf[:0], cp.OpID, g[0].Priority)
			if err := c.writeLine(); err != nil {
				return err
			}
		}
	}
	c.buf = protocol.AppendCheckpointComplete(c.buf[:0], cp.OpID)
	return c.writeLine()
}

// readData reads bucket data under the process-wide fetch limit.
func (c *conn) readData(ctx context.Context, bs storage.BucketStorage, cp storage.Checkpoint, reqs []storage.BucketPosition, fn func(storage.Chunk) error) error {
	// A sink paced by client credit (RSocket) waits for it before taking
	// a read slot, so a client that grants nothing holds none.
	if cw, ok := c.out.(interface{ awaitCredit() error }); ok {
		if err := cw.awaitCredit(); err != nil {
			return err
		}
	}
	select {
	case c.s.fetchSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.s.fetchSem }()
	return bs.ReadData(ctx, cp, reqs, storage.Limits{Ops: chunkOps, Bytes: chunkBytes}, fn)
}

// writeData writes one data line: the chunk's stored op JSON joined in
// protocol's data-line frame.
func (c *conn) writeData(ch storage.Chunk) error {
	b := protocol.AppendDataLine(c.buf[:0], ch.Bucket, ch.After, ch.NextAfter, ch.HasMore, ch.Ops)
	c.buf = b
	if err := c.writeLine(); err != nil {
		return err
	}
	c.opsSent += int64(len(ch.Ops))
	c.s.metrics.opsSent.Add(float64(len(ch.Ops)))
	return nil
}

// writeLine ends the line in c.buf, writes it to the sink and counts the
// bytes the sink sent for it.
func (c *conn) writeLine() error {
	c.buf = append(c.buf, '\n')
	before := c.out.written()
	err := c.out.writeLine(c.buf)
	c.s.metrics.bytesSent.Add(float64(c.out.written() - before))
	return err
}

// syncRequest is what the sync rules need to know about this connection.
func (c *conn) syncRequest() syncrules.Request {
	r := syncrules.Request{
		UserID:           c.id.UserID,
		Claims:           c.id.Claims,
		IncludeDefaults:  c.req.Streams.IncludesDefaults(),
		MaxBuckets:       c.s.opts.Limits.MaxBucketsPerConnection,
		MaxLookupResults: c.s.opts.Limits.MaxParameterQueryResults,
	}
	if p := c.req.Parameters; len(p) > 0 && string(p) != "null" {
		r.Parameters = p
	}
	if c.req.Streams != nil {
		for _, sub := range c.req.Streams.Subscriptions {
			x := syncrules.Subscription{Stream: sub.Stream, OverridePriority: sub.OverridePriority}
			if len(sub.Parameters) > 0 && string(sub.Parameters) != "null" {
				x.Parameters = sub.Parameters
			}
			r.Streams = append(r.Streams, x)
		}
	}
	return r
}

func intersects(a, b map[string]struct{}) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	for k := range a {
		if _, ok := b[k]; ok {
			return true
		}
	}
	return false
}
