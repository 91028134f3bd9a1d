package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/powersync-go/powersync/internal/pgtest"
	"github.com/powersync-go/powersync/internal/storage"
	pgstorage "github.com/powersync-go/powersync/internal/storage/postgres"
	"github.com/powersync-go/powersync/internal/storage/storagetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t testing.TB) (*pgstorage.Storage, *pgtest.Database) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	s, err := pgstorage.Open(context.Background(), pgstorage.Options{ConnString: db.URL})
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

// openBatch opens a storage on a fresh database, deploys a version named
// config and opens a batch on it; batch and storage are closed when the
// test ends.
func openBatch(tb testing.TB, config string) (storage.BucketStorage, storage.Batch) {
	tb.Helper()
	s, _ := open(tb)
	tb.Cleanup(func() { s.Close(context.Background()) })
	bs, b := storagetest.DeployBatch(tb, s, config)
	tb.Cleanup(func() { b.Close() })
	return bs, b
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		s, _ := open(t)
		return s
	})
}
