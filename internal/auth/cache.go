package auth

import (
	"container/list"
	"sync"
)

// cacheEntry is an accepted token: its identity, its exp (seconds) and the
// key that verified it (to re-ask a dynamic source's Accept).
type cacheEntry struct {
	id  *Identity
	exp float64
	key *Key
}

// tokenCache is a size-bounded LRU of accepted tokens keyed by the SHA-256
// of the token, so memory does not grow with token size and no token text is
// kept. Entries are dropped when their token expires (checked on get) or
// when they are the least recently used and the cache is full.
type tokenCache struct {
	mu    sync.Mutex // guards items and order
	max   int
	items map[[32]byte]*list.Element
	order *list.List // front = most recently used; values are *cacheItem
}

type cacheItem struct {
	sum   [32]byte
	entry cacheEntry
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, items: make(map[[32]byte]*list.Element), order: list.New()}
}

func (c *tokenCache) get(sum [32]byte) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[sum]
	if !ok {
		return cacheEntry{}, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheItem).entry, true
}

func (c *tokenCache) put(sum [32]byte, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[sum]; ok {
		el.Value.(*cacheItem).entry = e
		c.order.MoveToFront(el)
		return
	}
	c.items[sum] = c.order.PushFront(&cacheItem{sum: sum, entry: e})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheItem).sum)
	}
}

func (c *tokenCache) remove(sum [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[sum]; ok {
		c.order.Remove(el)
		delete(c.items, sum)
	}
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
