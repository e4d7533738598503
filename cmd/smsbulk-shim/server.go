package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/telemetry"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// newServer makes the legacy front end on be, with the ID map st (whose
// lookups it counts, and whose pending purchases it reports), the country
// table (built in, or SHIM_COUNTRIES_FILE), tel's providers, and access
// lines written straight to accessLog when it is not nil.
func newServer(log *slog.Logger, accessLog io.Writer, cfg config.Config, be *backend, st *store, tel *telemetry.SDK) (*shim.Server, error) {
	table := countries.Builtin()
	if cfg.CountriesFile != "" {
		var err error
		if table, err = countries.LoadFile(cfg.CountriesFile); err != nil {
			return nil, fmt.Errorf("loading %sCOUNTRIES_FILE: %w", config.Prefix, err)
		}
	}
	resolver, err := countries.NewResolver(table, cfg.CountryCacheSize)
	if err != nil {
		return nil, err
	}
	keys, err := shim.NewKeys([]byte(be.secret))
	if err != nil {
		return nil, err
	}
	gauges := shim.Gauges{Breaker: be.client}
	if p, ok := st.raw.(interface {
		Pending(ctx context.Context) (idmap.PendingSummary, error)
	}); ok {
		gauges.Pending = p.Pending
	}
	if o, ok := st.raw.(interface {
		OutboxDue(ctx context.Context) (int64, error)
	}); ok {
		gauges.OutboxDue = o.OutboxDue
	}
	return shim.NewServer(log, be.client, st.ids, resolver, shim.Options{
		Profile:              cfg.Profile,
		Keys:                 keys,
		Services:             translate.BuiltinServices(),
		DefaultCountry:       cfg.DefaultCountry,
		CatalogTTL:           cfg.CatalogTTL,
		CatalogStaleFor:      cfg.CatalogStaleFor,
		RequestTimeout:       cfg.RequestTimeout,
		RequestIDTTL:         cfg.RequestIDTTL,
		CallbackAllowPrivate: cfg.CallbackAllowPrivate,
		Origin:               passthroughOrigin(cfg.Passthrough, be.origin),
		ProxyTransport:       tel.WrapTransport(upstream.NewTransport()),
		TracerProvider:       tel.TracerProvider,
		MeterProvider:        tel.MeterProvider,
		Propagator:           tel.Propagator,
		IDMapCache:           st.ids,
		Gauges:               gauges,

		Sandbox: be.lane,

		PassthroughTimeout:       cfg.PassthroughTimeout,
		PassthroughMaxConcurrent: cfg.PassthroughMaxConcurrent,
		TrustedProxies:           cfg.TrustedProxies,

		LongPollMax:        longPollLimit(log, cfg),
		LongPollInterval:   cfg.LongPollInterval,
		LongPollMaxWaiters: cfg.LongPollMaxWaiters,
		LongPollMaxPerKey:  cfg.LongPollMaxPerKey,
	})
}

// longPollLimit is the longest long-poll wait granted, and says so in the
// log when it is less than SHIM_LONG_POLL_MAX.
func longPollLimit(log *slog.Logger, cfg config.Config) time.Duration {
	limit := cfg.LongPollLimit()
	if limit < cfg.LongPollMax {
		log.Warn("long-poll waits cut to leave room for the last poll and the write",
			slog.Duration("long_poll_max", cfg.LongPollMax), slog.Duration("granted", limit),
			slog.Duration("write_timeout", cfg.WriteTimeout), slog.Duration("upstream_timeout", cfg.UpstreamTimeout))
	}
	return limit
}

func passthroughOrigin(on bool, origin *url.URL) *url.URL {
	if !on {
		return nil
	}
	return origin
}
