package server

import (
	"context"
	"sync"

	"github.com/powersync-go/powersync/internal/storage"
)

// checksumCache holds bucket checksums as of the newest checkpoint, shared
// by every connection of the process. The broadcaster advances it before
// publishing a notice, dropping only the buckets the checkpoint changed, so
// a checkpoint that touches one bucket costs one storage read no matter how
// many connections hold that bucket.
type checksumCache struct {
	mu  sync.Mutex // guards all fields
	cp  storage.Checkpoint
	m   map[string]storage.BucketChecksum
	max int
}

func newChecksumCache(max int) *checksumCache {
	if max <= 0 {
		max = 1_000_000
	}
	return &checksumCache{m: make(map[string]storage.BucketChecksum), max: max}
}

// advance moves the cache to n's checkpoint.
func (c *checksumCache) advance(n *notice) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.all || c.cp.VersionID != n.cp.VersionID {
		c.m = make(map[string]storage.BucketChecksum)
	} else {
		for b := range n.buckets {
			delete(c.m, b)
		}
	}
	c.cp = n.cp
}

// get returns the checksums of buckets as of cp, in the order given,
// reading the ones not cached from bs.
func (c *checksumCache) get(ctx context.Context, bs storage.BucketStorage, cp storage.Checkpoint, buckets []string) ([]storage.BucketChecksum, error) {
	out := make([]storage.BucketChecksum, len(buckets))
	var missing []string
	var missingAt []int
	c.mu.Lock()
	current := c.cp == cp
	for i, b := range buckets {
		if v, ok := c.m[b]; ok && current {
			out[i] = v
			continue
		}
		missing = append(missing, b)
		missingAt = append(missingAt, i)
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	got, err := bs.Checksums(ctx, cp, missing)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]storage.BucketChecksum, len(got))
	for _, g := range got {
		byName[g.Bucket] = g
	}
	c.mu.Lock()
	store := c.cp == cp
	if store && len(c.m)+len(missing) > c.max {
		c.m = make(map[string]storage.BucketChecksum)
	}
	for j, b := range missing {
		v, ok := byName[b]
		if !ok {
			v = storage.BucketChecksum{Bucket: b}
		}
		out[missingAt[j]] = v
		if store {
			c.m[b] = v
		}
	}
	c.mu.Unlock()
	return out, nil
}
