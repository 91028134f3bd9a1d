package postgres

import (
	"encoding/json"
	"fmt"
)

// cursor is a snapshot resume point: the text forms of the key columns of
// the last row copied.
type cursor []string

func (c cursor) encode() []byte {
	b, _ := json.Marshal([]string(c))
	return b
}

func decodeCursor(b []byte, n int) (cursor, error) {
	var c []string
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("snapshot cursor: %w", err)
	}
	if len(c) != n {
		return nil, fmt.Errorf("snapshot cursor has %d key values, the table has %d key columns", len(c), n)
	}
	return c, nil
}
