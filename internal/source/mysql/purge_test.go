package mysql_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/mysqltest"
	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// purgeAll rotates the binary log and purges every file before the new
// one, once no replica connection still reads one (the server keeps a file
// a replica reads).
func (p *pipeline) purgeAll() {
	p.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := p.sql.QueryRow(`SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`).Scan(&n); err != nil {
			p.t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%d binlog readers still connected", n)
		}
		<-tick.C
	}
	p.exec(`FLUSH BINARY LOGS`)
	var file string
	rows, err := p.sql.Query(`SHOW BINARY LOGS`)
	if err != nil {
		p.t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var size any
		var rest []any
		cols, _ := rows.Columns()
		dest := []any{&name, &size}
		for i := 2; i < len(cols); i++ {
			var x any
			rest = append(rest, &x)
		}
		if err := rows.Scan(append(dest, rest...)...); err != nil {
			p.t.Fatal(err)
		}
		file = name
	}
	rows.Close()
	// A file is purged only after the server's binlog checkpoint moved past
	// it (InnoDB flushed its commits), a moment after the rotation.
	for {
		p.exec(`PURGE BINARY LOGS TO '` + file + `'`)
		rows, err = p.sql.Query(`SHOW BINARY LOGS`)
		if err != nil {
			p.t.Fatal(err)
		}
		files := 0
		for rows.Next() {
			files++
		}
		rows.Close()
		if files == 1 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%d binary logs after PURGE BINARY LOGS TO %s", files, file)
		}
		<-tick.C
	}
}

// TestBinlogPurged: the binary log under a replicated version is purged
// while replication is down (a retention shorter than the outage); the
// source reports a fresh stream, replication logs it and rebuilds the data
// in a new version while the old one keeps serving, and once the new
// version is active the buckets equal the source, including the changes
// whose binlog was purged.
func TestBinlogPurged(t *testing.T) {
	forStorages(t, func(t *testing.T, kind string) {
		ctx := context.Background()
		// A configured server_id: the old and the rebuilt version stream
		// at the same time with ids of their own.
		p := newPipelineOn(t, mysqltest.NewDatabaseOn(t, mysqltest.Private(t)), kind, mysqlsource.Options{ServerID: 4242}, append(e2eSetup,
			`INSERT INTO todos SELECT seq, CONCAT('u', seq % 5), CONCAT('todo ', seq), FALSE, NULL FROM seq_1_to_3000`)...)
		p.start()
		before := p.caughtUp(time.Minute)
		p.stop()
		p.exec(`UPDATE todos SET owner_id = 'u5' WHERE id <= 100`)
		p.exec(`DELETE FROM todos WHERE id > 2900`)
		p.exec(`INSERT INTO todos SELECT seq, 'u1', CONCAT('new ', seq), TRUE, NULL FROM seq_5001_to_5100`)
		p.purgeAll()
		p.start()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			v, err := p.st.Active(ctx)
			if err == nil && v.ID > before.VersionID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no rebuilt version became active (active %+v, %v)", v, err)
			}
			// Wait for the next checkpoint of any version.
			_, ch, err := p.st.Watch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-ch:
			case <-time.After(time.Until(deadline)):
			}
		}
		p.verify(p.caughtUp(2 * time.Minute))
	})
}

// TestStreamPurgedPosition: streaming from a purged position fails with
// ErrPositionLost, and Start for that slot reports a fresh stream.
func TestStreamPurgedPosition(t *testing.T) {
	ctx := context.Background()
	e := newEnvOn(t, mysqltest.NewDatabaseOn(t, mysqltest.Private(t)), mysqlsource.Options{}, `CREATE TABLE todos (id INT PRIMARY KEY)`)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}})
	if err != nil {
		t.Fatal(err)
	}
	pos, _, err := e.src.Start(ctx, "powersync_1_aaaa", 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{t: t, sql: e.sql}
	e.exec(t, `INSERT INTO todos VALUES (1)`)
	p.purgeAll()
	errc := e.stream(t, "powersync_1_aaaa", pos, tables, newRecorder())
	select {
	case err := <-errc:
		if !isPositionLost(err) {
			t.Fatalf("Stream: %v, want ErrPositionLost", err)
		}
		if !strings.Contains(err.Error(), "not on the server") {
			t.Errorf("error %q does not say why", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Stream did not fail")
	}
	next, fresh, err := e.src.Start(ctx, "powersync_1_aaaa", pos)
	if err != nil || !fresh || next <= pos {
		t.Fatalf("Start after purge: %d fresh=%v %v (was %d)", next, fresh, err, pos)
	}
}
