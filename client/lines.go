package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/powersync-go/powersync/protocol"
)

// The client decodes stream lines into its own structs rather than the
// protocol package's encoder-side types, because it must be lenient where
// services differ: a checksum may be written signed or unsigned, as an
// integer or a whole float, and an op's data may be absent or null.

// Checksum is a 32-bit op or bucket checksum. It decodes from a signed or
// unsigned 32-bit integer, or a whole-number float, as the official clients
// accept.
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
		return fmt.Errorf("checksum %s is not a 32-bit integer", truncate(b, 40))
	}
	*c = Checksum(uint32(int64(f)))
	return nil
}

// BucketChecksum is one bucket of a checkpoint line.
type BucketChecksum struct {
	Bucket   string   `json:"bucket"`
	Checksum Checksum `json:"checksum"`
	Count    int64    `json:"count"`
	Priority *int     `json:"priority"`
}

// EffectivePriority is the bucket's priority, 3 when the service sent none.
func (b BucketChecksum) EffectivePriority() int {
	if b.Priority == nil {
		return DefaultPriority
	}
	return *b.Priority
}

// CheckpointLine is a full checkpoint: every bucket the client should hold.
type CheckpointLine struct {
	LastOpID        protocol.OpID                `json:"last_op_id"`
	WriteCheckpoint *protocol.OpID               `json:"write_checkpoint"`
	Buckets         []BucketChecksum             `json:"buckets"`
	Streams         []protocol.StreamDescription `json:"streams"`
}

// CheckpointDiffLine updates the previous checkpoint of the same stream.
type CheckpointDiffLine struct {
	LastOpID        protocol.OpID    `json:"last_op_id"`
	WriteCheckpoint *protocol.OpID   `json:"write_checkpoint"`
	UpdatedBuckets  []BucketChecksum `json:"updated_buckets"`
	RemovedBuckets  []string         `json:"removed_buckets"`
}

// OplogEntry is one operation of a data line.
type OplogEntry struct {
	OpID       protocol.OpID `json:"op_id"`
	Op         protocol.Op   `json:"op"`
	ObjectType *string       `json:"object_type"`
	ObjectID   *string       `json:"object_id"`
	Subkey     *string       `json:"subkey"`
	Data       *string       `json:"data"`
	Checksum   Checksum      `json:"checksum"`
}

// DataLine is a chunk of one bucket's operations.
type DataLine struct {
	Bucket string       `json:"bucket"`
	Data   []OplogEntry `json:"data"`
}

// CompleteLine ends a checkpoint (Priority nil) or one priority group of it.
type CompleteLine struct {
	LastOpID protocol.OpID `json:"last_op_id"`
	Priority *int          `json:"priority"`
}

// Line is one decoded line of a sync stream. Exactly one of the fields is
// set, except for unknown line types, where none is and Raw holds the text.
type Line struct {
	Checkpoint                *CheckpointLine
	CheckpointDiff            *CheckpointDiffLine
	Data                      *DataLine
	CheckpointComplete        *CompleteLine
	PartialCheckpointComplete *CompleteLine
	TokenExpiresIn            *int64
	// Raw is the line as received, without the newline.
	Raw []byte
}

// Kind names the line type ("checkpoint", "data", …, or "unknown").
func (l *Line) Kind() string {
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
// object with exactly one key; unknown keys give a Line of kind "unknown",
// which callers ignore for forward compatibility.
func ParseLine(b []byte) (*Line, error) {
	// One pass: '{', the key, the value straight into its struct, '}'.
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("sync line %s: not a JSON object", truncate(b, 60))
	}
	keyTok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("sync line %s: %w", truncate(b, 60), err)
	}
	k, ok := keyTok.(string)
	if !ok {
		return nil, fmt.Errorf("sync line %s: want exactly one key, got 0", truncate(b, 60))
	}
	l := &Line{Raw: b}
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
		return nil, fmt.Errorf("sync line %s: want exactly one key", truncate(b, 60))
	}
	if l.PartialCheckpointComplete != nil && l.PartialCheckpointComplete.Priority == nil {
		return nil, fmt.Errorf("sync line %q: no priority", k)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("sync line %s: text after the object", truncate(b, 60))
	}
	return l, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return strconv.Quote(string(b[:n]) + "…")
	}
	return strconv.Quote(string(b))
}
