package client_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/protocol"
)

const streamsConfig = `config:
  edition: 3
streams:
  my_lists:
    auto_subscribe: true
    priority: 1
    query: SELECT * FROM lists WHERE owner_id = auth.user_id()
  list_todos:
    query: SELECT * FROM todos WHERE list_id = subscription.parameter('list') AND owner_id = auth.user_id()
  news:
    auto_subscribe: true
    query: SELECT * FROM announcements
`

// TestSyncStreamsWithDevService subscribes to and unsubscribes from a Sync
// Stream of our service and checks the rows follow, with the priority-1
// stream published by a partial checkpoint.
func TestSyncStreamsWithDevService(t *testing.T) {
	d := startDevConfig(t, streamsConfig)
	db := openDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := db.Connect(ctx, newConnector(t, d, "test-user"), fastRetry); err != nil {
		t.Fatal(err)
	}
	if err := db.WaitForFirstSync(ctx); err != nil {
		t.Fatalf("first sync: %v (%+v)\n%s", err, db.Status(), d.stderr)
	}
	if l, a, td := count(t, db, `SELECT count(*) FROM lists`), count(t, db, `SELECT count(*) FROM announcements`),
		count(t, db, `SELECT count(*) FROM todos`); l != 2 || a != 1 || td != 0 {
		t.Fatalf("default streams: %d lists, %d announcements, %d todos; want 2, 1, 0", l, a, td)
	}
	st := db.Status()
	names := map[string]bool{}
	for _, s := range st.Streams {
		names[s.Name] = true
	}
	if !names["my_lists"] || !names["news"] {
		t.Errorf("streams %+v", st.Streams)
	}
	// The service publishes the priority-1 stream with a partial checkpoint
	// first (the client's handling of it is in TestProtocolSequences).
	stream, err := client.OpenStream(ctx, nil, client.Credentials{Endpoint: d.endpoint, Token: d.token(t, "test-user", 60)},
		&protocol.StreamingSyncRequest{RawData: true})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for {
		l, err := stream.Next()
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, l.Kind())
		if p := l.PartialCheckpointComplete; p != nil && *p.Priority != 1 {
			t.Errorf("partial checkpoint of priority %d", *p.Priority)
		}
		if l.CheckpointComplete != nil {
			break
		}
	}
	stream.Close()
	if !slices.Contains(kinds, "partial_checkpoint_complete") {
		t.Errorf("lines %v: no partial checkpoint for the priority-1 stream", kinds)
	}

	for _, l := range []string{"test-user-list-1", "test-user-list-2"} {
		if err := db.Subscribe(ctx, "list_todos", map[string]any{"list": l}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitDB(t, db, "todos of both subscribed lists", 20*time.Second, func() bool {
		return count(t, db, `SELECT count(*) FROM todos`) == 6
	})
	if err := db.Unsubscribe(ctx, "list_todos", map[string]any{"list": "test-user-list-1"}); err != nil {
		t.Fatal(err)
	}
	waitDB(t, db, "todos of the unsubscribed list gone", 20*time.Second, func() bool {
		return count(t, db, `SELECT count(*) FROM todos`) == 3 &&
			count(t, db, `SELECT count(*) FROM todos WHERE list_id = 'test-user-list-2'`) == 3
	})
	// A subscription to another user's list gets nothing.
	if err := db.Subscribe(ctx, "list_todos", map[string]any{"list": "user-2-list-1"}, nil); err != nil {
		t.Fatal(err)
	}
	// Its (empty) bucket arrives in a checkpoint; no row comes with it.
	waitDB(t, db, "the bucket of the new subscription", 20*time.Second, func() bool {
		bs, err := db.Buckets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(bs, func(b client.BucketInfo) bool { return strings.Contains(b.Name, "user-2-list-1") })
	})
	if n := count(t, db, `SELECT count(*) FROM todos WHERE owner_id <> 'test-user'`); n != 0 {
		t.Errorf("%d rows of another user", n)
	}
}
