package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
)

// The lenient decoding side of the sync lines, for clients (the Go client
// SDK, the test-client, diagnostics). The types in lines.go describe what
// this service sends; these accept what the official clients accept from
// any PowerSync service (the Rust core's line.rs is the measure):
//
//   - a checksum may be signed or unsigned 32-bit, or a whole-number float;
//   - op ids may be base-10 strings or JSON integers (OpID);
//   - priority, count, write_checkpoint, streams, subscriptions, subkey,
//     object_type, object_id and an op's data may be absent or null;
//   - unknown keys are ignored, and a line of an unknown type is reported as
//     kind "unknown" for the caller to skip.

// DefaultPriority is the priority of a bucket whose checkpoint entry has
// none: the lowest (3), as the official clients assume.
const DefaultPriority = 3

// Checksum is a 32-bit op or bucket checksum as a client reads it: from a
// signed or unsigned 32-bit integer, or a whole-number float.
type Checksum uint32

// UnmarshalJSON reads any of the accepted representations.
func (c *Checksum) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		if n < math.MinInt32 || n > math.MaxUint32 {
			return fmt.Errorf("checksum %d is out of the 32-bit range", n)
		}
		*c = Checksum(uint32(n))
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxUint32 {
		return fmt.Errorf("checksum %s is not a 32-bit integer", truncateForError(b))
	}
	*c = Checksum(uint32(int64(f)))
	return nil
}

// CheckpointBucket is one bucket of a received checkpoint or diff.
type CheckpointBucket struct {
	Bucket        string               `json:"bucket"`
	Checksum      Checksum             `json:"checksum"`
	Count         int64                `json:"count"`
	Priority      *int                 `json:"priority"`
	Subscriptions []BucketSubscription `json:"subscriptions"`
}

// EffectivePriority is the bucket's priority, DefaultPriority when the
// service sent none.
func (b CheckpointBucket) EffectivePriority() int {
	if b.Priority == nil {
		return DefaultPriority
	}
	return *b.Priority
}

// CheckpointLine is a received full checkpoint: every bucket the client
// should hold.
type CheckpointLine struct {
	LastOpID        OpID                `json:"last_op_id"`
	WriteCheckpoint *OpID               `json:"write_checkpoint"`
	Buckets         []CheckpointBucket  `json:"buckets"`
	Streams         []StreamDescription `json:"streams"`
}

// CheckpointDiffLine is a received update of the previous checkpoint.
type CheckpointDiffLine struct {
	LastOpID        OpID               `json:"last_op_id"`
	WriteCheckpoint *OpID              `json:"write_checkpoint"`
	UpdatedBuckets  []CheckpointBucket `json:"updated_buckets"`
	RemovedBuckets  []string           `json:"removed_buckets"`
}

// DataOp is one received operation of a data line. Row identity fields
// and Data are nil when absent or null (always for MOVE and CLEAR).
type DataOp struct {
	OpID       OpID     `json:"op_id"`
	Op         Op       `json:"op"`
	ObjectType *string  `json:"object_type"`
	ObjectID   *string  `json:"object_id"`
	Subkey     *string  `json:"subkey"`
	Data       *string  `json:"data"`
	Checksum   Checksum `json:"checksum"`
}

// Entry is the op as an OplogEntry (absent fields empty).
func (o *DataOp) Entry() OplogEntry {
	e := OplogEntry{OpID: o.OpID, Op: o.Op, Data: o.Data, Checksum: uint32(o.Checksum)}
	if o.ObjectType != nil {
		e.ObjectType = *o.ObjectType
	}
	if o.ObjectID != nil {
		e.ObjectID = *o.ObjectID
	}
	if o.Subkey != nil {
		e.Subkey = *o.Subkey
	}
	return e
}

// DataLine is a received chunk of one bucket's operations. After,
// NextAfter and HasMore are informational (the official clients ignore
// them) and zero when absent.
type DataLine struct {
	Bucket    string   `json:"bucket"`
	After     OpID     `json:"after"`
	NextAfter OpID     `json:"next_after"`
	HasMore   bool     `json:"has_more"`
	Data      []DataOp `json:"data"`
}

// CompleteLine is a received checkpoint_complete (Priority nil) or
// partial_checkpoint_complete line.
type CompleteLine struct {
	LastOpID OpID `json:"last_op_id"`
	Priority *int `json:"priority"`
}

// SyncLine is one received line of a sync stream. Exactly one of the
// fields is set, except for a line of an unknown type, where none is.
type SyncLine struct {
	Checkpoint                *CheckpointLine
	CheckpointDiff            *CheckpointDiffLine
	Data                      *DataLine
	CheckpointComplete        *CompleteLine
	PartialCheckpointComplete *CompleteLine
	TokenExpiresIn            *int64
	// Raw is the line as received, without the line ending.
	Raw []byte
}

// Kind names the line type ("checkpoint", "data", …, or "unknown").
func (l *SyncLine) Kind() string {
	switch {
	case l.Checkpoint != nil:
		return "checkpoint"
	case l.CheckpointDiff != nil:
		return "checkpoint_diff"
	case l.Data != nil:
		return "data"
	case l.CheckpointComplete != nil:
		return "checkpoint_complete"
	case l.PartialCheckpointComplete != nil:
		return "partial_checkpoint_complete"
	case l.TokenExpiresIn != nil:
		return "token_expires_in"
	}
	return "unknown"
}

// ParseLine decodes one NDJSON line of a sync stream. A line must be a JSON
// object with exactly one key; a key it does not know gives a line of kind
// "unknown", which callers skip for forward compatibility. b is kept as
// Raw, not copied.
func ParseLine(b []byte) (*SyncLine, error) {
	// One pass: '{', the key, the value straight into its struct, '}'.
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("sync line %s: not a JSON object", truncateForError(b))
	}
	keyTok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("sync line %s: %w", truncateForError(b), err)
	}
	k, ok := keyTok.(string)
	if !ok {
		return nil, fmt.Errorf("sync line %s: want exactly one key, got 0", truncateForError(b))
	}
	l := &SyncLine{Raw: b}
	var target any
	switch k {
	case "checkpoint":
		l.Checkpoint = new(CheckpointLine)
		target = l.Checkpoint
	case "checkpoint_diff":
		l.CheckpointDiff = new(CheckpointDiffLine)
		target = l.CheckpointDiff
	case "data":
		l.Data = new(DataLine)
		target = l.Data
	case "checkpoint_complete":
		l.CheckpointComplete = new(CompleteLine)
		target = l.CheckpointComplete
	case "partial_checkpoint_complete":
		l.PartialCheckpointComplete = new(CompleteLine)
		target = l.PartialCheckpointComplete
	case "token_expires_in":
		l.TokenExpiresIn = new(int64)
		target = l.TokenExpiresIn
	default:
		target = new(json.RawMessage)
	}
	if err := dec.Decode(target); err != nil {
		return nil, fmt.Errorf("sync line %q: %w", k, err)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fmt.Errorf("sync line %s: want exactly one key", truncateForError(b))
	}
	if l.PartialCheckpointComplete != nil && l.PartialCheckpointComplete.Priority == nil {
		return nil, fmt.Errorf("sync line %q: no priority", k)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("sync line %s: text after the object", truncateForError(b))
	}
	return l, nil
}
