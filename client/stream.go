package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/powersync-go/powersync/protocol"
	"github.com/powersync-go/powersync/protocol/bson"
)

// Credentials are what a Connector hands the client: the service's base URL
// (served at the root of the host, no trailing slash needed) and a JWT.
type Credentials struct {
	Endpoint string
	Token    string
}

// HTTPError is a non-2xx answer from the service. Err is the decoded
// {"error": …} body when there was one.
type HTTPError struct {
	Status int
	Err    *protocol.Error
	Body   string
}

func (e *HTTPError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Err.Error())
	}
	if e.Body != "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// Code is the PSYNC code of the error, or "HTTP <status>" without one.
func (e *HTTPError) Code() string {
	if e.Err != nil && e.Err.Code != "" {
		return e.Err.Code
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// IsUnauthorized reports whether err is an HTTP 401 from the service, or
// over WebSocket an error with an authorization code (PSYNC_S21xx): the
// credentials must be fetched again before the next attempt.
func IsUnauthorized(err error) bool {
	var he *HTTPError
	var se *StreamError
	switch {
	case errors.As(err, &he):
		return he.Status == http.StatusUnauthorized
	case errors.As(err, &se):
		return strings.HasPrefix(se.Code, "PSYNC_S21")
	}
	return false
}

// ErrorCode returns a short stable code for err, for counting errors by kind:
// the PSYNC code or HTTP status of a service error (over WebSocket, the
// PSYNC code of its error frame), "checksum" for a
// checksum mismatch, otherwise "network".
func ErrorCode(err error) string {
	var he *HTTPError
	var se *StreamError
	var ce *ChecksumError
	switch {
	case errors.As(err, &he):
		return he.Code()
	case errors.As(err, &se) && se.Code != "":
		return se.Code
	case errors.As(err, &ce):
		return "checksum"
	case err == nil:
		return ""
	}
	return "network"
}

func endpointURL(endpoint, path string) string {
	return strings.TrimRight(endpoint, "/") + path
}

func newRequest(ctx context.Context, method string, creds Credentials, path string, body io.Reader) (*http.Request, error) {
	if creds.Endpoint == "" {
		return nil, errors.New("credentials have no endpoint")
	}
	req, err := http.NewRequestWithContext(ctx, method, endpointURL(creds.Endpoint, path), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Token "+creds.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "powersync-go-client")
	return req, nil
}

func httpError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	he := &HTTPError{Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	var body protocol.ErrorBody
	if json.Unmarshal(b, &body) == nil && body.Error != nil {
		he.Err = body.Error
	}
	return he
}

// Transport is how a client reads its sync stream from the service.
type Transport string

// The transports of the PowerSync protocol.
const (
	// TransportHTTP posts /sync/stream and reads NDJSON lines (the default).
	TransportHTTP Transport = "http"
	// TransportBSON posts /sync/stream preferring BSON documents, as the
	// official SDKs do; the reply's Content-Type says which it got (a
	// service without BSON answers NDJSON).
	TransportBSON Transport = "bson"
	// TransportWebSocket opens /sync/stream as a WebSocket and speaks
	// RSocket over it: the token in the SETUP frame, one BSON line per
	// PAYLOAD frame, and credit (REQUEST_N) granted as lines are consumed,
	// so the service never sends more than the client can take.
	TransportWebSocket Transport = "websocket"
)

// Transports lists the valid transports, default first.
var Transports = []Transport{TransportHTTP, TransportBSON, TransportWebSocket}

// ParseTransport checks a transport name ("" means TransportHTTP).
func ParseTransport(s string) (Transport, error) {
	if s == "" {
		return TransportHTTP, nil
	}
	for _, t := range Transports {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown transport %q (want http, bson or websocket)", s)
}

// Content types of the two line encodings.
const (
	contentNDJSON = "application/x-ndjson"
	contentBSON   = "application/vnd.powersync.bson-stream"
)

// StreamOptions choose how OpenStreamWith connects. The zero value is NDJSON
// over HTTP with http.DefaultClient.
type StreamOptions struct {
	// HTTPClient makes the request (for WebSocket, the upgrade request);
	// default http.DefaultClient.
	HTTPClient *http.Client
	// Transport is the wire to use; default TransportHTTP.
	Transport Transport
	// Credit is how many lines a WebSocket stream may have in flight:
	// the first REQUEST_STREAM asks for this many, and more are granted
	// once half are consumed. Default 10 (what the official JS SDK uses).
	Credit int
	// Idle ends a WebSocket stream on which no frame at all arrived for
	// this long (the client's keepalives are echoed about every 20 s);
	// default 60 s. HTTP streams carry keepalive lines instead, which the
	// reader of the lines watches.
	Idle time.Duration
}

// Stream is one open sync stream. Next returns its lines in order, as JSON
// whatever the transport. It is the transport under the DB's sync loop, and
// usable on its own for tools that only read (test-client).
type Stream struct {
	src      lineReader
	encoding string
}

// lineReader is one transport's way of reading lines: next returns the next
// line as a JSON object (valid until the next call), io.EOF at the end.
type lineReader interface {
	next() ([]byte, error)
	// wire is the number of bytes of line encoding read so far.
	wire() int64
	close() error
}

// OpenStream posts req to creds.Endpoint/sync/stream and returns the stream
// once the service has answered with 200. Any other status is an *HTTPError.
// hc nil means http.DefaultClient. It reads NDJSON; OpenStreamWith chooses
// another transport.
func OpenStream(ctx context.Context, hc *http.Client, creds Credentials, req *protocol.StreamingSyncRequest) (*Stream, error) {
	return OpenStreamWith(ctx, creds, req, StreamOptions{HTTPClient: hc})
}

// OpenStreamWith opens a sync stream over the transport of opts. The
// service's refusal is an *HTTPError (over WebSocket: a *StreamError
// carrying the PSYNC code, which IsUnauthorized also recognises).
func OpenStreamWith(ctx context.Context, creds Credentials, req *protocol.StreamingSyncRequest, opts StreamOptions) (*Stream, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	switch opts.Transport {
	case TransportWebSocket:
		src, err := openWebSocket(ctx, opts, creds, body)
		if err != nil {
			return nil, err
		}
		return &Stream{src: src, encoding: "bson"}, nil
	case "", TransportHTTP, TransportBSON:
	default:
		return nil, fmt.Errorf("unknown transport %q", opts.Transport)
	}
	hr, err := newRequest(ctx, http.MethodPost, creds, "/sync/stream", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Accept", contentNDJSON)
	if opts.Transport == TransportBSON {
		hr.Header.Set("Accept", contentBSON+";q=0.9,"+contentNDJSON+";q=0.8")
	}
	resp, err := opts.HTTPClient.Do(hr)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, httpError(resp)
	}
	// As the official clients do: BSON only when the reply says exactly
	// that, NDJSON otherwise.
	if resp.Header.Get("Content-Type") == contentBSON {
		return &Stream{src: &bsonLines{body: resp.Body, r: bson.NewReader(bufio.NewReaderSize(resp.Body, 64<<10), 0)}, encoding: "bson"}, nil
	}
	return &Stream{src: &ndjsonLines{body: resp.Body, r: bufio.NewReaderSize(resp.Body, 64<<10)}, encoding: "ndjson"}, nil
}

// NextRaw returns the next line as a JSON object without a newline. The
// slice is valid until the next call. At the end of the stream it returns
// io.EOF.
func (s *Stream) NextRaw() ([]byte, error) { return s.src.next() }

// Next returns the next decoded line; io.EOF at the end of the stream.
func (s *Stream) Next() (*Line, error) {
	b, err := s.NextRaw()
	if err != nil {
		return nil, err
	}
	return ParseLine(append([]byte(nil), b...))
}

// Bytes is the number of bytes of encoded lines read so far: NDJSON text,
// or BSON documents (over WebSocket, the PAYLOAD frames' data).
func (s *Stream) Bytes() int64 { return s.src.wire() }

// Encoding is the line encoding the service answered with: "ndjson" or
// "bson".
func (s *Stream) Encoding() string { return s.encoding }

// Close ends the stream.
func (s *Stream) Close() error { return s.src.close() }

// ndjsonLines reads newline-terminated JSON lines.
type ndjsonLines struct {
	body  io.Closer
	r     *bufio.Reader
	bytes int64
}

func (n *ndjsonLines) next() ([]byte, error) {
	for {
		b, err := n.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: collect it.
			full := append([]byte(nil), b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = n.r.ReadSlice('\n')
				full = append(full, b...)
			}
			b = full
		}
		n.bytes += int64(len(b))
		if err != nil {
			if errors.Is(err, io.EOF) && len(bytes.TrimSpace(b)) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		b = bytes.TrimSpace(b)
		if len(b) > 0 {
			return b, nil
		}
	}
}

func (n *ndjsonLines) wire() int64  { return n.bytes }
func (n *ndjsonLines) close() error { return n.body.Close() }

// bsonLines reads concatenated BSON documents and hands them on as JSON.
type bsonLines struct {
	body  io.Closer
	r     *bson.Reader
	json  []byte
	bytes int64
}

func (b *bsonLines) next() ([]byte, error) {
	doc, err := b.r.Next()
	if err != nil {
		return nil, err
	}
	b.bytes += int64(len(doc))
	return bsonLine(b.json[:0], doc, &b.json)
}

func (b *bsonLines) wire() int64  { return b.bytes }
func (b *bsonLines) close() error { return b.body.Close() }

// bsonLine converts one BSON sync line to JSON into dst, keeping the
// buffer in *keep for the next line.
func bsonLine(dst, doc []byte, keep *[]byte) ([]byte, error) {
	out, err := bson.ToJSON(dst, doc)
	if err != nil {
		return nil, fmt.Errorf("sync line (BSON): %w", err)
	}
	*keep = out
	return out, nil
}

// WriteCheckpoint asks the service for a write checkpoint of this client
// (GET /write-checkpoint2.json): once a checkpoint carries a write_checkpoint
// at least this value, every write the backend committed before the call is
// part of the synced data.
func WriteCheckpoint(ctx context.Context, hc *http.Client, creds Credentials, clientID string) (int64, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := newRequest(ctx, http.MethodGet, creds, "/write-checkpoint2.json?client_id="+url.QueryEscape(clientID), nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, httpError(resp)
	}
	var body protocol.WriteCheckpointResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("write-checkpoint2.json: %w", err)
	}
	return int64(body.Data.WriteCheckpoint), nil
}

// RequestCheckpoint posts a checkpoint request (POST /sync/checkpoint-request)
// with id and returns the id the service holds for this client, the
// greater of id and any earlier one. Like a write checkpoint, a checkpoint
// whose write_checkpoint reaches it includes every write the backend
// committed before the call.
func RequestCheckpoint(ctx context.Context, hc *http.Client, creds Credentials, clientID string, id int64) (int64, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	body, err := json.Marshal(protocol.CheckpointRequest{ClientID: clientID, CheckpointRequestID: protocol.OpID(id)})
	if err != nil {
		return 0, err
	}
	req, err := newRequest(ctx, http.MethodPost, creds, "/sync/checkpoint-request", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, httpError(resp)
	}
	var out protocol.CheckpointRequestResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, fmt.Errorf("checkpoint-request: %w", err)
	}
	return int64(out.Data.CheckpointRequestID), nil
}
