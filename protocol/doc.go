// Package protocol holds the wire types of the PowerSync sync protocol: the
// body a client posts to /sync/stream, the NDJSON lines the service streams
// back, the operation checksums both sides agree on, and the JSON error body
// of every failed request.
//
// The service (internal/server) encodes these types and the Go client SDK
// (package client) decodes them, so both ends share one definition. All op
// ids travel as base-10 strings; the helpers here keep them as int64 in Go.
package protocol
