package mysql_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/mysqltest"
	"github.com/powersync-go/powersync/internal/pgtest"
	"github.com/powersync-go/powersync/internal/replication"
	"github.com/powersync-go/powersync/internal/source"
	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
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

var e2eSetup = []string{
	`CREATE TABLE todos (id BIGINT PRIMARY KEY, owner_id VARCHAR(20), title TEXT, done BOOLEAN, body TEXT)`,
	`CREATE TABLE lists (id CHAR(36) PRIMARY KEY, name TEXT)`,
}

// e2eOwners are the owners the tests use (for the buckets to check).
var e2eOwners = []string{"u0", "u1", "u2", "u3", "u4", "u5"}

func compileRules(content string, version int64) (replication.Rules, error) {
	c, diags := syncrules.Parse([]byte(content), syncrules.ParseOptions{})
	if c == nil || diags.HasFatal() {
		return nil, fmt.Errorf("sync config: %v", diags)
	}
	return c.Versioned(version), nil
}

// pipeline is a MariaDB database replicated into bucket storage.
type pipeline struct {
	t     testing.TB
	kind  string
	srcDB *mysqltest.Database
	stDB  *pgtest.Database // Postgres storage only
	sql   *sql.DB
	src   *mysqlsource.Source
	st    storage.Storage
	stop  func()
}

func newPipeline(t testing.TB, kind string, opts mysqlsource.Options, setup ...string) *pipeline {
	t.Helper()
	return newPipelineOn(t, mysqltest.NewDatabase(t), kind, opts, setup...)
}

// newPipelineOn is newPipeline with a database of the caller's server.
func newPipelineOn(t testing.TB, d *mysqltest.Database, kind string, opts mysqlsource.Options, setup ...string) *pipeline {
	t.Helper()
	p := &pipeline{t: t, kind: kind, srcDB: d}
	db, err := sql.Open("mysql", p.srcDB.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p.sql = db
	for _, q := range setup {
		p.exec(q)
	}
	p.st = p.openStorage()
	t.Cleanup(func() { p.st.Close(context.Background()) })
	opts.URI = p.srcDB.URL("root", "")
	opts.Slots = p.st.Settings()
	p.src, err = mysqlsource.Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.src.Close(context.Background()) })
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

func (p *pipeline) exec(q string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := p.sql.ExecContext(ctx, q, args...); err != nil {
		p.t.Fatalf("%s: %v", q, err)
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

// caughtUp waits until the active checkpoint covers the source head. An
// idle server's heartbeats carry the stream there.
func (p *pipeline) caughtUp(timeout time.Duration) storage.Checkpoint {
	p.t.Helper()
	ctx := context.Background()
	head, err := p.src.Head(ctx)
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
	total := 0
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
		total += len(w)
		if len(got) != len(w) {
			p.t.Errorf("bucket %s: %d rows, source has %d", name, len(got), len(w))
		}
		bad := 0
		for k, v := range w {
			if got[k] != v && bad < 3 {
				bad++
				p.t.Errorf("bucket %s row %s = %q, want %q", name, k, got[k], v)
			}
		}
	}
	p.t.Logf("verified %d rows in %d buckets at checkpoint %d", total, len(names), cp.OpID)
}

func forStorages(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range []string{"pebble", "postgres"} {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
}

// TestReplicateIntoStorage: snapshot in pages, then inserts, updates (a
// bucket move, a primary key change), deletes, TRUNCATE, ALTER TABLE ADD
// COLUMN and DROP TABLE, into both storages; the buckets equal the
// recomputation from the source.
func TestReplicateIntoStorage(t *testing.T) {
	forStorages(t, func(t *testing.T, kind string) {
		p := newPipeline(t, kind, mysqlsource.Options{SnapshotPageRows: 300}, append(e2eSetup,
			`INSERT INTO todos SELECT seq, CONCAT('u', seq % 5), CONCAT('todo ', seq), seq % 2 = 0, NULL FROM seq_1_to_2000`,
			`INSERT INTO lists SELECT UUID(), CONCAT('list ', seq) FROM seq_1_to_30`)...)
		p.start()
		p.verify(p.caughtUp(time.Minute))

		p.exec(`INSERT INTO todos VALUES (5001, 'u1', 'new', FALSE, 'body')`)
		p.exec(`UPDATE todos SET owner_id = 'u5' WHERE id <= 50`)
		p.exec(`UPDATE todos SET id = id + 100000 WHERE id BETWEEN 51 AND 60`)
		p.exec(`DELETE FROM todos WHERE id BETWEEN 100 AND 199`)
		p.exec(`TRUNCATE TABLE lists`)
		p.exec(`INSERT INTO lists VALUES ('l1', 'after truncate')`)
		p.exec(`ALTER TABLE todos ADD COLUMN extra INT DEFAULT 7`)
		p.exec(`UPDATE todos SET title = 'after alter' WHERE id BETWEEN 300 AND 310`)
		p.exec(`ALTER TABLE todos DROP COLUMN extra`)
		p.exec(`INSERT INTO todos VALUES (5002, 'u2', 'after drop column', TRUE, NULL)`)
		p.exec(`START TRANSACTION`)
		p.exec(`INSERT INTO todos VALUES (5003, 'u3', 'in a transaction', TRUE, NULL)`)
		p.exec(`COMMIT`)
		p.verify(p.caughtUp(time.Minute))

		p.exec(`DROP TABLE lists`)
		p.exec(`CREATE TABLE lists (id CHAR(36) PRIMARY KEY, name TEXT)`)
		p.exec(`INSERT INTO lists VALUES ('l2', 'recreated')`)
		p.verify(p.caughtUp(time.Minute))
	})
}

// TestLargeTransaction: one transaction of 200,000 inserts and one of
// 200,000 updates stream into storage intact.
func TestLargeTransaction(t *testing.T) {
	p := newPipeline(t, "pebble", mysqlsource.Options{}, e2eSetup...)
	p.start()
	p.caughtUp(time.Minute)
	p.exec(`INSERT INTO todos SELECT seq, CONCAT('u', seq % 6), CONCAT('bulk ', seq), FALSE, NULL FROM seq_1_to_200000`)
	p.verify(p.caughtUp(5 * time.Minute))
	p.exec(`UPDATE todos SET done = TRUE, title = CONCAT(title, ' done')`)
	p.verify(p.caughtUp(5 * time.Minute))
}
