package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/powersync-go/powersync/protocol"
)

// DefaultMaxRequestBytes bounds the body of a sync request. A client with
// the maximum of 1000 buckets sends well under 200 KB.
const DefaultMaxRequestBytes = 1 << 20

// errBodyTooLarge is returned by DecodeRequest when the body exceeds its limit.
var errBodyTooLarge = errors.New("request body is too large")

// DecodeRequest reads and validates the JSON body of POST /sync/stream from
// r, reading at most limit bytes (DefaultMaxRequestBytes when limit ≤ 0).
// Unknown fields are allowed; an empty body is an empty request. Every error
// is a 400 *protocol.Error whose Details say what was wrong and where.
func DecodeRequest(r io.Reader, limit int64) (*protocol.StreamingSyncRequest, error) {
	if limit <= 0 {
		limit = DefaultMaxRequestBytes
	}
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, validationError("could not read the request body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, validationError("%v (limit %d bytes)", errBodyTooLarge, limit)
	}
	var req protocol.StreamingSyncRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return &req, nil
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, validationError("%s", describeJSONError(body, err))
	}
	if err := validateRequest(&req); err != nil {
		return nil, err
	}
	return &req, nil
}

func validateRequest(req *protocol.StreamingSyncRequest) error {
	for i, b := range req.Buckets {
		if b.Name == "" {
			return validationError("buckets[%d].name must be a non-empty string", i)
		}
		if b.After < 0 {
			return validationError("buckets[%d].after must not be negative, got %d", i, b.After)
		}
	}
	if err := checkObject("parameters", req.Parameters); err != nil {
		return err
	}
	if req.Streams != nil {
		for i, s := range req.Streams.Subscriptions {
			if s.Stream == "" {
				return validationError("streams.subscriptions[%d].stream must be a non-empty string", i)
			}
			if err := checkObject(fmt.Sprintf("streams.subscriptions[%d].parameters", i), s.Parameters); err != nil {
				return err
			}
			if p := s.OverridePriority; p != nil && (*p < 0 || *p > 3) {
				return validationError("streams.subscriptions[%d].override_priority must be 0..3, got %d", i, *p)
			}
		}
	}
	return nil
}

// checkObject accepts an absent value, null or a JSON object.
func checkObject(field string, raw json.RawMessage) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) || t[0] == '{' {
		return nil
	}
	return validationError("%s must be an object or null, got %s", field, jsonKind(t[0]))
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// describeJSONError turns a decoding error into a message naming the field
// or the byte offset.
func describeJSONError(body []byte, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return fmt.Sprintf("the body must be a JSON object, got %s", te.Value)
		}
		return fmt.Sprintf("%s must be %s, got %s", field, goTypeName(te.Type.String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("invalid JSON: the body ends early (after %d bytes)", len(body))
	}
	// Errors from custom decoders (op ids) carry their own explanation.
	return "invalid request: " + err.Error()
}

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "protocol."), strings.HasPrefix(t, "*protocol."):
		return "an object"
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "*int"):
		return "an integer"
	}
	return t
}

func validationError(format string, args ...any) *protocol.Error {
	return &protocol.Error{
		Name:        protocol.NameValidationError,
		Code:        protocol.CodeValidation,
		Status:      400,
		Description: "Validation failed",
		Details:     fmt.Sprintf(format, args...),
	}
}

// decodeJSONBody decodes a small JSON request body into v, with the same
// limit and error messages as DecodeRequest.
func decodeJSONBody(r *http.Request, limit int64, v any) error {
	if limit <= 0 {
		limit = DefaultMaxRequestBytes
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return validationError("could not read the request body: %v", err)
	}
	if int64(len(body)) > limit {
		return validationError("%v (limit %d bytes)", errBodyTooLarge, limit)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return validationError("the body must be a JSON object, got nothing")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return validationError("%s", describeJSONError(body, err))
	}
	return nil
}
