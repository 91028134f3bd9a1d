package pebble

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/powersync-go/powersync/internal/storage"
)

// TestSpillCountsRowData: rows in no bucket write no ops, but the row data
// kept for them counts toward the spill size, so memory stays bounded.
func TestSpillCountsRowData(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SpillBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	v, err := s.Deploy(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := s.Bucket(v.ID).NewBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
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
