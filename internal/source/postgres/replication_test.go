package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/pgtest"
	"github.com/powersync-go/powersync/internal/replication"
	"github.com/powersync-go/powersync/internal/source"
	pgsource "github.com/powersync-go/powersync/internal/source/postgres"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	pgstorage "github.com/powersync-go/powersync/internal/storage/postgres"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/protocol"
)

// The sync config of the end-to-end tests: todos per owner, lists for
// everyone.
const e2eSyncConfig = `
bucket_definitions:
  by_owner:
    parameters: SELECT request.user_id() AS owner_id
    data:
      - SELECT id, owner_id, title, done, body FROM todos WHERE owner_id = bucket.owner_id
  global:
    data:
      - SELECT id, name FROM lists
`

const e2eSetup = `
	CREATE TABLE todos (id bigint primary key, owner_id text, title text, done boolean, body text);
	CREATE TABLE lists (id uuid primary key, name text);
	CREATE PUBLICATION powersync FOR ALL TABLES;`

// e2eOwners are the owners the tests use (for the buckets to check).
var e2eOwners = []string{"u0", "u1", "u2", "u3", "u4", "u5"}

func compileRules(content string, version int64) (replication.Rules, error) {
	c, diags := syncrules.Parse([]byte(content), syncrules.ParseOptions{DefaultSchema: "public"})
	if c == nil || diags.HasFatal() {
		return nil, fmt.Errorf("sync config: %v", diags)
	}
	return c.Versioned(version), nil
}

// pipeline is a source database replicated into bucket storage.
type pipeline struct {
	t     testing.TB
	srcDB *pgtest.Database
	stDB  *pgtest.Database // Postgres storage only
	conn  *pgx.Conn
	src   *pgsource.Source
	st    storage.Storage
	kind  string
	stop  func()
}

func newPipeline(t testing.TB, kind string, opts pgsource.Options, setup string) *pipeline {
	t.Helper()
	ctx := context.Background()
	p := &pipeline{t: t, kind: kind, srcDB: pgtest.NewDatabase(t)}
	conn, err := pgx.Connect(ctx, p.srcDB.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	p.conn = conn
	if _, err := conn.Exec(ctx, setup); err != nil {
		t.Fatalf("setup: %v", err)
	}
	opts.ConnString = p.srcDB.URL
	if p.src, err = pgsource.Open(ctx, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.src.Close(context.Background()) })
	p.st = p.openStorage()
	t.Cleanup(func() { p.st.Close(context.Background()) })
	return p
}

func (p *pipeline) openStorage() storage.Storage {
	p.t.Helper()
	switch p.kind {
	case "pebble":
		st, err := pebble.Open(p.t.Context(), pebble.Options{Dir: p.t.TempDir()})
		if err != nil {
			p.t.Fatal(err)
		}
		return st
	case "postgres-same-db":
		p.stDB = p.srcDB
		st, err := pgstorage.Open(context.Background(), pgstorage.Options{ConnString: p.stDB.URL})
		if err != nil {
			p.t.Fatal(err)
		}
		return st
	case "postgres":
		if p.stDB == nil {
			p.stDB = pgtest.NewDatabase(p.t)
		}
		st, err := pgstorage.Open(context.Background(), pgstorage.Options{ConnString: p.stDB.URL})
		if err != nil {
			p.t.Fatal(err)
		}
		return st
	}
	p.t.Fatalf("unknown storage %q", p.kind)
	return nil
}

func (p *pipeline) exec(sql string, args ...any) {
	p.t.Helper()
	if _, err := p.conn.Exec(context.Background(), sql, args...); err != nil {
		p.t.Fatalf("%s: %v", sql, err)
	}
}

// start runs a replicator until the test ends (or stop is called).
func (p *pipeline) start() {
	p.t.Helper()
	r, err := replication.New(replication.Options{
		Source: p.src, Storage: p.st, SyncConfig: e2eSyncConfig, Compile: compileRules,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		RetryDelay: 100 * time.Millisecond, LeaseTTL: 3 * time.Second,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		p.t.Fatal(err)
	}
	stopped := false
	p.stop = func() {
		if !stopped {
			stopped = true
			_ = r.Close(context.Background())
		}
	}
	p.t.Cleanup(p.stop)
}

// caughtUp waits until the active checkpoint covers the source head.
func (p *pipeline) caughtUp(timeout time.Duration) storage.Checkpoint {
	p.t.Helper()
	ctx := context.Background()
	head, err := p.src.Head(ctx)
	// Each pooled connection from before a server restart fails once and
	// is dropped (the pool holds at most 4); then a new one is dialled.
	for range 4 {
		if err == nil {
			break
		}
		head, err = p.src.Head(ctx)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	deadline := time.After(timeout)
	for {
		cp, ch, err := p.st.Watch(ctx)
		if err != nil {
			p.t.Fatal(err)
		}
		if cp.VersionID > 0 && cp.Position >= head {
			return cp
		}
		select {
		case <-ch:
		case <-time.After(time.Second):
			// Keep the idle stream moving past head (the heartbeat is 30 s).
			if _, err := p.src.Head(ctx); err != nil {
				p.t.Logf("head: %v", err)
			}
		case <-deadline:
			p.t.Fatalf("replication did not reach head %d within %v (checkpoint %+v)", head, timeout, cp)
		}
	}
}

// verify checks that the bucket contents as of cp are exactly what the sync
// rules make of the current source rows, with valid checksums.
func (p *pipeline) verify(cp storage.Checkpoint) {
	p.t.Helper()
	ctx := context.Background()
	rules, err := compileRules(e2eSyncConfig, cp.VersionID)
	if err != nil {
		p.t.Fatal(err)
	}
	want := map[string]map[string]string{}
	tables, err := p.src.Tables(ctx, rules.SourceTables())
	if err != nil {
		p.t.Fatal(err)
	}
	for _, tb := range tables {
		err := p.src.Snapshot(ctx, tb, nil, func(page source.SnapshotPage) error {
			for _, row := range page.Rows {
				out, errs := rules.EvaluateRow(tb.Ref, row)
				if len(errs) > 0 {
					return errors.Join(errs...)
				}
				for _, r := range out {
					if want[r.Bucket] == nil {
						want[r.Bucket] = map[string]string{}
					}
					want[r.Bucket][r.Table+"/"+r.ID] = string(r.Data)
				}
			}
			return nil
		})
		if err != nil {
			p.t.Fatal(err)
		}
	}
	buckets := map[string]bool{fmt.Sprintf("%d#global[]", cp.VersionID): true}
	for _, o := range e2eOwners {
		buckets[fmt.Sprintf("%d#by_owner[%q]", cp.VersionID, o)] = true
	}
	for b := range want {
		buckets[b] = true
	}
	names := make([]string, 0, len(buckets))
	for b := range buckets {
		names = append(names, b)
	}
	sort.Strings(names)
	bs := p.st.Bucket(cp.VersionID)
	sums, err := bs.Checksums(ctx, cp, names)
	if err != nil {
		p.t.Fatal(err)
	}
	for i, name := range names {
		got := map[string]string{}
		var sum uint32
		var count int64
		err := bs.ReadData(ctx, cp, []storage.BucketPosition{{Bucket: name}}, storage.Limits{}, func(c storage.Chunk) error {
			for _, raw := range c.Ops {
				var op protocol.OplogEntry
				if err := json.Unmarshal(raw, &op); err != nil {
					return fmt.Errorf("op %s: %w", raw, err)
				}
				sum += op.Checksum
				count++
				k := op.ObjectType + "/" + op.ObjectID
				switch op.Op {
				case protocol.OpPut:
					got[k] = *op.Data
				case protocol.OpRemove:
					delete(got, k)
				case protocol.OpClear:
					got = map[string]string{}
				}
			}
			return nil
		})
		if err != nil {
			p.t.Fatal(err)
		}
		if sums[i].Checksum != sum || sums[i].Count != count {
			p.t.Errorf("bucket %s: checksum %d/%d ops, recomputed from its ops %d/%d", name, sums[i].Checksum, sums[i].Count, sum, count)
		}
		w := want[name]
		if len(got) != len(w) {
			p.t.Errorf("bucket %s: %d rows, source has %d", name, len(got), len(w))
			extra := 0
			for k, v := range got {
				if _, ok := w[k]; !ok && extra < 3 {
					extra++
					p.t.Errorf("bucket %s has row %s = %s, not in the source", name, k, v)
				}
			}
		}
		bad := 0
		for k, v := range w {
			if got[k] != v && bad < 3 {
				bad++
				p.t.Errorf("bucket %s row %s = %q, want %q", name, k, got[k], v)
			}
		}
	}
}

func forStorages(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range []string{"pebble", "postgres"} {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
}

// TestReplicateIntoStorage: snapshot, then inserts, updates (a bucket
// move, a TOASTed column left unchanged on a FULL identity table),
// deletes, truncates and primary key changes, into both storages; the
// buckets equal the recomputation from the source.
func TestReplicateIntoStorage(t *testing.T) {
	forStorages(t, func(t *testing.T, kind string) {
		p := newPipeline(t, kind, pgsource.Options{SnapshotPageRows: 300}, e2eSetup+`
			ALTER TABLE todos REPLICA IDENTITY FULL;
			INSERT INTO todos SELECT i, 'u' || (i % 5), 'todo ' || i, i % 2 = 0, NULL FROM generate_series(1, 2000) i;
			INSERT INTO lists VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'groceries');`)
		p.start()
		p.verify(p.caughtUp(60 * time.Second))

		big := strings.Repeat("toast ", 20000)
		p.exec(`INSERT INTO todos VALUES (5001, 'u1', 'with body', false, $1)`, big)
		p.exec(`UPDATE todos SET title = 'renamed' WHERE id = 5001`) // body unchanged (TOAST)
		p.exec(`UPDATE todos SET owner_id = 'u2' WHERE id BETWEEN 1 AND 50`)
		p.exec(`UPDATE todos SET id = id + 100000 WHERE id BETWEEN 51 AND 60`)
		p.exec(`DELETE FROM todos WHERE id BETWEEN 61 AND 200`)
		p.exec(`UPDATE todos SET owner_id = NULL WHERE id = 300`)
		p.exec(`BEGIN; INSERT INTO todos VALUES (6000, 'u5', 'in tx', true, 'x'); UPDATE todos SET done = NOT done WHERE id < 400; COMMIT`)
		p.exec(`TRUNCATE lists`)
		p.exec(`INSERT INTO lists VALUES ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'after truncate')`)
		p.verify(p.caughtUp(60 * time.Second))
	})
}

// TestToastDefaultIdentity: with REPLICA IDENTITY DEFAULT an update that
// leaves a TOASTed value alone does not carry it; the synced row still has
// it.
func TestToastDefaultIdentity(t *testing.T) {
	p := newPipeline(t, "postgres", pgsource.Options{}, e2eSetup)
	p.start()
	p.caughtUp(time.Minute)
	big := strings.Repeat("large body ", 30000)
	p.exec(`INSERT INTO todos VALUES (1, 'u1', 'first', false, $1), (2, 'u1', 'second', false, $1)`, big)
	p.exec(`UPDATE todos SET title = 'renamed', done = true`)
	p.exec(`UPDATE todos SET owner_id = 'u2' WHERE id = 2`)
	p.exec(`BEGIN; UPDATE todos SET title = 'gone' WHERE id = 1; DELETE FROM todos WHERE id = 1; COMMIT`)
	p.verify(p.caughtUp(time.Minute))
}

// TestLargeTransaction replicates one transaction of 200,000 rows into
// Postgres storage (one storage transaction of many flushes; the Pebble
// backend's spilling of large batches is covered by its own tests).
func TestLargeTransaction(t *testing.T) {
	func(t *testing.T, kind string) {
		p := newPipeline(t, kind, pgsource.Options{}, e2eSetup)
		p.start()
		p.caughtUp(60 * time.Second)
		start := time.Now()
		p.exec(`INSERT INTO todos SELECT i, 'u' || (i % 5), 'todo ' || i, false, NULL FROM generate_series(1, 200000) i`)
		cp := p.caughtUp(5 * time.Minute)
		t.Logf("%s: 200,000-row transaction replicated in %v", kind, time.Since(start).Round(time.Millisecond))
		p.verify(cp)
	}(t, "postgres")
}

// TestPostgresRestartUnderLoad restarts the server (crash-like) while rows
// are written; replication recovers and converges.
func TestPostgresRestartUnderLoad(t *testing.T) {
	p := newPipeline(t, "postgres", pgsource.Options{}, e2eSetup)
	p.start()
	p.caughtUp(60 * time.Second)
	// The writer stops between statements (not by cancelling one, whose
	// commit could land after the final head is read).
	var stopWriting atomic.Bool
	done := make(chan int)
	// written carries the writer's row count after each row (the latest
	// only: a full channel drops it).
	written := make(chan int, 1)
	go func() {
		ctx := context.Background()
		n := 0
		defer func() { done <- n }()
		var conn *pgx.Conn
		for i := 1; !stopWriting.Load(); i++ {
			if conn == nil {
				c, err := pgx.Connect(ctx, p.srcDB.URL)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				conn = c
			}
			_, err := conn.Exec(ctx, `INSERT INTO todos VALUES ($1, $2, 'load', false, NULL)`, i, e2eOwners[i%len(e2eOwners)])
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				continue
			}
			n++
			select {
			case <-written:
			default:
			}
			written <- n
		}
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	// waitWritten waits until the writer has written more than n rows.
	waitWritten := func(n int, what string) int {
		t.Helper()
		timeout := time.After(2 * time.Minute)
		for {
			select {
			case m := <-written:
				if m > n {
					return m
				}
			case <-timeout:
				t.Fatalf("no rows written %s", what)
			}
		}
	}
	// Rows before the restart, then rows after it (the writer reconnects).
	before := waitWritten(100, "before the restart")
	if err := p.srcDB.Cluster.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitWritten(before+100, "after the restart")
	stopWriting.Store(true)
	n := <-done
	if n == 0 {
		t.Fatal("no rows were written")
	}
	t.Logf("%d rows written around the restart", n)
	cp := p.caughtUp(2 * time.Minute)
	t.Logf("caught up at %+v", cp)
	p.verify(cp)
}

// TestStorageInSourceDatabase: bucket storage in the source database itself,
// with a publication of all tables (so the storage's own writes are in
// the change stream): replication converges and goes quiet when idle
// instead of feeding its own writes back.
func TestStorageInSourceDatabase(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, "postgres-same-db", pgsource.Options{}, e2eSetup+`
		INSERT INTO todos SELECT i, 'u' || (i % 5), 'todo ' || i, false, NULL FROM generate_series(1, 500) i;`)
	p.start()
	p.caughtUp(time.Minute)
	p.exec(`UPDATE todos SET done = true WHERE id < 100`)
	p.verify(p.caughtUp(time.Minute))
	count := func() (n int64) {
		if err := p.conn.QueryRow(ctx, `SELECT count(*) FROM powersync.checkpoint_changes`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	time.Sleep(300 * time.Millisecond)
	before := count()
	time.Sleep(1500 * time.Millisecond)
	if after := count(); after != before {
		t.Fatalf("idle replication kept committing checkpoints: %d, then %d", before, after)
	}
}
