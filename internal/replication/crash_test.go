package replication_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/replication"
	"github.com/powersync-go/powersync/internal/source/sqlite"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
)

// The test binary doubles as the child processes of these tests: a
// replicating process (killed with SIGKILL) and an application process
// writing to the source file.
const (
	childVar   = "POWERSYNC_REPLICATION_TEST_CHILD"
	childDB    = "POWERSYNC_REPLICATION_TEST_DB"
	childStore = "POWERSYNC_REPLICATION_TEST_STORE"
	childN     = "POWERSYNC_REPLICATION_TEST_N"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childVar) {
	case "replicate":
		os.Exit(childReplicate())
	case "write":
		os.Exit(childWrite())
	}
	os.Exit(m.Run())
}

// childReplicate replicates until it is killed (or gets SIGTERM).
func childReplicate() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("POWERSYNC_REPLICATION_TEST_VERBOSE") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	src, err := sqlite.Open(ctx, sqlite.Options{Path: os.Getenv(childDB), Logger: log, AckInterval: 5 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// A small spill size makes a large transaction reach the disk before
	// its commit, so a kill leaves spilled, uncommitted data behind.
	st, err := pebble.Open(ctx, pebble.Options{Dir: os.Getenv(childStore), Logger: log, SpillBytes: 1 << 20})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rep, err := replication.New(replication.Options{
		Source: src, Storage: st, SyncConfig: ownerConfig, Compile: compileRules, Logger: log,
		LeaseTTL: 500 * time.Millisecond, StandbyInterval: 20 * time.Millisecond, RetryDelay: 50 * time.Millisecond,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := rep.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep.Close(cctx)
	st.Close(cctx)
	src.Close(context.Background())
	return 0
}

// childWrite is another application process: N small transactions of
// inserts, updates and deletes, with a fixed seed.
func childWrite() int {
	n, _ := strconv.Atoi(os.Getenv(childN))
	db, err := sql.Open("sqlite", "file:"+os.Getenv(childDB)+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer db.Close()
	if err := writeSmall(db, rand.New(rand.NewPCG(1, 2)), n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

// writeSmall runs n small transactions on todos (ids below 1000).
func writeSmall(db *sql.DB, rng *rand.Rand, n int) error {
	for i := range n {
		id := rng.IntN(300)
		owner := fmt.Sprintf("u%d", rng.IntN(3)+1)
		var q string
		var args []any
		switch rng.IntN(4) {
		case 0, 1:
			q, args = "INSERT OR REPLACE INTO todos VALUES (?, ?, 'l1', ?)", []any{id, owner, fmt.Sprintf("t%d", i)}
		case 2:
			q, args = "UPDATE todos SET owner_id = ?, title = ? WHERE id = ?", []any{owner, fmt.Sprintf("u%d", i), id}
		case 3:
			q, args = "DELETE FROM todos WHERE id = ?", []any{id}
		}
		if _, err := db.Exec(q, args...); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// child is a running child process.
type child struct {
	cmd  *exec.Cmd
	done chan error
}

func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childVar+"="+role), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() { c.kill() })
	return c
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.done
		c.cmd.ProcessState = &os.ProcessState{}
	}
}

// ackedPosition is the lowest position every source slot acknowledged;
// a slot acknowledges only what storage committed.
func ackedPosition(t *testing.T, db *sql.DB) storage.Position {
	t.Helper()
	var p sql.NullInt64
	err := db.QueryRow("SELECT min(position) FROM _powersync_slots").Scan(&p)
	if err != nil {
		return 0 // not created yet
	}
	return storage.Position(p.Int64)
}

// head appends a marker to the change stream and returns its position.
func head(t *testing.T, src *sqlite.Source) storage.Position {
	t.Helper()
	h, err := src.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// waitCommitted waits until the replicating child has committed
// everything the source holds now. A new slot starts at the position of
// its creation, so the head marker is appended only once the child's slot
// exists: reaching it then takes a storage commit.
func waitCommitted(t *testing.T, db *sql.DB, src *sqlite.Source, c *child) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Minute)
	for {
		var n int
		_ = db.QueryRow("SELECT count(*) FROM _powersync_slots").Scan(&n)
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replicating child created no slot")
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitAcked(t, db, head(t, src), c, deadline)
}

// waitAcked waits until the replicating child committed position p.
func waitAcked(t *testing.T, db *sql.DB, p storage.Position, c *child, deadline time.Time) {
	t.Helper()
	for ackedPosition(t, db) < p {
		select {
		case err := <-c.done:
			t.Fatalf("replicating child exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("child did not commit position %d (at %d)", p, ackedPosition(t, db))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// verifyStore opens the storage a killed child left and verifies it.
func verifyStore(t *testing.T, store string, db *sql.DB) int {
	t.Helper()
	st, err := pebble.Open(t.Context(), pebble.Options{Dir: store, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	return verify(t, st, db, compileRules, []string{"todos"}, owners)
}

func TestCrashInLargeTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("large transaction; skipped with -short")
	}
	dir := t.TempDir()
	dbPath, db := appDB(t, dir)
	store := storeDir(dir)
	run(t, db, "INSERT INTO todos VALUES (1, 'u1', 'l1', 'before')")
	env := []string{childDB + "=" + dbPath, childStore + "=" + store}
	src, err := sqlite.Open(context.Background(), sqlite.Options{Path: dbPath, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())

	c := startChild(t, "replicate", env...)
	waitCommitted(t, db, src, c)

	// One 200,000-row transaction; kill the replicating process once its
	// storage has grown by a few MB of spilled batch, before the commit.
	size0 := dirSize(store)
	run(t, db, `WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 200000)
		INSERT INTO todos SELECT 1000 + x, 'u' || (x % 3 + 1), 'l1', printf('large transaction row %d with some text', x) FROM s`)
	bigEnd := head(t, src)
	deadline := time.Now().Add(2 * time.Minute)
	for dirSize(store) < size0+4<<20 && ackedPosition(t, db) < bigEnd && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	c.kill()
	if ackedPosition(t, db) >= bigEnd {
		t.Fatal("the transaction was committed before the kill; the test did not crash mid-transaction")
	}

	// Restart: the transaction is replayed in full.
	c = startChild(t, "replicate", env...)
	waitCommitted(t, db, src, c)
	c.kill()
	n := verifyStore(t, store, db)
	if n < 200001 {
		t.Errorf("%d ops after the large transaction", n)
	}
}

func TestCrashInSmallTransactions(t *testing.T) {
	dir := t.TempDir()
	dbPath, db := appDB(t, dir)
	store := storeDir(dir)
	env := []string{childDB + "=" + dbPath, childStore + "=" + store}
	src, err := sqlite.Open(context.Background(), sqlite.Options{Path: dbPath, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())

	// The application writes a stream of small transactions while the
	// replicating process is killed and restarted several times. A killed
	// process keeps its lease until the TTL (500ms) runs out, so each
	// process lives longer than that.
	// The writer goes on past its 3000 transactions until the process was
	// killed twice, however fast the machine writes.
	writer := make(chan error, 1)
	twoKills := make(chan struct{})
	go func() {
		wrng := rand.New(rand.NewPCG(3, 4))
		err := writeSmall(db, wrng, 3000)
		for err == nil {
			select {
			case <-twoKills:
				writer <- nil
				return
			default:
			}
			err = writeSmall(db, wrng, 100)
		}
		writer <- err
	}()
	rng := rand.New(rand.NewPCG(5, 6))
	kills := 0
	for running := true; running; {
		c := startChild(t, "replicate", env...)
		select {
		case err := <-writer:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		case <-time.After(time.Duration(400+rng.IntN(800)) * time.Millisecond):
		}
		c.kill()
		kills++
		if kills == 2 {
			close(twoKills)
		}
	}
	c := startChild(t, "replicate", env...)
	waitCommitted(t, db, src, c)
	c.kill()
	verifyStore(t, store, db)
	t.Logf("%d kills", kills)
	if kills < 2 {
		t.Errorf("only %d kills during the writes", kills)
	}
}

func TestOtherProcessWrites(t *testing.T) {
	dir := t.TempDir()
	dbPath, db := appDB(t, dir)
	e := startReplication(t, dbPath, storeDir(dir), ownerConfig, compileRules)
	e.caughtUp()
	w := startChild(t, "write", childDB+"="+dbPath, childN+"=2000")
	if err := <-w.done; err != nil {
		t.Fatalf("writer process: %v", err)
	}
	w.cmd.ProcessState = &os.ProcessState{}
	e.caughtUp()
	if n := verify(t, e.st, db, compileRules, []string{"todos"}, owners); n == 0 {
		t.Error("no ops from the other process's writes")
	}
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
