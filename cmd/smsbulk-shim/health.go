package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// health answers the admin listener's probes.
type health struct {
	store interface {
		Ping(ctx context.Context) error
	}
	// breaker is the native client's circuit breaker, the one answer to
	// "is the backend up?".
	breaker interface {
		BreakerState() upstream.BreakerState
	}
	catalog interface {
		CatalogAnsweredAt() time.Time
	}
	// catalogMaxAge, when positive, is how recently the native catalog must
	// have answered (the background warm-up with SHIM_PROBE_API_KEY keeps it
	// fresh). Zero skips the check: without a key the shim cannot ask.
	catalogMaxAge time.Duration
	now           func() time.Time
	stopping      atomic.Bool
}

// newAdmin makes the admin listener's probes on the ID map store and the
// shim. With a probe key, readiness also wants the catalog to have answered
// within SHIM_READY_CATALOG_MAX_AGE.
func newAdmin(cfg config.Config, ids *idmap.Cached, srv *shim.Server, be *backend) *health {
	h := &health{store: ids, breaker: be.client, catalog: srv, now: time.Now}
	if be.probeKey != "" {
		h.catalogMaxAge = cfg.ReadyCatalogMaxAge
	}
	return h
}

func (h *health) routes(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", h.ready)
	mux.Handle("GET /metrics", metrics)
	return mux
}

// ready is 200 while the shim can serve: not shutting down, the ID map
// store answers a ping, the native client's circuit breaker is not open,
// and (with a probe key) the native catalog answered recently. A half-open
// breaker is ready: without traffic no probe call would ever close it.
func (h *health) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fail := func(why string) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(why + "\n"))
	}
	if h.stopping.Load() {
		fail("shutting down")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		fail("id map store unreachable")
		return
	}
	if h.breaker.BreakerState() == upstream.BreakerOpen {
		fail("native backend failing")
		return
	}
	if h.catalogMaxAge > 0 {
		if at := h.catalog.CatalogAnsweredAt(); at.IsZero() || h.now().Sub(at) > h.catalogMaxAge {
			fail("native catalog has not answered recently")
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}
