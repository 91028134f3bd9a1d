package pebble_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	"github.com/powersync-go/powersync/internal/storage/storagetest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		s, err := pebble.Open(t.TempDir(), pebble.Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceSpilling runs the suite with batches spilling to the
// database every few kilobytes, so every large-batch path goes through
// spill, undo and rollback.
func TestConformanceSpilling(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		s, err := pebble.Open(t.TempDir(), pebble.Options{Logger: quiet(), SpillBytes: 4 << 10})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
