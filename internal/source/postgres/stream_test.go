package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/source"
	pgsource "github.com/powersync-go/powersync/internal/source/postgres"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

const streamSetup = `
	CREATE TABLE todos (id text primary key, title text, body text);
	ALTER TABLE todos ALTER COLUMN body SET STORAGE EXTERNAL;
	CREATE TABLE pairs (a int, b int, v text, primary key (a, b));
	CREATE TABLE ignored (id int primary key);
	CREATE PUBLICATION powersync FOR ALL TABLES;`

func TestStreamChanges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pgsource.Options{ReportUnchanged: true}, streamSetup)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}, {Name: "pairs"}})
	if err != nil {
		t.Fatal(err)
	}
	pos, _, err := e.src.Start(ctx, "powersync_2_beef", 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	e.stream(t, "powersync_2_beef", pos, tables, rec)

	big := strings.Repeat("x", 100000) // stored out of line (TOAST)
	e.exec(t, `INSERT INTO todos VALUES ('t1', 'first', $1)`, big)
	e.exec(t, `INSERT INTO ignored VALUES (1)`)
	e.exec(t, `UPDATE todos SET title = 'renamed' WHERE id = 't1'`) // body unchanged: not sent
	e.exec(t, `UPDATE todos SET id = 't2' WHERE id = 't1'`)         // primary key change
	e.exec(t, `BEGIN; INSERT INTO pairs VALUES (1, 2, 'a'); INSERT INTO pairs VALUES (1, 3, 'b'); DELETE FROM pairs WHERE a = 1 AND b = 2; COMMIT`)
	e.exec(t, `TRUNCATE pairs`)
	e.exec(t, `DELETE FROM todos WHERE id = 't2'`)

	changes := rec.waitChanges(t, 8)
	rec.mu.Lock()
	ntx := len(rec.txs)
	positions := append([]storage.Position(nil), rec.positions...)
	rec.mu.Unlock()
	// 7 source transactions (the one touching only an unsynced table is
	// empty); back-to-back transactions may share one commit.
	if ntx < 1 || ntx > 7 {
		t.Fatalf("%d commits for 7 transactions", ntx)
	}
	for i := 1; i < len(positions); i++ {
		if positions[i] <= positions[i-1] {
			t.Fatalf("positions not increasing: %v", positions)
		}
	}
	type want struct {
		kind      source.ChangeKind
		table     string
		row       string
		unchanged string
		oldKey    bool
	}
	wants := []want{
		{source.Insert, "public.todos", "body=text:" + big + " id=text:t1 title=text:first", "", false},
		{source.Update, "public.todos", "id=text:t1 title=text:renamed", "body", false},
		{source.Update, "public.todos", "id=text:t2 title=text:renamed", "body", true},
		{source.Insert, "public.pairs", "a=integer:1 b=integer:2 v=text:a", "", false},
		{source.Insert, "public.pairs", "a=integer:1 b=integer:3 v=text:b", "", false},
		{source.Delete, "public.pairs", "", "", false},
		{source.Truncate, "public.pairs", "", "", false},
		{source.Delete, "public.todos", "", "", false},
	}
	if len(changes) != len(wants) {
		t.Fatalf("%d changes, want %d", len(changes), len(wants))
	}
	keyOf := map[string][]byte{}
	for i, w := range wants {
		c := changes[i]
		if c.Kind != w.kind || c.Table.ID != w.table {
			t.Errorf("change %d: %v %s, want %v %s", i, c.Kind, c.Table.ID, w.kind, w.table)
			continue
		}
		if c.Row != nil || w.row != "" {
			if got := rowString(c.Row); got != w.row {
				t.Errorf("change %d row = %.120s, want %.120s", i, got, w.row)
			}
		}
		if got := strings.Join(c.Unchanged, ","); got != w.unchanged {
			t.Errorf("change %d unchanged = %q, want %q", i, got, w.unchanged)
		}
		if (c.OldKey != nil) != w.oldKey {
			t.Errorf("change %d old key = %x", i, c.OldKey)
		}
		if c.Kind != source.Truncate && len(c.Key) == 0 {
			t.Errorf("change %d has no key", i)
		}
		keyOf[c.Table.ID+"/"+string(rune('0'+i))] = c.Key
	}
	// Keys: the same row has the same key across changes; the PK change's
	// old key is the key before it; the delete carries the deleted key.
	if string(changes[0].Key) != string(changes[1].Key) || string(changes[2].OldKey) != string(changes[1].Key) ||
		string(changes[7].Key) != string(changes[2].Key) || string(changes[5].Key) != string(changes[3].Key) {
		t.Errorf("keys do not line up: %x", keyOf)
	}

	// The snapshot encodes keys like the stream does.
	e.exec(t, `INSERT INTO pairs VALUES (7, 8, 'z')`)
	all := rec.waitChanges(t, 9)
	var snapKey []byte
	if err := e.src.Snapshot(ctx, tables[1], nil, func(p source.SnapshotPage) error {
		for i, r := range p.Rows {
			if r["a"].Int64() == 7 {
				snapKey = p.Keys[i]
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if string(snapKey) != string(all[8].Key) {
		t.Errorf("snapshot key %x != stream key %x", snapKey, all[8].Key)
	}
}

func TestHeadMovesIdleStream(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pgsource.Options{}, streamSetup)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}})
	if err != nil {
		t.Fatal(err)
	}
	pos, _, err := e.src.Start(ctx, "powersync_3_aaaa", 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	e.stream(t, "powersync_3_aaaa", pos, tables, rec)
	head, err := e.src.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for {
		rec.mu.Lock()
		ka := rec.keepalive
		rec.mu.Unlock()
		if ka >= head {
			break
		}
		select {
		case <-rec.notify:
		case <-deadline:
			t.Fatalf("no keepalive past head %d (last %d)", head, ka)
		}
	}
}

func TestHeartbeatAdvancesSlot(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pgsource.Options{HeartbeatInterval: 100 * time.Millisecond, StatusInterval: 100 * time.Millisecond}, streamSetup)
	pos, _, err := e.src.Start(ctx, "powersync_4_aaaa", 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	e.stream(t, "powersync_4_aaaa", pos, nil, rec)
	var before string
	if err := e.conn.QueryRow(ctx, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'powersync_4_aaaa'`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	// Each heartbeat reaches the recorder as a keepalive (rec.notify); the
	// slot is checked again after each one.
	deadline := time.After(20 * time.Second)
	for {
		var moved bool
		err := e.conn.QueryRow(ctx, `SELECT confirmed_flush_lsn > $1::pg_lsn FROM pg_replication_slots WHERE slot_name = 'powersync_4_aaaa'`, before).Scan(&moved)
		if err != nil {
			t.Fatal(err)
		}
		if moved {
			return
		}
		select {
		case <-rec.notify:
		case <-deadline:
			t.Fatal("slot did not advance on an idle database")
		}
	}
}

func TestStartRecreatesLostSlot(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pgsource.Options{}, streamSetup)
	pos, fresh, err := e.src.Start(ctx, "powersync_5_aaaa", 0)
	if err != nil || !fresh {
		t.Fatalf("first start: %v %v", fresh, err)
	}
	// Existing slot: resume where storage is.
	got, fresh, err := e.src.Start(ctx, "powersync_5_aaaa", pos+100)
	if err != nil || fresh || got != pos+100 {
		t.Fatalf("resume: %v %v %v", got, fresh, err)
	}
	// Dropped by hand: a fresh stream.
	e.exec(t, `SELECT pg_drop_replication_slot('powersync_5_aaaa')`)
	_, fresh, err = e.src.Start(ctx, "powersync_5_aaaa", pos+100)
	if err != nil || !fresh {
		t.Fatalf("after drop: %v %v", fresh, err)
	}
	// Streaming a slot that vanished reports ErrSlotLost.
	if err := e.src.Drop(ctx, "powersync_5_aaaa"); err != nil {
		t.Fatal(err)
	}
	err = e.src.Stream(ctx, "powersync_5_aaaa", pos, func(sqlvalue.TableRef) *source.Table { return nil }, newRecorder())
	if !errors.Is(err, pgsource.ErrSlotLost) {
		t.Fatalf("stream on dropped slot: %v", err)
	}
}

func TestSnapshotPagesResume(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pgsource.Options{SnapshotPageRows: 7}, `
		CREATE TABLE pairs (a int, b text, v int, primary key (a, b));
		INSERT INTO pairs SELECT i % 5, 'k' || i, i FROM generate_series(1, 40) i;
		CREATE PUBLICATION powersync FOR ALL TABLES;`)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "pairs"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	var cursors [][]byte
	err = e.src.Snapshot(ctx, tables[0], nil, func(p source.SnapshotPage) error {
		for _, r := range p.Rows {
			seen[r["v"].Int64()] = true
		}
		cursors = append(cursors, p.Cursor)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 40 || len(cursors) != 6 || cursors[5] != nil {
		t.Fatalf("seen %d rows in %d pages (last cursor %q)", len(seen), len(cursors), cursors[len(cursors)-1])
	}
	// Resume after the third page: exactly the rest.
	rest := map[int64]bool{}
	err = e.src.Snapshot(ctx, tables[0], cursors[2], func(p source.SnapshotPage) error {
		for _, r := range p.Rows {
			rest[r["v"].Int64()] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 40-21 {
		t.Fatalf("resumed copy has %d rows, want %d", len(rest), 40-21)
	}
}

// With REPLICA IDENTITY FULL the old row is complete, so an unchanged
// TOAST value is filled in rather than reported unchanged.
func TestStreamFullIdentityFillsToast(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pgsource.Options{}, streamSetup+`ALTER TABLE todos REPLICA IDENTITY FULL;`)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}})
	if err != nil {
		t.Fatal(err)
	}
	pos, _, err := e.src.Start(ctx, "powersync_6_aaaa", 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	e.stream(t, "powersync_6_aaaa", pos, tables, rec)
	big := strings.Repeat("y", 100000)
	e.exec(t, `INSERT INTO todos VALUES ('t1', 'first', $1)`, big)
	e.exec(t, `UPDATE todos SET title = 'second' WHERE id = 't1'`)
	changes := rec.waitChanges(t, 2)
	if u := changes[1]; len(u.Unchanged) != 0 || u.Row["body"].Str() != big || u.Row["title"].Str() != "second" {
		t.Fatalf("update: unchanged %v, body %d bytes, title %q", u.Unchanged, len(u.Row["body"].Str()), u.Row["title"].Str())
	}
}

// TestNewTablesPickedUp: a table created after the start that matches a
// pattern of the sync config, and an existing table added to the
// publication later, are copied inline and then followed.
func TestNewTablesPickedUp(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pgsource.Options{}, `
		CREATE TABLE todos (id text primary key, title text);
		CREATE TABLE extra_old (id int primary key, v text);
		INSERT INTO extra_old SELECT i, 'old ' || i FROM generate_series(1, 5) i;
		CREATE PUBLICATION powersync FOR TABLE todos;`)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "todos"}, {Name: "extra_%"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 {
		t.Fatalf("tables at start: %d, want only todos (extra_old is not published)", len(tables))
	}
	pos, _, err := e.src.Start(ctx, "powersync_7_aaaa", 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	e.stream(t, "powersync_7_aaaa", pos, tables, rec)

	e.exec(t, `CREATE TABLE extra_new (id int primary key, v text); ALTER PUBLICATION powersync ADD TABLE extra_new`)
	e.exec(t, `INSERT INTO extra_new VALUES (1, 'a'), (2, 'b')`)
	e.exec(t, `ALTER PUBLICATION powersync ADD TABLE extra_old`)
	e.exec(t, `UPDATE extra_old SET v = 'changed' WHERE id = 3`)
	e.exec(t, `INSERT INTO extra_new VALUES (3, 'c')`)
	e.exec(t, `CREATE TABLE unrelated (id int primary key); ALTER PUBLICATION powersync ADD TABLE unrelated; INSERT INTO unrelated VALUES (1)`)
	e.exec(t, `INSERT INTO todos VALUES ('last', 'done')`)

	// Replay the changes into a map per table, as replication would.
	var state map[string]map[string]string
	deadline := time.After(30 * time.Second)
	expired := false
	for {
		state = map[string]map[string]string{}
		rec.mu.Lock()
		for _, tx := range rec.txs {
			for _, c := range tx {
				m := state[c.Table.ID]
				if m == nil {
					m = map[string]string{}
					state[c.Table.ID] = m
				}
				switch c.Kind {
				case source.Truncate:
					clear(m)
				case source.Delete:
					delete(m, string(c.Key))
				default:
					m[string(c.Key)] = rowString(c.Row)
				}
			}
		}
		rec.mu.Unlock()
		if len(state["public.todos"]) == 1 || expired {
			break
		}
		// Each committed transaction wakes rec.notify (buffered: a
		// commit during the replay above is not missed).
		select {
		case <-rec.notify:
		case <-deadline:
			expired = true
		}
	}
	if n := len(state["public.extra_new"]); n != 3 {
		t.Errorf("extra_new has %d rows, want 3: %v", n, state["public.extra_new"])
	}
	if n := len(state["public.extra_old"]); n != 5 {
		t.Errorf("extra_old has %d rows, want 5: %v", n, state["public.extra_old"])
	}
	found := false
	for _, r := range state["public.extra_old"] {
		found = found || strings.Contains(r, "v=text:changed")
	}
	if !found {
		t.Errorf("extra_old lacks the update: %v", state["public.extra_old"])
	}
	if _, ok := state["public.unrelated"]; ok {
		t.Errorf("a table no pattern matches was replicated")
	}
}
