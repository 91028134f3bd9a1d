package mysql_test

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
	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
	pgstorage "github.com/powersync-go/powersync/internal/storage/postgres"
)

// The fault tests run this test binary again as a replicating child
// process (TestMain sees childSourceEnv) and kill it with SIGKILL.
const (
	childSourceEnv  = "POWERSYNC_MYSQLTEST_CHILD_SOURCE"
	childStorageEnv = "POWERSYNC_MYSQLTEST_CHILD_STORAGE"
	childPageEnv    = "POWERSYNC_MYSQLTEST_CHILD_PAGE_ROWS"
)

// runChildReplicator replicates until the process is killed.
func runChildReplicator() int {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	page, _ := strconv.Atoi(os.Getenv(childPageEnv))
	st, err := pgstorage.Open(ctx, pgstorage.Options{ConnString: os.Getenv(childStorageEnv), Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	src, err := mysqlsource.Open(ctx, mysqlsource.Options{URI: os.Getenv(childSourceEnv), SnapshotPageRows: page,
		Slots: st.Settings(), Logger: log})
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

// startChild starts a replicating child process for the pipeline (which
// must use Postgres storage).
func (p *pipeline) startChild(pageRows int) *exec.Cmd {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childSourceEnv+"="+p.srcDB.URL("root", ""), childStorageEnv+"="+p.stDB.URL,
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

// waitStorage waits until a query on the storage database returns true,
// re-asking each time the storage commits a checkpoint or every 20 ms
// while the child copies (a snapshot page commits no checkpoint).
func (p *pipeline) waitStorage(what, q string) {
	p.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.stDB.URL)
	if err != nil {
		p.t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var ok bool
		err := conn.QueryRow(ctx, q).Scan(&ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
		<-tick.C
	}
}

// TestKillReplicatorMidSnapshot: the replicating process dies by SIGKILL
// halfway through the initial snapshot; the next one resumes from the last
// committed page and the slot's start position, and the buckets converge
// to the source, including changes made while it was down. Then a client
// SDK database per owner syncs from a sync API over the recovered storage
// and holds exactly the source's rows.
func TestKillReplicatorMidSnapshot(t *testing.T) {
	p := newPipeline(t, "postgres", mysqlsource.Options{}, append(e2eSetup,
		`INSERT INTO todos SELECT seq, CONCAT('u', seq % 5), CONCAT('todo ', seq), FALSE, NULL FROM seq_1_to_20000`,
		`INSERT INTO lists SELECT UUID(), CONCAT('list ', seq) FROM seq_1_to_50`)...)
	child := p.startChild(200)
	p.waitStorage("a few snapshot pages", `SELECT EXISTS (SELECT 1 FROM powersync.snapshot_progress
		WHERE cursor IS NOT NULL AND NOT done) AND (SELECT count(*) FROM powersync.current_data) >= 1000`)
	p.exec(`UPDATE todos SET title = 'changed during the copy' WHERE id % 13 = 0`)
	kill9(t, child)
	p.exec(`UPDATE todos SET title = 'changed after the crash' WHERE id % 7 = 0`)
	p.exec(`DELETE FROM todos WHERE id % 11 = 0`)
	p.start()
	cp := p.caughtUp(2 * time.Minute)
	p.verify(cp)
	p.verifyClients(cp)
}

// TestKillReplicatorMidStream: the replicating process dies by SIGKILL
// while it streams a burst of transactions and a large one; the next one
// replays from the last committed position without losing or duplicating
// anything, in the buckets and in a client SDK database per owner synced
// from a sync API over the recovered storage.
func TestKillReplicatorMidStream(t *testing.T) {
	p := newPipeline(t, "postgres", mysqlsource.Options{}, append(e2eSetup,
		`INSERT INTO todos SELECT seq, CONCAT('u', seq % 5), CONCAT('todo ', seq), FALSE, NULL FROM seq_1_to_1000`)...)
	child := p.startChild(0)
	p.waitStorage("the first checkpoint", `SELECT EXISTS (SELECT 1 FROM powersync.versions WHERE state = 'ACTIVE' AND checkpoint_op > 0)`)
	for i := 0; i < 200; i++ {
		p.exec(`UPDATE todos SET done = NOT done, owner_id = CONCAT('u', (id + ?) % 6) WHERE id % 50 = ? % 50`, i, i)
	}
	p.exec(`INSERT INTO todos SELECT seq, 'u3', CONCAT('bulk ', seq), TRUE, NULL FROM seq_10001_to_60000`)
	// Kill while the storage transaction of the bulk insert is open.
	p.waitStorage("the bulk insert's storage transaction", `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE application_name = 'powersync-storage' AND state IN ('active', 'idle in transaction')
		AND now() - xact_start > interval '300 ms')`)
	kill9(t, child)
	p.exec(`DELETE FROM todos WHERE id BETWEEN 20000 AND 20100`)
	p.start()
	cp := p.caughtUp(2 * time.Minute)
	p.verify(cp)
	p.verifyClients(cp)
}
