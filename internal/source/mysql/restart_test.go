package mysql_test

import (
	"context"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/mysqltest"
	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
)

// TestSourceServerKilled: mariadbd dies by SIGKILL while replication
// streams; replication retries until the server is back and catches up
// with nothing lost.
func TestSourceServerKilled(t *testing.T) {
	srv := mysqltest.Private(t)
	p := newPipelineOn(t, mysqltest.NewDatabaseOn(t, srv), "pebble", mysqlsource.Options{}, append(e2eSetup,
		`INSERT INTO todos SELECT seq, CONCAT('u', seq % 5), CONCAT('todo ', seq), FALSE, NULL FROM seq_1_to_1000`)...)
	p.start()
	p.caughtUp(time.Minute)
	p.exec(`UPDATE todos SET title = 'before the crash' WHERE id % 3 = 0`)
	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.exec(`UPDATE todos SET title = 'after the crash', owner_id = 'u5' WHERE id % 4 = 0`)
	p.exec(`DELETE FROM todos WHERE id % 9 = 0`)
	p.verify(p.caughtUp(2 * time.Minute))
}

// TestBacklogAcrossAlter: while replication is stopped, rows are written
// before and after ALTER TABLE adds and drops columns; on restart the
// backlog is decoded with the columns each row was written with (the
// binlog's column names), and the buckets equal the source.
func TestBacklogAcrossAlter(t *testing.T) {
	p := newPipeline(t, "pebble", mysqlsource.Options{}, append(e2eSetup,
		`INSERT INTO todos SELECT seq, CONCAT('u', seq % 5), CONCAT('todo ', seq), FALSE, NULL FROM seq_1_to_500`)...)
	p.start()
	p.caughtUp(time.Minute)
	p.stop()
	p.exec(`UPDATE todos SET title = 'before alter' WHERE id <= 100`)
	p.exec(`ALTER TABLE todos ADD COLUMN priority INT DEFAULT 1 AFTER owner_id`)
	p.exec(`UPDATE todos SET title = 'between', priority = 3 WHERE id BETWEEN 101 AND 200`)
	p.exec(`ALTER TABLE todos DROP COLUMN body`)
	p.exec(`INSERT INTO todos (id, owner_id, priority, title, done) VALUES (9001, 'u2', 5, 'after drop', TRUE)`)
	p.exec(`ALTER TABLE todos ADD COLUMN body TEXT`)
	p.start()
	p.verify(p.caughtUp(2 * time.Minute))
}
