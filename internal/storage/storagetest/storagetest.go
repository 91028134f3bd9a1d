// Package storagetest is the conformance suite every bucket storage backend
// must pass: Run it from the backend's tests with a function that opens a
// new, empty storage.
//
// The suite checks what the sync API and replication rely on: ops and
// checksums per bucket, reads as of an older checkpoint while newer ones are
// committed, parameter lookups as of a checkpoint, compaction keeping every
// checksum and what a client ends up with, chunking limits, REMOVEs on
// membership and key changes, Truncate, write checkpoints, settings, the
// replication lease, the version lifecycle, Watch, Changes, and that a batch
// closed without Commit leaves nothing behind.
package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/protocol"
)

// Opener returns a new, empty storage. The suite closes it.
type Opener func(t *testing.T) storage.Storage

// Run runs the conformance suite against the backend opened by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage)
	}{
		{"OpsAndChecksums", testOpsAndChecksums},
		{"ReadAsOfOlderCheckpoint", testReadAsOf},
		{"MembershipChange", testMembershipChange},
		{"DeleteAndReplay", testDelete},
		{"KeyChange", testKeyChange},
		{"Truncate", testTruncate},
		{"CurrentRow", testCurrentRow},
		{"NewRows", testNewRows},
		{"LookupsAsOfCheckpoint", testLookups},
		{"Chunking", testChunking},
		{"CompactionKeepsChecksums", testCompaction},
		{"CompactionTargetOp", testCompactionTarget},
		{"ConcurrentReadsAndWrites", testConcurrent},
		{"BatchClosedWithoutCommit", testDiscardedBatch},
		{"NewBatchFailureIsNil", testNewBatchFailure},
		{"LargeBatch", testLargeBatch},
		{"CheckpointRules", testCheckpointRules},
		{"VersionLifecycle", testLifecycle},
		{"OpIDsAcrossVersions", testOpIDsAcrossVersions},
		{"Watch", testWatch},
		{"Changes", testChanges},
		{"SnapshotProgress", testSnapshotProgress},
		{"WriteCheckpoints", testWriteCheckpoints},
		{"Settings", testSettings},
		{"Lease", testLease},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(context.Background()); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// ---- helpers

// active deploys a config and makes it ACTIVE with an empty first
// checkpoint at position 1.
func active(t *testing.T, s storage.Storage) storage.BucketStorage {
	t.Helper()
	ctx := context.Background()
	v, err := s.Deploy(ctx, "bucket_definitions: {}")
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	bs := s.Bucket(v.ID)
	b := newBatch(t, bs)
	defer b.Close()
	if _, err := b.Commit(ctx, storage.CommitOptions{Position: 1, Checkpoint: true, SnapshotDone: true}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	got, err := bs.Version(ctx)
	if err != nil || got.State != storage.StateActive {
		t.Fatalf("version after first checkpoint = %+v, %v; want ACTIVE", got, err)
	}
	return bs
}

// DeployBatch deploys a new version with the sync config text config and
// opens a batch on it, for a backend's own tests and benchmarks; the
// caller closes the batch.
func DeployBatch(tb testing.TB, s storage.Storage, config string) (storage.BucketStorage, storage.Batch) {
	tb.Helper()
	ctx := context.Background()
	v, err := s.Deploy(ctx, config)
	if err != nil {
		tb.Fatal(err)
	}
	bs := s.Bucket(v.ID)
	b, err := bs.NewBatch(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return bs, b
}

// Commit saves us in one new batch of bs and commits it with opts, for a
// backend's own tests.
func Commit(tb testing.TB, bs storage.BucketStorage, opts storage.CommitOptions, us ...storage.RowUpdate) storage.Checkpoint {
	tb.Helper()
	ctx := context.Background()
	b, err := bs.NewBatch(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer b.Close()
	for _, u := range us {
		if err := b.Save(ctx, u); err != nil {
			tb.Fatal(err)
		}
	}
	cp, err := b.Commit(ctx, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return cp
}

func newBatch(t *testing.T, bs storage.BucketStorage) storage.Batch {
	t.Helper()
	b, err := bs.NewBatch(context.Background())
	if err != nil {
		t.Fatalf("NewBatch: %v", err)
	}
	return b
}

// put is a row of table "items" with key k in the given buckets; its
// output data carries v.
func put(k, v string, buckets ...string) storage.RowUpdate {
	u := storage.RowUpdate{Table: "items", Key: []byte(k)}
	for _, b := range buckets {
		u.Buckets = append(u.Buckets, storage.BucketRow{
			Bucket: b, Table: "items", ID: k,
			Data: []byte(fmt.Sprintf(`{"id":%q,"v":%q}`, k, v)),
		})
	}
	return u
}

func save(t *testing.T, b storage.Batch, us ...storage.RowUpdate) {
	t.Helper()
	for _, u := range us {
		if err := b.Save(context.Background(), u); err != nil {
			t.Fatalf("Save %s/%s: %v", u.Table, u.Key, err)
		}
	}
}

func commit(t *testing.T, b storage.Batch, pos storage.Position) storage.Checkpoint {
	t.Helper()
	cp, err := b.Commit(context.Background(), storage.CommitOptions{Position: pos, Checkpoint: true})
	if err != nil {
		t.Fatalf("Commit at %d: %v", pos, err)
	}
	if cp.Position != pos {
		t.Fatalf("Commit at %d made checkpoint %+v", pos, cp)
	}
	return cp
}

// write saves rows in one new batch and commits a checkpoint at pos.
func write(t *testing.T, bs storage.BucketStorage, pos storage.Position, us ...storage.RowUpdate) storage.Checkpoint {
	t.Helper()
	b := newBatch(t, bs)
	defer b.Close()
	save(t, b, us...)
	return commit(t, b, pos)
}

// read returns the decoded ops of a bucket in (after, cp] and checks the
// chunk fields on the way.
func read(t *testing.T, bs storage.BucketStorage, cp storage.Checkpoint, bucket string, after int64) []protocol.OplogEntry {
	t.Helper()
	var out []protocol.OplogEntry
	chunks := readChunks(t, bs, cp, []storage.BucketPosition{{Bucket: bucket, After: after}}, storage.Limits{})
	for _, c := range chunks {
		for _, raw := range c.Ops {
			var e protocol.OplogEntry
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("bucket %s: op is not JSON: %v: %s", bucket, err, raw)
			}
			out = append(out, e)
		}
	}
	return out
}

// readChunks reads and copies every chunk, checking op order, bounds and
// the chunk fields.
func readChunks(t *testing.T, bs storage.BucketStorage, cp storage.Checkpoint, reqs []storage.BucketPosition, lim storage.Limits) []storage.Chunk {
	t.Helper()
	var out []storage.Chunk
	last := map[string]int64{}
	for _, r := range reqs {
		last[r.Bucket] = r.After
	}
	err := bs.ReadData(context.Background(), cp, reqs, lim, func(c storage.Chunk) error {
		if c.After != last[c.Bucket] {
			return fmt.Errorf("bucket %s: chunk after %d, want %d", c.Bucket, c.After, last[c.Bucket])
		}
		if len(c.Ops) == 0 {
			return fmt.Errorf("bucket %s: empty chunk", c.Bucket)
		}
		cp2 := storage.Chunk{Bucket: c.Bucket, After: c.After, NextAfter: c.NextAfter, HasMore: c.HasMore, TargetOp: c.TargetOp}
		prev := c.After
		for _, raw := range c.Ops {
			var e struct {
				OpID protocol.OpID `json:"op_id"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				return fmt.Errorf("bucket %s: op is not JSON: %v: %s", c.Bucket, err, raw)
			}
			id := int64(e.OpID)
			if id <= prev || id > cp.OpID {
				return fmt.Errorf("bucket %s: op id %d after %d (checkpoint %d)", c.Bucket, id, prev, cp.OpID)
			}
			prev = id
			cp2.Ops = append(cp2.Ops, slices.Clone(raw))
		}
		if c.NextAfter != prev {
			return fmt.Errorf("bucket %s: next_after %d, last op %d", c.Bucket, c.NextAfter, prev)
		}
		last[c.Bucket] = c.NextAfter
		out = append(out, cp2)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadData: %v", err)
	}
	return out
}

func checksum(t *testing.T, bs storage.BucketStorage, cp storage.Checkpoint, bucket string) storage.BucketChecksum {
	t.Helper()
	cs, err := bs.Checksums(context.Background(), cp, []string{bucket})
	if err != nil {
		t.Fatalf("Checksums: %v", err)
	}
	if len(cs) != 1 || cs[0].Bucket != bucket {
		t.Fatalf("Checksums(%s) = %+v", bucket, cs)
	}
	return cs[0]
}

// sync downloads a bucket into c from its last op id up to cp.
func sync(t *testing.T, bs storage.BucketStorage, cp storage.Checkpoint, c *Client, bucket string) {
	t.Helper()
	after := int64(0)
	if b := c.Buckets[bucket]; b != nil {
		after = b.LastOpID
	}
	for _, ch := range readChunks(t, bs, cp, []storage.BucketPosition{{Bucket: bucket, After: after}}, storage.Limits{}) {
		for _, raw := range ch.Ops {
			if _, err := c.Apply(bucket, raw); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// verify checks that a client holding every op of bucket agrees with the
// stored checksum and returns its rows.
func verify(t *testing.T, bs storage.BucketStorage, cp storage.Checkpoint, bucket string) map[string]string {
	t.Helper()
	c := NewClient()
	sync(t, bs, cp, c, bucket)
	want := checksum(t, bs, cp, bucket).Checksum
	got := uint32(0)
	if b := c.Buckets[bucket]; b != nil {
		got = b.Checksum()
	}
	if got != want {
		t.Fatalf("bucket %s as of %d: client checksum %d, storage says %d", bucket, cp.OpID, got, want)
	}
	return c.Rows(bucket)
}

func ops(es []protocol.OplogEntry) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("%s %s", e.Op, e.ObjectID))
	}
	return strings.Join(parts, ", ")
}

// ---- tests

func testOpsAndChecksums(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	cp := write(t, bs, 10,
		put("a", "1", "b1", "b2"),
		put("b", "1", "b1"),
		put("c", `quote " backslash \ newline
 tab	 unicode ✓`, "b2"),
	)
	es := read(t, bs, cp, "b1", 0)
	if got := ops(es); got != "PUT a, PUT b" {
		t.Fatalf("b1 ops = %s", got)
	}
	var sum uint32
	for _, e := range es {
		if e.ObjectType != "items" || e.Subkey == "" || e.Data == nil {
			t.Fatalf("PUT fields missing: %+v", e)
		}
		if want := protocol.PutChecksum(e.ObjectType, e.ObjectID, *e.Data); e.Checksum != want {
			t.Fatalf("op %d checksum %d, want PutChecksum %d", e.OpID, e.Checksum, want)
		}
		sum += e.Checksum
	}
	if got := checksum(t, bs, cp, "b1"); got.Checksum != sum || got.Count != 2 {
		t.Fatalf("b1 checksum = %+v, want %d count 2", got, sum)
	}
	rows := verify(t, bs, cp, "b2")
	if len(rows) != 2 {
		t.Fatalf("b2 rows = %v", rows)
	}
	for k, d := range rows {
		var v map[string]string
		if err := json.Unmarshal([]byte(d), &v); err != nil {
			t.Fatalf("row %s data %q is not the JSON saved: %v", k, d, err)
		}
	}
	if got := checksum(t, bs, cp, "none"); got.Checksum != 0 || got.Count != 0 {
		t.Fatalf("empty bucket checksum = %+v", got)
	}
	if cp.OpID < int64(es[len(es)-1].OpID) {
		t.Fatalf("checkpoint %d below op %d", cp.OpID, es[len(es)-1].OpID)
	}
	// The same subkey for every op of a source row, in every bucket.
	b2 := read(t, bs, cp, "b2", 0)
	if b2[0].Subkey != es[0].Subkey {
		t.Fatalf("subkey of row a differs between buckets: %q, %q", es[0].Subkey, b2[0].Subkey)
	}
	// Reading after the checkpoint returns nothing.
	if es := read(t, bs, cp, "b1", cp.OpID); len(es) != 0 {
		t.Fatalf("read after checkpoint = %s", ops(es))
	}
}

func testReadAsOf(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	cp1 := write(t, bs, 10, put("a", "1", "b"), put("b", "1", "b"))
	sum1 := checksum(t, bs, cp1, "b")
	rows1 := verify(t, bs, cp1, "b")
	cp2 := write(t, bs, 20, put("a", "2", "b"), put("c", "1", "b"))
	if cp2.OpID <= cp1.OpID {
		t.Fatalf("checkpoint went from %d to %d", cp1.OpID, cp2.OpID)
	}
	// Everything as of cp1 is unchanged by cp2.
	if got := checksum(t, bs, cp1, "b"); got != sum1 {
		t.Fatalf("checksum as of cp1 changed: %+v → %+v", sum1, got)
	}
	if got := verify(t, bs, cp1, "b"); !maps.Equal(got, rows1) {
		t.Fatalf("rows as of cp1 changed: %v → %v", rows1, got)
	}
	if got := ops(read(t, bs, cp1, "b", 0)); got != "PUT a, PUT b" {
		t.Fatalf("ops as of cp1 = %s", got)
	}
	if got := ops(read(t, bs, cp2, "b", cp1.OpID)); got != "PUT a, PUT c" {
		t.Fatalf("ops after cp1 up to cp2 = %s", got)
	}
	if got := checksum(t, bs, cp2, "b"); got.Count != 4 {
		t.Fatalf("count as of cp2 = %d, want 4", got.Count)
	}
	verify(t, bs, cp2, "b")
	// An open batch of a newer transaction is invisible too.
	b := newBatch(t, bs)
	defer b.Close()
	save(t, b, put("d", "1", "b"))
	if got := ops(read(t, bs, cp2, "b", cp1.OpID)); got != "PUT a, PUT c" {
		t.Fatalf("ops with an open batch = %s", got)
	}
}

func testMembershipChange(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	cp1 := write(t, bs, 10, put("a", "1", "x", "y"))
	cp2 := write(t, bs, 20, put("a", "2", "y", "z"))
	if got := ops(read(t, bs, cp2, "x", cp1.OpID)); got != "REMOVE a" {
		t.Fatalf("x after move = %s", got)
	}
	if got := ops(read(t, bs, cp2, "y", cp1.OpID)); got != "PUT a" {
		t.Fatalf("y after move = %s", got)
	}
	if got := ops(read(t, bs, cp2, "z", cp1.OpID)); got != "PUT a" {
		t.Fatalf("z after move = %s", got)
	}
	rm := read(t, bs, cp2, "x", cp1.OpID)[0]
	if rm.Data != nil || rm.ObjectType != "items" || rm.ObjectID != "a" || rm.Subkey == "" {
		t.Fatalf("REMOVE fields = %+v", rm)
	}
	if rm.Checksum != protocol.RemoveChecksum(rm.Subkey) {
		t.Fatalf("REMOVE checksum %d, want RemoveChecksum(subkey)", rm.Checksum)
	}
	if rows := verify(t, bs, cp2, "x"); len(rows) != 0 {
		t.Fatalf("x rows = %v", rows)
	}
	// A row in no bucket any more.
	cp3 := write(t, bs, 30, put("a", "3"))
	if got := ops(read(t, bs, cp3, "y", cp2.OpID)) + "|" + ops(read(t, bs, cp3, "z", cp2.OpID)); got != "REMOVE a|REMOVE a" {
		t.Fatalf("after leaving all buckets = %s", got)
	}
	// And back.
	cp4 := write(t, bs, 40, put("a", "4", "x"))
	if got := ops(read(t, bs, cp4, "x", cp3.OpID)); got != "PUT a" {
		t.Fatalf("x after return = %s", got)
	}
}

func testDelete(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	ctx := context.Background()
	cp1 := write(t, bs, 10, put("a", "1", "x", "y"), put("b", "1", "x"))
	b := newBatch(t, bs)
	defer b.Close()
	if err := b.Delete(ctx, "items", []byte("a")); err != nil {
		t.Fatal(err)
	}
	// A replayed delete of a row that is gone is not an error and emits nothing.
	if err := b.Delete(ctx, "items", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "items", []byte("never")); err != nil {
		t.Fatal(err)
	}
	cp2 := commit(t, b, 20)
	if got := ops(read(t, bs, cp2, "x", cp1.OpID)) + "|" + ops(read(t, bs, cp2, "y", cp1.OpID)); got != "REMOVE a|REMOVE a" {
		t.Fatalf("after delete = %s", got)
	}
	if rows := verify(t, bs, cp2, "x"); len(rows) != 1 {
		t.Fatalf("x rows = %v", rows)
	}
}

func testKeyChange(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	cp1 := write(t, bs, 10, put("a", "1", "x"))
	old := read(t, bs, cp1, "x", 0)[0]
	u := put("a2", "1", "x")
	u.OldKey = []byte("a")
	cp2 := write(t, bs, 20, u)
	es := read(t, bs, cp2, "x", cp1.OpID)
	if got := ops(es); got != "REMOVE a, PUT a2" && got != "PUT a2, REMOVE a" {
		t.Fatalf("after key change = %s", got)
	}
	for _, e := range es {
		if e.Op == protocol.OpRemove && e.Subkey != old.Subkey {
			t.Fatalf("REMOVE subkey %q, want the old row's %q", e.Subkey, old.Subkey)
		}
		if e.Op == protocol.OpPut && e.Subkey == old.Subkey {
			t.Fatalf("new key kept the old subkey")
		}
	}
	if rows := verify(t, bs, cp2, "x"); len(rows) != 1 {
		t.Fatalf("rows = %v", rows)
	}
	// The old key is gone: deleting it emits nothing.
	b := newBatch(t, bs)
	defer b.Close()
	if err := b.Delete(context.Background(), "items", []byte("a")); err != nil {
		t.Fatal(err)
	}
	cp3 := commit(t, b, 30)
	if es := read(t, bs, cp3, "x", cp2.OpID); len(es) != 0 {
		t.Fatalf("delete of old key emitted %s", ops(es))
	}
}

func testTruncate(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	ctx := context.Background()
	other := storage.RowUpdate{Table: "other", Key: []byte("o"), Buckets: []storage.BucketRow{{Bucket: "x", Table: "other", ID: "o", Data: []byte(`{}`)}}}
	cp1 := write(t, bs, 10, put("a", "1", "x"), put("b", "1", "x", "y"), other)
	b := newBatch(t, bs)
	defer b.Close()
	save(t, b, put("c", "1", "x"))      // saved in the same batch before the truncate
	save(t, b, put("a", "2", "x", "z")) // changed in the same batch
	if err := b.Truncate(ctx, "items"); err != nil {
		t.Fatal(err)
	}
	cp2 := commit(t, b, 20)
	b.Close()
	rows := verify(t, bs, cp2, "x")
	if len(rows) != 1 {
		t.Fatalf("x after truncate = %v, want only the other table's row", rows)
	}
	for _, bk := range []string{"y", "z"} {
		if rows := verify(t, bs, cp2, bk); len(rows) != 0 {
			t.Fatalf("%s after truncate = %v", bk, rows)
		}
	}
	b2 := newBatch(t, bs)
	defer b2.Close()
	for _, k := range []string{"a", "b", "c"} {
		if _, ok, err := b2.CurrentRow(ctx, "items", []byte(k)); err != nil || ok {
			t.Fatalf("row %s after truncate: %v %v", k, ok, err)
		}
		if err := b2.Delete(ctx, "items", []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	cp3 := commit(t, b2, 30)
	if es := read(t, bs, cp3, "x", cp2.OpID); len(es) != 0 {
		t.Fatalf("deletes after truncate emitted %s", ops(es))
	}
	_ = cp1
}

func testCurrentRow(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	ctx := context.Background()
	u := put("a", "1", "x")
	u.Row = []byte("row-bytes-1")
	write(t, bs, 10, u)
	b := newBatch(t, bs)
	defer b.Close()
	row, ok, err := b.CurrentRow(ctx, "items", []byte("a"))
	if err != nil || !ok || string(row) != "row-bytes-1" {
		t.Fatalf("CurrentRow = %q %v %v", row, ok, err)
	}
	u.Row = []byte("row-bytes-2")
	save(t, b, u)
	if row, ok, _ := b.CurrentRow(ctx, "items", []byte("a")); !ok || string(row) != "row-bytes-2" {
		t.Fatalf("CurrentRow in the same batch = %q %v", row, ok)
	}
	if _, ok, _ := b.CurrentRow(ctx, "items", []byte("zz")); ok {
		t.Fatal("CurrentRow of a missing row found one")
	}
	// A row saved in no bucket with its data kept.
	save(t, b, storage.RowUpdate{Table: "items", Key: []byte("n"), Row: []byte("only-row")})
	commit(t, b, 20)
	b.Close()
	b2 := newBatch(t, bs)
	defer b2.Close()
	if row, ok, _ := b2.CurrentRow(ctx, "items", []byte("n")); !ok || string(row) != "only-row" {
		t.Fatalf("CurrentRow of a row in no bucket = %q %v", row, ok)
	}
}

// testNewRows saves rows flagged New (an initial snapshot): the result is
// the same as without the flag, also when the batch changes them again and
// when it is discarded.
func testNewRows(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	ctx := context.Background()
	fresh := func(k, v string, buckets ...string) storage.RowUpdate {
		u := put(k, v, buckets...)
		u.New = true
		u.Row = []byte("row-" + v)
		return u
	}
	// Discarded first: leaves nothing behind.
	b := newBatch(t, bs)
	for i := range 500 {
		save(t, b, fresh(fmt.Sprintf("d%d", i), strings.Repeat("q", 100), "x"))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = newBatch(t, bs)
	defer b.Close()
	for i := range 500 {
		save(t, b, fresh(fmt.Sprintf("n%d", i), "1", "x", "y"))
	}
	save(t, b, put("n7", "2", "y")) // changed again in the same batch: leaves x
	cp := commit(t, b, 10)
	b.Close()
	x, y := verify(t, bs, cp, "x"), verify(t, bs, cp, "y")
	if len(x) != 499 || len(y) != 500 {
		t.Fatalf("rows: x %d, y %d; want 499, 500", len(x), len(y))
	}
	b2 := newBatch(t, bs)
	defer b2.Close()
	if row, ok, err := b2.CurrentRow(ctx, "items", []byte("n3")); err != nil || !ok || string(row) != "row-1" {
		t.Fatalf("CurrentRow of a New row = %q %v %v", row, ok, err)
	}
	if _, ok, _ := b2.CurrentRow(ctx, "items", []byte("d3")); ok {
		t.Fatal("a discarded New row is in current data")
	}
	if err := b2.Delete(ctx, "items", []byte("n3")); err != nil {
		t.Fatal(err)
	}
	cp2 := commit(t, b2, 20)
	if got := ops(read(t, bs, cp2, "x", cp.OpID)) + "|" + ops(read(t, bs, cp2, "y", cp.OpID)); got != "REMOVE n3|REMOVE n3" {
		t.Fatalf("delete of a New row = %s", got)
	}
}

func lookup(t *testing.T, bs storage.BucketStorage, cp storage.Checkpoint, key string) []string {
	t.Helper()
	res, err := bs.Lookup(context.Background(), cp, [][]byte{[]byte(key), []byte("absent")})
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if len(res) != 2 || len(res[1]) != 0 {
		t.Fatalf("Lookup result shape = %q", res)
	}
	var out []string
	for _, r := range res[0] {
		out = append(out, string(r))
	}
	slices.Sort(out)
	return out
}

func param(table, key string, lookups ...string) storage.RowUpdate {
	u := storage.RowUpdate{Table: table, Key: []byte(key)}
	for i := 0; i+1 < len(lookups); i += 2 {
		u.Lookups = append(u.Lookups, storage.LookupRow{Key: []byte(lookups[i]), Result: []byte(lookups[i+1])})
	}
	return u
}

func testLookups(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	ctx := context.Background()
	cp1 := write(t, bs, 10, param("members", "m1", "k1", "r1"), param("members", "m2", "k1", "r2", "k2", "q2"))
	cp2 := write(t, bs, 20, param("members", "m1", "k1", "r1b"), param("members", "m2", "k2", "q2"))
	b := newBatch(t, bs)
	defer b.Close()
	if err := b.Delete(ctx, "members", []byte("m1")); err != nil {
		t.Fatal(err)
	}
	cp3 := commit(t, b, 30)
	b.Close()
	cp4 := write(t, bs, 40, param("groups", "m1", "k1", "g1")) // same key bytes, other table
	cases := []struct {
		cp   storage.Checkpoint
		key  string
		want []string
	}{
		{cp1, "k1", []string{"r1", "r2"}},
		{cp1, "k2", []string{"q2"}},
		{cp2, "k1", []string{"r1b"}},
		{cp2, "k2", []string{"q2"}},
		{cp3, "k1", nil},
		{cp3, "k2", []string{"q2"}},
		{cp4, "k1", []string{"g1"}},
	}
	for _, c := range cases {
		if got := lookup(t, bs, c.cp, c.key); !slices.Equal(got, c.want) {
			t.Errorf("lookup %s as of %d = %q, want %q", c.key, c.cp.OpID, got, c.want)
		}
	}
	if cp2.OpID <= cp1.OpID || cp3.OpID <= cp2.OpID {
		t.Fatalf("lookup-only commits must advance the checkpoint: %d %d %d", cp1.OpID, cp2.OpID, cp3.OpID)
	}
}

func testChunking(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	b := newBatch(t, bs)
	defer b.Close()
	for i := range 2500 {
		save(t, b, put(fmt.Sprintf("r%05d", i), strings.Repeat("x", 100), "big"))
	}
	save(t, b, put("s", "1", "small"))
	cp := commit(t, b, 10)
	reqs := []storage.BucketPosition{{Bucket: "big"}, {Bucket: "empty"}, {Bucket: "small"}}
	chunks := readChunks(t, bs, cp, reqs, storage.Limits{Ops: 1000})
	var shape []string
	for _, c := range chunks {
		shape = append(shape, fmt.Sprintf("%s:%d:%v", c.Bucket, len(c.Ops), c.HasMore))
	}
	if got := strings.Join(shape, " "); got != "big:1000:true big:1000:true big:500:false small:1:false" {
		t.Fatalf("chunks = %s", got)
	}
	// A byte limit closes a chunk once reached.
	chunks = readChunks(t, bs, cp, []storage.BucketPosition{{Bucket: "big"}}, storage.Limits{Ops: 1000, Bytes: 2000})
	for i, c := range chunks {
		size := 0
		for _, op := range c.Ops[:len(c.Ops)-1] {
			size += len(op)
		}
		if size >= 2000 {
			t.Fatalf("chunk %d went on after reaching the byte limit (%d bytes before its last op)", i, size)
		}
		if i < len(chunks)-1 && !c.HasMore {
			t.Fatalf("chunk %d of %d without has_more", i, len(chunks))
		}
	}
	if len(chunks) < 100 {
		t.Fatalf("byte limit gave %d chunks", len(chunks))
	}
	// Resuming in the middle.
	mid := chunks[3].NextAfter
	n := 0
	for _, c := range readChunks(t, bs, cp, []storage.BucketPosition{{Bucket: "big", After: mid}}, storage.Limits{}) {
		n += len(c.Ops)
	}
	done := 0
	for _, c := range chunks[:4] {
		done += len(c.Ops)
	}
	if n+done != 2500 {
		t.Fatalf("resume after %d read %d ops, want %d", mid, n, 2500-done)
	}
}

// testCompaction writes a bucket with many superseded ops, lets one client
// read part of it before compaction, and checks that every client ends with
// the same rows and the stored checksum.
func testCompaction(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	ctx := context.Background()
	pos := storage.Position(10)
	var cp storage.Checkpoint
	// Leading rows that will all be removed, then churn on a few rows.
	for round := range 6 {
		b := newBatch(t, bs)
		for i := range 20 {
			k := fmt.Sprintf("r%d", i%7)
			switch {
			case round == 0:
				save(t, b, put(fmt.Sprintf("gone%d", i), "x", "c", "other"))
			case round == 1 && i < 20:
				if err := b.Delete(ctx, "items", []byte(fmt.Sprintf("gone%d", i))); err != nil {
					t.Fatal(err)
				}
			case i%5 == 4:
				if err := b.Delete(ctx, "items", []byte(k)); err != nil {
					t.Fatal(err)
				}
			default:
				save(t, b, put(k, fmt.Sprintf("%d-%d", round, i), "c"))
			}
		}
		cp = commit(t, b, pos)
		pos += 10
		b.Close()
	}
	before := checksum(t, bs, cp, "c")
	wantRows := verify(t, bs, cp, "c")
	otherBefore := checksum(t, bs, cp, "other")

	early := NewClient() // holds a prefix of the uncompacted bucket
	prefix := readChunks(t, bs, cp, []storage.BucketPosition{{Bucket: "c"}}, storage.Limits{Ops: 30})
	for _, raw := range prefix[0].Ops {
		if _, err := early.Apply("c", raw); err != nil {
			t.Fatal(err)
		}
	}

	// A newer open batch must not be disturbed.
	open := newBatch(t, bs)
	defer open.Close()
	save(t, open, put("r1", "late", "c"))

	stats, err := bs.Compact(ctx, storage.CompactOptions{MoveBatch: 7})
	if err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if stats.Moved == 0 || stats.Cleared == 0 {
		t.Fatalf("compaction did nothing: %+v", stats)
	}
	if got := checksum(t, bs, cp, "c"); got.Checksum != before.Checksum {
		t.Fatalf("checksum changed by compaction: %d → %d", before.Checksum, got.Checksum)
	}
	if got := checksum(t, bs, cp, "other"); got.Checksum != otherBefore.Checksum {
		t.Fatalf("checksum of other changed by compaction: %d → %d", otherBefore.Checksum, got.Checksum)
	}
	es := read(t, bs, cp, "c", 0)
	if int64(len(es)) >= before.Count {
		t.Fatalf("compaction left %d ops of %d", len(es), before.Count)
	}
	if es[0].Op != protocol.OpClear {
		t.Fatalf("first op after compaction = %s, want CLEAR", es[0].Op)
	}
	for _, e := range es {
		if (e.Op == protocol.OpMove || e.Op == protocol.OpClear) && (e.Data != nil || e.ObjectID != "") {
			t.Fatalf("%s carries row fields: %+v", e.Op, e)
		}
	}
	// A new client.
	if got := verify(t, bs, cp, "c"); !maps.Equal(got, wantRows) {
		t.Fatalf("rows after compaction = %v, want %v", got, wantRows)
	}
	// The client that read a prefix before compaction.
	sync(t, bs, cp, early, "c")
	if got := early.Buckets["c"].Checksum(); got != before.Checksum {
		t.Fatalf("early client checksum %d, want %d", got, before.Checksum)
	}
	if got := early.Rows("c"); !maps.Equal(got, wantRows) {
		t.Fatalf("early client rows = %v, want %v", got, wantRows)
	}
	// Compacting again changes nothing a client sees.
	if _, err := bs.Compact(ctx, storage.CompactOptions{Buckets: []string{"c"}}); err != nil {
		t.Fatal(err)
	}
	if got := verify(t, bs, cp, "c"); !maps.Equal(got, wantRows) {
		t.Fatalf("rows after second compaction = %v", got)
	}
	// The open batch commits on top of the compacted bucket.
	cp2 := commit(t, open, pos)
	late := ""
	for k, d := range verify(t, bs, cp2, "c") {
		if strings.HasPrefix(k, "items/r1/") {
			late = d
		}
	}
	if !strings.Contains(late, `"late"`) {
		t.Fatalf("row r1 after a commit on the compacted bucket = %q", late)
	}
}

// testCompactionTarget checks that a reader of an older checkpoint learns
// that compaction made it incomplete (the sync API then withholds
// checkpoint_complete).
func testCompactionTarget(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	ctx := context.Background()
	cp1 := write(t, bs, 10, put("a", "1", "x"), put("b", "1", "x"))
	cp2 := write(t, bs, 20, put("a", "2", "x"))
	if _, err := bs.Compact(ctx, storage.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	chunks := readChunks(t, bs, cp1, []storage.BucketPosition{{Bucket: "x"}}, storage.Limits{})
	if len(chunks) != 1 || chunks[0].TargetOp <= cp1.OpID || chunks[0].TargetOp > cp2.OpID {
		t.Fatalf("chunk as of cp1 after compaction: target %d, want in (%d, %d]", chunks[0].TargetOp, cp1.OpID, cp2.OpID)
	}
	chunks = readChunks(t, bs, cp2, []storage.BucketPosition{{Bucket: "x", After: cp1.OpID}}, storage.Limits{})
	if len(chunks) != 1 || chunks[0].TargetOp > cp2.OpID {
		t.Fatalf("chunk as of cp2: target %d above the checkpoint %d", chunks[0].TargetOp, cp2.OpID)
	}
	verify(t, bs, cp2, "x")
}

// testConcurrent reads each new checkpoint while the writer commits the
// next ones: every read must be consistent with the checksum as of its
// checkpoint.
func testConcurrent(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	ctx := context.Background()
	const commits = 40
	errc := make(chan error, 1)
	go func() {
		b, err := bs.NewBatch(ctx)
		if err != nil {
			errc <- err
			return
		}
		defer b.Close()
		for n := 1; n <= commits; n++ {
			for i := range 20 {
				k := fmt.Sprintf("r%d", (n*7+i)%60)
				bucket := "a"
				if (n+i)%3 == 0 {
					bucket = "b"
				}
				if err := b.Save(ctx, put(k, fmt.Sprint(n), bucket)); err != nil {
					errc <- err
					return
				}
			}
			if _, err := b.Commit(ctx, storage.CommitOptions{Position: storage.Position(10 + n), Checkpoint: true}); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var last storage.Checkpoint
	for done := false; !done; {
		cp, ch, err := s.Watch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cp.OpID < last.OpID || cp.Position < last.Position {
			t.Fatalf("checkpoint went back: %+v after %+v", cp, last)
		}
		last = cp
		for _, b := range []string{"a", "b"} {
			verify(t, bs, cp, b)
		}
		if cp.Position == 10+commits {
			done = true
			continue
		}
		select {
		case <-ch:
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
			errc <- nil // let the loop read the final checkpoint
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	a, b := verify(t, bs, last, "a"), verify(t, bs, last, "b")
	if len(a)+len(b) != 60 {
		t.Fatalf("rows at the end: %d + %d, want 60", len(a), len(b))
	}
}

// testNewBatchFailure: when NewBatch fails (here: the storage is closed),
// the Batch is a nil interface, not a nil *batch inside one, so a caller's
// `if b != nil { b.Close() }` does not call a method on nil.
func testNewBatchFailure(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := bs.NewBatch(context.Background())
	if err == nil {
		t.Fatal("NewBatch on closed storage succeeded")
	}
	if b != nil {
		t.Errorf("NewBatch failed (%v) but returned a non-nil Batch %T", err, b)
	}
}

func testDiscardedBatch(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	ctx := context.Background()
	cp1 := write(t, bs, 10, put("a", "1", "x"), param("members", "m", "k", "r"))
	sum1 := checksum(t, bs, cp1, "x")
	b := newBatch(t, bs)
	for i := range 3000 {
		u := put(fmt.Sprintf("n%d", i), strings.Repeat("y", 200), "x", fmt.Sprintf("u%d", i%50))
		u.Row = []byte("row")
		save(t, b, u)
	}
	save(t, b, put("a", "2", "y"))
	save(t, b, param("members", "m", "k", "changed"))
	if err := b.Delete(ctx, "items", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	v, err := bs.Version(ctx)
	if err != nil || v.Checkpoint.OpID != cp1.OpID {
		t.Fatalf("checkpoint after discarded batch = %+v, %v", v.Checkpoint, err)
	}
	// Nothing of it is visible, now or at the next checkpoint.
	b2 := newBatch(t, bs)
	defer b2.Close()
	if _, ok, _ := b2.CurrentRow(ctx, "items", []byte("n1")); ok {
		t.Fatal("discarded row is in current data")
	}
	save(t, b2, put("a", "3", "x"))
	cp2 := commit(t, b2, 20)
	if got := ops(read(t, bs, cp2, "x", cp1.OpID)); got != "PUT a" {
		t.Fatalf("ops after discarded batch = %s", got)
	}
	for _, bk := range []string{"y", "u1"} {
		if es := read(t, bs, cp2, bk, 0); len(es) != 0 {
			t.Fatalf("bucket %s has ops of the discarded batch: %s", bk, ops(es))
		}
		if c := checksum(t, bs, cp2, bk); c.Count != 0 {
			t.Fatalf("bucket %s checksum after discarded batch = %+v", bk, c)
		}
	}
	if got := checksum(t, bs, cp2, "x"); got.Count != sum1.Count+1 {
		t.Fatalf("x count = %d, want %d", got.Count, sum1.Count+1)
	}
	verify(t, bs, cp2, "x")
	if got := lookup(t, bs, cp2, "k"); !slices.Equal(got, []string{"r"}) {
		t.Fatalf("lookup after discarded batch = %q", got)
	}
}

// testLargeBatch writes one transaction larger than any in-memory bound a
// backend is likely to use in tests and checks it commits atomically.
func testLargeBatch(t *testing.T, s storage.Storage) {
	bs := active(t, s)
	cp0, _ := bs.Version(context.Background())
	b := newBatch(t, bs)
	defer b.Close()
	const n = 5000
	for i := range n {
		save(t, b, put(fmt.Sprintf("r%d", i), strings.Repeat("z", 300), "all", fmt.Sprintf("user%d", i%100)))
	}
	for i := 0; i < n; i += 2 { // update half of them in the same transaction
		save(t, b, put(fmt.Sprintf("r%d", i), "updated", "all"))
	}
	if es := read(t, bs, cp0.Checkpoint, "all", 0); len(es) != 0 {
		t.Fatalf("uncommitted ops visible: %d", len(es))
	}
	cp := commit(t, b, 10)
	rows := verify(t, bs, cp, "all")
	if len(rows) != n {
		t.Fatalf("rows = %d, want %d", len(rows), n)
	}
	if c := checksum(t, bs, cp, "all"); c.Count != n+n/2 {
		t.Fatalf("count = %d, want %d", c.Count, n+n/2)
	}
	if rows := verify(t, bs, cp, "user0"); len(rows) != 0 {
		t.Fatalf("user0 keeps %d rows moved out in the same transaction", len(rows))
	}
	if rows := verify(t, bs, cp, "user1"); len(rows) != n/100 {
		t.Fatalf("user1 rows = %d, want %d", len(rows), n/100)
	}
}

func testCheckpointRules(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	v, err := s.Deploy(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	bs := s.Bucket(v.ID)
	b := newBatch(t, bs)
	defer b.Close()
	save(t, b, put("a", "1", "x"))
	// Snapshot not done: no checkpoint.
	cp, err := b.Commit(ctx, storage.CommitOptions{Position: 5, Checkpoint: true})
	if err != nil {
		t.Fatal(err)
	}
	if cp.OpID != 0 {
		t.Fatalf("checkpoint before snapshot done: %+v", cp)
	}
	save(t, b, put("b", "1", "x"))
	cp, err = b.Commit(ctx, storage.CommitOptions{Position: 6, SnapshotDone: true, NoCheckpointBefore: 50, Checkpoint: true})
	if err != nil {
		t.Fatal(err)
	}
	if cp.OpID != 0 {
		t.Fatalf("checkpoint before NoCheckpointBefore: %+v", cp)
	}
	if _, err := s.Active(ctx); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Active before the first checkpoint: %v", err)
	}
	cp, err = b.Commit(ctx, storage.CommitOptions{Position: 50, Checkpoint: true})
	if err != nil {
		t.Fatal(err)
	}
	if cp.OpID == 0 || cp.Position != 50 {
		t.Fatalf("first checkpoint = %+v", cp)
	}
	if rows := verify(t, bs, cp, "x"); len(rows) != 2 {
		t.Fatalf("first checkpoint holds %d rows of the blocked commits, want 2", len(rows))
	}
	if a, err := s.Active(ctx); err != nil || a.ID != v.ID || a.Checkpoint.OpID != cp.OpID {
		t.Fatalf("Active = %+v, %v", a, err)
	}
	// A commit without Checkpoint keeps the checkpoint; an older position does too.
	save(t, b, put("c", "1", "x"))
	cp2, err := b.Commit(ctx, storage.CommitOptions{Position: 60})
	if err != nil || cp2.OpID != cp.OpID {
		t.Fatalf("commit without checkpoint = %+v, %v", cp2, err)
	}
	cp3, err := b.Commit(ctx, storage.CommitOptions{Position: 40, Checkpoint: true})
	if err != nil || cp3.OpID != cp.OpID {
		t.Fatalf("commit at an older position = %+v, %v", cp3, err)
	}
	// An empty commit (keepalive) moves the position only.
	cp4, err := b.Commit(ctx, storage.CommitOptions{Position: 70, Checkpoint: true})
	if err != nil || cp4.Position != 70 || cp4.OpID <= cp.OpID {
		t.Fatalf("keepalive after pending ops = %+v, %v", cp4, err)
	}
	cp5, err := b.Commit(ctx, storage.CommitOptions{Position: 80, Checkpoint: true})
	if err != nil || cp5.Position != 80 || cp5.OpID != cp4.OpID {
		t.Fatalf("keepalive = %+v, %v", cp5, err)
	}
	if got, _ := bs.Version(ctx); got.Checkpoint.OpID != cp5.OpID || got.Checkpoint.Position != 80 {
		t.Fatalf("version checkpoint = %+v", got.Checkpoint)
	}
}

func testLifecycle(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	if _, err := s.Active(ctx); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Active on empty storage: %v", err)
	}
	v1bs := active(t, s)
	v1, _ := v1bs.Version(ctx)
	write(t, v1bs, 10, put("a", "1", "x"), param("m", "1", "k", "r"))
	v2, err := s.Deploy(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	if v2.State != storage.StateProcessing || v2.Content != "second" || v2.ID <= v1.ID {
		t.Fatalf("second version = %+v", v2)
	}
	v3, err := s.Deploy(ctx, "third")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := s.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, v := range vs {
		states = append(states, string(v.State))
	}
	if got := strings.Join(states, ","); got != "ACTIVE,STOP,PROCESSING" {
		t.Fatalf("states after two deploys = %s", got)
	}
	if err := s.SetSlotName(ctx, v3.ID, "slot_3"); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Active(ctx); a.ID != v1.ID {
		t.Fatalf("active during deploy = %d, want %d", a.ID, v1.ID)
	}
	// The new version activates with its first checkpoint; the old one stops.
	v3bs := s.Bucket(v3.ID)
	b := newBatch(t, v3bs)
	save(t, b, put("a", "1", "x3"))
	if _, err := b.Commit(ctx, storage.CommitOptions{Position: 20, Checkpoint: true, SnapshotDone: true}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	a, err := s.Active(ctx)
	if err != nil || a.ID != v3.ID || a.SlotName != "slot_3" {
		t.Fatalf("active after activation = %+v, %v", a, err)
	}
	if got, _ := v1bs.Version(ctx); got.State != storage.StateStop {
		t.Fatalf("old version state = %s", got.State)
	}
	// ERRORED keeps serving.
	if err := s.SetState(ctx, v3.ID, storage.StateErrored, "boom"); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Active(ctx); a.ID != v3.ID || a.State != storage.StateErrored || a.LastError != "boom" {
		t.Fatalf("errored active = %+v", a)
	}
	if err := s.Clear(ctx, v3.ID); err == nil {
		t.Fatal("Clear of a served version succeeded")
	}
	// Clear removes the stopped versions and their data.
	for _, id := range []int64{v1.ID, v2.ID} {
		if err := s.Clear(ctx, id); err != nil {
			t.Fatalf("Clear %d: %v", id, err)
		}
	}
	vs, _ = s.Versions(ctx)
	if len(vs) != 1 || vs[0].ID != v3.ID {
		t.Fatalf("versions after clear = %+v", vs)
	}
	if _, err := v1bs.Version(ctx); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("cleared version: %v", err)
	}
	cp := storage.Checkpoint{VersionID: v1.ID, OpID: 1 << 40}
	if es := read(t, v1bs, cp, "x", 0); len(es) != 0 {
		t.Fatalf("cleared version still has ops")
	}
	if res, err := v1bs.Lookup(ctx, cp, [][]byte{[]byte("k")}); err != nil || len(res[0]) != 0 {
		t.Fatalf("cleared version still has lookups: %q %v", res, err)
	}
}

func testOpIDsAcrossVersions(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	bs1 := active(t, s)
	cp1 := write(t, bs1, 10, put("a", "1", "x"))
	v2, err := s.Deploy(ctx, "two")
	if err != nil {
		t.Fatal(err)
	}
	bs2 := s.Bucket(v2.ID)
	b := newBatch(t, bs2)
	defer b.Close()
	save(t, b, put("a", "1", "x"))
	cp2, err := b.Commit(ctx, storage.CommitOptions{Position: 20, Checkpoint: true, SnapshotDone: true})
	if err != nil {
		t.Fatal(err)
	}
	first := read(t, bs2, cp2, "x", 0)
	if len(first) != 1 || int64(first[0].OpID) <= cp1.OpID {
		t.Fatalf("op ids of the new version must continue the sequence: %v after %d", first, cp1.OpID)
	}
}

func testWatch(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	cp0, ch, err := s.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp0.OpID != 0 {
		t.Fatalf("Watch on empty storage = %+v", cp0)
	}
	bs := active(t, s)
	select {
	case <-ch:
	default:
		t.Fatal("activation did not wake watchers")
	}
	cp1, ch, err := s.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := newBatch(t, bs)
	defer b.Close()
	save(t, b, put("a", "1", "x"))
	// (A commit without a checkpoint may wake watchers or not: waking is
	// only a hint to call Watch again.)
	if _, err := b.Commit(ctx, storage.CommitOptions{Position: 5}); err != nil {
		t.Fatal(err)
	}
	cp2 := commit(t, b, 10)
	select {
	case <-ch:
	default:
		t.Fatal("a checkpoint did not wake watchers")
	}
	got, _, err := s.Watch(ctx)
	if err != nil || got.OpID != cp2.OpID || got.Position != 10 || got.VersionID != cp1.VersionID {
		t.Fatalf("Watch after checkpoint = %+v, %v; want %+v", got, err, cp2)
	}
}

func testChanges(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	bs := active(t, s)
	cp1 := write(t, bs, 10, put("a", "1", "x"), param("m", "1", "k1", "r"))
	cp2 := write(t, bs, 20, put("b", "1", "y"), param("m", "2", "k2", "r"))
	cp3 := write(t, bs, 30, put("c", "1", "z"))
	cases := []struct {
		from, to storage.Checkpoint
		buckets  []string
		lookups  []string
	}{
		{cp1, cp2, []string{"y"}, []string{"k2"}},
		{cp1, cp3, []string{"y", "z"}, []string{"k2"}},
		{cp2, cp3, []string{"z"}, nil},
	}
	for _, c := range cases {
		ch, err := bs.Changes(ctx, c.from, c.to)
		if err != nil {
			t.Fatal(err)
		}
		if ch.All {
			continue // allowed: the backend cannot tell
		}
		for _, b := range c.buckets {
			if !slices.Contains(ch.Buckets, b) {
				t.Errorf("Changes(%d, %d) = %v misses bucket %s", c.from.OpID, c.to.OpID, ch.Buckets, b)
			}
		}
		for _, b := range []string{"x", "y", "z"} {
			if slices.Contains(ch.Buckets, b) && !slices.Contains(c.buckets, b) {
				t.Errorf("Changes(%d, %d) = %v reports unchanged bucket %s", c.from.OpID, c.to.OpID, ch.Buckets, b)
			}
		}
		for _, l := range c.lookups {
			if !slices.ContainsFunc(ch.Lookups, func(k []byte) bool { return string(k) == l }) {
				t.Errorf("Changes(%d, %d) misses lookup %s", c.from.OpID, c.to.OpID, l)
			}
		}
	}
	if ch, err := bs.Changes(ctx, cp3, cp3); err != nil || ch.All || len(ch.Buckets) != 0 {
		t.Fatalf("Changes of an unchanged checkpoint = %+v, %v", ch, err)
	}
}

func testSnapshotProgress(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	v, err := s.Deploy(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	bs := s.Bucket(v.ID)
	if p, err := bs.SnapshotProgress(ctx); err != nil || len(p) != 0 {
		t.Fatalf("initial progress = %v, %v", p, err)
	}
	b := newBatch(t, bs)
	defer b.Close()
	save(t, b, put("a", "1", "x"))
	if _, err := b.Commit(ctx, storage.CommitOptions{SnapshotTable: "items", SnapshotCursor: []byte("cur1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(ctx, storage.CommitOptions{SnapshotTable: "other", SnapshotCursor: []byte("o"), SnapshotTableDone: true}); err != nil {
		t.Fatal(err)
	}
	p, err := bs.SnapshotProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := p["items"]; string(got.Cursor) != "cur1" || got.Done {
		t.Fatalf("items progress = %+v", got)
	}
	if got := p["other"]; !got.Done {
		t.Fatalf("other progress = %+v", got)
	}
	if len(p) != 2 {
		t.Fatalf("progress = %v", p)
	}
}

func testWriteCheckpoints(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	w := s.WriteCheckpoints()
	if _, ok, err := w.At(ctx, "u", "c", 100); err != nil || ok {
		t.Fatalf("At with none = %v %v", ok, err)
	}
	steps := []struct {
		do   string
		user string
		id   int64
		head storage.Position
		want int64
	}{
		{"create", "u", 0, 10, 1},
		{"create", "u", 0, 20, 2},
		{"create", "v", 0, 15, 1},
		{"request", "u", 10, 30, 10},
		{"request", "u", 5, 40, 10}, // stale: no-op
		{"create", "u", 0, 50, 11},
	}
	for _, st := range steps {
		var got int64
		var err error
		if st.do == "create" {
			got, err = w.Create(ctx, st.user, "c", st.head)
		} else {
			got, err = w.Request(ctx, st.user, "c", st.id, st.head)
		}
		if err != nil || got != st.want {
			t.Fatalf("%s %s %d at %d = %d, %v; want %d", st.do, st.user, st.id, st.head, got, err, st.want)
		}
	}
	at := []struct {
		user string
		pos  storage.Position
		want int64
		ok   bool
	}{
		{"u", 5, 0, false},
		{"u", 10, 1, true},
		{"u", 25, 2, true},
		{"u", 45, 10, true},
		{"u", 1000, 11, true},
		{"v", 14, 0, false},
		{"v", 15, 1, true},
	}
	for _, a := range at {
		got, ok, err := w.At(ctx, a.user, "c", a.pos)
		if err != nil || ok != a.ok || got != a.want {
			t.Errorf("At(%s, %d) = %d %v %v; want %d %v", a.user, a.pos, got, ok, err, a.want, a.ok)
		}
	}
	if _, ok, _ := w.At(ctx, "u", "other-client", 1000); ok {
		t.Fatal("write checkpoints leak between clients")
	}
}

func testSettings(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	st := s.Settings()
	if _, err := st.Get(ctx, "dev_tokens"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of unset setting: %v", err)
	}
	for _, v := range []string{"on", "off"} {
		if err := st.Put(ctx, "dev_tokens", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := st.Get(ctx, "dev_tokens"); err != nil || string(got) != v {
			t.Fatalf("Get = %q, %v; want %q", got, err, v)
		}
	}
}

func testLease(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	l1, err := s.AcquireLease(ctx, "p1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, "p2", time.Hour); !errors.Is(err, storage.ErrLeaseHeld) {
		t.Fatalf("second holder: %v, want ErrLeaseHeld", err)
	}
	if err := l1.Renew(ctx); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l2, err := s.AcquireLease(ctx, "p2", time.Millisecond)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	// p2's lease expires; p3 takes over and p2 can no longer renew.
	deadline := time.Now().Add(10 * time.Second)
	var l3 storage.Lease
	for {
		l3, err = s.AcquireLease(ctx, "p3", time.Hour)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("acquire after expiry: %v", err)
	}
	if err := l2.Renew(ctx); !errors.Is(err, storage.ErrLeaseHeld) {
		t.Fatalf("renew of a lost lease: %v, want ErrLeaseHeld", err)
	}
	if err := l2.Release(ctx); err != nil {
		t.Fatalf("release of a lost lease: %v", err)
	}
	if _, err := s.AcquireLease(ctx, "p4", time.Hour); !errors.Is(err, storage.ErrLeaseHeld) {
		t.Fatalf("a lost lease's release freed the new holder's lease: %v", err)
	}
	_ = l3.Release(ctx)
}
