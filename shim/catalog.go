package shim

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// catalog caches the native service and country catalogs, which are the
// same for every key, for ttl. A refresh is made with the key of the request
// that finds the copy stale, one refresh at a time, and the other requests
// do not wait for it; while the backend fails, a copy up to ttl+staleFor
// old is still served, so that a blip does not turn every getNumber into
// ERROR_SQL.
type catalog struct {
	api      NativeAPI
	ttl      time.Duration
	staleFor time.Duration
	now      func() time.Time
	onLookup func(cache string, hit bool)

	services ttlValue[serviceCatalog]
	sold     ttlValue[map[string]struct{}]
	lastOK   atomic.Int64 // unix nanoseconds of the last good answer
}

// serviceCatalog is the native service list and the set of its codes.
type serviceCatalog struct {
	list []upstream.Service
	set  map[string]struct{}
}

// ttlValue is one cached copy. One refresh runs at a time; while it runs,
// callers get the copy it is replacing if that is still usable, and wait
// for it only when there is none.
type ttlValue[T any] struct {
	mu       sync.Mutex
	val      T
	at       time.Time
	ok       bool
	inflight chan struct{} // closed when the running refresh ends; nil if none
}

func cachedGet[T any](ctx context.Context, c *catalog, name string, v *ttlValue[T], fetch func(context.Context) (T, error)) (T, error) {
	for {
		v.mu.Lock()
		now := c.now()
		if v.ok && now.Sub(v.at) < c.ttl {
			val := v.val
			v.mu.Unlock()
			c.onLookup(name, true)
			return val, nil
		}
		usable := v.ok && now.Sub(v.at) < c.ttl+c.staleFor
		if wait := v.inflight; wait != nil {
			if usable {
				val := v.val
				v.mu.Unlock()
				c.onLookup(name, true)
				return val, nil
			}
			v.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				var zero T
				return zero, ctx.Err()
			}
		}
		done := make(chan struct{})
		v.inflight = done
		v.mu.Unlock()
		c.onLookup(name, false)

		val, err := fetch(ctx)

		v.mu.Lock()
		v.inflight = nil
		close(done)
		if err == nil {
			v.val, v.at, v.ok = val, now, true
			v.mu.Unlock()
			c.lastOK.Store(now.UnixNano())
			return val, nil
		}
		if usable {
			val = v.val
			err = nil
		}
		v.mu.Unlock()
		return val, err
	}
}

// serviceSet is the native service catalog.
func (c *catalog) serviceSet(ctx context.Context, key string) (serviceCatalog, error) {
	return cachedGet(ctx, c, "services", &c.services, func(ctx context.Context) (serviceCatalog, error) {
		list, err := c.api.Services(ctx, key)
		if err != nil {
			return serviceCatalog{}, err
		}
		set := make(map[string]struct{}, len(list))
		for _, s := range list {
			set[s.Code] = struct{}{}
		}
		return serviceCatalog{list: list, set: set}, nil
	})
}

// soldCountries is the set of ISO codes the backend sells.
func (c *catalog) soldCountries(ctx context.Context, key string) (map[string]struct{}, error) {
	return cachedGet(ctx, c, "catalog_countries", &c.sold, func(ctx context.Context) (map[string]struct{}, error) {
		list, err := c.api.Countries(ctx, key)
		if err != nil {
			return nil, err
		}
		set := make(map[string]struct{}, len(list))
		for _, co := range list {
			set[co.ISO] = struct{}{}
		}
		return set, nil
	})
}

// lastAnswer is when a catalog last answered; zero if never.
func (c *catalog) lastAnswer() time.Time {
	n := c.lastOK.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// WarmCatalog fetches the service and country catalogs with key if their
// copies are older than the TTL, so that readiness can tell whether the
// backend's catalog answers before any bot calls. run calls it in the
// background with SHIM_PROBE_API_KEY.
func (s *Server) WarmCatalog(ctx context.Context, key string) error {
	if _, err := s.catalog.serviceSet(ctx, key); err != nil {
		return err
	}
	_, err := s.catalog.soldCountries(ctx, key)
	return err
}
