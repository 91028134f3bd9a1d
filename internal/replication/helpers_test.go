package replication_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/logtest"
	"github.com/powersync-go/powersync/internal/replication"
	"github.com/powersync-go/powersync/internal/source/sqlite"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	"github.com/powersync-go/powersync/protocol"
)

// appSchema is the application database of the tests: todos owned by a
// user, in a list; members give users access to lists (a parameter table).
const appSchema = `
CREATE TABLE todos (id INTEGER PRIMARY KEY, owner_id TEXT, list_id TEXT, title TEXT);
CREATE TABLE members (id INTEGER PRIMARY KEY, user_id TEXT, list_id TEXT);
`

// testLogger discards logs unless -v is given.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// appDB creates the application database and returns its path and a
// writer (the "application").
func appDB(t testing.TB, dir string) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(dir, "app.db")
	db := openWriter(t, path)
	if _, err := db.Exec(appSchema); err != nil {
		t.Fatal(err)
	}
	return path, db
}

func openWriter(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func run(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// env is a replication under test: source, storage and replicator.
type env struct {
	t    testing.TB
	src  *sqlite.Source
	st   *pebble.Storage
	rep  *replication.Replicator
	comp replication.CompileFunc
	// logs holds the replicator's log records, for tests that wait for
	// one (they are also written where testLogger writes).
	logs *logtest.Recorder
}

// startReplication opens the source and storage and starts replication of
// config.
func startReplication(t testing.TB, dbPath, storeDir, config string, compile replication.CompileFunc) *env {
	t.Helper()
	ctx := context.Background()
	src, err := sqlite.Open(ctx, sqlite.Options{Path: dbPath, Logger: testLogger(t), AckInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, err := pebble.Open(ctx, pebble.Options{Dir: storeDir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	logs := logtest.NewRecorder()
	rep, err := replication.New(replication.Options{
		Source: src, Storage: st, SyncConfig: config, Compile: compile,
		Logger:   slog.New(slog.NewMultiHandler(testLogger(t).Handler(), logs)),
		LeaseTTL: 3 * time.Second, RetryDelay: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, src: src, st: st, rep: rep, comp: compile, logs: logs}
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	if e.rep == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.rep.Close(ctx); err != nil {
		e.t.Errorf("close replication: %v", err)
	}
	if err := e.st.Close(ctx); err != nil {
		e.t.Errorf("close storage: %v", err)
	}
	e.src.Close(context.Background())
	e.rep = nil
}

// caughtUp waits until the active version has a checkpoint past the
// source's current head, and returns that checkpoint.
func (e *env) caughtUp() storage.Checkpoint {
	e.t.Helper()
	return e.caughtUpWithin(2 * time.Minute)
}

func (e *env) caughtUpWithin(d time.Duration) storage.Checkpoint {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(d)
	var head storage.Position
	for {
		h, err := e.src.Head(ctx)
		if err == nil {
			head = h
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("source head: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var v storage.Version
	var err error
	waitStorage(e.t, e.st, time.Until(deadline), func() bool {
		v, err = e.st.Active(ctx)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			e.t.Fatal(err)
		}
		return err == nil && v.Checkpoint.Position >= head
	}, func() string {
		return fmt.Sprintf("replication did not reach head %d (active %+v, %v); status %+v", head, v, err, e.rep.Status())
	})
	return v.Checkpoint
}

// waitStorage waits until cond holds, checking it again at every
// checkpoint or activation committed to st, for at most d; failure says
// why().
func waitStorage(t testing.TB, st storage.Storage, d time.Duration, cond func() bool, why func() string) {
	t.Helper()
	timeout := time.After(d)
	for {
		// Watch before checking: a commit after the check fires ch.
		_, ch, err := st.Watch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatal(why())
		}
	}
}

// op is one decoded op with its bucket.
type op struct {
	protocol.OplogEntry
	bucket string
}

// readOps reads every op of the buckets up to cp.
func readOps(t testing.TB, bs storage.BucketStorage, cp storage.Checkpoint, buckets []string, after int64) map[string][]op {
	t.Helper()
	reqs := make([]storage.BucketPosition, len(buckets))
	for i, b := range buckets {
		reqs[i] = storage.BucketPosition{Bucket: b, After: after}
	}
	out := map[string][]op{}
	// ReadData delivers every op of each bucket, chunk after chunk.
	err := bs.ReadData(context.Background(), cp, reqs, storage.Limits{}, func(c storage.Chunk) error {
		for _, raw := range c.Ops {
			var o op
			if err := json.Unmarshal(raw, &o.OplogEntry); err != nil {
				return fmt.Errorf("op %s: %w", raw, err)
			}
			o.bucket = c.Bucket
			out[c.Bucket] = append(out[c.Bucket], o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sourceRows reads every row of a table as sync rules rows.
func sourceRows(t testing.TB, db *sql.DB, table string) []sqlvalue.Row {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []sqlvalue.Row
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := sqlvalue.Row{}
		for i, c := range cols {
			switch v := vals[i].(type) {
			case nil:
				r[c] = sqlvalue.Null
			case int64:
				r[c] = sqlvalue.Int(v)
			case float64:
				r[c] = sqlvalue.Real(v)
			case string:
				r[c] = sqlvalue.Text(v)
			case []byte:
				r[c] = sqlvalue.Blob(v)
			default:
				t.Fatalf("unexpected value %T", v)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// verify checks the active version's buckets against a recomputation from
// the source: applying every op like a client does gives exactly the rows
// the sync rules produce for the final source rows; op ids are unique,
// increasing per bucket and within the checkpoint; bucket checksums and
// counts equal the sums over the ops. candidates lists buckets that may
// exist but be empty now. It returns the number of ops read.
func verify(t testing.TB, st storage.Storage, db *sql.DB, compile replication.CompileFunc, tables []string, candidates []string) int {
	t.Helper()
	ctx := context.Background()
	v, err := st.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := compile(v.Content, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, tb := range tables {
		for _, row := range sourceRows(t, db, tb) {
			ev, errs := rules.EvaluateRow(sqlvalue.TableRef{Name: tb}, row)
			if len(errs) > 0 {
				t.Fatalf("evaluate %s: %v", tb, errs)
			}
			for _, e := range ev {
				want[e.Bucket] = append(want[e.Bucket], e.Table+"|"+e.ID+"|"+string(e.Data))
			}
		}
	}
	bucketSet := map[string]bool{}
	for b := range want {
		bucketSet[b] = true
	}
	for _, b := range candidates {
		bucketSet[fmt.Sprintf("%d#%s", v.ID, b)] = true
	}
	var buckets []string
	for b := range bucketSet {
		buckets = append(buckets, b)
	}
	sort.Strings(buckets)

	cp := v.Checkpoint
	bs := st.Bucket(v.ID)
	ops := readOps(t, bs, cp, buckets, 0)
	sums, err := bs.Checksums(ctx, cp, buckets)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]string{}
	total := 0
	for i, b := range buckets {
		state := map[string]string{} // client oplog: type/id/subkey → row
		var sum uint32
		last := int64(0)
		for _, o := range ops[b] {
			id := int64(o.OpID)
			total++
			if id <= last {
				t.Errorf("bucket %s: op id %d after %d", b, id, last)
			}
			if id > cp.OpID {
				t.Errorf("bucket %s: op id %d beyond checkpoint %d", b, id, cp.OpID)
			}
			if other, dup := seen[id]; dup {
				t.Errorf("op id %d in bucket %s and %s", id, b, other)
			}
			seen[id] = b
			last = id
			sum += o.Checksum
			k := o.ObjectType + "/" + o.ObjectID + "/" + o.Subkey
			switch o.Op {
			case "PUT":
				state[k] = o.ObjectType + "|" + o.ObjectID + "|" + *o.Data
			case "REMOVE":
				delete(state, k)
			case "MOVE":
			case "CLEAR":
				state = map[string]string{}
			default:
				t.Errorf("bucket %s: op %q", b, o.Op)
			}
		}
		if sums[i].Bucket != b || sums[i].Checksum != sum || sums[i].Count != int64(len(ops[b])) {
			t.Errorf("bucket %s: storage checksum %d count %d, ops sum %d count %d", b, sums[i].Checksum, sums[i].Count, sum, len(ops[b]))
		}
		var got []string
		for _, r := range state {
			got = append(got, r)
		}
		sort.Strings(got)
		w := want[b]
		sort.Strings(w)
		if strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Errorf("bucket %s: client would hold %d rows, sync rules give %d\n got: %.300v\nwant: %.300v", b, len(got), len(w), got, w)
		}
	}
	return total
}
