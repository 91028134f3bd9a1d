package server_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// The bytes of whole sync lines, from ops stored by the real Pebble backend
// to the NDJSON the service streams, for awkward names and data: quotes,
// backslashes, control characters, U+2028/U+2029, invalid UTF-8, HTML
// characters and 64-bit numbers. Clients only decode these lines, but the
// bytes are what the reference would send and what stored ops hold, so a
// change to them must be deliberate.

// awkwardBucket has every kind of character the escaper treats specially
// that a bucket name can carry (bucket names are JSON text built by the
// sync rules, so they never hold raw control characters).
const awkwardBucket = "odd[\"<&>\u2028\u2029\\\"q\\\\\"]"

var wireRules = memRules{static: []syncrules.BucketDescription{
	{Bucket: "hi[]", Priority: 0, Default: []int{0}},
	{Bucket: awkwardBucket, Priority: 3, Default: []int{0}},
}}

// awkwardRow is row data as JSON text with the characters the escaper
// treats specially: the sync rules escape control characters inside it,
// but U+2028/U+2029, HTML characters and non-ASCII text are raw, and a
// broken source can hand over invalid UTF-8.
const awkwardRow = "{\"q\":\"say \\\"hi\\\" C:\\\\x\",\"c\":\"\\u0000\\b\\f\\n\\u001f\",\"l\":\"a\u2028b\u2029c\"," +
	"\"bad\":\"\xff\xc3\",\"h\":\"<script>&amp;</script>\",\"u\":\"日本é😀\",\"big\":9223372036854775807,\"neg\":-9223372036854775808,\"f\":1.0}"

// awkwardID is a row id with raw control characters, U+2028 and invalid
// UTF-8 (ids come from source values as they are).
const awkwardID = "t\"1\\\b\f\x01\x7f\u2028\xff"

type wireEnv struct {
	bs  storage.BucketStorage
	h   *harness
	pos storage.Position
}

func newWireEnv(t *testing.T) *wireEnv {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := pebble.Open(t.Context(), pebble.Options{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(ctx) })
	v, err := st.Deploy(ctx, "wire")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Storage: st, Auth: server.AuthenticatorFunc(testAuth),
		Rules: func(storage.Version) (server.Rules, error) { return wireRules, nil }, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = srv.Close(cctx)
		ts.Close()
	})
	return &wireEnv{bs: st.Bucket(v.ID), h: &harness{t: t, srv: srv, ts: ts}}
}

// commit writes one transaction with fn and makes it a checkpoint.
func (e *wireEnv) commit(t *testing.T, fn func(storage.Batch) error) {
	t.Helper()
	ctx := context.Background()
	bt, err := e.bs.NewBatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer bt.Close()
	if err := fn(bt); err != nil {
		t.Fatal(err)
	}
	e.pos++
	if _, err := bt.Commit(ctx, storage.CommitOptions{Position: e.pos, Checkpoint: true, SnapshotDone: true}); err != nil {
		t.Fatal(err)
	}
}

func saveRow(table, id, data string, buckets ...string) func(storage.Batch) error {
	return func(bt storage.Batch) error {
		u := storage.RowUpdate{Table: "public." + table, Key: []byte(id)}
		for _, b := range buckets {
			u.Buckets = append(u.Buckets, storage.BucketRow{Bucket: b, Table: table, ID: id, Data: []byte(data)})
		}
		return bt.Save(context.Background(), u)
	}
}

var updateWire = flag.Bool("update-wire", false, "rewrite testdata/wire.golden with the lines received")

// TestWireBytes compares every line of two connections, through a REMOVE,
// an update and a compaction, with testdata/wire.golden: one line per sync
// line, "# " lines name the phases.
func TestWireBytes(t *testing.T) {
	e := newWireEnv(t)
	var got []string
	phase := func(name string, l *lines) {
		t.Helper()
		got = append(got, "# "+name)
		for {
			s := l.next(t)
			if strings.HasPrefix(s, `{"token_expires_in":`) {
				continue
			}
			got = append(got, s)
			if strings.HasPrefix(s, `{"checkpoint_complete":`) {
				return
			}
		}
	}

	e.commit(t, func(bt storage.Batch) error {
		if err := saveRow("lists", "l1", `{"id":"l1"}`, "hi[]")(bt); err != nil {
			return err
		}
		return saveRow("todos", awkwardID, awkwardRow, awkwardBucket)(bt)
	})
	l := e.h.stream("u1", `{"raw_data":true}`)
	phase("initial sync: checkpoint, data by priority, partial and full completion", l)

	e.commit(t, func(bt storage.Batch) error {
		return bt.Delete(context.Background(), "public.todos", []byte(awkwardID))
	})
	phase("REMOVE: checkpoint_diff and its data", l)

	e.commit(t, saveRow("lists", "l1", `{"id":"l1","v":2}`, "hi[]"))
	phase("update of l1", l)

	// Compaction turns the superseded PUT into a MOVE and folds the leading
	// PUT/REMOVE run of the awkward bucket into a CLEAR.
	if _, err := e.bs.Compact(context.Background(), storage.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	e.commit(t, func(storage.Batch) error { return nil })
	phase("new connection after compaction: MOVE and CLEAR", e.h.stream("u1", `{"raw_data":true}`))

	golden := filepath.Join("testdata", "wire.golden")
	text := strings.Join(got, "\n") + "\n"
	if *updateWire {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	wantLines := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
	for i := range max(len(got), len(wantLines)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			t.Errorf("%s line %d:\n got %q\nwant %q", golden, i+1, g, w)
		}
	}
}
