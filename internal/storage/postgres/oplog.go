package postgres

import (
	"github.com/powersync-go/powersync/internal/storage"
)

// Op kinds as stored in bucket_data.kind.
const (
	opPut    = int16(storage.OpPut)
	opRemove = int16(storage.OpRemove)
)

// sourceRow identifies a source row in the lookup index; length-prefixed so
// rows sort the same way as in the embedded backend.
func sourceRow(table string, key []byte) []byte {
	row := storage.AppendStrPart(make([]byte, 0, 2+len(table)+len(key)), table)
	row = append(row, key...)
	return storage.AppendPart(make([]byte, 0, len(row)+2), row)
}
