package mysql_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/mysqltest"
	"github.com/powersync-go/powersync/internal/source"
	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// Check names each missing setting or privilege with the statement or
// my.cnf line that fixes it, and passes once they are fixed.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	srv := mysqltest.Private(t)
	d := mysqltest.NewDatabaseOn(t, srv)
	if err := srv.Exec(ctx, "CREATE USER 'limited'@'127.0.0.1' IDENTIFIED BY 'pw'",
		"GRANT SELECT ON `"+d.Name+"`.* TO 'limited'@'127.0.0.1'"); err != nil {
		t.Fatal(err)
	}
	src, err := mysqlsource.Open(ctx, mysqlsource.Options{URI: d.URL("limited", "pw")})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	expect := func(want string) {
		t.Helper()
		err := src.Check(ctx)
		var ce *mysqlsource.CheckError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Check: %v, want a CheckError containing %q", err, want)
		}
	}
	expect("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'limited'@'127.0.0.1';")
	if err := srv.Exec(ctx, "GRANT REPLICATION SLAVE ON *.* TO 'limited'@'127.0.0.1'"); err != nil {
		t.Fatal(err)
	}
	expect("GRANT REPLICATION CLIENT ON *.* TO 'limited'@'127.0.0.1';")
	if err := srv.Exec(ctx, "GRANT REPLICATION CLIENT ON *.* TO 'limited'@'127.0.0.1'"); err != nil {
		t.Fatal(err)
	}
	if err := src.Check(ctx); err != nil {
		t.Fatalf("Check with the grants: %v", err)
	}
	if err := srv.Exec(ctx, "SET GLOBAL binlog_format = 'MIXED'"); err != nil {
		t.Fatal(err)
	}
	expect("binlog_format is MIXED; replication needs ROW")
	if err := srv.Exec(ctx, "SET GLOBAL binlog_format = 'ROW'", "SET GLOBAL binlog_row_image = 'MINIMAL'"); err != nil {
		t.Fatal(err)
	}
	expect("binlog_row_image = 'FULL'")
	if err := srv.Exec(ctx, "SET GLOBAL binlog_row_image = 'FULL'"); err != nil {
		t.Fatal(err)
	}
	// The limited user replicates: Start, and a table without a primary
	// key is refused with the fix.
	if err := srv.Exec(ctx, "CREATE TABLE `"+d.Name+"`.nokey (a INT)"); err != nil {
		t.Fatal(err)
	}
	_, err = src.Tables(ctx, []sqlvalue.TablePattern{{Name: "nokey"}})
	if err == nil || !strings.Contains(err.Error(), "ALTER TABLE `"+d.Name+"`.`nokey` ADD PRIMARY KEY") {
		t.Fatalf("Tables(nokey): %v", err)
	}
	if _, _, err := src.Start(ctx, "powersync_1_cccc", 0); err != nil {
		t.Fatalf("Start as the limited user: %v", err)
	}
	// Wrong password: the MySQL error number becomes a hint.
	bad, err := mysqlsource.Open(ctx, mysqlsource.Options{URI: d.URL("limited", "wrong")})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close(ctx)
	if err := bad.Check(ctx); err == nil || !strings.Contains(err.Error(), "wrong user name or password") {
		t.Fatalf("Check with a wrong password: %v", err)
	}
}

// A table created while streaming that matches a wildcard pattern is
// copied inline (a Truncate marked Copy, then its rows) and then followed.
func TestNewTableMatchingWildcard(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, mysqlsource.Options{}, `CREATE TABLE item_a (id INT PRIMARY KEY, v TEXT)`, `CREATE TABLE other (id INT PRIMARY KEY)`)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "item_%"}})
	if err != nil || len(tables) != 1 {
		t.Fatalf("Tables: %v %v", tables, err)
	}
	pos, _, err := e.src.Start(ctx, "powersync_1_dddd", 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	errc := e.stream(t, "powersync_1_dddd", pos, tables, rec)
	e.exec(t, `CREATE TABLE item_b (id INT PRIMARY KEY, v TEXT)`)
	e.exec(t, `CREATE TABLE unrelated (id INT PRIMARY KEY)`)
	e.exec(t, `INSERT INTO item_b VALUES (1, 'x'), (2, 'y')`)
	e.exec(t, `INSERT INTO unrelated VALUES (1)`)
	e.exec(t, `INSERT INTO item_a VALUES (1, 'a')`)
	// item_a's insert comes last; the copy may or may not have read
	// item_b's rows already (their inserts then replay over the copy).
	var changes []source.Change
	for n := 4; ; n++ {
		changes = rec.waitChanges(t, errc, n)
		if last := changes[len(changes)-1]; last.Table.ID == e.db.Name+".item_a" {
			break
		}
	}
	db := e.db.Name
	if c := changes[0]; c.Table.ID != db+".item_b" || c.Kind != source.Truncate || !c.Copy {
		t.Fatalf("first change %v %s copy=%v, want the copy of item_b", c.Kind, c.Table.ID, c.Copy)
	}
	rows := map[string]string{}
	for _, c := range changes[1:] {
		if c.Table.ID == db+".unrelated" || c.Table.ID == db+".other" {
			t.Fatalf("change of an unsynced table: %s", c.Table.ID)
		}
		if c.Kind == source.Insert {
			rows[c.Table.ID+"/"+rowString(c.Row)] = ""
		}
	}
	want := []string{
		db + ".item_a/id=integer:1 v=text:a",
		db + ".item_b/id=integer:1 v=text:x",
		db + ".item_b/id=integer:2 v=text:y",
	}
	var got []string
	for k := range rows {
		got = append(got, k)
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A table with a composite primary key is copied in pages ordered by the
// whole key, each page after the previous one's last key, with every row
// exactly once.
func TestSnapshotCompositeKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, mysqlsource.Options{SnapshotPageRows: 7},
		`CREATE TABLE pairs (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))`,
		`INSERT INTO pairs SELECT seq % 5, CONCAT('k', seq), seq FROM seq_1_to_103`)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "pairs"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	var cursor []byte
	pages := 0
	for {
		// Resume from the cursor each time, as replication does after a
		// restart.
		var next []byte
		stop := false
		err := e.src.Snapshot(ctx, tables[0], cursor, func(p source.SnapshotPage) error {
			pages++
			for _, r := range p.Rows {
				v := r["v"].Int64()
				if seen[v] {
					t.Fatalf("row %d copied twice", v)
				}
				seen[v] = true
			}
			next, stop = p.Cursor, p.Cursor == nil
			return errStopPage
		})
		if err != nil && !errors.Is(err, errStopPage) {
			t.Fatal(err)
		}
		if stop {
			break
		}
		cursor = next
	}
	if len(seen) != 103 || pages != 15 {
		t.Fatalf("%d rows in %d pages, want 103 in 15", len(seen), pages)
	}
}

var errStopPage = errors.New("stop after one page")
