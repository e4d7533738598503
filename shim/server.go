package shim

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/gorilla/mux"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// NativeAPI is what the shim calls of the native API; *upstream.Client
// implements it.
type NativeAPI interface {
	Balance(ctx context.Context, apiKey string) (upstream.Balance, error)
	Buy(ctx context.Context, apiKey string, req upstream.BuyRequest, idemKey string) (upstream.Activation, error)
	Activation(ctx context.Context, apiKey, id string) (upstream.Activation, error)
	Ready(ctx context.Context, apiKey, id string) (upstream.Activation, error)
	Retry(ctx context.Context, apiKey, id string) (upstream.Activation, error)
	Complete(ctx context.Context, apiKey, id string) (upstream.Activation, error)
	Cancel(ctx context.Context, apiKey, id string) (upstream.Activation, error)
	Countries(ctx context.Context, apiKey string) ([]upstream.Country, error)
	Services(ctx context.Context, apiKey string) ([]upstream.Service, error)
	Offers(ctx context.Context, apiKey string, f upstream.OfferFilter) ([]upstream.Offer, error)
	ListActive(ctx context.Context, apiKey, cursor string, limit int) (upstream.ActivationList, error)
}

// IDStore is what the shim needs of the ID map; every idmap.Store
// implements it.
type IDStore interface {
	Reserve(ctx context.Context, r idmap.Reservation) (int64, error)
	Commit(ctx context.Context, legacyID int64, nativeID string) error
	Release(ctx context.Context, legacyID int64) error
	Lookup(ctx context.Context, owner string, legacyID int64) (string, error)
	LegacyIDs(ctx context.Context, owner string, nativeIDs []string) (map[string]int64, error)
	Stale(ctx context.Context, before time.Time, lease time.Duration, limit int) ([]idmap.Pending, error)
	ReserveRequest(ctx context.Context, r idmap.Reservation, k idmap.RequestKey) (idmap.Claim, error)
	DueWatches(ctx context.Context, lease time.Duration, limit int) ([]idmap.WatchClaim, error)
	RecordWatch(ctx context.Context, u idmap.WatchUpdate) error
	DueEvents(ctx context.Context, lease time.Duration, limit int) ([]idmap.DueEvent, error)
	SettleEvent(ctx context.Context, eventID string, o idmap.Outcome, next time.Time) error
}

var (
	_ NativeAPI = (*upstream.Client)(nil)
	_ IDStore   = (idmap.Store)(nil)
)

// Options configures NewServer. Keys and Services are required.
type Options struct {
	// Profile is the answer profile. The zero value is ProfileSMSActivate.
	Profile translate.Profile
	// Keys fingerprints API keys and seals purchase intents. Required.
	Keys *Keys
	// Services normalises service parameters. Required.
	Services *translate.Services
	// DefaultCountry is the country ID used when getNumber or
	// getNumbersStatus names none. The zero value is Russia (0), as the
	// original.
	DefaultCountry int
	// CatalogTTL is how long the native service and country catalogs are
	// cached. Default 5m.
	CatalogTTL time.Duration
	// CatalogStaleFor is how long past CatalogTTL a cached catalog is still
	// served while the backend fails to refresh it. Default 10 x CatalogTTL.
	CatalogStaleFor time.Duration
	// RequestTimeout bounds one legacy request. Default 30s.
	RequestTimeout time.Duration
	// RequestIDTTL is how long a requestId of getNumber and getNumberV2
	// names its purchase (SHIM_REQUEST_ID_TTL). Default 24h.
	RequestIDTTL time.Duration
	// CallbackAllowPrivate accepts getNumber callbacks whose host is a
	// literal loopback, private or link-local address, or localhost
	// (SHIM_CALLBACK_ALLOW_PRIVATE). The delivering client must be told
	// the same (callback.Options.AllowPrivate). Default false: refused
	// with BAD_ACTION.
	CallbackAllowPrivate bool
	// CompensationTimeout bounds the refund made when a purchase cannot be
	// stored; it runs even when the client has gone. Default 10s.
	CompensationTimeout time.Duration
	// Origin is the backend origin that non-legacy paths are passed to. nil
	// answers them 404.
	Origin *url.URL
	// ProxyTransport carries pass-through requests. nil uses
	// http.DefaultTransport.
	ProxyTransport http.RoundTripper
	// PassthroughTimeout bounds one pass-through request, from its arrival
	// to the end of the backend's answer; a backend that has not answered
	// the headers by then gets the client a 504. Default 30s.
	PassthroughTimeout time.Duration
	// PassthroughMaxConcurrent bounds the pass-through requests in flight;
	// one more is refused at once with 503 and Retry-After: 1, so that a
	// hung backend path cannot hold the listener's descriptors. Default 256.
	PassthroughMaxConcurrent int
	// TrustedProxies are the peers whose forwarding headers (X-Forwarded-*,
	// Forwarded, X-Real-IP, ...) are believed (ClientAddr) and passed to the
	// backend. nil trusts nobody: those headers are dropped.
	TrustedProxies []netip.Prefix
	// Limits bounds what a legacy request may carry. Zero fields take the
	// defaults of Limits.
	Limits translate.Limits
	// LongPollMax is the longest wait of getStatus and getStatusV2
	// (wait=<seconds>; a longer one is cut to it). 0, the zero value, turns
	// long-poll off: wait is checked and then ignored.
	LongPollMax time.Duration
	// LongPollInterval is how often the one shared poll of an activation
	// being waited on asks the backend. Default 1s.
	LongPollInterval time.Duration
	// LongPollMaxWaiters bounds the long-poll waiters of this replica, and
	// LongPollMaxPerKey those of one API key; a request beyond either is
	// answered at once, as without wait. Defaults 10000 and 100.
	LongPollMaxWaiters int
	LongPollMaxPerKey  int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// After is the timer of long-poll waits and of their shared polls'
	// interval, time.After on the clock Now. Default time.After; a test
	// with a fake Now passes its clock's.
	After func(time.Duration) <-chan time.Time
	// TracerProvider makes the spans of legacy requests, native calls and
	// ID map queries. nil makes none.
	TracerProvider trace.TracerProvider
	// Propagator reads the trace context (W3C traceparent) of incoming
	// legacy requests. nil uses propagation.TraceContext.
	Propagator propagation.TextMapPropagator
	// MeterProvider makes the shim's instruments. nil records nothing.
	MeterProvider metric.MeterProvider
	// IDMapCache is the cache in front of the ID map store (the store given
	// to NewServer, usually an *idmap.Cached), whose Stats are exported as
	// smsbulk_shim.cache.lookups{cache="idmap"}. nil exports no idmap
	// series.
	IDMapCache CacheStats
	// AccessLog, when not nil, receives the access lines of legacy
	// requests straight, as the JSON lines slog.NewJSONHandler(AccessLog,
	// nil) would write for them, in one Write each, instead of through the
	// logger (whose Enabled still decides at Info whether they are
	// written). Give it the logger's own writer, and only when the logger
	// is that JSON handler with no attributes or groups added (the
	// traceLogHandler of package telemetry around it is fine: the access
	// line names its trace itself). The writer must take concurrent
	// Writes, as an *os.File does, or serialise them. nil logs them
	// through the logger.
	AccessLog io.Writer
	// Sandbox, when not nil, serves the API keys with its prefix from a
	// sandbox (SHIM_SANDBOX_KEY_PREFIX): their native calls and
	// pass-through never reach the backend, and their requests are
	// labelled sandbox in access lines and spans and counted apart, in
	// smsbulk_shim.sandbox.requests.
	Sandbox *SandboxLane
	// Gauges are the sources of the state gauges (breaker, pending
	// purchases in the store). The zero value reports only this replica's
	// purchases in flight.
	Gauges Gauges
}

// Server is the legacy front end. Create it with NewServer; it is an
// http.Handler.
type Server struct {
	log     *slog.Logger
	api     NativeAPI
	ids     IDStore
	cc      *countries.Resolver
	opt     Options
	catalog *catalog
	// sandboxCatalog is the sandbox lane's catalog; nil without a lane.
	sandboxCatalog *catalog
	router         *mux.Router
	// legacy serves the legacy paths as written in legacyPaths without the
	// router's matching, the hot path; the router serves every other
	// spelling of them (see isLegacyPath).
	legacy http.Handler
	// alog writes the access lines when Options.AccessLog is set.
	alog *accessLog
	// handler is what ServeHTTP runs: the fast path or the router, behind
	// the Transfer-Encoding guard.
	handler  http.Handler
	defaultC countries.Country
	tel      *telemetry
	ptel     proxyTelemetry
	// verified remembers the owners whose key the backend accepted
	// recently, so that a purchase with an unknown key is refused before
	// anything is written (see checkKey).
	verified *lru.Cache[string, verifiedKey]
	// polls is the hub of long-poll waits.
	polls *longPoll
}

// NewServer makes the front end. It answers the legacy endpoint at
// /stubs/handler_api.php, /stubs/handler_api and /handler_api.php, and
// passes every other path to opt.Origin.
func NewServer(log *slog.Logger, api NativeAPI, ids IDStore, cc *countries.Resolver, opt Options) (*Server, error) {
	if opt.Keys == nil || opt.Services == nil {
		return nil, missingError("Keys and Services")
	}
	if opt.Sandbox != nil && (opt.Sandbox.Prefix == "" || opt.Sandbox.API == nil) {
		return nil, missingError("the sandbox lane's Prefix and API")
	}
	if opt.CatalogTTL <= 0 {
		opt.CatalogTTL = 5 * time.Minute
	}
	if opt.RequestTimeout <= 0 {
		opt.RequestTimeout = 30 * time.Second
	}
	if opt.RequestIDTTL <= 0 {
		opt.RequestIDTTL = 24 * time.Hour
	}
	if opt.CompensationTimeout <= 0 {
		opt.CompensationTimeout = 10 * time.Second
	}
	if opt.PassthroughTimeout <= 0 {
		opt.PassthroughTimeout = 30 * time.Second
	}
	if opt.PassthroughMaxConcurrent <= 0 {
		opt.PassthroughMaxConcurrent = 256
	}
	if opt.Propagator == nil {
		opt.Propagator = propagation.TraceContext{}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.CatalogStaleFor <= 0 {
		opt.CatalogStaleFor = 10 * opt.CatalogTTL
	}
	opt.LongPollMax = max(0, opt.LongPollMax)
	if opt.LongPollInterval <= 0 {
		opt.LongPollInterval = time.Second
	}
	if opt.LongPollMaxWaiters <= 0 {
		opt.LongPollMaxWaiters = 10000
	}
	if opt.LongPollMaxPerKey <= 0 {
		opt.LongPollMaxPerKey = 100
	}
	if opt.After == nil {
		opt.After = time.After
	}
	tel, err := newTelemetry(opt.TracerProvider, opt.MeterProvider, cc, opt.IDMapCache, opt.Gauges, opt.Now)
	if err != nil {
		return nil, err
	}
	ptel, err := newProxyTelemetry(opt.MeterProvider)
	if err != nil {
		return nil, err
	}
	opt.Limits = opt.Limits.WithDefaults()
	def, ok := cc.Table().ByID(opt.DefaultCountry)
	if !ok {
		return nil, missingError("the default country in the country table")
	}
	verified, err := lru.New[string, verifiedKey](verifiedKeys)
	if err != nil {
		return nil, err
	}
	api = tel.nativeAPI(api)
	ids = tel.idStore(ids)
	s := &Server{
		log: log, ids: ids, cc: cc, opt: opt, defaultC: def, tel: tel, ptel: ptel, verified: verified,
		catalog: &catalog{api: api, ttl: opt.CatalogTTL, staleFor: opt.CatalogStaleFor, now: opt.Now, onLookup: tel.cacheLookup},
	}
	s.api = s.withLane(api)
	s.polls = newLongPoll(s.api, tel, opt)
	if opt.AccessLog != nil {
		s.alog = newAccessLog(opt.AccessLog)
	}
	if lane := opt.Sandbox; lane != nil {
		s.sandboxCatalog = &catalog{api: tel.sandboxAPI(lane.API), ttl: opt.CatalogTTL, staleFor: opt.CatalogStaleFor, now: opt.Now, onLookup: func(string, bool) {}}
	}
	s.legacy = s.handleLegacy()
	s.router = s.routes()
	s.handler = closeAfterTransferEncoding(http.HandlerFunc(s.route))
	return s, nil
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// route sends a request for one of the legacyPaths, as written there,
// to the legacy handler straight away (the router would send it there too,
// after a regexp match and a request copy), and every other to the router.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawPath == "" && isExactLegacyPath(r.URL.Path) {
		s.legacy.ServeHTTP(w, r)
		return
	}
	s.router.ServeHTTP(w, r)
}

func isExactLegacyPath(p string) bool {
	for _, l := range legacyPaths {
		if p == l {
			return true
		}
	}
	return false
}

// EndWaits ends every long-poll wait at once, each with its last answer,
// and from then on answers every wait at once, as without wait: call it
// when the server starts shutting down (http.Server.RegisterOnShutdown), so
// that draining does not wait out SHIM_LONG_POLL_MAX.
func (s *Server) EndWaits() { s.polls.end() }

// CatalogAnsweredAt is when the native catalog last answered; zero if it
// never has. Readiness checks use it.
func (s *Server) CatalogAnsweredAt() time.Time { return s.catalog.lastAnswer() }

// verifiedKey is when the backend last accepted an owner's key, and the
// currency of its wallet.
type verifiedKey struct {
	at       time.Time
	currency string
}

// verifiedKeys bounds the owners remembered as verified, and
// verifiedFor how long one is trusted without asking the backend again.
const (
	verifiedKeys = 10000
	verifiedFor  = 10 * time.Minute
)

type missingError string

func (e missingError) Error() string { return "shim: missing " + string(e) }
