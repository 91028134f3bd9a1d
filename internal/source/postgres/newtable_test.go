package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	pgsource "github.com/powersync-go/powersync/internal/source/postgres"
	"github.com/powersync-go/powersync/internal/storage"
)

// The tables of these tests start with only todos published; lists is
// created (or published) later.
const publishTodosOnly = `
	CREATE TABLE todos (id bigint primary key, owner_id text, title text, done boolean, body text);
	INSERT INTO todos SELECT i, 'u' || (i % 5), 'todo ' || i, false, NULL FROM generate_series(1, 500) i;
	CREATE PUBLICATION powersync FOR TABLE todos;`

// createLists creates lists with rows and publishes it.
const createLists = `
	CREATE TABLE lists (id uuid primary key, name text);
	INSERT INTO lists SELECT gen_random_uuid(), 'list ' || i FROM generate_series(1, %d) i;
	ALTER PUBLICATION powersync ADD TABLE lists;`

// expectCopied fails unless storage records table as copied for the
// checkpoint's version.
func (p *pipeline) expectCopied(cp storage.Checkpoint, table string) {
	p.t.Helper()
	progress, err := p.st.Bucket(cp.VersionID).SnapshotProgress(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	if !progress[table].Done {
		p.t.Errorf("snapshot progress of %s = %+v, want done", table, progress[table])
	}
}

// TestTablePublishedWhileStopped: a table with rows is created and added
// to the publication while replication is stopped; after the restart its
// rows are in the buckets, next to the todos changed meanwhile.
func TestTablePublishedWhileStopped(t *testing.T) {
	forStorages(t, func(t *testing.T, kind string) {
		p := newPipeline(t, kind, pgsource.Options{SnapshotPageRows: 150}, publishTodosOnly)
		p.start()
		before := p.caughtUp(time.Minute)
		p.stop()
		p.exec(fmt.Sprintf(createLists, 700))
		p.exec(`UPDATE todos SET owner_id = 'u5' WHERE id <= 50`)
		p.exec(`DELETE FROM todos WHERE id > 480`)
		p.start()
		cp := p.caughtUp(time.Minute)
		if cp.VersionID != before.VersionID {
			t.Fatalf("restart replicated version %d, want the same version %d", cp.VersionID, before.VersionID)
		}
		p.verify(cp)
		p.expectCopied(cp, "public.lists")
		// Changes to the table after the catch-up copy stream as usual.
		p.exec(`UPDATE lists SET name = 'renamed' WHERE name LIKE 'list 1%'`)
		p.exec(`DELETE FROM lists WHERE name LIKE 'list 2%'`)
		p.verify(p.caughtUp(time.Minute))
	})
}

// TestTablePublishedWhileRunningRecorded: a table published while the
// service runs is copied inline and recorded as copied, so a restart does
// not copy it again, and the buckets stay equal to the source.
func TestTablePublishedWhileRunningRecorded(t *testing.T) {
	forStorages(t, func(t *testing.T, kind string) {
		p := newPipeline(t, kind, pgsource.Options{}, publishTodosOnly)
		p.start()
		p.caughtUp(time.Minute)
		p.exec(fmt.Sprintf(createLists, 300))
		p.exec(`INSERT INTO lists VALUES (gen_random_uuid(), 'first change')`)
		cp := p.caughtUp(time.Minute)
		p.verify(cp)
		p.expectCopied(cp, "public.lists")
		p.stop()
		p.exec(`DELETE FROM lists WHERE name LIKE 'list 1%'`)
		p.start()
		p.verify(p.caughtUp(time.Minute))
	})
}

// TestKillReplicatorMidInlineCopy: the replicating process dies by SIGKILL
// while it copies a newly published table inside the stream's storage
// transaction; the next start copies the table and the buckets equal the
// source.
func TestKillReplicatorMidInlineCopy(t *testing.T) {
	p := newPipeline(t, "postgres", pgsource.Options{}, publishTodosOnly)
	child := p.startChild(0)
	p.waitStorage("the first checkpoint", `SELECT EXISTS (SELECT 1 FROM powersync.versions WHERE state = 'ACTIVE' AND checkpoint_op > 0)`)
	p.exec(fmt.Sprintf(createLists, 40000))
	p.exec(`INSERT INTO lists VALUES (gen_random_uuid(), 'first change')`)
	p.waitStorage("the inline copy's storage transaction", `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE application_name = 'powersync-storage' AND state IN ('active', 'idle in transaction')
		AND now() - xact_start > interval '300 ms')`)
	kill9(t, child)
	p.exec(`UPDATE lists SET name = 'after the crash' WHERE name LIKE 'list 3%'`)
	p.start()
	cp := p.caughtUp(2 * time.Minute)
	p.verify(cp)
	p.expectCopied(cp, "public.lists")
}
