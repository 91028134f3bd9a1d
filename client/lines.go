package client

import "github.com/powersync-go/powersync/protocol"

// The client reads stream lines with protocol's lenient decoders (see
// protocol.ParseLine): they accept what the official clients accept from
// any PowerSync service — checksums signed, unsigned or as whole floats,
// op ids as strings or numbers, optional fields absent or null, unknown
// keys and line types. The names below are the client's for the same
// types.

// Checksum is a 32-bit op or bucket checksum (protocol.Checksum).
type Checksum = protocol.Checksum

// BucketChecksum is one bucket of a checkpoint line.
type BucketChecksum = protocol.CheckpointBucket

// CheckpointLine is a full checkpoint: every bucket the client should hold.
type CheckpointLine = protocol.CheckpointLine

// CheckpointDiffLine updates the previous checkpoint of the same stream.
type CheckpointDiffLine = protocol.CheckpointDiffLine

// OplogEntry is one operation of a data line.
type OplogEntry = protocol.DataOp

// DataLine is a chunk of one bucket's operations.
type DataLine = protocol.DataLine

// CompleteLine ends a checkpoint (Priority nil) or one priority group of it.
type CompleteLine = protocol.CompleteLine

// Line is one decoded line of a sync stream.
type Line = protocol.SyncLine

// ParseLine decodes one NDJSON line of a sync stream (protocol.ParseLine).
func ParseLine(b []byte) (*Line, error) { return protocol.ParseLine(b) }
