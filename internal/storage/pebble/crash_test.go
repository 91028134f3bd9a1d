package pebble_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	"github.com/powersync-go/powersync/internal/storage/storagetest"
)

// The crash tests run a child process (this test binary, in TestCrashChild)
// that writes to a storage directory, kill -9 it at a random moment, reopen
// the directory and check that the buckets are exactly the state of the
// last committed checkpoint: nothing lost, nothing duplicated, op ids
// increasing, checksums consistent.

const (
	envCrashDir      = "POWERSYNC_STORAGE_CRASH_DIR"
	envCrashScenario = "POWERSYNC_STORAGE_CRASH_SCENARIO"
	envCrashRows     = "POWERSYNC_STORAGE_CRASH_ROWS"
	bigRows          = 200000
	streamRowsPerTx  = 10
	streamKeys       = 500
)

func bigRow(i int) storage.RowUpdate {
	k := fmt.Sprintf("r%06d", i)
	return storage.RowUpdate{Table: "items", Key: []byte(k), Row: []byte("r"), Buckets: []storage.BucketRow{
		{Bucket: "all", Table: "items", ID: k, Data: []byte(`{"id":"` + k + `","v":"` + strings.Repeat("x", 40) + `"}`)},
		{Bucket: fmt.Sprintf("user%d", i%1000), Table: "items", ID: k, Data: []byte(`{"id":"` + k + `"}`)},
	}}
}

// streamTx returns the rows of small transaction n (1-based): updates of
// a few keys, moving them between two buckets.
func streamTx(n int) []storage.RowUpdate {
	var out []storage.RowUpdate
	for j := range streamRowsPerTx {
		k := fmt.Sprintf("k%d", (n*7+j*13)%streamKeys)
		b := "even"
		if (n+j)%2 == 1 {
			b = "odd"
		}
		out = append(out, storage.RowUpdate{Table: "items", Key: []byte(k), Buckets: []storage.BucketRow{
			{Bucket: b, Table: "items", ID: k, Data: []byte(fmt.Sprintf(`{"id":%q,"tx":%d}`, k, n))},
		}})
	}
	return out
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashDir); dir != "" {
		if err := crashChild(dir, os.Getenv(envCrashScenario)); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild is the writer process of the crash tests. It never returns
// nil on its own: the parent kills it.
func crashChild(dir, scenario string) error {
	ctx := context.Background()
	s, err := pebble.Open(context.Background(), pebble.Options{Dir: dir, Logger: quiet(), SpillBytes: 1 << 20})
	if err != nil {
		return err
	}
	v, err := s.Deploy(ctx, "crash")
	if err != nil {
		return err
	}
	b, err := s.Bucket(v.ID).NewBatch(ctx)
	if err != nil {
		return err
	}
	rows := bigRows
	if v := os.Getenv(envCrashRows); v != "" {
		if _, err := fmt.Sscan(v, &rows); err != nil {
			return err
		}
	}
	switch scenario {
	case "big":
		for i := range 100 {
			if err := b.Save(ctx, bigRow(i)); err != nil {
				return err
			}
		}
		if _, err := b.Commit(ctx, storage.CommitOptions{Position: 1, Checkpoint: true, SnapshotDone: true}); err != nil {
			return err
		}
		fmt.Println("started")
		start := time.Now()
		for i := 100; i < rows; i++ {
			if i == 20000 { // well past the first 1 MiB spills
				fmt.Println("spilled")
			}
			u := bigRow(i)
			if i >= rows/2 { // the second half rewrites the first half: updates and membership changes
				u = bigRow(i - rows/2)
				u.Buckets[1].Bucket = "moved"
			}
			if err := b.Save(ctx, u); err != nil {
				return err
			}
		}
		if _, err := b.Commit(ctx, storage.CommitOptions{Position: 2, Checkpoint: true}); err != nil {
			return err
		}
		fmt.Println("committed", time.Since(start).Round(time.Millisecond))
	case "stream":
		for n := 1; ; n++ {
			for _, u := range streamTx(n) {
				if err := b.Save(ctx, u); err != nil {
					return err
				}
			}
			if _, err := b.Commit(ctx, storage.CommitOptions{Position: storage.Position(n), Checkpoint: true, SnapshotDone: true}); err != nil {
				return err
			}
			fmt.Println("tx", n)
		}
	}
	time.Sleep(time.Hour)
	return nil
}

// runAndKill starts the child and kills it with SIGKILL after it printed
// ready and a random delay up to maxDelay.
func runAndKill(t *testing.T, dir, scenario string, rows int, ready string, maxDelay time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashScenario+"="+scenario, fmt.Sprint(envCrashRows, "=", rows))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	for l := range lines {
		seen = append(seen, l)
		if strings.HasPrefix(l, ready) {
			break
		}
	}
	time.Sleep(time.Duration(rand.Int64N(int64(maxDelay) + 1)))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		seen = append(seen, l)
	}
	_ = cmd.Wait()
	return seen
}

func reopen(t *testing.T, dir string) (*pebble.Storage, storage.BucketStorage, storage.Checkpoint) {
	t.Helper()
	return reopenLogging(t, dir, quiet())
}

func reopenLogging(t *testing.T, dir string, log *slog.Logger) (*pebble.Storage, storage.BucketStorage, storage.Checkpoint) {
	t.Helper()
	s, err := pebble.Open(t.Context(), pebble.Options{Dir: dir, Logger: log})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	vs, err := s.Versions(context.Background())
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions after kill = %+v, %v", vs, err)
	}
	return s, s.Bucket(vs[0].ID), vs[0].Checkpoint
}

// download syncs a bucket as a client would and checks its checksum
// against storage; it returns the rows.
func download(t *testing.T, bs storage.BucketStorage, cp storage.Checkpoint, bucket string) map[string]string {
	t.Helper()
	c := storagetest.NewClient()
	err := bs.ReadData(context.Background(), cp, []storage.BucketPosition{{Bucket: bucket}}, storage.Limits{}, func(ch storage.Chunk) error {
		for _, op := range ch.Ops {
			if _, err := c.Apply(bucket, op); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", bucket, err)
	}
	cs, err := bs.Checksums(context.Background(), cp, []string{bucket})
	if err != nil {
		t.Fatal(err)
	}
	got := uint32(0)
	if b := c.Buckets[bucket]; b != nil {
		got = b.Checksum()
	}
	if got != cs[0].Checksum {
		t.Fatalf("bucket %s: client checksum %d, storage %d", bucket, got, cs[0].Checksum)
	}
	rows := map[string]string{}
	for k, d := range c.Rows(bucket) {
		rows[strings.SplitN(k, "/", 3)[1]] = d
	}
	return rows
}

// checkWritable commits one more transaction after the restart and checks
// that its op ids continue above everything stored.
func checkWritable(t *testing.T, bs storage.BucketStorage, cp storage.Checkpoint, bucket string) {
	t.Helper()
	cp2 := storagetest.Commit(t, bs, storage.CommitOptions{Position: cp.Position + 1000, Checkpoint: true},
		storage.RowUpdate{Table: "items", Key: []byte("after"), Buckets: []storage.BucketRow{{Bucket: bucket, Table: "items", ID: "after", Data: []byte(`{}`)}}})
	if cp2.OpID <= cp.OpID {
		t.Fatalf("checkpoint after restart %d ≤ %d", cp2.OpID, cp.OpID)
	}
	if rows := download(t, bs, cp2, bucket); rows["after"] == "" {
		t.Fatal("row written after restart is missing")
	}
}

func TestCrashInLargeTransaction(t *testing.T) {
	rounds := []struct {
		name  string
		rows  int
		ready string
		delay time.Duration
	}{
		// Killed at a random moment of the 200,000-row transaction.
		{"during-0", bigRows, "started", 2 * time.Second},
		{"during-1", bigRows, "started", 2 * time.Second},
		// Killed after the batch has certainly spilled: Open must roll
		// the spilled part back.
		{"after-spill", bigRows, "spilled", time.Second},
		// Killed right after Commit returned: the whole transaction stays.
		{"after-commit", 20000, "committed", 0},
	}
	for _, r := range rounds {
		t.Run(r.name, func(t *testing.T) {
			dir := t.TempDir()
			rows := r.rows
			lines := runAndKill(t, dir, "big", rows, r.ready, r.delay)
			var logs bytes.Buffer
			_, bs, cp := reopenLogging(t, dir, slog.New(slog.NewTextHandler(&logs, nil)))
			if r.ready == "spilled" && cp.Position == 1 && !strings.Contains(logs.String(), "rolled back an uncommitted batch") {
				t.Fatalf("killed after spills, but Open rolled nothing back; log:\n%s", logs.String())
			}
			all := download(t, bs, cp, "all")
			switch cp.Position {
			case 1:
				if len(all) != 100 {
					t.Fatalf("rolled back to the first checkpoint but bucket has %d rows", len(all))
				}
				if rows := download(t, bs, cp, "moved"); len(rows) != 0 {
					t.Fatalf("uncommitted moves visible: %d", len(rows))
				}
			case 2:
				if len(all) != rows/2 {
					t.Fatalf("committed transaction: %d rows, want %d", len(all), rows/2)
				}
				if got := download(t, bs, cp, "moved"); len(got) != rows/2 {
					t.Fatalf("moved rows = %d", len(got))
				}
				if rows := download(t, bs, cp, "user7"); len(rows) != 0 {
					t.Fatalf("user7 rows after moving them all = %d", len(rows))
				}
			default:
				t.Fatalf("checkpoint after kill = %+v (child said %q)", cp, lines)
			}
			if r.ready == "committed" && cp.Position != 2 {
				t.Fatalf("killed after Commit returned, but recovered at position %d", cp.Position)
			}
			t.Logf("killed child; recovered at position %d with %d rows (child output %q)", cp.Position, len(all), lines)
			checkWritable(t, bs, cp, "all")
		})
	}
}

func TestCrashInTransactionStream(t *testing.T) {
	dir := t.TempDir()
	lines := runAndKill(t, dir, "stream", 0, "tx 30", 300*time.Millisecond)
	_, bs, cp := reopen(t, dir)
	last := 0
	for _, l := range lines {
		fmt.Sscanf(l, "tx %d", &last)
	}
	if int(cp.Position) < last {
		t.Fatalf("checkpoint position %d below the last commit the child reported (%d)", cp.Position, last)
	}
	// Recompute the buckets from the transactions up to the checkpoint.
	want := map[string]map[string]string{"even": {}, "odd": {}}
	for n := 1; n <= int(cp.Position); n++ {
		for _, u := range streamTx(n) {
			for _, m := range want {
				delete(m, string(u.Key))
			}
			want[u.Buckets[0].Bucket][string(u.Key)] = string(u.Buckets[0].Data)
		}
	}
	for _, b := range []string{"even", "odd"} {
		if got := download(t, bs, cp, b); !maps.Equal(got, want[b]) {
			t.Fatalf("bucket %s after kill at tx %d: %d rows, want %d", b, cp.Position, len(got), len(want[b]))
		}
	}
	checkWritable(t, bs, cp, "even")
}
