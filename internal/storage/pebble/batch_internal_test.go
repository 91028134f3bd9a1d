package pebble

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/storagetest"
)

// TestSpillCountsRowData: rows in no bucket write no ops, but the row data
// kept for them counts toward the spill size, so memory stays bounded.
func TestSpillCountsRowData(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.Context(), Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SpillBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	_, sb := storagetest.DeployBatch(t, s, "c")
	b := sb.(*batch)
	defer b.Close()
	row := bytes.Repeat([]byte("r"), 1000)
	for i := range 200 {
		if err := b.Save(ctx, storage.RowUpdate{Table: "t", Key: []byte(fmt.Sprint(i)), Row: row}); err != nil {
			t.Fatal(err)
		}
	}
	if !b.spilled || len(b.pending) >= 200 {
		t.Fatalf("200 KB of row data did not spill (spilled %v, %d pending)", b.spilled, len(b.pending))
	}
	if got, ok, err := b.CurrentRow(ctx, "t", []byte("3")); err != nil || !ok || !bytes.Equal(got, row) {
		t.Fatalf("CurrentRow after spill = %d bytes, %v, %v", len(got), ok, err)
	}
}

// TestStoredBoundKeepsLookups: keys above the stored bound skip their
// lookup, but a stored key below it — spilled, committed or read by a new
// batch — is still found, so moving it to another bucket REMOVEs it from
// the old one.
func TestStoredBoundKeepsLookups(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.Context(), Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SpillBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	v, err := s.Deploy(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	open := func() *batch {
		sb, err := s.Bucket(v.ID).NewBatch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return sb.(*batch)
	}
	save := func(b *batch, key, bucket string) {
		t.Helper()
		u := storage.RowUpdate{Table: "t", Key: []byte(key), Row: bytes.Repeat([]byte("r"), 500),
			Buckets: []storage.BucketRow{{Bucket: bucket, Table: "t", ID: key, Data: []byte(`{}`)}}}
		if err := b.Save(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	count := func(b *batch, bucket string) int64 {
		if d := b.totals[bucket]; d != nil {
			return d.count
		}
		return 0
	}
	b := open()
	for i := range 200 {
		save(b, fmt.Sprintf("%03d", i), "A")
	}
	if !b.spilled {
		t.Fatal("no spill")
	}
	save(b, "005", "B") // spilled, below the bound
	if got := count(b, "A"); got != 201 {
		t.Errorf("bucket A: %d ops, want 200 PUTs and a REMOVE", got)
	}
	if _, err := b.Commit(ctx, storage.CommitOptions{}); err != nil {
		t.Fatal(err)
	}
	save(b, "199", "B") // committed, equal to the bound
	save(b, "300", "B") // above: not stored
	if got, want := [2]int64{count(b, "A"), count(b, "B")}, [2]int64{1, 2}; got != want {
		t.Errorf("after commit: A, B ops %v, want %v", got, want)
	}
	if _, err := b.Commit(ctx, storage.CommitOptions{}); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b = open() // reads the bound from the database
	defer b.Close()
	save(b, "005", "A")
	save(b, "250", "A") // between stored keys, not stored itself
	if err := b.Delete(ctx, "t", []byte("300")); err != nil {
		t.Fatal(err)
	}
	if got, want := [2]int64{count(b, "A"), count(b, "B")}, [2]int64{2, 2}; got != want {
		t.Errorf("new batch: A, B ops %v, want %v (PUTs of 005 and 250; REMOVEs of 005 and 300)", got, want)
	}
}
