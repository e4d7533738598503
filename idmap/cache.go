package idmap

import (
	"context"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultCacheSize is the size NewCache uses when given a size below 1.
const DefaultCacheSize = 10000

// Cached is a Store whose Lookup answers repeated questions from memory. It
// caches only found (active) rows, keyed by owner and legacy ID, never
// misses, so a row committed by another replica is found at once. An active
// row's native ID never changes, so a cached answer stays right; only
// retention removes such rows, and DeleteBefore through Cached empties the
// cache. Every other call passes through.
type Cached struct {
	s        Store
	lru      *lru.Cache[cacheKey, string]
	onLookup func(hit bool)
}

var _ Store = (*Cached)(nil)

type cacheKey struct {
	owner    string
	legacyID int64
}

// NewCache wraps s with an LRU of size entries (DefaultCacheSize if size <
// 1). onLookup, if not nil, is called once per Lookup with whether it was
// answered from memory (for hit-rate metrics); it must be cheap and safe for
// concurrent use.
func NewCache(s Store, size int, onLookup func(hit bool)) *Cached {
	if size < 1 {
		size = DefaultCacheSize
	}
	c, err := lru.New[cacheKey, string](size)
	if err != nil {
		// lru.New fails only for a size below 1, excluded above.
		panic("idmap: " + err.Error())
	}
	if onLookup == nil {
		onLookup = func(bool) {}
	}
	return &Cached{s: s, lru: c, onLookup: onLookup}
}

// Lookup implements Store from memory when it can.
func (c *Cached) Lookup(ctx context.Context, owner string, legacyID int64) (string, error) {
	k := cacheKey{owner: owner, legacyID: legacyID}
	if nativeID, ok := c.lru.Get(k); ok {
		c.onLookup(true)
		return nativeID, nil
	}
	c.onLookup(false)
	nativeID, err := c.s.Lookup(ctx, owner, legacyID)
	if err != nil {
		return "", err
	}
	c.lru.Add(k, nativeID)
	return nativeID, nil
}

// Reserve implements Store by passing through.
func (c *Cached) Reserve(ctx context.Context, r Reservation) (int64, error) {
	return c.s.Reserve(ctx, r)
}

// Commit implements Store by passing through. The row is cached at its
// first Lookup, not here: Commit does not know the owner.
func (c *Cached) Commit(ctx context.Context, legacyID int64, nativeID string) error {
	return c.s.Commit(ctx, legacyID, nativeID)
}

// Release implements Store by passing through; it never changes an active
// row, so nothing cached goes stale.
func (c *Cached) Release(ctx context.Context, legacyID int64) error {
	return c.s.Release(ctx, legacyID)
}

// Stale implements Store by passing through.
func (c *Cached) Stale(ctx context.Context, before time.Time, lease time.Duration, limit int) ([]Pending, error) {
	return c.s.Stale(ctx, before, lease, limit)
}

// DeleteBefore implements Store by passing through, and empties the cache
// when rows were deleted so that it does not answer for them.
func (c *Cached) DeleteBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	n, err := c.s.DeleteBefore(ctx, before, limit)
	if n > 0 {
		c.lru.Purge()
	}
	return n, err
}

// Ping implements Store by passing through.
func (c *Cached) Ping(ctx context.Context) error { return c.s.Ping(ctx) }

// Close empties the cache and closes the wrapped store.
func (c *Cached) Close() error {
	c.lru.Purge()
	return c.s.Close()
}

// LegacyIDs implements Store by passing through; it is not cached, so it
// sees rows committed by other replicas at once.
func (c *Cached) LegacyIDs(ctx context.Context, owner string, nativeIDs []string) (map[string]int64, error) {
	return c.s.LegacyIDs(ctx, owner, nativeIDs)
}
