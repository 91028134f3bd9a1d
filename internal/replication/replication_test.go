package replication_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/powersync-go/powersync/internal/replication"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
)

var owners = []string{`by_owner["u1"]`, `by_owner["u2"]`, `by_owner["u3"]`, `by_list["l1"]`, `by_list["l2"]`}

func TestReplicateChanges(t *testing.T) {
	dir := t.TempDir()
	dbPath, db := appDB(t, dir)
	// Rows that exist before replication starts come from the snapshot.
	for i := 1; i <= 25; i++ {
		run(t, db, "INSERT INTO todos VALUES (?, ?, 'l1', ?)", i, fmt.Sprintf("u%d", i%2+1), fmt.Sprintf("todo %d", i))
	}
	run(t, db, "INSERT INTO members VALUES (1, 'u1', 'l1')")
	e := startReplication(t, dbPath, storeDir(dir), ownerConfig, compileRules)
	cp0 := e.caughtUp()
	verify(t, e.st, db, compileRules, []string{"todos"}, owners)

	steps := []struct {
		name string
		sql  []string
	}{
		{"insert", []string{"INSERT INTO todos VALUES (100, 'u3', 'l2', 'new')"}},
		{"update", []string{"UPDATE todos SET title = 'changed' WHERE id <= 3"}},
		{"delete", []string{"DELETE FROM todos WHERE id = 4"}},
		{"many small transactions", []string{
			"INSERT INTO todos VALUES (101, 'u1', 'l1', 'a')",
			"UPDATE todos SET title = 'b' WHERE id = 101",
			"DELETE FROM todos WHERE id = 101",
			"INSERT INTO todos VALUES (101, 'u2', 'l1', 'c')",
		}},
		{"truncate", []string{"DELETE FROM todos"}},
		{"refill", []string{"INSERT INTO todos VALUES (1, 'u1', 'l1', 'again'), (2, 'u2', 'l1', 'x')"}},
	}
	for _, s := range steps {
		for _, q := range s.sql {
			run(t, db, q)
		}
		e.caughtUp()
		if verify(t, e.st, db, compileRules, []string{"todos"}, owners); t.Failed() {
			t.Fatalf("after %s", s.name)
		}
	}

	// A row moving between buckets: REMOVE from the old, PUT in the new.
	cp1 := e.caughtUp()
	run(t, db, "UPDATE todos SET owner_id = 'u3' WHERE id = 1")
	cp2 := e.caughtUp()
	v, _ := e.st.Active(context.Background())
	ops := readOps(t, e.st.Bucket(v.ID), cp2, []string{bucket(v.ID, `by_owner["u1"]`), bucket(v.ID, `by_owner["u3"]`)}, cp1.OpID)
	if got := opKinds(ops[bucket(v.ID, `by_owner["u1"]`)]); got != "REMOVE" {
		t.Errorf("old bucket got %s, want REMOVE", got)
	}
	if got := opKinds(ops[bucket(v.ID, `by_owner["u3"]`)]); got != "PUT" {
		t.Errorf("new bucket got %s, want PUT", got)
	}
	verify(t, e.st, db, compileRules, []string{"todos"}, owners)

	// A parameter row change moves the user to other buckets: resolved as
	// the sync API does, u1 gets list l1's bucket up to the old checkpoint
	// and l2's from the new one; deleting the row takes it away.
	b := func(name string) string { return bucket(v.ID, name) }
	run(t, db, "UPDATE members SET list_id = 'l2' WHERE id = 1")
	cp3 := e.caughtUp()
	run(t, db, "DELETE FROM members")
	cp4 := e.caughtUp()
	for _, c := range []struct {
		cp   storage.Checkpoint
		want string
	}{
		{cp0, b(`by_list["l1"]`) + " " + b(`by_owner["u1"]`)},
		{cp2, b(`by_list["l1"]`) + " " + b(`by_owner["u1"]`)},
		{cp3, b(`by_list["l2"]`) + " " + b(`by_owner["u1"]`)},
		{cp4, b(`by_owner["u1"]`)},
	} {
		if got := userBuckets(t, e.st, v, c.cp, "u1"); got != c.want {
			t.Errorf("buckets of u1 at checkpoint %d: %s, want %s", c.cp.OpID, got, c.want)
		}
	}
	verify(t, e.st, db, compileRules, []string{"todos"}, owners)

	st := e.rep.Status()
	if st.State != replication.StateRunning || len(st.Versions) != 1 || st.Versions[0].Phase != replication.PhaseStreaming || st.RowsReplicated == 0 {
		t.Errorf("status: %+v", st)
	}
}

func bucket(v int64, b string) string { return fmt.Sprintf("%d#%s", v, b) }

func storeDir(dir string) string { return dir + "/storage" }

func opKinds(ops []op) string {
	s := ""
	for i, o := range ops {
		if i > 0 {
			s += ","
		}
		s += string(o.Op)
	}
	return s
}

func TestRestartResumesWithoutDuplicates(t *testing.T) {
	dir := t.TempDir()
	dbPath, db := appDB(t, dir)
	e := startReplication(t, dbPath, storeDir(dir), ownerConfig, compileRules)
	for i := range 50 {
		run(t, db, "INSERT INTO todos VALUES (?, 'u1', 'l1', 't')", i)
	}
	e.caughtUp()
	n1 := verify(t, e.st, db, compileRules, []string{"todos"}, owners)
	e.close()

	// A restart with no source change adds no op.
	e = startReplication(t, dbPath, storeDir(dir), ownerConfig, compileRules)
	e.caughtUp()
	if n := verify(t, e.st, db, compileRules, []string{"todos"}, owners); n != n1 {
		t.Errorf("restart without changes: %d ops, had %d", n, n1)
	}
	e.close()

	// Changes made while replication is down are picked up.
	run(t, db, "UPDATE todos SET owner_id = 'u2' WHERE id < 10")
	run(t, db, "DELETE FROM todos WHERE id >= 40")
	e = startReplication(t, dbPath, storeDir(dir), ownerConfig, compileRules)
	e.caughtUp()
	// 10 rows moved to another owner (REMOVE + PUT, and a PUT in their
	// list's bucket), 10 deleted (a REMOVE in both buckets).
	if n := verify(t, e.st, db, compileRules, []string{"todos"}, owners); n != n1+50 {
		t.Errorf("after offline changes: %d ops, want %d", n, n1+50)
	}
}

func TestRedeployBuildsNewVersion(t *testing.T) {
	dir := t.TempDir()
	dbPath, db := appDB(t, dir)
	for i := range 30 {
		run(t, db, "INSERT INTO todos VALUES (?, ?, ?, 't')", i, fmt.Sprintf("u%d", i%3), fmt.Sprintf("l%d", i%2))
	}
	e := startReplication(t, dbPath, storeDir(dir), ownerConfig, compileRules)
	e.caughtUp()
	old, _ := e.st.Active(context.Background())
	e.close()

	e = startReplication(t, dbPath, storeDir(dir), listConfig, compileRules)
	e.caughtUp()
	ctx := context.Background()
	// The replicator clears the replaced version after the new one is
	// active, and logs it: wait for that record.
	e.logs.Wait(t, "replaced version cleared", 30*time.Second)
	vs, err := e.st.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !(len(vs) == 1 && vs[0].ID != old.ID && vs[0].State == storage.StateActive) {
		t.Fatalf("versions after redeploy: %+v", vs)
	}
	run(t, db, "INSERT INTO todos VALUES (1000, 'u1', 'l1', 'after')")
	e.caughtUp()
	verify(t, e.st, db, compileRules, []string{"todos"}, []string{`lists["l0"]`, `lists["l1"]`})
	// The old version's slot is gone from the source.
	var slots int
	if err := db.QueryRow("SELECT count(*) FROM _powersync_slots").Scan(&slots); err != nil {
		t.Fatal(err)
	}
	if slots != 1 {
		t.Errorf("%d slots after redeploy, want 1", slots)
	}
}

func TestLeaseStandby(t *testing.T) {
	dir := t.TempDir()
	dbPath, db := appDB(t, dir)
	e := startReplication(t, dbPath, storeDir(dir), ownerConfig, compileRules)
	e.caughtUp()

	// A second replicator on the same storage stands by.
	ctx := context.Background()
	second, err := replication.New(replication.Options{
		Source: e.src, Storage: e.st, SyncConfig: ownerConfig, Compile: compileRules,
		Logger: testLogger(t), LeaseTTL: 3 * time.Second, StandbyInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer second.Close(ctx)
	waitState(t, second, replication.StateStandby)

	// The first stops; the second takes over and replicates.
	if err := e.rep.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, second, replication.StateRunning)
	run(t, db, "INSERT INTO todos VALUES (1, 'u1', 'l1', 'x')")
	e.rep = second
	e.caughtUp()
	verify(t, e.st, db, compileRules, []string{"todos"}, owners)
	e.rep = nil
	second.Close(ctx)
	e.st.Close(ctx)
	e.src.Close(context.Background())
}

func waitState(t *testing.T, r *replication.Replicator, s replication.State) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		cur, changed := r.StateChanged()
		if cur == s {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("state %s, want %s", cur, s)
		}
	}
}

func TestNewErrors(t *testing.T) {
	st, err := pebble.Open(t.Context(), pebble.Options{Dir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	_, err = replication.New(replication.Options{Storage: st, Compile: compileRules})
	if err == nil {
		t.Error("no source: no error")
	}
	dbPath, _ := appDB(t, t.TempDir())
	e := startReplication(t, dbPath, t.TempDir(), ownerConfig, compileRules)
	_, err = replication.New(replication.Options{Source: e.src, Storage: st, Compile: compileRules, SyncConfig: "nonsense"})
	if err == nil || !strings.Contains(err.Error(), "sync config") {
		t.Errorf("bad config: %v", err)
	}
}

// deadHolder is storage whose leases are never released, like those of a
// process that died.
type deadHolder struct{ storage.Storage }

func (d deadHolder) AcquireLease(ctx context.Context, holder string, ttl time.Duration) (storage.Lease, error) {
	l, err := d.Storage.AcquireLease(ctx, holder, ttl)
	if err != nil {
		return nil, err
	}
	return unreleased{l}, nil
}

type unreleased struct{ storage.Lease }

func (unreleased) Release(context.Context) error { return nil }

func TestStandbyTakesOverFromDeadHolder(t *testing.T) {
	dir := t.TempDir()
	dbPath, db := appDB(t, dir)
	e := startReplication(t, dbPath, storeDir(dir), ownerConfig, compileRules)
	e.caughtUp()
	if err := e.rep.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	newRep := func() *replication.Replicator {
		r, err := replication.New(replication.Options{
			Source: e.src, Storage: deadHolder{e.st}, SyncConfig: ownerConfig, Compile: compileRules,
			Logger: testLogger(t), LeaseTTL: 300 * time.Millisecond, StandbyInterval: 20 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := newRep()
	waitState(t, first, replication.StateRunning)
	second := newRep()
	defer second.Close(ctx)
	waitState(t, second, replication.StateStandby)

	// The first holder stops without releasing its lease (it "dies"); the
	// second takes over once the lease expires.
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitState(t, second, replication.StateRunning)
	run(t, db, "INSERT INTO todos VALUES (7, 'u2', 'l1', 'after takeover')")
	e.rep = second
	e.caughtUp()
	verify(t, e.st, db, compileRules, []string{"todos"}, owners)
}

func TestLostSourceStreamRebuilds(t *testing.T) {
	dir := t.TempDir()
	dbPath, db := appDB(t, dir)
	for i := range 20 {
		run(t, db, "INSERT INTO todos VALUES (?, 'u1', 'l1', 't')", i)
	}
	e := startReplication(t, dbPath, storeDir(dir), ownerConfig, compileRules)
	e.caughtUp()
	old, _ := e.st.Active(context.Background())
	e.close()

	// The source forgets the slot while replication is down, and changes
	// made meanwhile are not captured for it.
	run(t, db, "DELETE FROM _powersync_slots")
	run(t, db, "DELETE FROM _powersync_changes")
	run(t, db, "UPDATE todos SET owner_id = 'u2' WHERE id < 5")

	e = startReplication(t, dbPath, storeDir(dir), ownerConfig, compileRules)
	ctx := context.Background()
	var v storage.Version
	var err error
	waitStorage(t, e.st, 30*time.Second, func() bool {
		v, err = e.st.Active(ctx)
		return err == nil && v.ID != old.ID
	}, func() string { return fmt.Sprintf("no rebuilt version (active %+v, %v)", v, err) })
	e.caughtUp()
	verify(t, e.st, db, compileRules, []string{"todos"}, owners)
}

func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	dbPath, db := appDB(t, dir)
	e := startReplication(t, dbPath, storeDir(dir), ownerConfig, compileRules)
	run(t, db, "INSERT INTO todos VALUES (1, 'u1', 'l1', 'a'), (2, 'u1', 'l1', 'b')")
	e.caughtUp()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.rep.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			got[mf.GetName()] = m.GetCounter().GetValue()
		} else {
			got[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	if got["powersync_rows_replicated_total"] < 2 || got["powersync_transactions_replicated_total"] < 1 || got["powersync_replication_lease_held"] != 1 {
		t.Errorf("metrics: %v", got)
	}
}
