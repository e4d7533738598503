package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

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
// table (built in, or SHIM_COUNTRIES_FILE) and tel's providers.
func newServer(log *slog.Logger, cfg config.Config, be *backend, st *store, tel *telemetry.SDK) (*shim.Server, error) {
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

		PassthroughTimeout:       cfg.PassthroughTimeout,
		PassthroughMaxConcurrent: cfg.PassthroughMaxConcurrent,
		TrustedProxies:           cfg.TrustedProxies,
	})
}

func passthroughOrigin(on bool, origin *url.URL) *url.URL {
	if !on {
		return nil
	}
	return origin
}
