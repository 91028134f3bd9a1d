// Package rsocket encodes and decodes RSocket 1.0 frames (rsocket.io,
// "Protocol" specification) for the sync protocol's WebSocket transport:
// the client sends SETUP (its token in the metadata) and REQUEST_STREAM
// (path metadata, the sync request as data), the service answers with one
// PAYLOAD frame per sync line, paced by the client's REQUEST_N credit, and
// both sides exchange KEEPALIVE frames.
//
// Over WebSocket every binary message carries exactly one frame, without
// the 24-bit length prefix RSocket uses on TCP, so Decode takes one whole
// message. Frames are limited to MaxFrameSize. Decoded frames point into the
// buffer they were decoded from.
package rsocket

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// FrameType is the 6-bit type of a frame.
type FrameType uint8

// The frame types of RSocket 1.0.
const (
	TypeSetup           FrameType = 0x01
	TypeLease           FrameType = 0x02
	TypeKeepalive       FrameType = 0x03
	TypeRequestResponse FrameType = 0x04
	TypeRequestFNF      FrameType = 0x05
	TypeRequestStream   FrameType = 0x06
	TypeRequestChannel  FrameType = 0x07
	TypeRequestN        FrameType = 0x08
	TypeCancel          FrameType = 0x09
	TypePayload         FrameType = 0x0A
	TypeError           FrameType = 0x0B
	TypeMetadataPush    FrameType = 0x0C
	TypeResume          FrameType = 0x0D
	TypeResumeOK        FrameType = 0x0E
	TypeExt             FrameType = 0x3F
)

var typeNames = map[FrameType]string{
	TypeSetup: "SETUP", TypeLease: "LEASE", TypeKeepalive: "KEEPALIVE",
	TypeRequestResponse: "REQUEST_RESPONSE", TypeRequestFNF: "REQUEST_FNF",
	TypeRequestStream: "REQUEST_STREAM", TypeRequestChannel: "REQUEST_CHANNEL",
	TypeRequestN: "REQUEST_N", TypeCancel: "CANCEL", TypePayload: "PAYLOAD",
	TypeError: "ERROR", TypeMetadataPush: "METADATA_PUSH", TypeResume: "RESUME",
	TypeResumeOK: "RESUME_OK", TypeExt: "EXT",
}

func (t FrameType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("FrameType(0x%02x)", uint8(t))
}

// Flags are the 10 flag bits of a frame. The meaning of 0x80 and 0x40
// depends on the frame type.
type Flags uint16

// Frame flags.
const (
	FlagIgnore   Flags = 0x200 // an unknown frame may be ignored
	FlagMetadata Flags = 0x100 // the frame carries metadata
	FlagFollows  Flags = 0x80  // REQUEST_*, PAYLOAD: more fragments follow
	FlagComplete Flags = 0x40  // PAYLOAD: the stream is complete
	FlagNext     Flags = 0x20  // PAYLOAD: the frame carries a payload
	FlagRespond  Flags = 0x80  // KEEPALIVE: the receiver must answer
	FlagResume   Flags = 0x80  // SETUP: a resume token is present
	FlagLease    Flags = 0x40  // SETUP: the client honours LEASE
)

// ErrorCode is the code of an ERROR frame.
type ErrorCode uint32

// RSocket error codes. Codes below 0x100 are for SETUP and RESUME, on
// stream 0; CONNECTION_* end the connection; the rest end one stream.
const (
	ErrInvalidSetup     ErrorCode = 0x00000001
	ErrUnsupportedSetup ErrorCode = 0x00000002
	ErrRejectedSetup    ErrorCode = 0x00000003
	ErrRejectedResume   ErrorCode = 0x00000004
	ErrConnectionError  ErrorCode = 0x00000101
	ErrConnectionClose  ErrorCode = 0x00000102
	ErrApplicationError ErrorCode = 0x00000201
	ErrRejected         ErrorCode = 0x00000202
	ErrCanceled         ErrorCode = 0x00000203
	ErrInvalid          ErrorCode = 0x00000204
)

var codeNames = map[ErrorCode]string{
	ErrInvalidSetup: "INVALID_SETUP", ErrUnsupportedSetup: "UNSUPPORTED_SETUP",
	ErrRejectedSetup: "REJECTED_SETUP", ErrRejectedResume: "REJECTED_RESUME",
	ErrConnectionError: "CONNECTION_ERROR", ErrConnectionClose: "CONNECTION_CLOSE",
	ErrApplicationError: "APPLICATION_ERROR", ErrRejected: "REJECTED",
	ErrCanceled: "CANCELED", ErrInvalid: "INVALID",
}

func (c ErrorCode) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("ErrorCode(0x%08x)", uint32(c))
}

// Limits of the format.
const (
	// MaxFrameSize is the largest frame (16 MiB - 1, what the 24-bit
	// length prefix of RSocket on TCP can describe).
	MaxFrameSize = 1<<24 - 1
	// MaxRequestN is the largest credit; it means "unbounded".
	MaxRequestN = 1<<31 - 1
	headerSize  = 6
)

// ErrFrameTooLarge is returned for a frame over MaxFrameSize.
var ErrFrameTooLarge = errors.New("rsocket: frame larger than 16 MiB")

// Frame is one decoded frame. Which fields are meaningful depends on Type;
// the others are zero.
type Frame struct {
	StreamID uint32 // 31 bits; 0 for connection frames
	Type     FrameType
	Flags    Flags

	// SETUP.
	MajorVersion, MinorVersion uint16
	KeepaliveMS                uint32 // time between the client's KEEPALIVE frames
	LifetimeMS                 uint32 // the connection is dead after this long without one
	ResumeToken                []byte // with FlagResume
	MetadataMIME, DataMIME     string

	Position uint64    // KEEPALIVE: last received position (0 without resumption)
	N        uint32    // REQUEST_STREAM, REQUEST_CHANNEL: initial credit; REQUEST_N: credit; LEASE: requests
	TTL      uint32    // LEASE: milliseconds
	Code     ErrorCode // ERROR
	ExtType  uint32    // EXT: extended type

	// Metadata is nil unless FlagMetadata is set. Data is the payload (the
	// UTF-8 message of an ERROR frame, the data of a KEEPALIVE frame; the
	// raw body after the header of RESUME and RESUME_OK frames, which this
	// package does not take apart).
	Metadata []byte
	Data     []byte
}

// FrameError reports a malformed frame.
type FrameError struct {
	Type   FrameType
	Reason string
}

func (e *FrameError) Error() string {
	if e.Type == 0 {
		return "rsocket: malformed frame: " + e.Reason
	}
	return fmt.Sprintf("rsocket: malformed %v frame: %s", e.Type, e.Reason)
}

func frameErr(t FrameType, format string, args ...any) error {
	return &FrameError{Type: t, Reason: fmt.Sprintf(format, args...)}
}

// Decode decodes the one frame b holds. The frame's slices point into b.
// A frame of an unknown type is returned with only the header decoded and
// the rest in Data, so the caller can honour FlagIgnore.
func Decode(b []byte) (Frame, error) {
	var f Frame
	if len(b) > MaxFrameSize {
		return f, ErrFrameTooLarge
	}
	if len(b) < headerSize {
		return f, frameErr(0, "%d bytes, a frame header needs 6", len(b))
	}
	f.StreamID = binary.BigEndian.Uint32(b) & 0x7fffffff
	tf := binary.BigEndian.Uint16(b[4:])
	f.Type = FrameType(tf >> 10)
	f.Flags = Flags(tf & 0x3ff)
	r := reader{t: f.Type, b: b[headerSize:]}

	switch f.Type {
	case TypeSetup, TypeLease, TypeKeepalive, TypeMetadataPush, TypeResume, TypeResumeOK:
		if f.StreamID != 0 {
			return f, frameErr(f.Type, "stream id %d, must be 0", f.StreamID)
		}
	case TypeError:
	default:
		if _, known := typeNames[f.Type]; known && f.StreamID == 0 {
			return f, frameErr(f.Type, "stream id 0 is reserved for connection frames")
		}
	}

	var err error
	switch f.Type {
	case TypeSetup:
		if f.MajorVersion, err = r.u16(); err != nil {
			return f, err
		}
		if f.MinorVersion, err = r.u16(); err != nil {
			return f, err
		}
		if f.KeepaliveMS, err = r.positive31("keepalive interval"); err != nil {
			return f, err
		}
		if f.LifetimeMS, err = r.positive31("max lifetime"); err != nil {
			return f, err
		}
		if f.Flags&FlagResume != 0 {
			n, err := r.u16()
			if err != nil {
				return f, err
			}
			if f.ResumeToken, err = r.bytes(int(n), "resume token"); err != nil {
				return f, err
			}
		}
		if f.MetadataMIME, err = r.mime("metadata"); err != nil {
			return f, err
		}
		if f.DataMIME, err = r.mime("data"); err != nil {
			return f, err
		}
		err = r.payload(&f)
	case TypeLease:
		if f.TTL, err = r.positive31("time-to-live"); err != nil {
			return f, err
		}
		if f.N, err = r.u31(); err != nil {
			return f, err
		}
		if f.Flags&FlagMetadata != 0 {
			f.Metadata = r.rest()
		} else if len(r.b) > 0 {
			return f, frameErr(f.Type, "%d bytes after the header without the metadata flag", len(r.b))
		}
	case TypeKeepalive:
		p, err := r.u64()
		if err != nil {
			return f, err
		}
		f.Position = p & (1<<63 - 1)
		f.Data = r.rest()
	case TypeRequestResponse, TypeRequestFNF, TypePayload:
		err = r.payload(&f)
	case TypeRequestStream, TypeRequestChannel:
		if f.N, err = r.positive31("initial request n"); err != nil {
			return f, err
		}
		err = r.payload(&f)
	case TypeRequestN:
		if f.N, err = r.positive31("request n"); err != nil {
			return f, err
		}
		if len(r.b) > 0 {
			return f, frameErr(f.Type, "%d bytes after the request n", len(r.b))
		}
	case TypeCancel:
		if len(r.b) > 0 {
			return f, frameErr(f.Type, "%d bytes after the header", len(r.b))
		}
	case TypeError:
		c, err := r.u32()
		if err != nil {
			return f, err
		}
		f.Code = ErrorCode(c)
		f.Data = r.rest()
	case TypeMetadataPush:
		if f.Flags&FlagMetadata == 0 {
			return f, frameErr(f.Type, "the metadata flag must be set")
		}
		f.Metadata = r.rest()
	case TypeExt:
		if f.ExtType, err = r.u32(); err != nil {
			return f, err
		}
		err = r.payload(&f)
	default: // RESUME, RESUME_OK and unknown types: header only
		f.Data = r.rest()
	}
	return f, err
}

// reader reads the fields after the header.
type reader struct {
	t FrameType
	b []byte
}

func (r *reader) short(what string, n int) error {
	return frameErr(r.t, "%s needs %d bytes, %d left", what, n, len(r.b))
}

func (r *reader) u16() (uint16, error) {
	if len(r.b) < 2 {
		return 0, r.short("a 16-bit field", 2)
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v, nil
}

func (r *reader) u32() (uint32, error) {
	if len(r.b) < 4 {
		return 0, r.short("a 32-bit field", 4)
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v, nil
}

func (r *reader) u64() (uint64, error) {
	if len(r.b) < 8 {
		return 0, r.short("a 64-bit field", 8)
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v, nil
}

// u31 reads a 31-bit unsigned field (the top bit is reserved).
func (r *reader) u31() (uint32, error) {
	v, err := r.u32()
	return v & 0x7fffffff, err
}

func (r *reader) positive31(what string) (uint32, error) {
	v, err := r.u31()
	if err == nil && v == 0 {
		err = frameErr(r.t, "%s must be greater than 0", what)
	}
	return v, err
}

func (r *reader) bytes(n int, what string) ([]byte, error) {
	if len(r.b) < n {
		return nil, r.short(what, n)
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

func (r *reader) mime(what string) (string, error) {
	if len(r.b) < 1 {
		return "", r.short(what+" MIME type length", 1)
	}
	n := int(r.b[0])
	r.b = r.b[1:]
	v, err := r.bytes(n, what+" MIME type")
	if err != nil {
		return "", err
	}
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return "", frameErr(r.t, "%s MIME type is not printable ASCII", what)
		}
	}
	return string(v), nil
}

func (r *reader) rest() []byte {
	v := r.b
	r.b = nil
	return v
}

// payload reads length-prefixed metadata (with FlagMetadata) and the data.
func (r *reader) payload(f *Frame) error {
	if f.Flags&FlagMetadata != 0 {
		if len(r.b) < 3 {
			return r.short("the metadata length", 3)
		}
		n := int(r.b[0])<<16 | int(r.b[1])<<8 | int(r.b[2])
		r.b = r.b[3:]
		m, err := r.bytes(n, "the metadata")
		if err != nil {
			return err
		}
		f.Metadata = m
	}
	f.Data = r.rest()
	return nil
}

// Append appends the encoding of f to dst. On frame types that carry
// metadata, FlagMetadata is set from whether f.Metadata is nil. It fails for a frame the format cannot hold
// (a field out of range, a frame over MaxFrameSize).
func (f *Frame) Append(dst []byte) ([]byte, error) {
	start := len(dst)
	flags := f.Flags
	switch f.Type {
	case TypeSetup, TypeLease, TypeRequestResponse, TypeRequestFNF, TypeRequestStream,
		TypeRequestChannel, TypePayload, TypeMetadataPush, TypeExt:
		flags &^= FlagMetadata
		if f.Metadata != nil {
			flags |= FlagMetadata
		}
	}
	if f.StreamID > 0x7fffffff {
		return dst, frameErr(f.Type, "stream id %d over 31 bits", f.StreamID)
	}
	if f.Type > 0x3f || flags > 0x3ff {
		return dst, frameErr(f.Type, "type or flags out of range")
	}
	dst = AppendHeader(dst, f.StreamID, f.Type, flags)
	bad := func(format string, args ...any) ([]byte, error) {
		return dst[:start], frameErr(f.Type, format, args...)
	}
	switch f.Type {
	case TypeSetup:
		dst = binary.BigEndian.AppendUint16(dst, f.MajorVersion)
		dst = binary.BigEndian.AppendUint16(dst, f.MinorVersion)
		dst = binary.BigEndian.AppendUint32(dst, f.KeepaliveMS&0x7fffffff)
		dst = binary.BigEndian.AppendUint32(dst, f.LifetimeMS&0x7fffffff)
		if flags&FlagResume != 0 {
			if len(f.ResumeToken) > 0xffff {
				return bad("resume token of %d bytes", len(f.ResumeToken))
			}
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(f.ResumeToken)))
			dst = append(dst, f.ResumeToken...)
		}
		for _, m := range []string{f.MetadataMIME, f.DataMIME} {
			if len(m) > 0xff {
				return bad("MIME type of %d bytes", len(m))
			}
			dst = append(dst, byte(len(m)))
			dst = append(dst, m...)
		}
	case TypeLease:
		dst = binary.BigEndian.AppendUint32(dst, f.TTL&0x7fffffff)
		dst = binary.BigEndian.AppendUint32(dst, f.N&0x7fffffff)
		dst = append(dst, f.Metadata...)
		return finish(dst, start, f.Type)
	case TypeKeepalive:
		dst = binary.BigEndian.AppendUint64(dst, f.Position&(1<<63-1))
		dst = append(dst, f.Data...)
		return finish(dst, start, f.Type)
	case TypeRequestStream, TypeRequestChannel, TypeRequestN:
		dst = binary.BigEndian.AppendUint32(dst, f.N&0x7fffffff)
		if f.Type == TypeRequestN {
			return finish(dst, start, f.Type)
		}
	case TypeCancel:
		return finish(dst, start, f.Type)
	case TypeError:
		dst = binary.BigEndian.AppendUint32(dst, uint32(f.Code))
		dst = append(dst, f.Data...)
		return finish(dst, start, f.Type)
	case TypeMetadataPush:
		dst = append(dst, f.Metadata...)
		return finish(dst, start, f.Type)
	case TypeExt:
		dst = binary.BigEndian.AppendUint32(dst, f.ExtType)
	case TypeRequestResponse, TypeRequestFNF, TypePayload:
	default:
		dst = append(dst, f.Data...)
		return finish(dst, start, f.Type)
	}
	if f.Metadata != nil {
		if len(f.Metadata) >= 1<<24 {
			return bad("metadata of %d bytes", len(f.Metadata))
		}
		n := len(f.Metadata)
		dst = append(dst, byte(n>>16), byte(n>>8), byte(n))
		dst = append(dst, f.Metadata...)
	}
	dst = append(dst, f.Data...)
	return finish(dst, start, f.Type)
}

func finish(dst []byte, start int, t FrameType) ([]byte, error) {
	if len(dst)-start > MaxFrameSize {
		return dst[:start], ErrFrameTooLarge
	}
	return dst, nil
}

// AppendHeader appends a frame header. With AppendHeader(dst, id,
// TypePayload, FlagNext) followed by the data, a caller builds a PAYLOAD
// frame in place (the service appends a BSON sync line right after it).
func AppendHeader(dst []byte, streamID uint32, t FrameType, flags Flags) []byte {
	dst = binary.BigEndian.AppendUint32(dst, streamID&0x7fffffff)
	return binary.BigEndian.AppendUint16(dst, uint16(t)<<10|uint16(flags&0x3ff))
}

// AppendError appends an ERROR frame with a UTF-8 message.
func AppendError(dst []byte, streamID uint32, code ErrorCode, message string) []byte {
	dst = AppendHeader(dst, streamID, TypeError, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(code))
	return append(dst, message...)
}

// AppendKeepalive appends a KEEPALIVE frame.
func AppendKeepalive(dst []byte, respond bool, position uint64, data []byte) []byte {
	var flags Flags
	if respond {
		flags = FlagRespond
	}
	dst = AppendHeader(dst, 0, TypeKeepalive, flags)
	dst = binary.BigEndian.AppendUint64(dst, position&(1<<63-1))
	return append(dst, data...)
}

// AppendRequestN appends a REQUEST_N frame granting n more payloads.
func AppendRequestN(dst []byte, streamID, n uint32) []byte {
	dst = AppendHeader(dst, streamID, TypeRequestN, 0)
	return binary.BigEndian.AppendUint32(dst, n&0x7fffffff)
}

// AppendCancel appends a CANCEL frame.
func AppendCancel(dst []byte, streamID uint32) []byte {
	return AppendHeader(dst, streamID, TypeCancel, 0)
}

// AppendComplete appends a PAYLOAD frame with only the COMPLETE flag: the
// end of a stream.
func AppendComplete(dst []byte, streamID uint32) []byte {
	return AppendHeader(dst, streamID, TypePayload, FlagComplete)
}
