// Package bson is the small part of BSON (bsonspec.org, version 1.1) the
// PowerSync sync protocol needs: sync lines sent as BSON documents over HTTP
// (Content-Type application/vnd.powersync.bson-stream, documents simply
// concatenated) and as RSocket payloads over WebSocket, and the request and
// setup metadata an RSocket client may send as BSON.
//
// The service produces every sync line as JSON text first (ops are stored as
// their JSON wire bytes), so the encoder here is a transcoder: AppendJSON
// turns one JSON object into one BSON document in a single pass over the
// bytes, without reflection or intermediate values. A JSON string stays a
// BSON string, which is what the protocol wants for an op's data (the row
// as JSON text). Integers become int32 when they fit and int64 otherwise, so
// checksums, counts and priorities arrive as integers, never as doubles.
//
// The decoder goes the other way: ToJSON checks a document and writes it as
// JSON text, accepting the BSON types a client library may produce (double,
// string, document, array, binary, undefined, ObjectId, bool, UTC datetime,
// null, int32, timestamp, int64). A caller then decodes the JSON with the
// protocol types, so both encodings share one definition of every line.
// Reader splits a stream of concatenated documents.
//
// Everything here is for untrusted input: every length is checked against
// the bytes that are there, nesting is bounded, and errors say where the
// document is wrong.
package bson
