package protocol

import (
	"bytes"
	"fmt"
	"strconv"
)

// OpID is an operation id, checkpoint id or write checkpoint id. It is an
// int64 in Go and a base-10 JSON string on the wire. When decoding, a JSON
// number is accepted too (some callers send small ids as numbers).
type OpID int64

// MarshalJSON writes the id as a decimal string.
func (id OpID) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 22)
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(id), 10)
	return append(b, '"'), nil
}

// UnmarshalJSON reads a decimal string or a JSON integer.
func (id *OpID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("op id %s is not a base-10 64-bit integer", truncateForError(b))
	}
	*id = OpID(n)
	return nil
}

// String returns the decimal form.
func (id OpID) String() string { return strconv.FormatInt(int64(id), 10) }

func truncateForError(b []byte) string {
	if len(b) > 40 {
		return strconv.Quote(string(b[:40]) + "…")
	}
	return strconv.Quote(string(b))
}
