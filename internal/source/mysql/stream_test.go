package mysql_test

import (
	"context"
	"testing"

	"github.com/powersync-go/powersync/internal/source"
	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// Inserts, updates (also of the primary key), deletes, a multi-statement
// transaction and TRUNCATE arrive as changes of the synced tables only,
// with increasing positions.
func TestStreamChanges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, mysqlsource.Options{},
		`CREATE TABLE todos (id VARCHAR(36) PRIMARY KEY, title TEXT, n INT)`,
		`CREATE TABLE pairs (a INT, b INT, v TEXT, PRIMARY KEY (a, b))`,
		`CREATE TABLE ignored (id INT PRIMARY KEY)`)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}, {Name: "pairs"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 2 {
		t.Fatalf("tables %v", tables)
	}
	pos, fresh, err := e.src.Start(ctx, "powersync_1_abcd", 0)
	if err != nil || !fresh {
		t.Fatalf("Start: %v %v", fresh, err)
	}
	rec := newRecorder()
	errc := e.stream(t, "powersync_1_abcd", pos, tables, rec)

	e.exec(t, `INSERT INTO todos VALUES ('t1', 'first', 1)`)
	e.exec(t, `INSERT INTO ignored VALUES (1)`)
	e.exec(t, `UPDATE todos SET title = 'renamed' WHERE id = 't1'`)
	e.exec(t, `UPDATE todos SET id = 't2' WHERE id = 't1'`)
	e.exec(t, `BEGIN; INSERT INTO pairs VALUES (1, 2, 'a'); INSERT INTO pairs VALUES (1, 3, 'b'); DELETE FROM pairs WHERE a = 1 AND b = 2; COMMIT`)
	e.exec(t, `TRUNCATE TABLE pairs`)
	e.exec(t, `DELETE FROM todos WHERE id = 't2'`)

	changes := rec.waitChanges(t, errc, 8)
	type want struct {
		kind   source.ChangeKind
		table  string
		row    string
		oldKey bool
	}
	db := e.db.Name
	wants := []want{
		{source.Insert, db + ".todos", "id=text:t1 n=integer:1 title=text:first", false},
		{source.Update, db + ".todos", "id=text:t1 n=integer:1 title=text:renamed", false},
		{source.Update, db + ".todos", "id=text:t2 n=integer:1 title=text:renamed", true},
		{source.Insert, db + ".pairs", "a=integer:1 b=integer:2 v=text:a", false},
		{source.Insert, db + ".pairs", "a=integer:1 b=integer:3 v=text:b", false},
		{source.Delete, db + ".pairs", "", false},
		{source.Truncate, db + ".pairs", "", false},
		{source.Delete, db + ".todos", "", false},
	}
	if len(changes) != len(wants) {
		for _, c := range changes {
			t.Logf("%v %s %s", c.Kind, c.Table.ID, rowString(c.Row))
		}
		t.Fatalf("%d changes, want %d", len(changes), len(wants))
	}
	for i, w := range wants {
		c := changes[i]
		if c.Kind != w.kind || c.Table.ID != w.table || rowString(c.Row) != w.row || (c.OldKey != nil) != w.oldKey {
			t.Errorf("change %d: %v %s %q oldKey=%v, want %+v", i, c.Kind, c.Table.ID, rowString(c.Row), c.OldKey != nil, w)
		}
	}
	rec.mu.Lock()
	positions := append(rec.positions, rec.keepalive...)
	rec.mu.Unlock()
	for i := 1; i < len(rec.positions); i++ {
		if rec.positions[i] <= rec.positions[i-1] {
			t.Fatalf("positions not increasing: %v", positions)
		}
	}
	// Head moves the stream: an idle server's heartbeat reports it.
	head, err := e.src.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec.waitPosition(t, errc, head)
}
