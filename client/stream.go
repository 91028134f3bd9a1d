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

	"github.com/powersync-go/powersync/protocol"
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

// IsUnauthorized reports whether err is an HTTP 401 from the service: the
// credentials must be fetched again before the next attempt.
func IsUnauthorized(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == http.StatusUnauthorized
}

// ErrorCode returns a short stable code for err, for counting errors by kind:
// the PSYNC code or HTTP status of a service error, "checksum" for a
// checksum mismatch, otherwise "network".
func ErrorCode(err error) string {
	var he *HTTPError
	var ce *ChecksumError
	switch {
	case errors.As(err, &he):
		return he.Code()
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

// Stream is one open sync stream (POST /sync/stream). Next returns its lines
// in order. It is the transport under the DB's sync loop, and usable on its
// own for tools that only read (test-client).
type Stream struct {
	resp  *http.Response
	r     *bufio.Reader
	bytes int64
}

// OpenStream posts req to creds.Endpoint/sync/stream and returns the stream
// once the service has answered with 200. Any other status is an *HTTPError.
// hc nil means http.DefaultClient.
func OpenStream(ctx context.Context, hc *http.Client, creds Credentials, req *protocol.StreamingSyncRequest) (*Stream, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hr, err := newRequest(ctx, http.MethodPost, creds, "/sync/stream", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Accept", "application/x-ndjson")
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, httpError(resp)
	}
	return &Stream{resp: resp, r: bufio.NewReaderSize(resp.Body, 64<<10)}, nil
}

// NextRaw returns the next non-empty line without its newline. The slice is
// valid until the next call. At the end of the stream it returns io.EOF.
func (s *Stream) NextRaw() ([]byte, error) {
	for {
		b, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: collect it.
			full := append([]byte(nil), b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = s.r.ReadSlice('\n')
				full = append(full, b...)
			}
			b = full
		}
		s.bytes += int64(len(b))
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

// Next returns the next decoded line; io.EOF at the end of the stream.
func (s *Stream) Next() (*Line, error) {
	b, err := s.NextRaw()
	if err != nil {
		return nil, err
	}
	return ParseLine(append([]byte(nil), b...))
}

// Bytes is the number of bytes read from the stream so far.
func (s *Stream) Bytes() int64 { return s.bytes }

// Close ends the stream.
func (s *Stream) Close() error { return s.resp.Body.Close() }

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
