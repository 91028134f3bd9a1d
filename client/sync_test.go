package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/powersync-go/powersync/client"
)

// TestSyncWithDevService runs the same sync, live changes and uploads over
// each transport: NDJSON, BSON over HTTP and RSocket over WebSocket.
func TestSyncWithDevService(t *testing.T) {
	for _, tr := range client.Transports {
		t.Run(string(tr), func(t *testing.T) { syncWithDevService(t, tr) })
	}
}

func syncWithDevService(t *testing.T, tr client.Transport) {
	d := startDev(t)
	db := openDB(t)
	conn := newConnector(t, d, "test-user")
	ctx := context.Background()
	opts := fastRetry
	opts.Transport = tr
	if err := db.Connect(ctx, conn, opts); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	t.Run("initial sync", func(t *testing.T) {
		if err := db.WaitForFirstSync(wctx); err != nil {
			t.Fatalf("first sync: %v (status %+v)", err, db.Status())
		}
		if n := count(t, db, `SELECT count(*) FROM todos`); n != 6 {
			t.Errorf("todos: %d, want 6", n)
		}
		if n := count(t, db, `SELECT count(*) FROM lists WHERE owner_id = 'test-user'`); n != 2 {
			t.Errorf("lists: %d, want 2", n)
		}
		if n := count(t, db, `SELECT count(*) FROM announcements`); n != 1 {
			t.Errorf("announcements: %d, want 1", n)
		}
		var desc string
		var completed int64
		if err := db.SQL().QueryRow(`SELECT description, completed FROM todos WHERE id = 'test-user-list-1-todo-1'`).Scan(&desc, &completed); err != nil ||
			desc != "Todo 1" || completed != 1 {
			t.Errorf("todo 1: %q %d %v", desc, completed, err)
		}
		bs, err := db.Buckets(ctx)
		if err != nil || len(bs) != 2 {
			t.Fatalf("buckets: %+v %v", bs, err)
		}
		for _, b := range bs {
			if b.Checksum != b.Expected || b.LastOp == 0 {
				t.Errorf("bucket %+v: checksum differs or not downloaded", b)
			}
		}
	})

	t.Run("live insert, update and delete", func(t *testing.T) {
		d.exec(t, `INSERT INTO todos (id, list_id, description, owner_id) VALUES ('live-1', 'test-user-list-1', 'from the source', 'test-user')`)
		waitDB(t, db, "inserted row", 20*time.Second, func() bool {
			return count(t, db, `SELECT count(*) FROM todos WHERE id = 'live-1' AND description = 'from the source'`) == 1
		})
		d.exec(t, `UPDATE todos SET description = 'changed', completed = 1 WHERE id = 'live-1'`)
		waitDB(t, db, "updated row", 20*time.Second, func() bool {
			return count(t, db, `SELECT count(*) FROM todos WHERE id = 'live-1' AND description = 'changed' AND completed = 1`) == 1
		})
		d.exec(t, `DELETE FROM todos WHERE id = 'live-1'`)
		waitDB(t, db, "deleted row gone", 20*time.Second, func() bool {
			return count(t, db, `SELECT count(*) FROM todos WHERE id = 'live-1'`) == 0
		})
	})

	t.Run("row moves to another user's bucket", func(t *testing.T) {
		d.exec(t, `UPDATE todos SET owner_id = 'user-2' WHERE id = 'test-user-list-2-todo-3'`)
		waitDB(t, db, "moved row gone", 20*time.Second, func() bool {
			return count(t, db, `SELECT count(*) FROM todos WHERE id = 'test-user-list-2-todo-3'`) == 0
		})
		d.exec(t, `UPDATE todos SET owner_id = 'test-user' WHERE id = 'user-2-list-1-todo-1'`)
		waitDB(t, db, "row of user-2 arrives", 20*time.Second, func() bool {
			return count(t, db, `SELECT count(*) FROM todos WHERE id = 'user-2-list-1-todo-1'`) == 1
		})
	})

	t.Run("local writes are uploaded and confirmed", func(t *testing.T) {
		if _, err := db.Execute(ctx, `INSERT INTO todos (id, list_id, description, completed, owner_id) VALUES ('local-1', 'test-user-list-1', 'written locally', 0, 'test-user')`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Execute(ctx, `UPDATE todos SET completed = 0 WHERE id = 'test-user-list-1-todo-1'`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Execute(ctx, `DELETE FROM todos WHERE id = 'test-user-list-1-todo-2'`); err != nil {
			t.Fatal(err)
		}
		// Visible locally at once.
		if n := count(t, db, `SELECT count(*) FROM todos WHERE id = 'local-1'`); n != 1 {
			t.Fatalf("local row not visible: %d", n)
		}
		waitDB(t, db, "writes uploaded, replicated and synced back", 30*time.Second, func() bool {
			return count(t, db, `SELECT count(*) FROM ps_crud`) == 0 &&
				count(t, db, `SELECT count(*) FROM ps_oplog WHERE row_id = 'local-1'`) == 1 &&
				count(t, db, `SELECT count(*) FROM ps_oplog WHERE row_id = 'test-user-list-1-todo-2'`) == 0
		})
		var desc string
		if err := d.source.QueryRow(`SELECT description FROM todos WHERE id = 'local-1'`).Scan(&desc); err != nil || desc != "written locally" {
			t.Errorf("source row: %q %v", desc, err)
		}
		var c int
		if err := d.source.QueryRow(`SELECT completed FROM todos WHERE id = 'test-user-list-1-todo-1'`).Scan(&c); err != nil || c != 0 {
			t.Errorf("source update: %d %v", c, err)
		}
		if n := count(t, db, `SELECT count(*) FROM todos WHERE id = 'test-user-list-1-todo-1' AND completed = 0`); n != 1 {
			t.Errorf("update not reflected")
		}
		if conn.uploads.Load() == 0 {
			t.Errorf("UploadData never completed an upload")
		}
		if s := db.Status(); s.UploadError != nil || s.DownloadError != nil {
			t.Errorf("status errors: %+v", s)
		}
	})
}

// TestCheckpointRequestMode confirms uploads through POST
// /sync/checkpoint-request instead of write-checkpoint2.
func TestCheckpointRequestMode(t *testing.T) {
	d := startDev(t)
	db := openDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := fastRetry
	opts.CheckpointRequests = true
	if err := db.Connect(ctx, newConnector(t, d, "test-user"), opts); err != nil {
		t.Fatal(err)
	}
	if err := db.WaitForFirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		id := fmt.Sprintf("cr-%d", i)
		if _, err := db.Execute(ctx, `INSERT INTO todos (id, description, owner_id) VALUES (?, 'via checkpoint requests', 'test-user')`, id); err != nil {
			t.Fatal(err)
		}
		waitDB(t, db, "write confirmed through a checkpoint request", 20*time.Second, func() bool {
			return count(t, db, `SELECT count(*) FROM ps_crud`) == 0 &&
				count(t, db, `SELECT count(*) FROM ps_oplog WHERE row_id = ?`, id) == 1
		})
	}
	var n int64
	if err := db.SQL().QueryRow(`SELECT value FROM ps_kv WHERE key = 'checkpoint_request_id'`).Scan(&n); err != nil || n < 3 {
		t.Errorf("checkpoint request counter %d %v, want ≥ 3 after three uploads", n, err)
	}
}
