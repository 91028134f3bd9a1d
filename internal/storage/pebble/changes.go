package pebble

import (
	"slices"

	"github.com/powersync-go/powersync/internal/storage"
)

// Limits of the in-memory record of what recent checkpoints changed.
const (
	changeLogEntries = 128
	changeSetMax     = 10000
)

// changeLog remembers, per version, what each recent checkpoint changed.
// It lives in memory only: after a restart, or for checkpoints older than
// it remembers, Changes answers All.
type changeLog struct {
	entries []changeEntry
	// Changes committed since the last checkpoint.
	pendingAll     bool
	pendingBuckets map[string]struct{}
	pendingLookups map[string]struct{}
}

type changeEntry struct {
	prev, cp storage.Checkpoint
	all      bool
	buckets  []string
	lookups  [][]byte
}

func (c *changeLog) add(buckets map[string]*bucketDelta, lookups map[string]struct{}) {
	if c.pendingAll {
		return
	}
	if len(buckets) > changeSetMax || len(lookups) > changeSetMax {
		c.pendingAll = true
		c.pendingBuckets, c.pendingLookups = nil, nil
		return
	}
	if c.pendingBuckets == nil {
		c.pendingBuckets = map[string]struct{}{}
		c.pendingLookups = map[string]struct{}{}
	}
	for b := range buckets {
		c.pendingBuckets[b] = struct{}{}
	}
	for l := range lookups {
		c.pendingLookups[l] = struct{}{}
	}
	if len(buckets) > changeSetMax || len(lookups) > changeSetMax ||
		len(c.pendingBuckets)+len(c.pendingLookups) > changeSetMax {
		c.pendingAll = true
		c.pendingBuckets, c.pendingLookups = nil, nil
	}
}

func (c *changeLog) checkpoint(prev, cp storage.Checkpoint) {
	e := changeEntry{prev: prev, cp: cp, all: c.pendingAll}
	if !e.all {
		for b := range c.pendingBuckets {
			e.buckets = append(e.buckets, b)
		}
		for l := range c.pendingLookups {
			e.lookups = append(e.lookups, []byte(l))
		}
	}
	c.pendingAll, c.pendingBuckets, c.pendingLookups = false, nil, nil
	c.entries = append(c.entries, e)
	if len(c.entries) > changeLogEntries {
		c.entries = slices.Delete(c.entries, 0, len(c.entries)-changeLogEntries)
	}
}

func sameCheckpoint(a, b storage.Checkpoint) bool {
	return a.OpID == b.OpID && a.Position == b.Position
}

// between returns what changed after from up to and including to.
func (c *changeLog) between(from, to storage.Checkpoint) storage.Changes {
	if sameCheckpoint(from, to) {
		return storage.Changes{}
	}
	start := -1
	for i, e := range c.entries {
		if sameCheckpoint(e.prev, from) {
			start = i
			break
		}
	}
	if start < 0 {
		return storage.Changes{All: true}
	}
	buckets := map[string]struct{}{}
	lookups := map[string]struct{}{}
	for _, e := range c.entries[start:] {
		if e.all {
			return storage.Changes{All: true}
		}
		for _, b := range e.buckets {
			buckets[b] = struct{}{}
		}
		for _, l := range e.lookups {
			lookups[string(l)] = struct{}{}
		}
		if sameCheckpoint(e.cp, to) {
			return storage.SortedChanges(buckets, lookups)
		}
	}
	return storage.Changes{All: true}
}
