package cli_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	"github.com/powersync-go/powersync/internal/storage/storagetest"
)

func TestCompact(t *testing.T) {
	clearConfigEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "service.yaml")
	yaml := "replication:\n  connections:\n    - type: sqlite\n      path: ./source.db\n" +
		"storage:\n  type: pebble\n  path: ./data\n" +
		"sync_config:\n  content: |\n    bucket_definitions:\n      global:\n        data:\n          - SELECT * FROM todos\n" +
		"client_auth:\n  jwks:\n    keys:\n      - kty: oct\n        alg: HS256\n        kid: k1\n        k: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA\n" +
		"system:\n  logging:\n    level: error\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	// Nothing deployed yet.
	code, stdout, stderr := runCLI(t, "compact", "-c", cfg)
	if code != 0 || !strings.Contains(stdout, "nothing to compact") {
		t.Fatalf("empty storage: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	// One row updated five times in one bucket.
	st, err := pebble.Open(t.Context(), pebble.Options{Dir: data, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.Deploy(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	bs := st.Bucket(v.ID)
	var updates []storage.RowUpdate
	for i := range 5 {
		updates = append(updates, storage.RowUpdate{Table: "todos", Key: []byte("1"), Buckets: []storage.BucketRow{{Bucket: "1#global[]", Table: "todos", ID: "1", Data: []byte{'0' + byte(i)}}}})
	}
	cp := storagetest.Commit(t, bs, storage.CommitOptions{Position: 1, Checkpoint: true, SnapshotDone: true}, updates...)
	before, err := bs.Checksums(ctx, cp, []string{"1#global[]"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(ctx); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr = runCLI(t, "compact", "-c", cfg, "--buckets", "1#global[]")
	if code != 0 || !strings.Contains(stdout, "1 buckets, 4 ops moved, 3 ops folded into CLEAR") {
		t.Fatalf("compact: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	st, err = pebble.Open(t.Context(), pebble.Options{Dir: data, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	bs = st.Bucket(v.ID)
	after, err := bs.Checksums(ctx, cp, []string{"1#global[]"})
	if err != nil || after[0].Checksum != before[0].Checksum {
		t.Fatalf("checksum after compact = %+v, %v; before %+v", after, err, before)
	}
	var ops []string
	err = bs.ReadData(ctx, cp, []storage.BucketPosition{{Bucket: "1#global[]"}}, storage.Limits{}, func(c storage.Chunk) error {
		for _, op := range c.Ops {
			ops = append(ops, string(op))
		}
		return nil
	})
	if err != nil || len(ops) != 2 || !strings.Contains(ops[0], `"op":"CLEAR"`) || !strings.Contains(ops[1], `"data":"4"`) {
		t.Fatalf("ops after compact = %q, %v", ops, err)
	}

	// The directory is open here: a second process is refused with a reason.
	code, _, stderr = runCLI(t, "compact", "-c", cfg)
	if code == 0 || !strings.Contains(stderr, "in use") {
		t.Fatalf("compact on a directory in use: exit %d, stderr %s", code, stderr)
	}
}
