package server_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/protocol"
)

// memStore is a small in-memory bucket storage for the API tests. Its op
// checksum is the op id itself, so expected bucket checksums are easy sums.
type memStore struct {
	storage.Storage // methods the API does not use are left nil
	mu              sync.Mutex
	versionID       int64
	opID            int64
	pos             storage.Position
	cp              storage.Checkpoint
	ops             map[string][]memOp
	lookups         map[string][][]byte
	changes         []memChange
	staged          memChange
	watch           chan struct{}
	wcs             map[[2]string][]wcRec
	lookupLog       int
}

type memOp struct {
	id       int64
	checksum uint32
	json     []byte
	target   int64
}

type memChange struct {
	opID    int64
	buckets []string
	lookups [][]byte
}

type wcRec struct {
	v   int64
	pos storage.Position
}

func newMemStore() *memStore {
	return &memStore{ops: map[string][]memOp{}, lookups: map[string][][]byte{}, watch: make(chan struct{}),
		wcs: map[[2]string][]wcRec{}}
}

func (m *memStore) addOp(bucket string, e protocol.OplogEntry) {
	m.opID++
	e.OpID = protocol.OpID(m.opID)
	e.Checksum = uint32(m.opID)
	b, _ := json.Marshal(e)
	m.ops[bucket] = append(m.ops[bucket], memOp{id: m.opID, checksum: e.Checksum, json: b})
	m.staged.buckets = append(m.staged.buckets, bucket)
}

// put stages a PUT of row id with data into bucket.
func (m *memStore) put(bucket, table, id, data string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addOp(bucket, protocol.OplogEntry{Op: protocol.OpPut, ObjectType: table, ObjectID: id, Subkey: "s", Data: &data})
}

// remove stages a REMOVE of row id from bucket.
func (m *memStore) remove(bucket, table, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addOp(bucket, protocol.OplogEntry{Op: protocol.OpRemove, ObjectType: table, ObjectID: id, Subkey: "s"})
}

// setLookup stages a lookup index entry.
func (m *memStore) setLookup(key string, results ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var rs [][]byte
	for _, r := range results {
		rs = append(rs, []byte(r))
	}
	m.lookups[key] = rs
	m.staged.lookups = append(m.staged.lookups, []byte(key))
}

// commit creates a checkpoint of everything staged (version 1 on first use).
func (m *memStore) commit() storage.Checkpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.versionID == 0 {
		m.versionID = 1
	}
	m.pos++
	m.staged.opID = m.opID
	m.changes = append(m.changes, m.staged)
	m.staged = memChange{}
	m.cp = storage.Checkpoint{VersionID: m.versionID, OpID: m.opID, Position: m.pos, Time: time.Now()}
	close(m.watch)
	m.watch = make(chan struct{})
	return m.cp
}

func (m *memStore) Versions(ctx context.Context) ([]storage.Version, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.versionID == 0 {
		return nil, nil
	}
	return []storage.Version{{ID: m.versionID, State: storage.StateActive, SnapshotDone: true, Checkpoint: m.cp}}, nil
}
func (m *memStore) Bucket(versionID int64) storage.BucketStorage { return memBuckets{m: m} }
func (m *memStore) Active(ctx context.Context) (storage.Version, error) {
	vs, _ := m.Versions(ctx)
	if len(vs) == 0 {
		return storage.Version{}, storage.ErrNotFound
	}
	return vs[0], nil
}
func (m *memStore) Watch(ctx context.Context) (storage.Checkpoint, <-chan struct{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cp, m.watch, nil
}
func (m *memStore) WriteCheckpoints() storage.WriteCheckpoints { return memWC{m} }
func (m *memStore) Close(ctx context.Context) error            { return nil }

type memWC struct{ m *memStore }

func (w memWC) Create(ctx context.Context, user, client string, head storage.Position) (int64, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	k := [2]string{user, client}
	v := int64(len(w.m.wcs[k]) + 1)
	w.m.wcs[k] = append(w.m.wcs[k], wcRec{v, head})
	return v, nil
}
func (w memWC) Request(ctx context.Context, user, client string, id int64, head storage.Position) (int64, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	k := [2]string{user, client}
	cur := int64(0)
	if l := w.m.wcs[k]; len(l) > 0 {
		cur = l[len(l)-1].v
	}
	if id > cur {
		w.m.wcs[k] = append(w.m.wcs[k], wcRec{id, head})
		cur = id
	}
	return cur, nil
}
func (w memWC) At(ctx context.Context, user, client string, pos storage.Position) (int64, bool, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	best, ok := int64(0), false
	for _, r := range w.m.wcs[[2]string{user, client}] {
		if r.pos <= pos && r.v > best {
			best, ok = r.v, true
		}
	}
	return best, ok, nil
}

type memBuckets struct {
	storage.BucketStorage // methods the API does not use are left nil
	m                     *memStore
}

func (b memBuckets) Checksums(ctx context.Context, cp storage.Checkpoint, buckets []string) ([]storage.BucketChecksum, error) {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	out := make([]storage.BucketChecksum, 0, len(buckets))
	for _, name := range buckets {
		c := storage.BucketChecksum{Bucket: name}
		for _, op := range b.m.ops[name] {
			if op.id <= cp.OpID {
				c.Checksum += op.checksum
				c.Count++
			}
		}
		out = append(out, c)
	}
	return out, nil
}
func (b memBuckets) ReadData(ctx context.Context, cp storage.Checkpoint, reqs []storage.BucketPosition, lim storage.Limits, fn func(storage.Chunk) error) error {
	for _, r := range reqs {
		b.m.mu.Lock()
		var ops []memOp
		for _, op := range b.m.ops[r.Bucket] {
			if op.id > r.After && op.id <= cp.OpID {
				ops = append(ops, op)
			}
		}
		b.m.mu.Unlock()
		after := r.After
		for len(ops) > 0 {
			ch := storage.Chunk{Bucket: r.Bucket, After: after}
			size := 0
			for len(ops) > 0 && len(ch.Ops) < lim.Ops && size < lim.Bytes {
				ch.Ops = append(ch.Ops, ops[0].json)
				size += len(ops[0].json)
				ch.NextAfter = ops[0].id
				ch.TargetOp = max(ch.TargetOp, ops[0].target)
				ops = ops[1:]
			}
			ch.HasMore = len(ops) > 0
			after = ch.NextAfter
			if err := fn(ch); err != nil {
				return err
			}
		}
	}
	return nil
}
func (b memBuckets) Lookup(ctx context.Context, cp storage.Checkpoint, keys [][]byte) ([][][]byte, error) {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	b.m.lookupLog++
	out := make([][][]byte, len(keys))
	for i, k := range keys {
		out[i] = b.m.lookups[string(k)]
	}
	return out, nil
}
func (b memBuckets) Changes(ctx context.Context, from, to storage.Checkpoint) (storage.Changes, error) {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	var c storage.Changes
	seen := map[string]bool{}
	for _, ch := range b.m.changes {
		if ch.opID <= from.OpID || ch.opID > to.OpID {
			continue
		}
		for _, x := range ch.buckets {
			if !seen[x] {
				seen[x] = true
				c.Buckets = append(c.Buckets, x)
			}
		}
		c.Lookups = append(c.Lookups, ch.lookups...)
	}
	// Lookup-only commits have no new op id; report them too.
	for _, ch := range b.m.changes {
		if ch.opID == to.OpID && from.OpID == to.OpID {
			c.Lookups = append(c.Lookups, ch.lookups...)
		}
	}
	sort.Strings(c.Buckets)
	return c, nil
}

// memRules gives every user the buckets named by static (with "{user}"
// replaced by the user id) plus, when dynamic is set, the buckets listed in
// the lookup "lists:<user>".
type memRules struct {
	static  []syncrules.BucketDescription
	dynamic bool
}

func (r memRules) NewQuerier(req syncrules.Request) (server.Querier, error) {
	return &memQuerier{r: r, req: req}, nil
}

type memQuerier struct {
	r   memRules
	req syncrules.Request
}

func (q *memQuerier) Buckets(ctx context.Context, lookup syncrules.LookupFunc) ([]syncrules.BucketDescription, error) {
	var out []syncrules.BucketDescription
	for _, d := range q.r.static {
		d.Bucket = strings.ReplaceAll(d.Bucket, "{user}", q.req.UserID)
		out = append(out, d)
	}
	if q.r.dynamic {
		res, err := lookup([][]byte{[]byte("lists:" + q.req.UserID)})
		if err != nil {
			return nil, err
		}
		for _, r := range res[0] {
			out = append(out, syncrules.BucketDescription{Bucket: string(r), Priority: 3, Default: []int{1}})
		}
	}
	return out, nil
}
func (q *memQuerier) Streams() []protocol.StreamDescription {
	return []protocol.StreamDescription{{Name: "by_user", IsDefault: true, Errors: []protocol.StreamError{}},
		{Name: "lists", IsDefault: true, Errors: []protocol.StreamError{}}}
}
func (q *memQuerier) Dynamic() bool { return q.r.dynamic }
