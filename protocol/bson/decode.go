package bson

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/powersync-go/powersync/protocol"
)

// FormatError reports a malformed BSON document.
type FormatError struct {
	Offset int // byte offset in the document
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("bson: malformed document at offset %d: %s", e.Offset, e.Reason)
}

func formatErr(off int, format string, args ...any) error {
	return &FormatError{Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// ToJSON checks that doc is exactly one well-formed BSON document and
// appends it to dst as a JSON object. Element order is kept; array keys are
// not checked (only their order counts). Types without a JSON counterpart
// are written as follows: binary as a base64 string, ObjectId as a hex
// string, UTC datetime as milliseconds, timestamp as an unsigned integer,
// undefined as null, and a double that is NaN or infinite as null. Other
// types (regular expression, JavaScript code, decimal128, min/max key, the
// deprecated ones) are errors. On error dst is returned unchanged in length.
func ToJSON(dst, doc []byte) ([]byte, error) {
	n, err := documentLength(doc, 0, len(doc))
	if err != nil {
		return dst, err
	}
	if n != len(doc) {
		return dst, formatErr(0, "document length %d but %d bytes given", n, len(doc))
	}
	d := decoder{b: doc}
	out, err := d.document(dst, 0, n, false)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// documentLength reads and checks the length of the document at b[off:]
// that must end by end.
func documentLength(b []byte, off, end int) (int, error) {
	if end-off < 5 {
		return 0, formatErr(off, "a document needs at least 5 bytes, %d left", end-off)
	}
	n := int(int32(binary.LittleEndian.Uint32(b[off:])))
	if n < 5 || n > end-off {
		return 0, formatErr(off, "document length %d does not fit in the %d bytes left", n, end-off)
	}
	if n > MaxDocumentSize {
		return 0, ErrTooLarge
	}
	if b[off+n-1] != 0 {
		return 0, formatErr(off+n-1, "document does not end with a zero byte")
	}
	return n, nil
}

type decoder struct {
	b     []byte
	depth int
}

// document writes the document (or array) b[off:off+n], whose length and
// terminator are checked, as a JSON object (or array).
func (d *decoder) document(dst []byte, off, n int, array bool) ([]byte, error) {
	if d.depth++; d.depth > MaxDepth {
		return nil, formatErr(off, "more than %d levels of nesting", MaxDepth)
	}
	defer func() { d.depth-- }()
	b := d.b
	end := off + n - 1 // the terminating zero
	open, closing := byte('{'), byte('}')
	if array {
		open, closing = '[', ']'
	}
	dst = append(dst, open)
	pos := off + 4
	for first := true; pos < end; first = false {
		typ := b[pos]
		pos++
		keyEnd := pos
		for keyEnd < end && b[keyEnd] != 0 {
			keyEnd++
		}
		if keyEnd >= end {
			return nil, formatErr(pos, "element name runs past the end of its document")
		}
		if !first {
			dst = append(dst, ',')
		}
		if !array {
			dst = appendJSONString(dst, b[pos:keyEnd])
			dst = append(dst, ':')
		}
		pos = keyEnd + 1
		var err error
		dst, pos, err = d.value(dst, typ, pos, end)
		if err != nil {
			return nil, err
		}
	}
	return append(dst, closing), nil
}

// value writes the value of type typ at b[pos:] (ending by end) and returns
// the offset after it.
func (d *decoder) value(dst []byte, typ byte, pos, end int) ([]byte, int, error) {
	b := d.b
	need := func(k int) error {
		if end-pos < k {
			return formatErr(pos, "value of type 0x%02x needs %d bytes, %d left", typ, k, end-pos)
		}
		return nil
	}
	switch typ {
	case TypeDouble:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		return appendFloat(dst, math.Float64frombits(binary.LittleEndian.Uint64(b[pos:]))), pos + 8, nil
	case TypeString:
		if err := need(5); err != nil {
			return nil, 0, err
		}
		n := int(int32(binary.LittleEndian.Uint32(b[pos:])))
		if n < 1 || n > end-pos-4 {
			return nil, 0, formatErr(pos, "string length %d does not fit in the %d bytes left", n, end-pos-4)
		}
		if b[pos+4+n-1] != 0 {
			return nil, 0, formatErr(pos+4+n-1, "string does not end with a zero byte")
		}
		return appendJSONString(dst, b[pos+4:pos+4+n-1]), pos + 4 + n, nil
	case TypeDocument, TypeArray:
		n, err := documentLength(b, pos, end)
		if err != nil {
			return nil, 0, err
		}
		dst, err = d.document(dst, pos, n, typ == TypeArray)
		return dst, pos + n, err
	case TypeBinary:
		if err := need(5); err != nil {
			return nil, 0, err
		}
		n := int(int32(binary.LittleEndian.Uint32(b[pos:])))
		if n < 0 || n > end-pos-5 {
			return nil, 0, formatErr(pos, "binary length %d does not fit in the %d bytes left", n, end-pos-5)
		}
		data := b[pos+5 : pos+5+n]
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, data)
		return append(dst, '"'), pos + 5 + n, nil
	case TypeUndefined, TypeNull:
		return append(dst, "null"...), pos, nil
	case TypeObjectID:
		if err := need(12); err != nil {
			return nil, 0, err
		}
		dst = append(dst, '"')
		dst = hex.AppendEncode(dst, b[pos:pos+12])
		return append(dst, '"'), pos + 12, nil
	case TypeBool:
		if err := need(1); err != nil {
			return nil, 0, err
		}
		switch b[pos] {
		case 0:
			return append(dst, "false"...), pos + 1, nil
		case 1:
			return append(dst, "true"...), pos + 1, nil
		}
		return nil, 0, formatErr(pos, "boolean byte 0x%02x is neither 0 nor 1", b[pos])
	case TypeDateTime, TypeInt64:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		return strconv.AppendInt(dst, int64(binary.LittleEndian.Uint64(b[pos:])), 10), pos + 8, nil
	case TypeTimestamp:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		return strconv.AppendUint(dst, binary.LittleEndian.Uint64(b[pos:]), 10), pos + 8, nil
	case TypeInt32:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		return strconv.AppendInt(dst, int64(int32(binary.LittleEndian.Uint32(b[pos:]))), 10), pos + 4, nil
	}
	return nil, 0, formatErr(pos-1, "unsupported element type 0x%02x", typ)
}

// appendFloat writes f as JavaScript would: whole numbers without a
// fraction or exponent (so a checksum sent as a double still decodes into
// an integer), NaN and infinities as null.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == 0 {
		return append(dst, '0') // -0 too, as JSON.stringify
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// appendJSONString writes s as a JSON string with protocol's one escaper,
// so a line decoded from BSON reads exactly as the same line sent as NDJSON.
func appendJSONString(dst, s []byte) []byte {
	return protocol.AppendJSONBytes(dst, s)
}

// Reader reads concatenated BSON documents, as in a BSON sync stream.
type Reader struct {
	r   io.Reader
	max int
	buf []byte
}

// NewReader returns a Reader of documents from r of at most max bytes each
// (MaxDocumentSize when max <= 0 or larger).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 || max > MaxDocumentSize {
		max = MaxDocumentSize
	}
	return &Reader{r: r, max: max}
}

// ErrDocumentTooLarge is returned by Reader.Next for a length prefix over
// the Reader's limit.
var ErrDocumentTooLarge = errors.New("bson: document larger than the limit")

// Next returns the next document, valid until the following call. Only its
// length prefix and terminator are checked; decode it with ToJSON. At the
// end of the stream it returns io.EOF, and io.ErrUnexpectedEOF when the
// stream ends inside a document.
func (r *Reader) Next() ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r.r, head[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.LittleEndian.Uint32(head[:])))
	if n < 5 {
		return nil, formatErr(0, "document length %d is below the minimum of 5", n)
	}
	if n > r.max {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrDocumentTooLarge, n, r.max)
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	copy(b, head[:])
	if _, err := io.ReadFull(r.r, b[4:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if b[n-1] != 0 {
		return nil, formatErr(n-1, "document does not end with a zero byte")
	}
	return b, nil
}
