package idmap

import (
	"context"
	"sync/atomic"
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
// cache. Every other call passes through. Stats counts the lookups.
type Cached struct {
	s            Store
	lru          *lru.Cache[cacheKey, string]
	hits, misses atomic.Uint64
}

var _ Store = (*Cached)(nil)

type cacheKey struct {
	owner    string
	legacyID int64
}

// NewCache wraps s with an LRU of size entries (DefaultCacheSize if size <
// 1).
func NewCache(s Store, size int) *Cached {
	if size < 1 {
		size = DefaultCacheSize
	}
	c, err := lru.New[cacheKey, string](size)
	if err != nil {
		// lru.New fails only for a size below 1, excluded above.
		panic("idmap: " + err.Error())
	}
	return &Cached{s: s, lru: c}
}

// Stats returns how many Lookups were answered from memory (hits) and how
// many asked the wrapped store (misses) since NewCache. It is safe for
// concurrent use and cheap enough to call at every metric collection.
func (c *Cached) Stats() (hits, misses uint64) {
	return c.hits.Load(), c.misses.Load()
}

// Lookup implements Store from memory when it can.
func (c *Cached) Lookup(ctx context.Context, owner string, legacyID int64) (string, error) {
	k := cacheKey{owner: owner, legacyID: legacyID}
	if nativeID, ok := c.lru.Get(k); ok {
		c.hits.Add(1)
		return nativeID, nil
	}
	c.misses.Add(1)
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

// ReserveRequest implements Store by passing through; the cache holds
// active rows only, found by Lookup.
func (c *Cached) ReserveRequest(ctx context.Context, r Reservation, k RequestKey) (Claim, error) {
	return c.s.ReserveRequest(ctx, r, k)
}

// DeleteRequestsBefore implements Store by passing through.
func (c *Cached) DeleteRequestsBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	return c.s.DeleteRequestsBefore(ctx, before, limit)
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

// DueWatches implements Store by passing through.
func (c *Cached) DueWatches(ctx context.Context, lease time.Duration, limit int) ([]WatchClaim, error) {
	return c.s.DueWatches(ctx, lease, limit)
}

// RecordWatch implements Store by passing through.
func (c *Cached) RecordWatch(ctx context.Context, u WatchUpdate) error {
	return c.s.RecordWatch(ctx, u)
}

// DueEvents implements Store by passing through.
func (c *Cached) DueEvents(ctx context.Context, lease time.Duration, limit int) ([]DueEvent, error) {
	return c.s.DueEvents(ctx, lease, limit)
}

// SettleEvent implements Store by passing through.
func (c *Cached) SettleEvent(ctx context.Context, eventID string, o Outcome, next time.Time) error {
	return c.s.SettleEvent(ctx, eventID, o, next)
}

// DeleteEventsBefore implements Store by passing through; the cache holds
// no callback rows.
func (c *Cached) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	return c.s.DeleteEventsBefore(ctx, before, limit)
}
