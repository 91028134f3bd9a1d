package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/powersync-go/powersync/internal/storage"
)

// notice is one checkpoint published by the broadcaster with what it
// changed. It is immutable once published.
type notice struct {
	cp storage.Checkpoint
	// all is set when anything may have changed since the previous notice
	// (first notice, a new sync config version, a backend that cannot tell).
	all     bool
	buckets map[string]struct{}
	lookups map[string]struct{}
}

// changeSet accumulates the changes of several notices.
type changeSet struct {
	all     bool
	buckets map[string]struct{}
	lookups map[string]struct{}
}

func (c *changeSet) add(n *notice) {
	if c.all {
		return
	}
	if n.all {
		*c = changeSet{all: true}
		return
	}
	if c.buckets == nil {
		c.buckets = make(map[string]struct{}, len(n.buckets))
		c.lookups = make(map[string]struct{}, len(n.lookups))
	}
	for b := range n.buckets {
		c.buckets[b] = struct{}{}
	}
	for k := range n.lookups {
		c.lookups[k] = struct{}{}
	}
}

// subscriber is one connection's registration with the broadcaster. The
// broadcaster wakes it only for notices that touch one of its keys (bucket
// names and lookup keys), or for every notice while it is a wildcard (a
// write checkpoint waits to be covered, or it has not registered yet).
type subscriber struct {
	// wake holds a token when pending is not empty.
	wake chan struct{}

	// The fields below are guarded by broadcaster.mu.
	pending changeSet
	keys    []string
	all     bool
}

// broadcaster is the one per-process watcher of bucket storage. It waits on
// storage.Watch, asks storage which buckets and lookups the new checkpoint
// changed, updates the shared checksum cache, and wakes exactly the
// connections whose buckets or lookups changed. No connection polls
// storage, and a checkpoint costs work in proportion to the connections it
// concerns, not to all of them.
type broadcaster struct {
	store  storage.Storage
	cache  *checksumCache
	log    *slog.Logger
	onNote func(storage.Checkpoint)
	first  chan struct{} // closed with the first notice

	mu       sync.Mutex // guards cur, index, wildcard and every subscriber's fields
	cur      *notice    // newest notice, nil before the first checkpoint
	index    map[string]map[*subscriber]struct{}
	wildcard map[*subscriber]struct{}
}

func newBroadcaster(store storage.Storage, cache *checksumCache, log *slog.Logger, onNote func(storage.Checkpoint)) *broadcaster {
	return &broadcaster{store: store, cache: cache, log: log, onNote: onNote, first: make(chan struct{}),
		index: make(map[string]map[*subscriber]struct{}), wildcard: make(map[*subscriber]struct{})}
}

// current returns the newest notice or nil without waiting.
func (b *broadcaster) current() *notice {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur
}

// subscribe registers a wildcard subscriber (woken by every notice until
// it narrows its keys with update).
func (b *broadcaster) subscribe() *subscriber {
	s := &subscriber{wake: make(chan struct{}, 1), all: true}
	b.mu.Lock()
	b.wildcard[s] = struct{}{}
	b.mu.Unlock()
	return s
}

func (b *broadcaster) unsubscribe(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unindexLocked(s)
	delete(b.wildcard, s)
}

func (b *broadcaster) unindexLocked(s *subscriber) {
	for _, k := range s.keys {
		if set := b.index[k]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(b.index, k)
			}
		}
	}
	s.keys = nil
}

// update replaces the keys s is woken for. It reports whether they changed.
func (b *broadcaster) update(s *subscriber, keys []string, all bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if all != s.all {
		s.all = all
		if all {
			b.wildcard[s] = struct{}{}
		} else {
			delete(b.wildcard, s)
		}
		if !sameKeys(keys, s.keys) {
			b.reindexLocked(s, keys)
		}
		return true
	}
	if sameKeys(keys, s.keys) {
		return false
	}
	b.reindexLocked(s, keys)
	return true
}

func (b *broadcaster) reindexLocked(s *subscriber, keys []string) {
	b.unindexLocked(s)
	s.keys = keys
	for _, k := range keys {
		set := b.index[k]
		if set == nil {
			set = make(map[*subscriber]struct{}, 1)
			b.index[k] = set
		}
		set[s] = struct{}{}
	}
}

func sameKeys(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// take returns the newest notice and everything that changed for s since
// its last take, atomically with respect to publishing.
func (b *broadcaster) take(s *subscriber) (*notice, changeSet) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := s.pending
	s.pending = changeSet{}
	select {
	case <-s.wake:
	default:
	}
	return b.cur, ch
}

// signalLocked adds n to s's pending changes and wakes it.
func signalLocked(s *subscriber, n *notice) {
	s.pending.add(n)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Keys under which subscribers are indexed.
func bucketKey(bucket string) string { return "b" + bucket }
func lookupKey(key string) string    { return "l" + key }

// run watches storage until ctx is done.
func (b *broadcaster) run(ctx context.Context) error {
	retry := 100 * time.Millisecond
	for {
		cp, changed, err := b.store.Watch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// No active version yet, or a storage hiccup: retry with backoff.
			// This is the broadcaster's own wait, not per connection.
			if !errors.Is(err, storage.ErrNotFound) {
				b.log.Warn("watch checkpoints", "error", err)
			}
			select {
			case <-time.After(retry):
			case <-ctx.Done():
				return nil
			}
			retry = min(retry*2, 2*time.Second)
			continue
		}
		retry = 100 * time.Millisecond
		if cp.VersionID != 0 {
			b.publish(ctx, cp)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

func (b *broadcaster) publish(ctx context.Context, cp storage.Checkpoint) {
	prev := b.current()
	if prev != nil && prev.cp.VersionID == cp.VersionID && prev.cp.OpID == cp.OpID && prev.cp.Position == cp.Position {
		return
	}
	n := &notice{cp: cp}
	if prev == nil || prev.cp.VersionID != cp.VersionID {
		n.all = true
	} else {
		// Also when only the position moved: parameter rows may have
		// changed lookups without new ops, and write checkpoints may now
		// be covered.
		chg, err := b.store.Bucket(cp.VersionID).Changes(ctx, prev.cp, cp)
		switch {
		case err != nil:
			b.log.Warn("changes between checkpoints; invalidating all", "from", prev.cp.OpID, "to", cp.OpID, "error", err)
			n.all = true
		case chg.All:
			n.all = true
		default:
			n.buckets = make(map[string]struct{}, len(chg.Buckets))
			for _, x := range chg.Buckets {
				n.buckets[x] = struct{}{}
			}
			n.lookups = make(map[string]struct{}, len(chg.Lookups))
			for _, x := range chg.Lookups {
				n.lookups[string(x)] = struct{}{}
			}
		}
	}
	b.cache.advance(n)

	b.mu.Lock()
	b.cur = n
	if n.all {
		for s := range b.wildcard {
			signalLocked(s, n)
		}
		for _, set := range b.index {
			for s := range set {
				signalLocked(s, n)
			}
		}
	} else {
		for s := range b.wildcard {
			signalLocked(s, n)
		}
		for x := range n.buckets {
			for s := range b.index[bucketKey(x)] {
				signalLocked(s, n)
			}
		}
		for x := range n.lookups {
			for s := range b.index[lookupKey(x)] {
				signalLocked(s, n)
			}
		}
	}
	b.mu.Unlock()

	if prev == nil {
		close(b.first)
	}
	if b.onNote != nil {
		b.onNote(cp)
	}
}
