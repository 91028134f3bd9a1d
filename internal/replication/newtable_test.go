package replication_test

import (
	"testing"
)

// wildcardConfig syncs every table whose name starts with extra_.
const wildcardConfig = `bucket_definitions:
  global:
    data:
      - SELECT id, v FROM "extra_%"
`

// TestWildcardTableCreatedWhileStopped: a table matching a wildcard
// pattern is created with rows while replication is stopped; the restart
// copies it (the version's snapshot is long done), and a further restart
// does not copy it again.
func TestWildcardTableCreatedWhileStopped(t *testing.T) {
	dir := t.TempDir()
	dbPath, db := appDB(t, dir)
	run(t, db, "CREATE TABLE extra_a (id INTEGER PRIMARY KEY, v TEXT)")
	for i := range 30 {
		run(t, db, "INSERT INTO extra_a VALUES (?, 'a')", i)
	}
	e := startReplication(t, dbPath, storeDir(dir), wildcardConfig, compileRules)
	e.caughtUp()
	verify(t, e.st, db, compileRules, []string{"extra_a"}, []string{"global[]"})
	e.close()

	run(t, db, "CREATE TABLE extra_b (id INTEGER PRIMARY KEY, v TEXT)")
	for i := range 40 {
		run(t, db, "INSERT INTO extra_b VALUES (?, 'b')", 100+i)
	}
	run(t, db, "UPDATE extra_a SET v = 'changed' WHERE id < 5")
	e = startReplication(t, dbPath, storeDir(dir), wildcardConfig, compileRules)
	e.caughtUp()
	n := verify(t, e.st, db, compileRules, []string{"extra_a", "extra_b"}, []string{"global[]"})
	e.close()

	// Nothing changed: the restart copies nothing again.
	e = startReplication(t, dbPath, storeDir(dir), wildcardConfig, compileRules)
	e.caughtUp()
	if got := verify(t, e.st, db, compileRules, []string{"extra_a", "extra_b"}, []string{"global[]"}); got != n {
		t.Errorf("restart without changes: %d ops, had %d", got, n)
	}
	// extra_b's changes stream as usual.
	run(t, db, "DELETE FROM extra_b WHERE id < 110")
	run(t, db, "UPDATE extra_b SET v = 'x' WHERE id > 130")
	e.caughtUp()
	verify(t, e.st, db, compileRules, []string{"extra_a", "extra_b"}, []string{"global[]"})
}
