package mysql_test

import (
	"context"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/source"
	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// A row larger than one protocol packet (16 MiB) arrives whole from the
// binlog, and changes of a non-transactional (MyISAM) table, which end
// with a COMMIT query instead of an XID, are committed too.
func TestLargeRowAndMyISAM(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, mysqlsource.Options{},
		`CREATE TABLE docs (id INT PRIMARY KEY, body LONGTEXT)`,
		`CREATE TABLE logs (id INT PRIMARY KEY, msg TEXT) ENGINE=MyISAM`)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "docs"}, {Name: "logs"}})
	if err != nil {
		t.Fatal(err)
	}
	pos, _, err := e.src.Start(ctx, "powersync_1_eeee", 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	errc := e.stream(t, "powersync_1_eeee", pos, tables, rec)
	big := strings.Repeat("0123456789abcdef", 20<<20/16) // 20 MiB
	e.exec(t, `INSERT INTO docs VALUES (1, ?)`, big)
	e.exec(t, `INSERT INTO logs VALUES (1, 'not transactional')`)
	changes := rec.waitChanges(t, errc, 2)
	if c := changes[0]; c.Kind != source.Insert || c.Row["body"].Str() != big {
		t.Fatalf("large row: %v, %d bytes", c.Kind, len(c.Row["body"].Str()))
	}
	if c := changes[1]; c.Table.ID != e.db.Name+".logs" || c.Row["msg"].Str() != "not transactional" {
		t.Fatalf("MyISAM change: %s %s", c.Table.ID, rowString(c.Row))
	}
	// The MyISAM statement's COMMIT ends its transaction: a Commit (not
	// only a keepalive) reaches the head.
	head, err := e.src.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec.waitCommit(t, errc, head)
}
