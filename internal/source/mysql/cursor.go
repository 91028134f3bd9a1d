package mysql

import (
	"encoding/json"
	"fmt"
)

// cursor is a snapshot resume point: the raw text-protocol bytes of the key
// columns of the last row copied.
type cursor [][]byte

func (c cursor) encode() []byte {
	b, _ := json.Marshal([][]byte(c))
	return b
}

func decodeCursor(b []byte, n int) (cursor, error) {
	var c [][]byte
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("snapshot cursor: %w", err)
	}
	if len(c) != n {
		return nil, fmt.Errorf("snapshot cursor has %d key values, the table has %d key columns", len(c), n)
	}
	return c, nil
}
