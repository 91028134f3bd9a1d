package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// CRUDEntry is one local write waiting for upload, in the shape the
// official SDKs hand to uploadData: Op is PUT, PATCH or DELETE; Data holds
// the columns of a PUT (all) or PATCH (the row after the update).
type CRUDEntry struct {
	// ClientID is the entry's position in the upload queue.
	ClientID int64 `json:"-"`
	// TransactionID groups the entries written in one Execute or WriteTx.
	TransactionID int64          `json:"-"`
	Op            string         `json:"op"`
	Table         string         `json:"type"`
	ID            string         `json:"id"`
	Data          map[string]any `json:"data,omitempty"`
}

// CRUDBatch is the oldest entries of the upload queue. Complete removes
// them once the application's backend has accepted them.
type CRUDBatch struct {
	Entries []CRUDEntry
	// HasMore is true when more entries wait after this batch.
	HasMore bool
	db      *DB
}

// GetCRUDBatch returns up to limit of the oldest queued writes, or nil when
// the queue is empty. Call it from Connector.UploadData.
func (db *DB) GetCRUDBatch(ctx context.Context, limit int) (*CRUDBatch, error) {
	if limit <= 0 {
		limit = 100
	}
	return db.crudBatch(ctx, `SELECT id, tx_id, data FROM ps_crud ORDER BY id LIMIT ?`, limit)
}

// GetNextCRUDTransaction returns the queued writes of the oldest local
// transaction (one Execute or WriteTx), or nil when the queue is empty, so
// a backend can apply them atomically.
func (db *DB) GetNextCRUDTransaction(ctx context.Context) (*CRUDBatch, error) {
	b, err := db.crudBatch(ctx, `SELECT id, tx_id, data FROM ps_crud
WHERE tx_id IS (SELECT tx_id FROM ps_crud ORDER BY id LIMIT 1) ORDER BY id LIMIT ?`, 1<<30)
	if err != nil || b == nil {
		return b, err
	}
	err = db.sql.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM ps_crud WHERE id > ?)`, b.Entries[len(b.Entries)-1].ClientID).Scan(&b.HasMore)
	return b, err
}

func (db *DB) crudBatch(ctx context.Context, query string, limit int) (*CRUDBatch, error) {
	rows, err := db.sql.QueryContext(ctx, query, limit+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	b := &CRUDBatch{db: db}
	for rows.Next() {
		var id int64
		var txID sql.NullInt64
		var data string
		if err := rows.Scan(&id, &txID, &data); err != nil {
			return nil, err
		}
		if len(b.Entries) == limit {
			b.HasMore = true
			break
		}
		var e CRUDEntry
		dec := json.NewDecoder(strings.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("upload queue entry %d: %w", id, err)
		}
		e.ClientID, e.TransactionID = id, txID.Int64
		b.Entries = append(b.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(b.Entries) == 0 {
		return nil, nil
	}
	return b, nil
}

// Complete removes the batch's entries from the upload queue.
func (b *CRUDBatch) Complete(ctx context.Context) error {
	last := b.Entries[len(b.Entries)-1].ClientID
	b.db.writeMu.Lock()
	defer b.db.writeMu.Unlock()
	_, err := b.db.sql.ExecContext(ctx, `DELETE FROM ps_crud WHERE id <= ?`, last)
	return err
}

// PendingUploads is the number of writes waiting in the upload queue.
func (db *DB) PendingUploads(ctx context.Context) (int, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM ps_crud`).Scan(&n)
	return n, err
}

func firstCRUDID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int64, error) {
	var id sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT min(id) FROM ps_crud`).Scan(&id)
	return id.Int64, err
}
