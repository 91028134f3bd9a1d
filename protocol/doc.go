// Package protocol owns the wire of the PowerSync sync protocol: the body a
// client posts to /sync/stream, the NDJSON lines the service streams back,
// the JSON of each operation, the operation checksums both sides agree on,
// and the JSON error body of every failed request.
//
// Every byte of a sync line comes from here. Bucket storage encodes each op
// once, when replication writes it, with AppendPutOp, AppendRemoveOp,
// AppendMoveOp and AppendClearOp, and keeps those bytes; the service
// (internal/server) joins a chunk of them with AppendDataLine and writes the
// other lines with AppendCheckpoint, AppendCheckpointDiff,
// AppendCheckpointComplete, AppendPartialCheckpointComplete and
// AppendTokenExpiresIn. These append to a caller's buffer without reflection,
// as the data path is the service's hot path. Every string in them, and the
// row data the sync rules write (whose bytes op checksums cover), is escaped
// by AppendJSONString, the one JSON string escaper of the module, with the
// reference service's JSON.stringify rules.
//
// Clients (package client, the test-client and the diagnostics client) read
// lines with ParseLine, which is lenient where services differ: checksums
// signed, unsigned or as whole floats, op ids as strings or numbers, optional
// fields absent or null, unknown keys and unknown line types. The types in
// lines.go (Checkpoint, Data, OplogEntry, …) describe what this service
// sends; those in decode.go (CheckpointLine, DataLine, DataOp, …) what a
// client accepts.
//
// All op ids travel as base-10 strings; OpID keeps them as int64 in Go.
// Subpackages hold the other encodings of the same lines: bson (BSON over
// HTTP) and rsocket (RSocket frames over WebSocket).
package protocol
