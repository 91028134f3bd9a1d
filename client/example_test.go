package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/protocol"
)

// exampleConnector hands out a fixed endpoint and token and has no backend
// to upload to.
type exampleConnector struct{ endpoint string }

func (c exampleConnector) FetchCredentials(context.Context) (client.Credentials, error) {
	return client.Credentials{Endpoint: c.endpoint, Token: "a-jwt-from-your-auth-service"}, nil
}

func (exampleConnector) UploadData(ctx context.Context, db *client.DB) error {
	batch, err := db.GetCRUDBatch(ctx, 100)
	if err != nil || batch == nil {
		return err
	}
	// Send batch.Entries to your backend here, then:
	return batch.Complete(ctx)
}

// A minimal stand-in for a sync service: one checkpoint with one bucket of
// two rows, then the stream stays open.
func exampleService() *httptest.Server {
	row1 := `{"id":"t1","description":"Buy milk","done":0}`
	row2 := `{"id":"t2","description":"Walk the dog","done":1}`
	c1 := protocol.PutChecksum("todos", "t1", row1)
	c2 := protocol.PutChecksum("todos", "t2", row2)
	lines := []string{
		fmt.Sprintf(`{"checkpoint":{"last_op_id":"2","buckets":[{"bucket":"mine[]","checksum":%d,"count":2,"priority":3}]}}`, int32(c1+c2)),
		fmt.Sprintf(`{"data":{"bucket":"mine[]","after":"0","next_after":"2","has_more":false,"data":[`+
			`{"op_id":"1","op":"PUT","object_type":"todos","object_id":"t1","subkey":"a","data":%q,"checksum":%d},`+
			`{"op_id":"2","op":"PUT","object_type":"todos","object_id":"t2","subkey":"b","data":%q,"checksum":%d}]}}`, row1, c1, row2, c2),
		`{"checkpoint_complete":{"last_op_id":"2"}}`,
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
}

func Example() {
	svc := exampleService()
	defer svc.Close()
	dir, _ := os.MkdirTemp("", "client-example")
	defer os.RemoveAll(dir)

	schema := client.Schema{Tables: []client.Table{
		client.NewTable("todos", "description", client.Text, "done", client.Integer),
	}}
	db, err := client.Open(context.Background(), client.Options{Path: filepath.Join(dir, "app.db"), Schema: schema})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close(context.Background())

	ctx := context.Background()
	if err := db.Connect(ctx, exampleConnector{endpoint: svc.URL}, client.ConnectOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	if err := db.WaitForFirstSync(ctx); err != nil {
		fmt.Println(err)
		return
	}
	rows, _ := db.Query(ctx, `SELECT id, description, done FROM todos ORDER BY id`)
	for _, r := range rows.Rows {
		fmt.Println(r...)
	}
	// Local writes go to the view and into the upload queue.
	_, _ = db.Execute(ctx, `INSERT INTO todos (id, description, done) VALUES ('t3', 'Call mum', 0)`)
	n, _ := db.Query(ctx, `SELECT count(*) FROM todos`)
	fmt.Println("rows:", n.Rows[0][0])
	// Output:
	// t1 Buy milk 0
	// t2 Walk the dog 1
	// rows: 3
}
