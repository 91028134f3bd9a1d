package client

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// BucketInfo is what the database holds of one bucket, for diagnostics.
type BucketInfo struct {
	Name     string
	Priority int
	// LastOp is the op id the bucket is downloaded to (the next after).
	LastOp        int64
	LastAppliedOp int64
	// Checksum is the sum of the downloaded ops; Expected the checkpoint's.
	Checksum, Expected int32
	// Ops is the number of stored PUT ops; ExpectedCount the checkpoint's op count.
	Ops, ExpectedCount int64
	DownloadedBytes    int64
}

// Buckets lists the buckets of the last checkpoint with what is stored.
func (db *DB) Buckets(ctx context.Context) ([]BucketInfo, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT name, priority, last_op, last_applied_op, checksum,
target_checksum, target_count, downloaded_bytes, (SELECT count(*) FROM ps_oplog o WHERE o.bucket = b.name)
FROM ps_buckets b ORDER BY priority, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BucketInfo
	for rows.Next() {
		var b BucketInfo
		var sum, target int64
		if err := rows.Scan(&b.Name, &b.Priority, &b.LastOp, &b.LastAppliedOp, &sum, &target, &b.ExpectedCount, &b.DownloadedBytes, &b.Ops); err != nil {
			return nil, err
		}
		b.Checksum = int32(sum)
		b.Expected = int32(target)
		out = append(out, b)
	}
	return out, rows.Err()
}

// ClearSyncedData deletes every downloaded bucket, op and synced row, so
// the next connection downloads everything again. Queued local writes are
// kept. It disconnects first; call Connect again afterwards.
func (db *DB) ClearSyncedData(ctx context.Context) error {
	db.Disconnect()
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		stmts := []string{`DELETE FROM ps_buckets`, `DELETE FROM ps_oplog`, `DELETE FROM ps_updated_rows`, `DELETE FROM ps_untyped`,
			`DELETE FROM ps_sync_state`, `DELETE FROM ps_kv WHERE key = 'last_seen_write_checkpoint'`,
			// With nothing left to upload, no write checkpoint needs waiting for.
			`DELETE FROM ps_kv WHERE key = 'target_op' AND NOT EXISTS (SELECT 1 FROM ps_crud)`}
		for _, t := range db.schema.Tables {
			if !t.LocalOnly {
				stmts = append(stmts, "DELETE FROM "+quoteIdent(dataTable(t.Name)))
			}
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("clear: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	db.status.update(func(s *SyncStatus) {
		s.HasSynced, s.LastSyncedAt, s.Checkpoint, s.Priorities = false, time.Time{}, 0, nil
	})
	return nil
}
