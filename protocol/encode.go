package protocol

import (
	"encoding/json"
	"strconv"
)

// Append-style encoders of the hot part of the wire: op objects and data
// lines. Bucket storage encodes each op once, when it is written, with the
// Append*Op functions and keeps those bytes; the service joins the stored
// bytes of a chunk into a data line with AppendDataLine. Nothing here
// reflects or allocates beyond growing dst.
//
// The output is JSON as the reference writes it: keys in the reference's
// order, ids as base-10 strings, op checksums as unsigned integers, strings
// escaped by AppendJSONString. The lines without strings in them
// (completions, keepalives) have encoders here too; checkpoint and
// checkpoint_diff lines are written with encoding/json from the types in
// lines.go.

// AppendPutOp appends the JSON object of a PUT op. data is the row as JSON
// text; it travels as a JSON string.
func AppendPutOp(dst []byte, opID int64, objectType, objectID, subkey string, data []byte, checksum uint32) []byte {
	dst = appendOpStart(dst, opID, `","op":"PUT","object_type":`)
	dst = appendRowIdentity(dst, objectType, objectID, subkey)
	dst = append(dst, `,"data":`...)
	dst = AppendJSONBytes(dst, data)
	return appendOpChecksum(dst, checksum)
}

// AppendRemoveOp appends the JSON object of a REMOVE op ("data": null).
func AppendRemoveOp(dst []byte, opID int64, objectType, objectID, subkey string, checksum uint32) []byte {
	dst = appendOpStart(dst, opID, `","op":"REMOVE","object_type":`)
	dst = appendRowIdentity(dst, objectType, objectID, subkey)
	dst = append(dst, `,"data":null`...)
	return appendOpChecksum(dst, checksum)
}

// AppendMoveOp appends the JSON object of a MOVE op (only id and checksum).
func AppendMoveOp(dst []byte, opID int64, checksum uint32) []byte {
	return appendOpChecksum(appendOpStart(dst, opID, `","op":"MOVE"`), checksum)
}

// AppendClearOp appends the JSON object of a CLEAR op (only id and
// checksum).
func AppendClearOp(dst []byte, opID int64, checksum uint32) []byte {
	return appendOpChecksum(appendOpStart(dst, opID, `","op":"CLEAR"`), checksum)
}

func appendOpStart(dst []byte, opID int64, rest string) []byte {
	dst = append(dst, `{"op_id":"`...)
	dst = strconv.AppendInt(dst, opID, 10)
	return append(dst, rest...)
}

func appendRowIdentity(dst []byte, objectType, objectID, subkey string) []byte {
	dst = AppendJSONString(dst, objectType)
	dst = append(dst, `,"object_id":`...)
	dst = AppendJSONString(dst, objectID)
	dst = append(dst, `,"subkey":`...)
	return AppendJSONString(dst, subkey)
}

func appendOpChecksum(dst []byte, checksum uint32) []byte {
	dst = append(dst, `,"checksum":`...)
	dst = strconv.AppendUint(dst, uint64(checksum), 10)
	return append(dst, '}')
}

// AppendDataLine appends one data line, {"data":{...}}, without the line
// ending: the bucket, the chunk's after / next_after / has_more, and ops,
// each an op object as the Append*Op functions encode it, joined as the
// line's "data" array. dst is grown once for the whole line.
func AppendDataLine(dst []byte, bucket string, after, nextAfter int64, hasMore bool, ops [][]byte) []byte {
	size := 96 + 2*len(bucket)
	for _, op := range ops {
		size += len(op) + 1
	}
	if cap(dst)-len(dst) < size {
		dst = append(make([]byte, 0, len(dst)+size), dst...)
	}
	dst = append(dst, `{"data":{"bucket":`...)
	dst = AppendJSONString(dst, bucket)
	dst = append(dst, `,"after":"`...)
	dst = strconv.AppendInt(dst, after, 10)
	dst = append(dst, `","next_after":"`...)
	dst = strconv.AppendInt(dst, nextAfter, 10)
	dst = append(dst, `","has_more":`...)
	dst = strconv.AppendBool(dst, hasMore)
	dst = append(dst, `,"data":[`...)
	for i, op := range ops {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, op...)
	}
	return append(dst, "]}}"...)
}

// AppendCheckpointComplete appends {"checkpoint_complete":{...}} without the
// line ending.
func AppendCheckpointComplete(dst []byte, lastOpID int64) []byte {
	dst = append(dst, `{"checkpoint_complete":{"last_op_id":"`...)
	dst = strconv.AppendInt(dst, lastOpID, 10)
	return append(dst, `"}}`...)
}

// AppendPartialCheckpointComplete appends
// {"partial_checkpoint_complete":{...}} without the line ending.
func AppendPartialCheckpointComplete(dst []byte, lastOpID int64, priority int) []byte {
	dst = append(dst, `{"partial_checkpoint_complete":{"last_op_id":"`...)
	dst = strconv.AppendInt(dst, lastOpID, 10)
	dst = append(dst, `","priority":`...)
	dst = strconv.AppendInt(dst, int64(priority), 10)
	return append(dst, `}}`...)
}

// AppendTokenExpiresIn appends the keepalive line {"token_expires_in":N}
// without the line ending; N is whole seconds until the token expires.
func AppendTokenExpiresIn(dst []byte, seconds int64) []byte {
	dst = append(dst, `{"token_expires_in":`...)
	dst = strconv.AppendInt(dst, seconds, 10)
	return append(dst, '}')
}

// AppendCheckpoint appends {"checkpoint":{...}} without the line ending, as
// encoding/json would write the Checkpoint type but with AppendJSONString's
// escaping: write_checkpoint is left out when nil and streams when empty;
// buckets is written [] when nil (clients need the array).
func AppendCheckpoint(dst []byte, cp *Checkpoint) []byte {
	dst = append(dst, `{"checkpoint":{"last_op_id":"`...)
	dst = strconv.AppendInt(dst, int64(cp.LastOpID), 10)
	dst = appendWriteCheckpoint(dst, cp.WriteCheckpoint)
	dst = append(dst, `,"buckets":`...)
	dst = appendBucketChecksums(dst, cp.Buckets)
	if len(cp.Streams) > 0 {
		dst = append(dst, `,"streams":[`...)
		for i, s := range cp.Streams {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = AppendJSONString(dst, s.Name)
			dst = append(dst, `,"is_default":`...)
			dst = strconv.AppendBool(dst, s.IsDefault)
			dst = append(dst, `,"errors":`...)
			if s.Errors == nil {
				dst = append(dst, "null"...)
			} else {
				dst = append(dst, '[')
				for j, e := range s.Errors {
					if j > 0 {
						dst = append(dst, ',')
					}
					dst = append(dst, `{"subscription":`...)
					dst = appendSubscriptionRef(dst, e.Subscription)
					dst = append(dst, `,"message":`...)
					dst = AppendJSONString(dst, e.Message)
					dst = append(dst, '}')
				}
				dst = append(dst, ']')
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, "}}"...)
}

// AppendCheckpointDiff appends {"checkpoint_diff":{...}} without the line
// ending. Nil updated or removed buckets are written as [] (clients need
// both arrays).
func AppendCheckpointDiff(dst []byte, d *CheckpointDiff) []byte {
	dst = append(dst, `{"checkpoint_diff":{"last_op_id":"`...)
	dst = strconv.AppendInt(dst, int64(d.LastOpID), 10)
	dst = appendWriteCheckpoint(dst, d.WriteCheckpoint)
	dst = append(dst, `,"updated_buckets":`...)
	dst = appendBucketChecksums(dst, d.UpdatedBuckets)
	dst = append(dst, `,"removed_buckets":[`...)
	for i, b := range d.RemovedBuckets {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, b)
	}
	return append(dst, "]}}"...)
}

// appendWriteCheckpoint closes the last_op_id string and adds the write
// checkpoint, if any.
func appendWriteCheckpoint(dst []byte, wc *OpID) []byte {
	dst = append(dst, '"')
	if wc == nil {
		return dst
	}
	dst = append(dst, `,"write_checkpoint":"`...)
	dst = strconv.AppendInt(dst, int64(*wc), 10)
	return append(dst, '"')
}

func appendBucketChecksums(dst []byte, bs []BucketChecksum) []byte {
	dst = append(dst, '[')
	for i, b := range bs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"bucket":`...)
		dst = AppendJSONString(dst, b.Bucket)
		dst = append(dst, `,"checksum":`...)
		dst = strconv.AppendInt(dst, int64(b.Checksum), 10)
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, b.Count, 10)
		dst = append(dst, `,"priority":`...)
		dst = strconv.AppendInt(dst, int64(b.Priority), 10)
		if len(b.Subscriptions) > 0 {
			dst = append(dst, `,"subscriptions":[`...)
			for j, s := range b.Subscriptions {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, '{')
				if s.Default != nil {
					dst = append(dst, `"default":`...)
					dst = strconv.AppendInt(dst, int64(*s.Default), 10)
				}
				if s.Sub != nil {
					if s.Default != nil {
						dst = append(dst, ',')
					}
					dst = append(dst, `"sub":`...)
					dst = strconv.AppendInt(dst, int64(*s.Sub), 10)
				}
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendSubscriptionRef writes a StreamError's Subscription: "default" or
// the index of an explicit subscription. Other types are written as
// encoding/json would (they do not occur; the fallback keeps the output
// JSON).
func appendSubscriptionRef(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return AppendJSONString(dst, v)
	case int:
		return strconv.AppendInt(dst, int64(v), 10)
	case int32:
		return strconv.AppendInt(dst, int64(v), 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return append(dst, "null"...)
	}
	return append(dst, b...)
}
