package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/powersync-go/powersync/protocol/rsocket"
)

// The RSocket side of TransportWebSocket, as the official JS SDK speaks it:
// one RSocket frame per binary WebSocket message; SETUP carries the token in
// its JSON metadata; one REQUEST_STREAM (stream 1) with metadata
// {"path":"/sync/stream"} and the sync request as JSON data; the service
// answers with PAYLOAD frames of one BSON sync line each, and sends no more
// than the client has granted.

// Timing of the SETUP frame: the client sends KEEPALIVE this often, and the
// service may drop a connection that sent none for the lifetime (the JS
// SDK's values).
const (
	wsKeepalive = 20 * time.Second
	wsLifetime  = 90 * time.Second
	// wsStreamID is the one stream a sync connection opens.
	wsStreamID = 1
	// wsWriteTimeout bounds each frame the client writes.
	wsWriteTimeout = 10 * time.Second
	// defaultCredit is the JS SDK's window of lines in flight.
	defaultCredit = 10
	// defaultWSIdle ends a WebSocket on which nothing at all (not even a
	// keepalive echo) arrived for this long.
	defaultWSIdle = 60 * time.Second
)

// StreamError is an error the service sent on a WebSocket stream (an
// RSocket ERROR frame), for example an authorization failure at SETUP.
// Code is the PSYNC code in its message, when there is one.
type StreamError struct {
	Code    string // PSYNC_…, or ""
	RSocket rsocket.ErrorCode
	Message string
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("sync stream: %s (RSocket %v)", e.Message, e.RSocket)
}

var psyncCode = regexp.MustCompile(`PSYNC_[A-Z][0-9]{4}`)

func streamError(f rsocket.Frame) *StreamError {
	msg := string(f.Data)
	return &StreamError{Code: psyncCode.FindString(msg), RSocket: f.Code, Message: msg}
}

// webSocketURL turns the service endpoint into the stream's WebSocket URL.
func webSocketURL(endpoint string) (string, error) {
	u := endpointURL(endpoint, "/sync/stream")
	switch {
	case strings.HasPrefix(u, "http://"):
		return "ws://" + strings.TrimPrefix(u, "http://"), nil
	case strings.HasPrefix(u, "https://"):
		return "wss://" + strings.TrimPrefix(u, "https://"), nil
	case strings.HasPrefix(u, "ws://"), strings.HasPrefix(u, "wss://"):
		return u, nil
	}
	return "", fmt.Errorf("endpoint %q is not an http(s) URL", endpoint)
}

// wsLines reads sync lines from an RSocket stream over a WebSocket. Only
// the goroutine calling next reads the connection; a keepalive goroutine
// owned by wsLines writes KEEPALIVE frames until close.
type wsLines struct {
	conn   *websocket.Conn
	ctx    context.Context // the stream's; cancelled by close or the idle watchdog
	cancel context.CancelFunc
	idle   *time.Timer
	idleD  time.Duration
	idled  bool // set (by the watchdog) before it cancels ctx

	credit      int // lines the client lets be in flight
	outstanding int // granted but not yet received
	first       []byte
	ended       bool
	asm         rsocket.Assembler
	msg         bytes.Buffer
	json        []byte
	bytes       int64

	wmu  sync.Mutex // wbuf
	wbuf []byte

	stopKeepalive chan struct{}
	keepaliveDone chan struct{}
	closeOnce     sync.Once
}

var _ lineReader = (*wsLines)(nil)

// openWebSocket connects, sends SETUP and REQUEST_STREAM, and waits for the
// first line, so that a refused token is an error of the open, as a 401 is
// over HTTP.
func openWebSocket(ctx context.Context, opts StreamOptions, creds Credentials, body []byte) (lr lineReader, err error) {
	if creds.Endpoint == "" {
		return nil, errors.New("credentials have no endpoint")
	}
	u, err := webSocketURL(creds.Endpoint)
	if err != nil {
		return nil, err
	}
	credit := opts.Credit
	if credit <= 0 {
		credit = defaultCredit
	}
	idle := opts.Idle
	if idle <= 0 {
		idle = defaultWSIdle
	}
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPClient: opts.HTTPClient,
		HTTPHeader: http.Header{"User-Agent": {"powersync-go-client"}},
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &HTTPError{Status: resp.StatusCode, Body: err.Error()}
		}
		return nil, fmt.Errorf("open WebSocket: %w", err)
	}
	conn.SetReadLimit(rsocket.MaxFrameSize)
	sctx, cancel := context.WithCancel(ctx)
	w := &wsLines{conn: conn, ctx: sctx, cancel: cancel, idleD: idle, credit: credit,
		stopKeepalive: make(chan struct{}), keepaliveDone: make(chan struct{})}
	w.idle = time.AfterFunc(idle, func() { w.wmu.Lock(); w.idled = true; w.wmu.Unlock(); cancel() })
	go w.keepalive()
	defer func() {
		if err != nil {
			w.close()
		}
	}()

	meta, _ := json.Marshal(map[string]string{"token": "Token " + creds.Token, "user_agent": "powersync-go-client"})
	setup := rsocket.Frame{Type: rsocket.TypeSetup, MajorVersion: 1, MinorVersion: 0,
		KeepaliveMS: uint32(wsKeepalive / time.Millisecond), LifetimeMS: uint32(wsLifetime / time.Millisecond),
		MetadataMIME: "application/json", DataMIME: "application/json", Metadata: meta}
	if err := w.writeFrame(&setup); err != nil {
		return nil, err
	}
	reqMeta, _ := json.Marshal(map[string]string{"path": "/sync/stream"})
	rs := rsocket.Frame{StreamID: wsStreamID, Type: rsocket.TypeRequestStream, N: uint32(credit), Metadata: reqMeta, Data: body}
	if err := w.writeFrame(&rs); err != nil {
		return nil, err
	}
	w.outstanding = credit

	first, err := w.read()
	if err != nil {
		return nil, err
	}
	w.first = first
	return w, nil
}

// writeFrame encodes f into the shared buffer and sends it.
func (w *wsLines) writeFrame(f *rsocket.Frame) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	b, err := f.Append(w.wbuf[:0])
	if err != nil {
		return err
	}
	w.wbuf = b
	return w.write(b)
}

// write sends an encoded frame; wmu held.
func (w *wsLines) write(b []byte) error {
	ctx, cancel := context.WithTimeout(w.ctx, wsWriteTimeout)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageBinary, b); err != nil {
		return fmt.Errorf("WebSocket write: %w", err)
	}
	return nil
}

// keepalive sends a KEEPALIVE (respond) every interval until close.
func (w *wsLines) keepalive() {
	defer close(w.keepaliveDone)
	t := time.NewTicker(wsKeepalive)
	defer t.Stop()
	for {
		select {
		case <-w.stopKeepalive:
			return
		case <-w.ctx.Done():
			return
		case <-t.C:
			w.wmu.Lock()
			w.wbuf = rsocket.AppendKeepalive(w.wbuf[:0], true, 0, nil)
			err := w.write(w.wbuf)
			w.wmu.Unlock()
			if err != nil {
				return // the reader sees the broken connection
			}
		}
	}
}

func (w *wsLines) next() ([]byte, error) {
	if w.first != nil {
		b := w.first
		w.first = nil
		return b, nil
	}
	// The caller has consumed the previous line: top the credit up once
	// half of it is used, as the JS SDK does.
	if !w.ended && w.outstanding <= w.credit/2 {
		w.wmu.Lock()
		w.wbuf = rsocket.AppendRequestN(w.wbuf[:0], wsStreamID, uint32(w.credit-w.outstanding))
		err := w.write(w.wbuf)
		w.wmu.Unlock()
		if err != nil {
			return nil, w.readErr(err)
		}
		w.outstanding = w.credit
	}
	return w.read()
}

// read returns the next line, answering keepalives on the way.
func (w *wsLines) read() ([]byte, error) {
	for {
		if w.ended {
			return nil, io.EOF
		}
		typ, r, err := w.conn.Reader(w.ctx)
		if err != nil {
			return nil, w.readErr(err)
		}
		w.msg.Reset()
		if _, err := w.msg.ReadFrom(r); err != nil {
			return nil, w.readErr(err)
		}
		w.idle.Reset(w.idleD)
		if typ != websocket.MessageBinary {
			return nil, errors.New("sync stream: a text WebSocket message; RSocket frames are binary")
		}
		f, err := rsocket.Decode(w.msg.Bytes())
		if err != nil {
			return nil, fmt.Errorf("sync stream: %w", err)
		}
		f, whole, err := w.asm.Add(f)
		if err != nil {
			return nil, fmt.Errorf("sync stream: %w", err)
		}
		if !whole {
			continue
		}
		switch f.Type {
		case rsocket.TypePayload:
			if f.StreamID != wsStreamID {
				return nil, fmt.Errorf("sync stream: PAYLOAD on stream %d", f.StreamID)
			}
			if f.Flags&rsocket.FlagComplete != 0 {
				w.ended = true
			}
			if f.Flags&rsocket.FlagNext == 0 {
				continue // COMPLETE alone
			}
			if w.outstanding <= 0 {
				return nil, errors.New("sync stream: the service sent a PAYLOAD beyond the credit granted")
			}
			w.outstanding--
			w.bytes += int64(len(f.Data))
			return bsonLine(w.json[:0], f.Data, &w.json)
		case rsocket.TypeError:
			w.ended = true
			return nil, streamError(f)
		case rsocket.TypeKeepalive:
			if f.Flags&rsocket.FlagRespond != 0 {
				w.wmu.Lock()
				w.wbuf = rsocket.AppendKeepalive(w.wbuf[:0], false, 0, f.Data)
				err := w.write(w.wbuf)
				w.wmu.Unlock()
				if err != nil {
					return nil, w.readErr(err)
				}
			}
		case rsocket.TypeMetadataPush, rsocket.TypeRequestN:
			// Nothing a sync client acts on.
		default:
			if f.Flags&rsocket.FlagIgnore == 0 {
				return nil, fmt.Errorf("sync stream: unexpected %v frame", f.Type)
			}
		}
	}
}

// readErr explains a failed read: the idle watchdog, or the connection.
func (w *wsLines) readErr(err error) error {
	w.wmu.Lock()
	idled := w.idled
	w.wmu.Unlock()
	if idled {
		return fmt.Errorf("sync stream: nothing received on the WebSocket for %s", w.idleD)
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) && ce.Code == websocket.StatusNormalClosure {
		return io.EOF
	}
	return err
}

func (w *wsLines) wire() int64 { return w.bytes }

// close cancels the stream when it has not ended, closes the WebSocket and
// waits for the keepalive goroutine. Safe to call twice.
func (w *wsLines) close() error {
	w.closeOnce.Do(func() {
		w.idle.Stop()
		close(w.stopKeepalive)
		if !w.ended && w.ctx.Err() == nil {
			w.wmu.Lock()
			w.wbuf = rsocket.AppendCancel(w.wbuf[:0], wsStreamID)
			_ = w.write(w.wbuf)
			w.wmu.Unlock()
		}
		_ = w.conn.Close(websocket.StatusNormalClosure, "")
		w.cancel()
		<-w.keepaliveDone
	})
	return nil
}
