package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/pgtest"
	"github.com/powersync-go/powersync/internal/storage"
	pgstorage "github.com/powersync-go/powersync/internal/storage/postgres"
	"github.com/powersync-go/powersync/internal/storage/storagetest"
)

// commitCheckpoint writes one row and a checkpoint at pos.
func commitCheckpoint(t *testing.T, bs storage.BucketStorage, pos storage.Position, first bool) storage.Checkpoint {
	t.Helper()
	u := storage.RowUpdate{Table: "items", Key: []byte("k"), Buckets: []storage.BucketRow{{Bucket: "b", Table: "items", ID: "k", Data: []byte(fmt.Sprintf(`{"p":%d}`, pos))}}}
	return storagetest.Commit(t, bs, storage.CommitOptions{Position: pos, Checkpoint: true, SnapshotDone: first}, u)
}

func waitFired(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(15 * time.Second):
		t.Fatalf("watch did not fire: %s", what)
	}
}

// TestWatchAcrossProcesses: a reader storage (another process) learns of
// checkpoints committed by the writer through NOTIFY, also after its LISTEN
// connection was killed.
func TestWatchAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	writer, db := open(t)
	defer writer.Close(ctx)
	reader, err := pgstorage.Open(ctx, pgstorage.Options{ConnString: db.URL, SkipMigrate: true, ListenRetry: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close(ctx)

	v, err := writer.Deploy(ctx, "bucket_definitions: {}")
	if err != nil {
		t.Fatal(err)
	}
	bs := writer.Bucket(v.ID)
	_, ch, err := reader.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp1 := commitCheckpoint(t, bs, 10, true)
	waitFired(t, ch, "first checkpoint")
	got := waitCheckpoint(t, reader, cp1)

	// Kill the reader's LISTEN connection (as idle_session_timeout or a
	// proxy would); the reader must reconnect and still see checkpoints.
	conn := db.Connect(t)
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, pgstorage.ListenApplicationName).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed < 2 {
		t.Fatalf("terminated %d LISTEN connections, want the writer's and the reader's", killed)
	}
	_, ch, err = reader.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp2 := commitCheckpoint(t, bs, 20, false)
	if cp2.OpID <= got.OpID {
		t.Fatalf("second checkpoint %+v not after %+v", cp2, got)
	}
	waitFired(t, ch, "checkpoint after the LISTEN connection was killed")
	waitCheckpoint(t, reader, cp2)
}

// waitCheckpoint waits until the reader's Watch reports cp.
func waitCheckpoint(t *testing.T, s storage.Storage, want storage.Checkpoint) storage.Checkpoint {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		cp, ch, err := s.Watch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if cp.VersionID == want.VersionID && cp.OpID == want.OpID && cp.Position == want.Position {
			return cp
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("watch reports %+v, want %+v", cp, want)
		}
	}
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	s, db := open(t)
	s.Close(ctx)
	conn := db.Connect(t)
	n, err := pgstorage.Migrate(ctx, conn)
	if err != nil || n != 0 {
		t.Fatalf("second migrate applied %d: %v", n, err)
	}
	have, want, err := pgstorage.SchemaVersion(ctx, conn)
	if err != nil || have != want || have == 0 {
		t.Fatalf("schema version %d/%d: %v", have, want, err)
	}
	// An API process refuses an unmigrated database with a clear message.
	if _, err := conn.Exec(ctx, `DROP SCHEMA powersync CASCADE`); err != nil {
		t.Fatal(err)
	}
	_, err = pgstorage.Open(ctx, pgstorage.Options{ConnString: db.URL, SkipMigrate: true})
	if err == nil || !strings.Contains(err.Error(), "migrate up") {
		t.Fatalf("open unmigrated without migrating: %v", err)
	}
}

// TestWriteCheckpointHistoryPruned: only the recent values of a client are
// kept, and they still answer At.
func TestWriteCheckpointHistoryPruned(t *testing.T) {
	ctx := context.Background()
	s, db := open(t)
	defer s.Close(ctx)
	wc := s.WriteCheckpoints()
	for i := 1; i <= 200; i++ {
		if v, err := wc.Create(ctx, "u", "c", storage.Position(10*i)); err != nil || v != int64(i) {
			t.Fatalf("create %d: %d %v", i, v, err)
		}
	}
	for _, c := range []struct {
		pos  storage.Position
		want int64
	}{{2000, 200}, {1995, 199}, {1500, 150}} {
		if v, ok, err := wc.At(ctx, "u", "c", c.pos); err != nil || !ok || v != c.want {
			t.Errorf("At(%d) = %d %v %v, want %d", c.pos, v, ok, err, c.want)
		}
	}
	conn := db.Connect(t)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM powersync.write_checkpoints`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 64+16 {
		t.Fatalf("%d write checkpoint rows kept for one client", n)
	}
}

func TestOpenRejectsBadCACert(t *testing.T) {
	db := pgtest.NewDatabase(t)
	_, err := pgstorage.Open(context.Background(), pgstorage.Options{ConnString: db.URL + "&sslmode=verify-full", CACert: "not a certificate"})
	if err == nil || !strings.Contains(err.Error(), "cacert") {
		t.Fatalf("open with a bad cacert: %v", err)
	}
}

// TestReadDataManyBuckets: reading many buckets at once (small ones are
// fetched together) gives exactly the chunks of reading them one by one.
func TestReadDataManyBuckets(t *testing.T) {
	ctx := context.Background()
	bs, b := openBatch(t, "many")
	var reqs []storage.BucketPosition
	for i := 0; i < 250; i++ {
		bucket := fmt.Sprintf("b%03d", i)
		reqs = append(reqs, storage.BucketPosition{Bucket: bucket, After: int64(i % 3)})
		rows := i % 7
		if i == 120 {
			rows = 450 // larger than the prefetch cap
		}
		for r := 0; r < rows; r++ {
			id := fmt.Sprintf("%d-%d", i, r)
			if err := b.Save(ctx, storage.RowUpdate{Table: "t", Key: []byte(id), Buckets: []storage.BucketRow{
				{Bucket: bucket, Table: "t", ID: id, Data: []byte(fmt.Sprintf(`{"v":"%0100d"}`, r))}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cp, err := b.Commit(ctx, storage.CommitOptions{Position: 1, Checkpoint: true, SnapshotDone: true})
	if err != nil {
		t.Fatal(err)
	}
	read := func(rs []storage.BucketPosition, lim storage.Limits) []string {
		var out []string
		err := bs.ReadData(ctx, cp, rs, lim, func(c storage.Chunk) error {
			out = append(out, fmt.Sprintf("%s %d-%d more=%v n=%d", c.Bucket, c.After, c.NextAfter, c.HasMore, len(c.Ops)))
			for _, op := range c.Ops {
				out = append(out, string(op))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, lim := range []storage.Limits{{}, {Ops: 4}, {Bytes: 600}} {
		all := read(reqs, lim)
		var one []string
		for _, r := range reqs {
			one = append(one, read([]storage.BucketPosition{r}, lim)...)
		}
		if strings.Join(all, "\n") != strings.Join(one, "\n") {
			t.Fatalf("limits %+v: reading %d buckets at once differs from one by one (%d vs %d lines)", lim, len(reqs), len(all), len(one))
		}
	}
}
