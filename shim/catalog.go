package shim

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// catalog caches the native service, country and offer catalogs, which are
// the same for every key, as one shared copy each for ttl. A copy is
// fetched with the key of the request that finds none; concurrent requests
// that find none wait for that one fetch and share its result (1000 cold
// getPrices make one native offers call). A request that finds a copy in
// the last quarter of its ttl starts one refresh in the background and is
// answered from the copy, so that a steady load never waits for the
// backend; one that finds it expired starts the refresh itself, and the
// others are served the old copy meanwhile. While the backend fails, a copy
// up to ttl+staleFor old is still served, so that a blip does not turn
// every getNumber into ERROR_SQL.
type catalog struct {
	api      NativeAPI
	ttl      time.Duration
	staleFor time.Duration
	now      func() time.Time
	onLookup func(cache string, hit bool)

	services ttlValue[serviceCatalog]
	sold     ttlValue[map[string]struct{}]
	offers   ttlValue[*offerSnapshot]
	lastOK   atomic.Int64 // unix nanoseconds of the last good answer
	gen      atomic.Uint64
}

// serviceCatalog is the native service list and the set of its codes. gen
// tells copies apart, for answers rendered from it.
type serviceCatalog struct {
	list []upstream.Service
	set  map[string]struct{}
	gen  uint64
}

// ttlValue is one cached copy and the fetch that is replacing it, if any.
type ttlValue[T any] struct {
	mu       sync.Mutex
	val      T
	at       time.Time
	ok       bool
	inflight *flight[T] // the running fetch; nil if none
}

// flight is one fetch; done is closed when val and err are set.
type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func cachedGet[T any](ctx context.Context, c *catalog, name string, v *ttlValue[T], fetch func(context.Context) (T, error)) (T, error) {
	v.mu.Lock()
	now := c.now()
	age := now.Sub(v.at)
	if v.ok && age < c.ttl {
		val := v.val
		if v.inflight == nil && age >= c.ttl-c.ttl/4 {
			// Refresh ahead, in the background, for the requests to come;
			// it is not cancelled with this request.
			f := v.start()
			v.mu.Unlock()
			go refresh(context.WithoutCancel(ctx), c, v, f, now, fetch)
		} else {
			v.mu.Unlock()
		}
		c.onLookup(name, true)
		return val, nil
	}
	if v.ok && age < c.ttl+c.staleFor && v.inflight != nil {
		val := v.val
		v.mu.Unlock()
		c.onLookup(name, true)
		return val, nil
	}
	f := v.inflight
	if f == nil {
		f = v.start()
		v.mu.Unlock()
		c.onLookup(name, false)
		// The fetch does not end with this request: others may be
		// waiting for it. The native client's timeout bounds it.
		refresh(context.WithoutCancel(ctx), c, v, f, now, fetch)
		return f.val, f.err
	}
	v.mu.Unlock()
	c.onLookup(name, true)
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// start begins a fetch; v.mu must be held.
func (v *ttlValue[T]) start() *flight[T] {
	f := &flight[T]{done: make(chan struct{})}
	v.inflight = f
	return f
}

// refresh runs fetch as flight f, started at now, and ends it. A good
// result becomes v's copy, as old as the start; after a failure, the
// flight's result is the old copy if it is still usable (at most
// ttl+staleFor old), else the error.
func refresh[T any](ctx context.Context, c *catalog, v *ttlValue[T], f *flight[T], now time.Time, fetch func(context.Context) (T, error)) {
	val, err := fetch(ctx)
	v.mu.Lock()
	v.inflight = nil
	if err == nil {
		v.val, v.at, v.ok = val, now, true
		c.lastOK.Store(now.UnixNano())
	} else if v.ok && now.Sub(v.at) < c.ttl+c.staleFor {
		val, err = v.val, nil
	}
	f.val, f.err = val, err
	v.mu.Unlock()
	close(f.done)
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
		return serviceCatalog{list: list, set: set, gen: c.gen.Add(1)}, nil
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

// offerSnapshot is the whole native offer list, indexed, with the answers
// rendered from it so far. It never changes once made, except for rendered,
// which fills as requests ask: an answer is rendered once per snapshot.
type offerSnapshot struct {
	all       []upstream.Offer
	byCountry map[string][]upstream.Offer // by upper-case ISO code
	byService map[string][]upstream.Offer

	mu       sync.Mutex
	rendered map[renderKey]*rendering
}

// renderKey names one rendered answer: an answer kind, the legacy country
// it is for (-1 for none) and the services copy it used (0 for none).
type renderKey struct {
	kind    string
	country int
	gen     uint64
}

// rendering is one answer, rendered by the first request that asks.
type rendering struct {
	once sync.Once
	body []byte
	err  error
}

func newOfferSnapshot(all []upstream.Offer) *offerSnapshot {
	s := &offerSnapshot{all: all, byCountry: map[string][]upstream.Offer{}, byService: map[string][]upstream.Offer{}, rendered: map[renderKey]*rendering{}}
	for _, o := range all {
		iso := strings.ToUpper(o.CountryISO)
		s.byCountry[iso] = append(s.byCountry[iso], o)
		s.byService[o.ServiceCode] = append(s.byService[o.ServiceCode], o)
	}
	return s
}

// inCountry are the offers of a country, by ISO code in any case.
func (s *offerSnapshot) inCountry(iso string) []upstream.Offer {
	return s.byCountry[strings.ToUpper(iso)]
}

// of are the offers of a service.
func (s *offerSnapshot) of(service string) []upstream.Offer { return s.byService[service] }

// render is the answer k, made with build the first time it is asked for.
// The bytes are shared: callers must not modify them. On a nil snapshot
// (offers asked of the backend directly) it is build's answer.
func (s *offerSnapshot) render(k renderKey, build func() ([]byte, error)) ([]byte, error) {
	if s == nil {
		return build()
	}
	s.mu.Lock()
	r := s.rendered[k]
	if r == nil {
		r = &rendering{}
		s.rendered[k] = r
	}
	s.mu.Unlock()
	r.once.Do(func() { r.body, r.err = build() })
	return r.body, r.err
}

// offerList is the whole native offer list, from which every catalog
// answer is cut.
func (c *catalog) offerList(ctx context.Context, key string) (*offerSnapshot, error) {
	return cachedGet(ctx, c, "catalog_offers", &c.offers, func(ctx context.Context) (*offerSnapshot, error) {
		all, err := c.api.Offers(ctx, key, upstream.OfferFilter{})
		if err != nil {
			return nil, err
		}
		return newOfferSnapshot(all), nil
	})
}

// offersWhere are the offers matching f, cut from the snapshot. When there
// is no usable snapshot (the whole list did not come, within the native
// call timeout, say) and f narrows the list, they are asked of the backend
// with f, as before the snapshot: a short answer that may still come. The
// snapshot is nil then.
func (c *catalog) offersWhere(ctx context.Context, key string, f upstream.OfferFilter) ([]upstream.Offer, *offerSnapshot, error) {
	snap, err := c.offerList(ctx, key)
	if err != nil {
		if f == (upstream.OfferFilter{}) || ctx.Err() != nil {
			return nil, nil, err
		}
		offers, ferr := c.api.Offers(ctx, key, f)
		return offers, nil, ferr
	}
	switch {
	case f.CountryISO != "" && f.ServiceCode != "":
		var out []upstream.Offer
		for _, o := range snap.inCountry(f.CountryISO) {
			if o.ServiceCode == f.ServiceCode {
				out = append(out, o)
			}
		}
		return out, snap, nil
	case f.CountryISO != "":
		return snap.inCountry(f.CountryISO), snap, nil
	case f.ServiceCode != "":
		return snap.of(f.ServiceCode), snap, nil
	}
	return snap.all, snap, nil
}

// lastAnswer is when a catalog last answered; zero if never.
func (c *catalog) lastAnswer() time.Time {
	n := c.lastOK.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// WarmCatalog fetches the service, country and offer catalogs with key if
// their copies are older than the TTL, so that readiness can tell whether
// the backend's catalog answers before any bot calls. run calls it in the
// background with SHIM_PROBE_API_KEY.
func (s *Server) WarmCatalog(ctx context.Context, key string) error {
	if _, err := s.catalogFor(key).serviceSet(ctx, key); err != nil {
		return err
	}
	if _, err := s.catalogFor(key).soldCountries(ctx, key); err != nil {
		return err
	}
	_, err := s.catalogFor(key).offerList(ctx, key)
	return err
}
