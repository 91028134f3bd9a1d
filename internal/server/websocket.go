package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/powersync-go/powersync/protocol"
	"github.com/powersync-go/powersync/protocol/bson"
	"github.com/powersync-go/powersync/protocol/rsocket"
)

// The WebSocket transport: RSocket 1.0 over WebSocket on GET /sync/stream,
// as the reference's rsocket router serves it and the official SDKs use it
// (React Native without streaming fetch, Kotlin on Apple platforms, and any
// JS client with connectionMethod WEB_SOCKET).
//
//	client                                  service
//	SETUP {token, user_agent}        ──▶    verify the token (else ERROR REJECTED_SETUP "[PSYNC_S21xx] …", close)
//	REQUEST_STREAM n {path} request  ──▶    admit, run the same stream as HTTP
//	                                 ◀──    PAYLOAD(NEXT) one BSON sync line, at most the credit granted
//	REQUEST_N k                      ──▶    k more
//	KEEPALIVE(respond)               ──▶ ◀── KEEPALIVE
//	                                 ◀──    PAYLOAD(COMPLETE) when the stream ends (new sync config, shutdown)
//	                                 ◀──    ERROR "[PSYNC_…] …" when it fails or the token expired (PSYNC_S2103)
//	CANCEL                           ──▶    the stream stops
//
// Goroutines: after the upgrade the handler hands the connection to one
// goroutine of the server's (counted in Server.streams, ended by its
// context), which reads frames; each request stream runs on its own
// goroutine (the same conn.run as HTTP). The keepalive lifetime and the
// server's shutdown are callbacks. The reader cancels the streams and waits
// for them before the connection closes.

// Limits of the WebSocket transport.
const (
	// setupTimeout bounds the wait for the SETUP frame after the upgrade.
	setupTimeout = 30 * time.Second
	// maxClientFrameExtra is what a frame from the client may hold beyond
	// the request body limit (header, metadata).
	maxClientFrameExtra = 64 << 10
)

// rsConn is one RSocket connection over WebSocket.
type rsConn struct {
	s   *Server
	ws  *websocket.Conn
	log *slog.Logger

	ctx    context.Context // the streams' parent; cancelled when the connection ends
	cancel context.CancelFunc

	metaMIME, dataMIME string
	lifetime           time.Duration
	id                 Identity
	userAgent          string

	mu      sync.Mutex // guards streams and ending, and orders wg.Add before wg.Wait
	streams map[uint32]*rsStream
	ending  bool           // no new streams: the connection is ending
	wg      sync.WaitGroup // running streams

	asm rsocket.Assembler // owned by the reader
}

// isWebSocketUpgrade reports whether r asks to upgrade to WebSocket.
func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// handleSyncGet serves GET /sync/stream: the WebSocket transport. A plain
// GET is not a route.
func (s *Server) handleSyncGet(w http.ResponseWriter, r *http.Request) {
	if !isWebSocketUpgrade(r) {
		writeError(w, errNotFound)
		return
	}
	if s.closing.Load() {
		writeError(w, errShuttingDown)
		return
	}
	s.lifeMu.Lock()
	if !s.started || s.closing.Load() {
		s.lifeMu.Unlock()
		writeError(w, errShuttingDown)
		return
	}
	s.streams.Add(1)
	base := s.streamCtx
	s.lifeMu.Unlock()
	handedOff := false
	defer func() {
		if !handedOff {
			s.streams.Done()
		}
	}()

	// Any origin, as the reference (its ws server checks none): the token
	// travels in the SETUP frame, never in a cookie, so a foreign page
	// gains nothing from opening a socket.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		// permessage-deflate when the client offers it, without context
		// takeover: no compressor state is kept per idle connection.
		CompressionMode: websocket.CompressionNoContextTakeover,
	})
	if err != nil {
		s.log.Debug("websocket upgrade failed", "error", err)
		return // Accept answered the request
	}
	ws.SetReadLimit(min(s.opts.MaxRequestBytes+maxClientFrameExtra, rsocket.MaxFrameSize))
	ctx, cancel := context.WithCancel(base)
	c := &rsConn{s: s, ws: ws, log: s.log.With("transport", "websocket"), ctx: ctx, cancel: cancel,
		streams: make(map[uint32]*rsStream)}
	// Fragments of a request add up to no more than one unfragmented
	// frame may hold.
	c.asm.Max = int(min(s.opts.MaxRequestBytes+maxClientFrameExtra, rsocket.MaxFrameSize))
	// The connection is ours now (hijacked): serve it on a goroutine of
	// the server's (counted in s.streams, ended by its context) and return,
	// so net/http frees the request and the stack of its handler goroutine.
	handedOff = true
	ua := r.Header.Get("User-Agent")
	go func() {
		defer s.streams.Done()
		c.serve(ua)
	}()
}

// serve runs the connection until the client goes away, breaks the
// protocol, falls silent, or the server closes. Its goroutine is the
// reader; the server closing and the lifetime run as callbacks, so an idle
// connection costs this goroutine plus one per stream.
func (c *rsConn) serve(httpUserAgent string) {
	defer c.cancel()
	defer c.ws.CloseNow()
	if err := c.handshake(); err != nil {
		c.log.Debug("rsocket setup rejected", "error", err)
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
		return
	}
	if c.userAgent == "" {
		c.userAgent = httpUserAgent
	}
	c.log = c.log.With("user_id", c.id.UserID, "user_agent", c.userAgent)

	// Server shutdown: the streams end first (each sends COMPLETE while the
	// socket is open), then the socket closes "going away"; the reader
	// below sees the close.
	shutDone := make(chan struct{})
	stopShutdown := context.AfterFunc(c.ctx, func() {
		defer close(shutDone)
		c.endStreams()
		_ = c.ws.Close(websocket.StatusGoingAway, "server shutting down")
	})
	// A client silent for its max lifetime is gone: say so and drop it.
	lifetime := time.AfterFunc(c.lifetime, func() {
		c.log.Info("websocket closed: no frame from the client within the max lifetime", "lifetime", c.lifetime)
		c.writeError(0, rsocket.ErrConnectionError, fmt.Sprintf("No frame received within the keepalive lifetime of %v", c.lifetime))
		_ = c.ws.CloseNow()
	})

	readErr := c.readLoop(lifetime)
	lifetime.Stop()
	if !stopShutdown() {
		<-shutDone // the shutdown callback closed the socket
		return
	}
	status, reason := websocket.StatusNormalClosure, ""
	if errors.Is(readErr, errProtocol) {
		status, reason = websocket.StatusProtocolError, "rsocket protocol error"
	}
	c.endStreams()
	_ = c.ws.Close(status, reason)
	if readErr != nil && !isClosed(readErr) {
		c.log.Debug("websocket connection ended", "error", readErr)
	}
}

// endStreams stops accepting streams, cancels the running ones and waits
// for them.
func (c *rsConn) endStreams() {
	c.mu.Lock()
	c.ending = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

func isClosed(err error) bool {
	return websocket.CloseStatus(err) != -1 || errors.Is(err, context.Canceled)
}

// errProtocol marks reader errors that are the client's protocol
// violations (already answered with an ERROR frame).
var errProtocol = errors.New("rsocket protocol violation")

// handshake reads and checks SETUP and verifies the token. Every refusal
// is sent as an ERROR frame on stream 0 first.
func (c *rsConn) handshake() error {
	ctx, cancel := context.WithTimeout(c.ctx, setupTimeout)
	defer cancel()
	typ, msg, err := c.ws.Read(ctx)
	if err != nil {
		return err
	}
	if typ != websocket.MessageBinary {
		c.writeError(0, rsocket.ErrInvalidSetup, "RSocket frames must be sent as binary WebSocket messages")
		return errProtocol
	}
	f, err := rsocket.Decode(msg)
	if err != nil {
		c.writeError(0, rsocket.ErrInvalidSetup, err.Error())
		return err
	}
	reject := func(code rsocket.ErrorCode, msg string) error {
		c.writeError(0, code, msg)
		return errors.New(msg)
	}
	switch {
	case f.Type != rsocket.TypeSetup:
		return reject(rsocket.ErrInvalidSetup, "The first frame must be SETUP, got "+f.Type.String())
	case f.MajorVersion != 1:
		return reject(rsocket.ErrUnsupportedSetup, fmt.Sprintf("RSocket version %d.%d is not supported (1.x is)", f.MajorVersion, f.MinorVersion))
	case f.Flags&rsocket.FlagResume != 0:
		return reject(rsocket.ErrUnsupportedSetup, "Resumption is not supported")
	case f.Flags&rsocket.FlagLease != 0:
		return reject(rsocket.ErrUnsupportedSetup, "Leases are not supported")
	}
	for _, m := range []string{f.MetadataMIME, f.DataMIME} {
		if _, ok := payloadKind(m); !ok {
			return reject(rsocket.ErrUnsupportedSetup, unsupportedMedia(m).Error())
		}
	}
	c.metaMIME, c.dataMIME = f.MetadataMIME, f.DataMIME
	c.lifetime = time.Duration(f.LifetimeMS) * time.Millisecond

	// The token: metadata {token: "Token <jwt>", user_agent}.
	var meta struct {
		Token     string `json:"token"`
		UserAgent string `json:"user_agent"`
	}
	if f.Metadata == nil {
		return reject(rsocket.ErrRejectedSetup, errNoSetupToken.Error())
	}
	if err := decodePayload(c.metaMIME, f.Metadata, &meta); err != nil {
		return reject(rsocket.ErrRejectedSetup, err.Error())
	}
	c.userAgent = meta.UserAgent
	if meta.Token == "" {
		c.s.metrics.rejected.WithLabelValues("auth").Inc()
		return reject(rsocket.ErrRejectedSetup, errNoSetupToken.Error())
	}
	m := authHeaderRE.FindStringSubmatch(meta.Token)
	if m == nil {
		c.s.metrics.rejected.WithLabelValues("auth").Inc()
		return reject(rsocket.ErrRejectedSetup, errSetupTokenFormat.Error())
	}
	id, err := c.s.opts.Auth.Authenticate(ctx, m[1])
	if err != nil {
		c.s.metrics.rejected.WithLabelValues("auth").Inc()
		return reject(rsocket.ErrRejectedSetup, clientMessage(c.log, err))
	}
	c.id = id
	return nil
}

// Errors of the SETUP metadata, with the reference's codes, and the end of
// a stream whose token expired.
var (
	errStreamTokenExpired = &protocol.Error{Name: protocol.NameAuthorizationError, Code: protocol.CodeAuthExpired,
		Status: http.StatusUnauthorized, Description: "JWT has expired: the stream ended; connect again with a new token"}
	errNoSetupToken = &protocol.Error{Name: protocol.NameAuthorizationError, Code: protocol.CodeAuthMissingToken,
		Status: http.StatusUnauthorized, Description: "No token provided"}
	errSetupTokenFormat = &protocol.Error{Name: protocol.NameAuthorizationError, Code: protocol.CodeAuthMissingToken,
		Status: http.StatusUnauthorized, Description: "No valid token provided: the token must be 'Token <jwt>' or 'Bearer <jwt>'"}
)

// clientMessage is the message an ERROR frame carries for err: the
// client-facing "[PSYNC_…] description" (clients look for PSYNC_S21 to
// refresh credentials), or a generic internal error whose cause is logged.
func clientMessage(log *slog.Logger, err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Error()
	}
	log.Error("sync stream error", "error", err)
	return errInternal.Error()
}

func unsupportedMedia(mime string) error {
	return &protocol.Error{Name: "UnsupportedMediaType", Code: protocol.CodeUnsupportedMedia, Status: http.StatusUnsupportedMediaType,
		Description: fmt.Sprintf("Unsupported payload MIME type %q: use application/json or application/bson", mime)}
}

// payloadKind classifies a SETUP MIME type: JSON or BSON payloads.
func payloadKind(mime string) (isBSON, ok bool) {
	base, _, _ := strings.Cut(mime, ";")
	switch strings.ToLower(strings.TrimSpace(base)) {
	case "application/json":
		return false, true
	case "application/bson":
		return true, true
	}
	return false, false
}

// payloadJSON returns a metadata or data payload as JSON text.
func payloadJSON(mime string, b []byte) ([]byte, error) {
	isBSON, ok := payloadKind(mime)
	if !ok {
		return nil, unsupportedMedia(mime)
	}
	if !isBSON {
		return b, nil
	}
	j, err := bson.ToJSON(nil, b)
	if err != nil {
		return nil, validationError("payload is not a BSON document: %v", err)
	}
	return j, nil
}

// decodePayload decodes a small metadata payload into v.
func decodePayload(mime string, b []byte, v any) error {
	j, err := payloadJSON(mime, b)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(j)) == 0 || string(bytes.TrimSpace(j)) == "null" {
		return nil
	}
	if err := json.Unmarshal(j, v); err != nil {
		return validationError("metadata is not a JSON object: %s", describeJSONError(j, err))
	}
	return nil
}

// readLoop reads and handles frames until the connection ends. Every
// received message proves the client alive and restarts the lifetime.
func (c *rsConn) readLoop(lifetime *time.Timer) error {
	for {
		typ, msg, err := c.ws.Read(context.Background())
		if err != nil {
			return err
		}
		lifetime.Reset(c.lifetime)
		if typ != websocket.MessageBinary {
			c.writeError(0, rsocket.ErrConnectionError, "RSocket frames must be sent as binary WebSocket messages")
			return errProtocol
		}
		f, err := rsocket.Decode(msg)
		if err != nil {
			c.writeError(0, rsocket.ErrConnectionError, err.Error())
			return fmt.Errorf("%w: %v", errProtocol, err)
		}
		f, complete, err := c.asm.Add(f)
		if err != nil {
			c.writeError(0, rsocket.ErrConnectionError, err.Error())
			return fmt.Errorf("%w: %v", errProtocol, err)
		}
		if !complete {
			continue
		}
		if err := c.handle(f); err != nil {
			return err
		}
	}
}

// handle acts on one (joined) frame from the client. It returns an error
// to end the connection, after sending the ERROR frame that says why.
func (c *rsConn) handle(f rsocket.Frame) error {
	connErr := func(code rsocket.ErrorCode, msg string) error {
		c.writeError(0, code, msg)
		return fmt.Errorf("%w: %s", errProtocol, msg)
	}
	switch f.Type {
	case rsocket.TypeKeepalive:
		if f.Flags&rsocket.FlagRespond != 0 {
			return c.write(rsocket.AppendKeepalive(nil, false, 0, f.Data))
		}
	case rsocket.TypeRequestStream:
		c.startStream(f)
	case rsocket.TypeRequestN:
		if st := c.stream(f.StreamID); st != nil {
			st.grant(f.N)
		}
	case rsocket.TypeCancel:
		c.clientCancel(f.StreamID)
	case rsocket.TypeError:
		if f.StreamID == 0 {
			return fmt.Errorf("client error %v: %.200s", f.Code, f.Data)
		}
		c.clientCancel(f.StreamID)
	case rsocket.TypeRequestResponse, rsocket.TypeRequestChannel:
		c.writeError(f.StreamID, rsocket.ErrRejected, "Only request-stream is supported (path /sync/stream)")
	case rsocket.TypeRequestFNF, rsocket.TypePayload:
		// Nothing to answer: fire-and-forget has no response, and a
		// request-stream's requester sends no payloads.
	case rsocket.TypeSetup:
		return connErr(rsocket.ErrConnectionError, "SETUP was already received")
	case rsocket.TypeLease:
		return connErr(rsocket.ErrConnectionError, "LEASE is not supported (the SETUP did not negotiate leases)")
	case rsocket.TypeMetadataPush:
		return connErr(rsocket.ErrConnectionError, "METADATA_PUSH is not supported")
	case rsocket.TypeResume, rsocket.TypeResumeOK:
		return connErr(rsocket.ErrRejectedResume, "Resumption is not supported")
	default:
		if f.Flags&rsocket.FlagIgnore == 0 {
			return connErr(rsocket.ErrConnectionError, "Unsupported frame type "+f.Type.String())
		}
	}
	return nil
}

// clientCancel stops a stream the client cancelled. It leaves the map at
// once, so credit sent after the CANCEL reaches nothing.
func (c *rsConn) clientCancel(id uint32) {
	c.mu.Lock()
	st := c.streams[id]
	delete(c.streams, id)
	c.mu.Unlock()
	if st != nil {
		st.clientCanceled.Store(true)
		st.cancel()
	}
}

func (c *rsConn) stream(id uint32) *rsStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[id]
}

// startStream validates a REQUEST_STREAM and starts its stream. Failures
// are ERROR frames on that stream; the connection stays.
func (c *rsConn) startStream(f rsocket.Frame) {
	fail := func(reason string, err error) {
		c.s.metrics.rejected.WithLabelValues(reason).Inc()
		c.writeError(f.StreamID, rsocket.ErrApplicationError, clientMessage(c.log, err))
	}
	if c.stream(f.StreamID) != nil {
		fail("bad_request", validationError("stream id %d is already in use", f.StreamID))
		return
	}
	if f.Metadata == nil {
		fail("bad_request", validationError("Metadata is not provided"))
		return
	}
	var meta struct {
		Path string `json:"path"`
	}
	if err := decodePayload(c.metaMIME, f.Metadata, &meta); err != nil {
		fail("bad_request", err)
		return
	}
	if meta.Path != "/sync/stream" {
		fail("bad_request", &protocol.Error{Name: protocol.NameRouteNotFound, Code: protocol.CodeNotFound,
			Status: http.StatusNotFound, Description: fmt.Sprintf("No route for %.100q is configured", meta.Path)})
		return
	}
	body, err := payloadJSON(c.dataMIME, f.Data)
	if err != nil {
		fail("bad_request", err)
		return
	}
	req, err := DecodeRequest(bytes.NewReader(body), c.s.opts.MaxRequestBytes)
	if err != nil {
		fail("bad_request", err)
		return
	}
	if c.s.closing.Load() {
		c.writeError(f.StreamID, rsocket.ErrApplicationError, errShuttingDown.Error())
		return
	}
	_, release, err := c.s.admit(c.ctx)
	if err != nil {
		c.writeError(f.StreamID, rsocket.ErrApplicationError, clientMessage(c.log, err))
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	st := &rsStream{c: c, streamID: f.StreamID, ctx: ctx, cancel: cancel, credit: int64(f.N),
		more: make(chan struct{}, 1), expires: c.id.ExpiresAt, revoked: c.id.Revoked}
	c.mu.Lock()
	if c.ending {
		c.mu.Unlock()
		cancel()
		release()
		c.writeError(f.StreamID, rsocket.ErrApplicationError, errShuttingDown.Error())
		return
	}
	c.streams[f.StreamID] = st
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer release()
		defer func() {
			cancel()
			c.mu.Lock()
			if c.streams[f.StreamID] == st {
				delete(c.streams, f.StreamID)
			}
			c.mu.Unlock()
		}()
		st.run(req)
	}()
}

// write sends one frame within the write timeout. A client that does not
// read for that long loses the connection (the library closes it).
func (c *rsConn) write(frame []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.opts.WriteTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageBinary, frame)
}

// writeError sends an ERROR frame, best effort (the connection may be
// gone already).
func (c *rsConn) writeError(streamID uint32, code rsocket.ErrorCode, msg string) {
	_ = c.write(rsocket.AppendError(nil, streamID, code, msg))
}

// rsStream is one request stream: the lineSink of a conn, sending each
// line as a PAYLOAD frame when the client has granted credit for it.
type rsStream struct {
	c        *rsConn
	streamID uint32
	ctx      context.Context
	cancel   context.CancelFunc

	mu     sync.Mutex // guards credit
	credit int64
	more   chan struct{} // signalled when credit is granted

	clientCanceled atomic.Bool // CANCEL or ERROR from the client: send nothing more
	expires        time.Time
	revoked        <-chan struct{}

	// Owned by the stream goroutine.
	buf   []byte
	bytes int64
}

var _ lineSink = (*rsStream)(nil)

// run serves the stream and ends it: COMPLETE when it ended normally (a
// new sync config, server shutdown), ERROR with the PSYNC code and message
// when it failed or the token expired, nothing when the client cancelled
// it or the connection is gone.
//
// Token expiry is an ERROR "[PSYNC_S2103] …" after the
// {"token_expires_in":0} line, not COMPLETE: the JS SDK drops the lines it
// still has queued when COMPLETE arrives, so it would not learn that the
// token expired and would reconnect with it (accepted again within the
// clock skew, and ended at once, for a minute). An error whose message
// holds PSYNC_S21 makes the SDKs fetch new credentials first.
func (st *rsStream) run(req *protocol.StreamingSyncRequest) {
	err := st.c.s.serveStream(st.ctx, st, st.c.id, req)
	if st.clientCanceled.Load() {
		return
	}
	switch {
	case errors.Is(err, errTokenExpired):
		st.c.writeError(st.streamID, rsocket.ErrApplicationError, errStreamTokenExpired.Error())
	case err == nil, errors.Is(err, errVersionChanged), errors.Is(err, errTokenRevoked), errors.Is(err, errNoCredit):
		_ = st.c.write(rsocket.AppendComplete(nil, st.streamID))
	case st.ctx.Err() != nil:
		// The connection is ending (serveStream logged why).
	default:
		// serveStream logged the cause; the client gets only the
		// client-facing message.
		var pe *protocol.Error
		if !errors.As(err, &pe) {
			pe = errInternal
		}
		st.c.writeError(st.streamID, rsocket.ErrApplicationError, pe.Error())
	}
}

// grant adds REQUEST_N credit.
func (st *rsStream) grant(n uint32) {
	st.mu.Lock()
	st.credit = min(st.credit+int64(n), math.MaxInt64/2)
	st.mu.Unlock()
	select {
	case st.more <- struct{}{}:
	default:
	}
}

// errNoCredit ends a stream whose client granted no credit for the write
// timeout while a line was ready: like an HTTP client that stops reading,
// it must not hold a data-read slot and an open storage read for ever. The
// stream ends with COMPLETE; the client reconnects and resumes.
var errNoCredit = fmt.Errorf("the client granted no credit: %w", os.ErrDeadlineExceeded)

// awaitCredit waits until the client has granted credit, without taking
// it. The stream calls it before it takes one of the process's data-read
// slots, so a client that grants nothing waits without holding one.
func (st *rsStream) awaitCredit() error { return st.wait(false, 0) }

// acquire takes one unit of credit, waiting up to the write timeout for
// the client to grant it. While it waits the stream produces nothing:
// backpressure reaches the storage reads. The token's expiry and
// revocation end the wait too.
func (st *rsStream) acquire() error { return st.wait(true, st.c.s.opts.WriteTimeout) }

// wait waits for credit and takes one unit when take is set; limit > 0
// bounds the wait (errNoCredit).
func (st *rsStream) wait(take bool, limit time.Duration) error {
	var deadline <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		deadline = t.C
	}
	for {
		if err := st.ctx.Err(); err != nil {
			return err // cancelled: credit no longer counts
		}
		st.mu.Lock()
		if st.credit > 0 {
			if take {
				st.credit--
			}
			st.mu.Unlock()
			return nil
		}
		st.mu.Unlock()
		var expiry <-chan time.Time
		var t *time.Timer
		if !st.expires.IsZero() {
			t = time.NewTimer(time.Until(st.expires))
			expiry = t.C
		}
		var err error
		select {
		case <-st.more:
		case <-st.ctx.Done():
			err = st.ctx.Err()
		case <-expiry:
			err = errTokenExpired
		case <-st.revoked:
			err = errTokenRevoked
		case <-deadline:
			err = errNoCredit
		}
		if t != nil {
			t.Stop()
		}
		if err != nil {
			return err
		}
	}
}

// writeLine sends one sync line as a PAYLOAD(NEXT) frame whose data is the
// line as a BSON document (always BSON on this transport).
func (st *rsStream) writeLine(line []byte) error {
	if err := st.acquire(); err != nil {
		return err
	}
	f := rsocket.AppendHeader(st.buf[:0], st.streamID, rsocket.TypePayload, rsocket.FlagNext)
	f, err := bson.AppendJSON(f, line)
	if err != nil {
		return fmt.Errorf("encode sync line as BSON: %w", err)
	}
	st.buf = f
	if len(f) > rsocket.MaxFrameSize {
		return fmt.Errorf("sync line of %d bytes does not fit in an RSocket frame", len(f))
	}
	if err := st.c.write(f); err != nil {
		return err
	}
	st.bytes += int64(len(f))
	return nil
}

func (st *rsStream) written() int64          { return st.bytes }
func (st *rsStream) periodicKeepalive() bool { return false }

// idle drops the frame buffer: a waiting stream holds no line memory (an
// allocation per checkpoint burst is cheaper than 4 KB per idle stream).
func (st *rsStream) idle() { st.buf = nil }
