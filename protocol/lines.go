package protocol

// The lines of a sync stream as this service sends them. Each NDJSON line is
// a JSON object with exactly one key naming the line type; the Append*
// encoders in encode.go write that shape from these types, and ParseLine
// (decode.go) reads it leniently on the client side.

// Op is the type of an operation in a bucket.
type Op string

// The four operation types.
const (
	OpPut    Op = "PUT"
	OpRemove Op = "REMOVE"
	OpMove   Op = "MOVE"
	OpClear  Op = "CLEAR"
)

// Checkpoint is the first line of every stream: the complete set of buckets
// the client should hold, with their checksums as of LastOpID.
type Checkpoint struct {
	LastOpID        OpID                `json:"last_op_id"`
	WriteCheckpoint *OpID               `json:"write_checkpoint,omitempty"`
	Buckets         []BucketChecksum    `json:"buckets"`
	Streams         []StreamDescription `json:"streams,omitempty"`
}

// CheckpointDiff updates the previous checkpoint of the same connection.
// WriteCheckpoint must be repeated on every diff: clients treat absent as none.
type CheckpointDiff struct {
	LastOpID        OpID             `json:"last_op_id"`
	WriteCheckpoint *OpID            `json:"write_checkpoint,omitempty"`
	UpdatedBuckets  []BucketChecksum `json:"updated_buckets"`
	RemovedBuckets  []string         `json:"removed_buckets"`
}

// BucketChecksum describes one bucket in a checkpoint.
type BucketChecksum struct {
	Bucket string `json:"bucket"`
	// Checksum is the wrapping 32-bit sum of the bucket's op checksums,
	// written signed as the reference service does.
	Checksum      int32                `json:"checksum"`
	Count         int64                `json:"count"`
	Priority      int                  `json:"priority"`
	Subscriptions []BucketSubscription `json:"subscriptions,omitempty"`
}

// BucketSubscription says why a bucket is included: Default indexes the
// checkpoint's Streams, Sub indexes the request's explicit subscriptions.
type BucketSubscription struct {
	Default *int `json:"default,omitempty"`
	Sub     *int `json:"sub,omitempty"`
}

// StreamDescription describes one stream (or legacy bucket definition) in a
// checkpoint line.
type StreamDescription struct {
	Name      string        `json:"name"`
	IsDefault bool          `json:"is_default"`
	Errors    []StreamError `json:"errors"`
}

// StreamError reports a subscription that could not be resolved.
// Subscription is "default" or the index of the explicit subscription.
type StreamError struct {
	Subscription any    `json:"subscription"`
	Message      string `json:"message"`
}

// Data is a chunk of one bucket's operations.
type Data struct {
	Bucket    string       `json:"bucket"`
	After     OpID         `json:"after"`
	NextAfter OpID         `json:"next_after"`
	HasMore   bool         `json:"has_more"`
	Data      []OplogEntry `json:"data"`
}

// OplogEntry is one operation. PUT and REMOVE carry the row identity; MOVE
// and CLEAR carry only OpID, Op and Checksum. Data is the row as JSON text.
type OplogEntry struct {
	OpID       OpID    `json:"op_id"`
	Op         Op      `json:"op"`
	ObjectType string  `json:"object_type,omitempty"`
	ObjectID   string  `json:"object_id,omitempty"`
	Subkey     string  `json:"subkey,omitempty"`
	Data       *string `json:"data,omitempty"`
	Checksum   uint32  `json:"checksum"`
}

// CheckpointComplete ends the data of a checkpoint.
type CheckpointComplete struct {
	LastOpID OpID `json:"last_op_id"`
}

// PartialCheckpointComplete ends the data of one priority group.
type PartialCheckpointComplete struct {
	LastOpID OpID `json:"last_op_id"`
	Priority int  `json:"priority"`
}

// Line is one line of a sync stream in the types above; exactly one field is
// set. It reads this service's own lines strictly with encoding/json (tests
// use it); clients use ParseLine.
type Line struct {
	Checkpoint                *Checkpoint                `json:"checkpoint,omitempty"`
	CheckpointDiff            *CheckpointDiff            `json:"checkpoint_diff,omitempty"`
	Data                      *Data                      `json:"data,omitempty"`
	CheckpointComplete        *CheckpointComplete        `json:"checkpoint_complete,omitempty"`
	PartialCheckpointComplete *PartialCheckpointComplete `json:"partial_checkpoint_complete,omitempty"`
	TokenExpiresIn            *int64                     `json:"token_expires_in,omitempty"`
}

// WriteCheckpointResponse is the body of GET /write-checkpoint2.json.
type WriteCheckpointResponse struct {
	Data struct {
		WriteCheckpoint OpID `json:"write_checkpoint"`
	} `json:"data"`
}

// CheckpointRequestResponse is the body of POST /sync/checkpoint-request.
type CheckpointRequestResponse struct {
	Data struct {
		CheckpointRequestID OpID `json:"checkpoint_request_id"`
	} `json:"data"`
}
