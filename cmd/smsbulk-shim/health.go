package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// breakerStater is the native client's circuit breaker
// (*upstream.Client).
type breakerStater interface {
	BreakerState() upstream.BreakerState
}

// health answers the admin listener's probes.
type health struct {
	store interface {
		Ping(ctx context.Context) error
	}
	// writable, when not nil, probes that the store can still write (the
	// SQLite store: a full disk leaves reads working).
	writable func(ctx context.Context) error
	// breaker is the native client's circuit breaker, the one answer to
	// "is the backend up?". It is reported, never a reason to be unready.
	breaker breakerStater
	catalog interface {
		CatalogAnsweredAt() time.Time
	}
	// catalogMaxAge, when positive, is how recently the native catalog
	// should have answered (the background warm-up with
	// SHIM_PROBE_API_KEY keeps it fresh); it is reported, like the
	// breaker. Zero leaves it out: without a key the shim cannot ask.
	catalogMaxAge time.Duration
	now           func() time.Time
	stopping      atomic.Bool
}

// newAdmin makes the admin listener's probes on the ID map store (with the
// write probe of a SQLite store) and the shim.
func newAdmin(cfg config.Config, st *store, srv *shim.Server, be *backend) *health {
	h := &health{store: st.ids, writable: st.writable, breaker: be.client, catalog: srv, now: time.Now}
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

// ready is 200 while this replica should get traffic: not shutting down,
// and the ID map store answers a ping and (SQLite) can write. The first
// line of the body is "ready" or the reason it is not; the lines after it
// report the native backend, which every replica shares, so that its
// outage never takes a replica out of rotation: bots then get ERROR_SQL at
// once through the open breaker, and the first call after the cooldown
// finds the backend back. Nothing here depends on traffic, so nothing
// sticks.
func (h *health) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	status, first := http.StatusOK, "ready"
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	switch {
	case h.stopping.Load():
		status, first = http.StatusServiceUnavailable, "shutting down"
	case h.store.Ping(ctx) != nil:
		status, first = http.StatusServiceUnavailable, "id map store unreachable"
	case h.writable != nil && h.writable(ctx) != nil:
		status, first = http.StatusServiceUnavailable, "id map store cannot write"
	}
	var b strings.Builder
	b.WriteString(first + "\n")
	fmt.Fprintf(&b, "native backend: %s\n", backendState(h.breaker.BreakerState()))
	if h.catalogMaxAge > 0 {
		at := h.catalog.CatalogAnsweredAt()
		switch {
		case at.IsZero():
			b.WriteString("native catalog: has not answered yet\n")
		case h.now().Sub(at) > h.catalogMaxAge:
			fmt.Fprintf(&b, "native catalog: stale, last answered %s ago\n", h.now().Sub(at).Round(time.Second))
		default:
			fmt.Fprintf(&b, "native catalog: answered %s ago\n", h.now().Sub(at).Round(time.Second))
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// backendState says what a breaker state means for the backend.
func backendState(s upstream.BreakerState) string {
	switch s {
	case upstream.BreakerClosed:
		return "up"
	case upstream.BreakerOpen:
		return "failing (circuit breaker open: legacy requests get ERROR_SQL at once)"
	case upstream.BreakerHalfOpen:
		return "recovering (circuit breaker half-open: the next call tests it)"
	}
	return s.String()
}

// watchBackend logs one line each time the native client's breaker
// changes state, looking every `every` until ctx is done.
func watchBackend(ctx context.Context, log *slog.Logger, breaker breakerStater, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := breaker.BreakerState()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s := breaker.BreakerState(); s != last {
			level := slog.LevelInfo
			if s == upstream.BreakerOpen {
				level = slog.LevelWarn
			}
			log.LogAttrs(ctx, level, "native backend state changed", slog.String("from", last.String()),
				slog.String("to", s.String()), slog.String("backend", backendState(s)))
			last = s
		}
	}
}
