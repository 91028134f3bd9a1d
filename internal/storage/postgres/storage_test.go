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

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		s, _ := open(t)
		return s
	})
}
