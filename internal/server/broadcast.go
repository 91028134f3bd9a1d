package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/powersync-go/powersync/internal/storage"
)

// notice is one checkpoint published by the broadcaster. Notices form a
// chain: when a newer checkpoint is committed, next is set and then done is
// closed, so a connection that wakes on done can walk next to the newest
// notice and merge what changed on the way. Fields are immutable once the
// notice is published; next is written before done is closed and read only
// after it.
type notice struct {
	cp storage.Checkpoint
	// all is set when anything may have changed since the previous notice
	// (first notice, a new sync config version, a backend that cannot tell).
	all     bool
	buckets map[string]struct{}
	lookups map[string]struct{}

	done chan struct{}
	next *notice
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

// latestFrom walks from n to the newest published notice, merging changes.
func latestFrom(n *notice, ch *changeSet) *notice {
	for {
		select {
		case <-n.done:
			n = n.next
			ch.add(n)
		default:
			return n
		}
	}
}

// broadcaster is the one per-process watcher of bucket storage. It waits on
// storage.Watch, asks storage which buckets and lookups the new checkpoint
// changed, updates the shared checksum cache and publishes a notice. Sync
// connections wait on notices; none of them polls storage.
type broadcaster struct {
	store  storage.Storage
	cache  *checksumCache
	log    *slog.Logger
	onNote func(storage.Checkpoint)

	mu    sync.Mutex // guards cur
	cur   *notice    // newest notice, nil before the first checkpoint
	first chan struct{}
}

func newBroadcaster(store storage.Storage, cache *checksumCache, log *slog.Logger, onNote func(storage.Checkpoint)) *broadcaster {
	return &broadcaster{store: store, cache: cache, log: log, onNote: onNote, first: make(chan struct{})}
}

// latest returns the newest notice, waiting for the first one.
func (b *broadcaster) latest(ctx context.Context) (*notice, error) {
	select {
	case <-b.first:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur, nil
}

// current returns the newest notice or nil without waiting.
func (b *broadcaster) current() *notice {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur
}

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
	n := &notice{cp: cp, done: make(chan struct{})}
	switch {
	case prev == nil || prev.cp.VersionID != cp.VersionID:
		n.all = true
	default:
		// Also when only the position moved: parameter rows may have
		// changed lookups without new ops, and write checkpoints may now
		// be covered.
		chg, err := b.store.Bucket(cp.VersionID).Changes(ctx, prev.cp, cp)
		if err != nil {
			b.log.Warn("changes between checkpoints; invalidating all", "from", prev.cp.OpID, "to", cp.OpID, "error", err)
			n.all = true
		} else if chg.All {
			n.all = true
		} else {
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
	b.mu.Unlock()
	if prev == nil {
		close(b.first)
	} else {
		prev.next = n
		close(prev.done)
	}
	if b.onNote != nil {
		b.onNote(cp)
	}
}
