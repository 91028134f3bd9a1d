package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/powersync-go/powersync/client"
)

// goConnector is the Go client's connector for the dev instance: tokens
// from `powersync generate token`, uploads to the dev write endpoint (the
// same backend the Node client's uploadData uses).
type goConnector struct {
	t    *testing.T
	d    *devInstance
	user string
}

func (c goConnector) FetchCredentials(context.Context) (client.Credentials, error) {
	return client.Credentials{Endpoint: c.d.endpoint, Token: c.d.token(c.t, c.user, 3600)}, nil
}

func (c goConnector) UploadData(ctx context.Context, db *client.DB) error {
	batch, err := db.GetCRUDBatch(ctx, 200)
	if err != nil || batch == nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"batch": batch.Entries})
	req, _ := http.NewRequestWithContext(ctx, "POST", c.d.endpoint+"/api/dev/crud", bytes.NewReader(body))
	req.Header.Set("Authorization", "Token "+c.d.token(c.t, c.user, 600))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("upload: %d %s", resp.StatusCode, b)
	}
	return batch.Complete(ctx)
}

// tableQueries read every synced table in a stable order, with the same
// columns on both clients.
var tableQueries = map[string]string{
	"lists":         `SELECT id, name, owner_id, created_at FROM lists ORDER BY id`,
	"todos":         `SELECT id, list_id, description, completed, owner_id, created_at FROM todos ORDER BY id`,
	"announcements": `SELECT id, message, created_at FROM announcements ORDER BY id`,
}

// normalize renders values the same way for both clients: JSON numbers
// from Node and int64/float64 from Go become the same text.
func normalize(rows []map[string]any) []map[string]string {
	out := make([]map[string]string, len(rows))
	for i, r := range rows {
		m := map[string]string{}
		for k, v := range r {
			switch x := v.(type) {
			case nil:
				m[k] = "NULL"
			case float64:
				if x == float64(int64(x)) {
					m[k] = fmt.Sprint(int64(x))
				} else {
					m[k] = fmt.Sprint(x)
				}
			default:
				m[k] = fmt.Sprint(x)
			}
		}
		out[i] = m
	}
	return out
}

// TestGoClientMatchesNodeSDK connects the Go client SDK and the official
// @powersync/node SDK to one powersync dev as the same user, changes data
// in the source and on both clients, and checks that both end with
// identical tables.
func TestGoClientMatchesNodeSDK(t *testing.T) {
	node := requireSDK(t)
	d := startDev(t)
	tx, err := d.source.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if _, err := tx.Exec(`INSERT INTO todos (id, list_id, description, completed, owner_id) VALUES (?, 'l1', ?, ?, 'u1')`,
			fmt.Sprintf("todo-%05d", i), fmt.Sprintf("Todo %d — ünïcode and \"quotes\"", i), i%2); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Exec(`INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'List of u1', 'u1')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	nodeClient := startClient(t, node, d, newTokenServer(t, d, "u1"), "node")
	db, err := client.Open(t.Context(), client.Options{Path: filepath.Join(t.TempDir(), "go.db"), Schema: client.Schema{Tables: []client.Table{
		client.NewTable("lists", "name", client.Text, "owner_id", client.Text, "created_at", client.Text),
		client.NewTable("todos", "list_id", client.Text, "description", client.Text, "completed", client.Integer,
			"owner_id", client.Text, "created_at", client.Text),
		client.NewTable("announcements", "message", client.Text, "created_at", client.Text),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	ctx := context.Background()
	if err := db.Connect(ctx, goConnector{t: t, d: d, user: "u1"}, client.ConnectOptions{RetryDelay: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}

	goRows := func(q string) []map[string]any {
		r, err := db.Query(ctx, q)
		if err != nil {
			t.Fatalf("go client: %s: %v", q, err)
		}
		return r.Maps()
	}
	same := func() (bool, string) {
		for name, q := range tableQueries {
			a, b := normalize(goRows(q)), normalize(nodeClient.query(t, q))
			if !reflect.DeepEqual(a, b) {
				return false, fmt.Sprintf("%s: go %d rows, node %d rows", name, len(a), len(b))
			}
		}
		return true, ""
	}
	// waitSame waits for the Go client's state (goCond, checked at each of
	// its status changes), then until both clients hold the same tables
	// and nodeCond holds (checked at each event of the Node client).
	waitSame := func(what string, goCond, nodeCond func() bool) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := db.WaitFor(wctx, func(client.SyncStatus) bool { return goCond() }); err != nil {
			t.Fatalf("go client: timed out waiting for: %s", what)
		}
		nodeClient.eventually(t, what, 60*time.Second, func() bool {
			ok, why := same()
			if !ok {
				t.Logf("%s: not yet: %s", what, why)
			}
			return ok && (nodeCond == nil || nodeCond())
		})
	}

	waitSame("initial sync identical", func() bool { return len(goRows(`SELECT id FROM todos`)) == 2000 }, nil)

	d.exec(t, `UPDATE todos SET description = 'changed in the source', completed = 1 WHERE id = 'todo-00003'`)
	d.exec(t, `DELETE FROM todos WHERE id IN ('todo-00004', 'todo-00005')`)
	d.exec(t, `UPDATE todos SET owner_id = 'u2' WHERE id = 'todo-00006'`)
	d.exec(t, `INSERT INTO announcements (id, message) VALUES ('a2', 'second announcement')`)
	waitSame("source changes identical", func() bool {
		return len(goRows(`SELECT id FROM todos WHERE id IN ('todo-00004', 'todo-00006')`)) == 0 &&
			len(goRows(`SELECT id FROM announcements`)) == 2
	}, nil)

	if _, err := db.Execute(ctx, `INSERT INTO todos (id, list_id, description, completed, owner_id) VALUES ('from-go', 'l1', 'written by the Go client', 0, 'u1')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Execute(ctx, `UPDATE todos SET completed = 1 WHERE id = 'todo-00010'`); err != nil {
		t.Fatal(err)
	}
	nodeClient.execute(t, `INSERT INTO todos (id, list_id, description, completed, owner_id) VALUES (?, 'l1', ?, 1, 'u1')`, "from-node", "written by the Node SDK")
	nodeClient.execute(t, `DELETE FROM todos WHERE id = ?`, "todo-00011")
	waitSame("client writes identical on both", func() bool {
		return len(goRows(`SELECT id FROM todos WHERE id IN ('from-go', 'from-node')`)) == 2 &&
			len(goRows(`SELECT id FROM todos WHERE id = 'todo-00011'`)) == 0
	}, func() bool { return nodeClient.count(t, `SELECT count(*) FROM ps_crud`) == 0 })
	if n, _ := db.PendingUploads(ctx); n != 0 {
		t.Errorf("go client still has %d pending uploads", n)
	}
	if ok, why := same(); !ok {
		t.Errorf("tables differ at the end: %s", why)
	}
}
