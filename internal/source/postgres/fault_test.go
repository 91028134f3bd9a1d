package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/replication"
	pgsource "github.com/powersync-go/powersync/internal/source/postgres"
	pgstorage "github.com/powersync-go/powersync/internal/storage/postgres"
)

// The fault tests run this test binary again as a replicating child
// process (TestMain sees childSourceEnv) and kill it with SIGKILL.
const (
	childSourceEnv  = "POWERSYNC_PGTEST_CHILD_SOURCE"
	childStorageEnv = "POWERSYNC_PGTEST_CHILD_STORAGE"
	childPageEnv    = "POWERSYNC_PGTEST_CHILD_PAGE_ROWS"
)

// runChildReplicator replicates until the process is killed.
func runChildReplicator() int {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	page, _ := strconv.Atoi(os.Getenv(childPageEnv))
	src, err := pgsource.Open(ctx, pgsource.Options{ConnString: os.Getenv(childSourceEnv), SnapshotPageRows: page, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	st, err := pgstorage.Open(ctx, pgstorage.Options{ConnString: os.Getenv(childStorageEnv), Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	r, err := replication.New(replication.Options{Source: src, Storage: st, SyncConfig: e2eSyncConfig,
		Compile: compileRules, Logger: log, LeaseTTL: 2 * time.Second, RetryDelay: 100 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	if err := r.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	select {} // until killed
}

// startChild starts a replicating child process for the pipeline.
func (p *pipeline) startChild(pageRows int) *exec.Cmd {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childSourceEnv+"="+p.srcDB.URL, childStorageEnv+"="+p.stDB.URL,
		childPageEnv+"="+strconv.Itoa(pageRows))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func kill9(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// storageQuery polls a query on the storage database until it returns
// true.
func (p *pipeline) waitStorage(what, sql string) {
	p.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.stDB.URL)
	if err != nil {
		p.t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var ok bool
		err := conn.QueryRow(ctx, sql).Scan(&ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKillReplicatorMidSnapshot: the replicating process dies by SIGKILL
// halfway through the initial snapshot; the next one resumes and the
// buckets converge to the source.
func TestKillReplicatorMidSnapshot(t *testing.T) {
	p := newPipeline(t, "postgres", pgsource.Options{}, e2eSetup+`
		INSERT INTO todos SELECT i, 'u' || (i % 5), 'todo ' || i, false, NULL FROM generate_series(1, 20000) i;
		INSERT INTO lists SELECT gen_random_uuid(), 'list ' || i FROM generate_series(1, 50) i;`)
	child := p.startChild(200)
	p.waitStorage("a few snapshot pages", `SELECT EXISTS (SELECT 1 FROM powersync.snapshot_progress
		WHERE cursor IS NOT NULL AND NOT done) AND (SELECT count(*) FROM powersync.current_data) >= 1000`)
	kill9(t, child)
	p.exec(`UPDATE todos SET title = 'changed after the crash' WHERE id % 7 = 0`)
	p.exec(`DELETE FROM todos WHERE id % 11 = 0`)
	p.start()
	p.verify(p.caughtUp(2 * time.Minute))
}

// TestKillReplicatorMidStream: the replicating process dies by SIGKILL
// while it streams a burst of transactions and a large one; the next one
// replays from the last committed position without losing or duplicating
// anything.
func TestKillReplicatorMidStream(t *testing.T) {
	p := newPipeline(t, "postgres", pgsource.Options{}, e2eSetup+`
		INSERT INTO todos SELECT i, 'u' || (i % 5), 'todo ' || i, false, NULL FROM generate_series(1, 1000) i;`)
	child := p.startChild(0)
	p.waitStorage("the first checkpoint", `SELECT EXISTS (SELECT 1 FROM powersync.versions WHERE state = 'ACTIVE' AND checkpoint_op > 0)`)
	for i := 0; i < 200; i++ {
		p.exec(`UPDATE todos SET done = NOT done, owner_id = 'u' || ((id + $1) % 6) WHERE id % 50 = $1 % 50`, i)
	}
	p.exec(`INSERT INTO todos SELECT i, 'u3', 'bulk ' || i, true, NULL FROM generate_series(10001, 60000) i`)
	// Kill while the storage transaction of the bulk insert is open.
	p.waitStorage("the bulk insert's storage transaction", `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE application_name = 'powersync-storage' AND state IN ('active', 'idle in transaction')
		AND now() - xact_start > interval '300 ms')`)
	kill9(t, child)
	p.exec(`DELETE FROM todos WHERE id BETWEEN 20000 AND 20100`)
	p.start()
	p.verify(p.caughtUp(2 * time.Minute))
}

// TestSlotDroppedByHand: an operator drops the replication slot while the
// service runs; the source creates a fresh slot and says so, replication
// rebuilds the data in a new version while the old one serves, and once the
// new version is active the buckets equal the source, including changes
// made while no slot existed.
func TestSlotDroppedByHand(t *testing.T) {
	forStorages(t, func(t *testing.T, kind string) {
		ctx := context.Background()
		p := newPipeline(t, kind, pgsource.Options{}, e2eSetup+`
			INSERT INTO todos SELECT i, 'u' || (i % 5), 'todo ' || i, false, NULL FROM generate_series(1, 3000) i;`)
		p.start()
		before := p.caughtUp(time.Minute)
		dropped := false
		for i := 0; i < 100 && !dropped; i++ {
			_, _ = p.conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
				WHERE slot_name LIKE 'powersync%' AND active_pid IS NOT NULL`)
			var n int
			err := p.conn.QueryRow(ctx, `SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots
				WHERE slot_name LIKE 'powersync%' AND NOT active`).Scan(&n)
			dropped = err == nil && n > 0
			if !dropped {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if !dropped {
			t.Fatal("could not drop the replication slot")
		}
		p.exec(`UPDATE todos SET owner_id = 'u5' WHERE id <= 100`)
		p.exec(`DELETE FROM todos WHERE id > 2900`)
		p.exec(`INSERT INTO todos SELECT i, 'u1', 'new ' || i, true, NULL FROM generate_series(5001, 5100) i`)
		// An activation wakes the storage's watchers: wait on that.
		deadline := time.After(2 * time.Minute)
		for {
			_, woken, err := p.st.Watch(ctx) // before the check: an activation after it fires woken
			if err != nil {
				t.Fatal(err)
			}
			v, err := p.st.Active(ctx)
			if err == nil && v.ID > before.VersionID {
				break
			}
			select {
			case <-woken:
			case <-deadline:
				t.Fatalf("no rebuilt version became active (active %+v, %v)", v, err)
			}
		}
		p.verify(p.caughtUp(2 * time.Minute))
	})
}
