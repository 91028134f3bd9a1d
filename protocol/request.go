package protocol

import "encoding/json"

// StreamingSyncRequest is the JSON body of POST /sync/stream. Unknown fields
// are tolerated; clients differ in which optional fields they send.
type StreamingSyncRequest struct {
	// Buckets lists the buckets the client already holds and the op id it
	// holds them up to.
	Buckets []BucketRequest `json:"buckets,omitempty"`
	// IncludeChecksum is always true from current clients and is ignored.
	IncludeChecksum bool `json:"include_checksum,omitempty"`
	// RawData asks for op data as a JSON string (all current clients).
	RawData bool `json:"raw_data,omitempty"`
	// BinaryData is still sent by the Rust core and ignored.
	BinaryData bool `json:"binary_data,omitempty"`
	// ClientID scopes write checkpoints to one installation.
	ClientID string `json:"client_id,omitempty"`
	// Parameters are the client (connection) parameters; may be null.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	// AppMetadata is used for logging only.
	AppMetadata map[string]string `json:"app_metadata,omitempty"`
	// Streams carries Sync Streams subscriptions.
	Streams *StreamsRequest `json:"streams,omitempty"`
}

// BucketRequest is one bucket a client already has, with the op id it holds.
type BucketRequest struct {
	Name  string `json:"name"`
	After OpID   `json:"after"`
}

// StreamsRequest is the Sync Streams part of a sync request.
type StreamsRequest struct {
	// IncludeDefaults subscribes to every auto_subscribe stream (default true).
	IncludeDefaults *bool `json:"include_defaults,omitempty"`
	// Subscriptions are explicit subscriptions; their index is referenced by
	// {"sub": i} in checkpoint lines.
	Subscriptions []StreamSubscription `json:"subscriptions"`
}

// IncludesDefaults reports whether default streams are requested.
func (s *StreamsRequest) IncludesDefaults() bool {
	return s == nil || s.IncludeDefaults == nil || *s.IncludeDefaults
}

// StreamSubscription is one explicit subscription to a Sync Stream.
type StreamSubscription struct {
	Stream           string          `json:"stream"`
	Parameters       json.RawMessage `json:"parameters,omitempty"`
	OverridePriority *int            `json:"override_priority,omitempty"`
}

// CheckpointRequest is the JSON body of POST /sync/checkpoint-request.
type CheckpointRequest struct {
	ClientID            string `json:"client_id"`
	CheckpointRequestID OpID   `json:"checkpoint_request_id"`
}
