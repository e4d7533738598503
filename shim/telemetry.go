package shim

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// instrumentation is the name of the shim's tracer and meter.
const instrumentation = "github.com/smsbulk/smsbulk-shim/shim"

// The attribute keys of the shim's spans and metrics. None of them ever
// holds an API key: the owner is a fingerprint.
const (
	attrAction      = attribute.Key("smsbulk.legacy.action")
	attrCode        = attribute.Key("smsbulk.legacy.result_code")
	attrProfile     = attribute.Key("smsbulk.legacy.profile")
	attrCountryID   = attribute.Key("smsbulk.country.id")
	attrCountryISO  = attribute.Key("smsbulk.country.iso")
	attrService     = attribute.Key("smsbulk.service")
	attrLegacyID    = attribute.Key("smsbulk.activation.legacy_id")
	attrNativeID    = attribute.Key("smsbulk.activation.native_id")
	attrOwner       = attribute.Key("smsbulk.owner")
	attrNativeCall  = attribute.Key("smsbulk.native.call")
	attrOutcome     = attribute.Key("smsbulk.outcome")
	attrCache       = attribute.Key("smsbulk.cache")
	attrCacheResult = attribute.Key("smsbulk.cache.result")
	attrIDMapOp     = attribute.Key("db.operation.name")
	// attrSandbox marks the spans of the sandbox lane's requests.
	attrSandbox = attribute.Key("smsbulk.sandbox")
	// The long-poll's: the wait in seconds (after clamping), how it ended
	// (answered, ended, bound, left, shut_down), the bound that kept a
	// waiter out (total, per_key, shutdown), and a shared poll's waiters.
	attrLongPollWait    = attribute.Key("smsbulk.longpoll.wait")
	attrLongPollOutcome = attribute.Key("smsbulk.longpoll.outcome")
	attrLongPollBound   = attribute.Key("smsbulk.longpoll.bound")
	attrLongPollWaiters = attribute.Key("smsbulk.longpoll.waiters")
	// The callback spans' and metrics' own: what happened to the
	// activation, the event and attempt, and the receiver as scheme and
	// host only (its path and query may hold the bot's secrets).
	attrCallbackEvent   = attribute.Key("smsbulk.callback.event")
	attrCallbackEventID = attribute.Key("smsbulk.callback.event_id")
	attrCallbackAttempt = attribute.Key("smsbulk.callback.attempt")
	attrCallbackTarget  = attribute.Key("smsbulk.callback.target")
)

// requestBuckets are the histogram bounds, in seconds, of legacy requests
// and native calls: from a millisecond to the longest request deadline.
var requestBuckets = metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

// telemetry holds the shim's tracer and instruments. With no providers it
// uses the no-op ones, which cost next to nothing.
type telemetry struct {
	tracer trace.Tracer
	// tracing and metered say whether a provider was given; without one,
	// the hot path skips the work whose result nobody reads.
	tracing, metered bool
	// attrSets caches the attribute sets of metric measurements by their
	// values, so that a request does not build and sort them again.
	attrSets attrSetCache

	requests metric.Int64Counter
	// sandboxRequests counts the sandbox lane's legacy requests, which
	// requests and duration leave out.
	sandboxRequests metric.Int64Counter
	duration        metric.Float64Histogram
	inFlight        metric.Int64UpDownCounter
	nativeDur       metric.Float64Histogram
	idmapDur        metric.Float64Histogram
	idmapErrors     metric.Int64Counter
	compensations   metric.Int64Counter
	// The long-poll's: waiters and activations polled for them on this
	// replica, shared polls made, and waiters kept out by a bound.
	lpWaiters     metric.Int64UpDownCounter
	lpActivations metric.Int64UpDownCounter
	lpPolls       metric.Int64Counter
	lpOver        metric.Int64Counter
	// The callbacks' counters: events appended to the outbox, delivery
	// attempts, events given up.
	cbEvents, cbAttempts, cbDead metric.Int64Counter
	// inFlightBuys is this replica's purchases journaled but not yet
	// committed or released: legacy ID -> when Reserve returned.
	inFlightBuys *pendingSet
	// caches counts the lookups of the shim's own caches by name; the map
	// is fixed at construction.
	caches map[string]*cacheStats
}

// Gauges are what the shim's gauges read at each collection, besides its
// own state.
type Gauges struct {
	// Breaker is the native client's circuit breaker
	// (*upstream.Client): smsbulk_shim.native.breaker.state. nil reports
	// no series.
	Breaker interface {
		BreakerState() upstream.BreakerState
	}
	// Pending summarises the pending rows of the ID map store, every
	// replica's (the store itself, not a cache):
	// smsbulk_shim.idmap.pending.purchases and ...oldest_age. nil reports
	// no series. It is called at each collection with the collection's
	// context, so it must be one cheap query.
	Pending func(ctx context.Context) (idmap.PendingSummary, error)
	// OutboxDue counts the callback events of the store waiting for
	// delivery, every replica's: smsbulk_shim.callback.outbox.due. nil
	// reports no series. Called at each collection: one cheap query.
	OutboxDue func(ctx context.Context) (int64, error)
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, cc *countries.Resolver, idmapCache CacheStats, g Gauges, now func() time.Time) (*telemetry, error) {
	tracing, metered := tp != nil, mp != nil
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	m := mp.Meter(instrumentation)
	t := &telemetry{tracer: tp.Tracer(instrumentation), tracing: tracing, metered: metered,
		inFlightBuys: &pendingSet{at: map[int64]time.Time{}, now: now}}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	t.requests, err = m.Int64Counter("smsbulk_shim.legacy.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Legacy requests answered, by action and legacy result code."))
	add(err)
	t.sandboxRequests, err = m.Int64Counter("smsbulk_shim.sandbox.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Legacy requests of the sandbox lane (SHIM_SANDBOX_KEY_PREFIX) answered, by action and legacy result code; smsbulk_shim.legacy.* leaves them out."))
	add(err)
	t.duration, err = m.Float64Histogram("smsbulk_shim.legacy.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of legacy requests, by action."),
		requestBuckets)
	add(err)
	t.inFlight, err = m.Int64UpDownCounter("smsbulk_shim.legacy.active_requests", metric.WithUnit("{request}"),
		metric.WithDescription("Legacy requests in flight."))
	add(err)
	t.nativeDur, err = m.Float64Histogram("smsbulk_shim.native.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of native API calls, by call and outcome."),
		requestBuckets)
	add(err)
	t.idmapDur, err = m.Float64Histogram("smsbulk_shim.idmap.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of ID map store operations, by operation and outcome."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
	add(err)
	t.idmapErrors, err = m.Int64Counter("smsbulk_shim.idmap.errors", metric.WithUnit("{error}"),
		metric.WithDescription("ID map store operations that failed (not found excluded), by operation."))
	add(err)
	t.compensations, err = m.Int64Counter("smsbulk_shim.compensations", metric.WithUnit("{purchase}"),
		metric.WithDescription("Purchases refunded because they could not be stored or answered, by outcome (ok, failed)."))
	add(err)
	t.lpWaiters, err = m.Int64UpDownCounter("smsbulk_shim.longpoll.waiters", metric.WithUnit("{request}"),
		metric.WithDescription("Long-poll getStatus and getStatusV2 requests (wait=<seconds>) waiting on this replica."))
	add(err)
	t.lpActivations, err = m.Int64UpDownCounter("smsbulk_shim.longpoll.activations", metric.WithUnit("{activation}"),
		metric.WithDescription("Activations with a shared long-poll poller on this replica: one native poll per interval each, whatever their waiters."))
	add(err)
	t.lpPolls, err = m.Int64Counter("smsbulk_shim.longpoll.polls", metric.WithUnit("{poll}"),
		metric.WithDescription("Shared long-poll polls of the native API: each answers every waiter of its activation."))
	add(err)
	t.lpOver, err = m.Int64Counter("smsbulk_shim.longpoll.over_bound", metric.WithUnit("{request}"),
		metric.WithDescription("Long-poll requests answered at once, as without wait, because a bound kept them out: total (SHIM_LONG_POLL_MAX_WAITERS), per_key (SHIM_LONG_POLL_MAX_PER_KEY) or shutdown."))
	add(err)
	t.cbEvents, err = m.Int64Counter("smsbulk_shim.callback.events", metric.WithUnit("{event}"),
		metric.WithDescription("Callback events appended to the outbox, by event (code, retry, finished, cancelled, expired, waiting)."))
	add(err)
	t.cbAttempts, err = m.Int64Counter("smsbulk_shim.callback.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Callback delivery attempts, by outcome (delivered: a 2xx answer; failed: anything else)."))
	add(err)
	t.cbDead, err = m.Int64Counter("smsbulk_shim.callback.dead", metric.WithUnit("{event}"),
		metric.WithDescription("Callback events given up after SHIM_CALLBACK_RETRY_FOR of failed attempts."))
	add(err)
	// One counter for every cache. The country resolver and the ID map
	// cache count their own lookups, so they are read at collection time.
	t.caches = map[string]*cacheStats{"services": {}, "catalog_countries": {}, "catalog_offers": {}}
	_, err = m.Int64ObservableCounter("smsbulk_shim.cache.lookups", metric.WithUnit("{lookup}"),
		metric.WithDescription("Cache lookups by cache (countries, services, catalog_countries, catalog_offers, idmap) and result (hit, miss)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			observe := func(cache string, hits, misses int64) {
				o.Observe(hits, metric.WithAttributes(attrCache.String(cache), attrCacheResult.String("hit")))
				o.Observe(misses, metric.WithAttributes(attrCache.String(cache), attrCacheResult.String("miss")))
			}
			for name, c := range t.caches {
				observe(name, c.hits.Load(), c.misses.Load())
			}
			if cc != nil {
				hits, misses := cc.Stats()
				observe("countries", int64(hits), int64(misses))
			}
			if idmapCache != nil {
				hits, misses := idmapCache.Stats()
				observe("idmap", int64(hits), int64(misses))
			}
			return nil
		}))
	add(err)
	add(t.gauges(m, g, now))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.zeroCounters()
	return t, nil
}

// zeroCounters adds 0 to every series an alert counts with increase() or
// rate(), so that each exists from the start and the first event is a rise
// from 0 rather than a new series that increase() cannot see.
func (t *telemetry) zeroCounters() {
	ctx := context.Background()
	for _, outcome := range []string{"ok", "failed"} {
		t.compensations.Add(ctx, 0, metric.WithAttributes(attrOutcome.String(outcome)))
	}
	for _, outcome := range []string{"delivered", "failed"} {
		t.cbAttempts.Add(ctx, 0, metric.WithAttributes(attrOutcome.String(outcome)))
	}
	for _, ev := range []string{"code", "retry", "finished", "cancelled", "expired"} {
		t.cbEvents.Add(ctx, 0, metric.WithAttributes(attrCallbackEvent.String(ev)))
	}
	t.cbDead.Add(ctx, 0)
	for _, op := range idmapOps {
		t.idmapErrors.Add(ctx, 0, metric.WithAttributes(attrIDMapOp.String(op)))
	}
	t.lpPolls.Add(ctx, 0)
	for _, b := range []string{boundTotal, boundPerKey, boundShutdown} {
		t.lpOver.Add(ctx, 0, metric.WithAttributes(attrLongPollBound.String(b)))
	}
	for _, a := range translate.Actions() {
		t.requests.Add(ctx, 0, metric.WithAttributes(attrAction.String(string(a)), attrCode.String(string(translate.ErrorSQL))))
	}
}

// idmapOps are the operations tracedStore measures.
var idmapOps = []string{"reserve", "reserve_request", "commit", "release", "lookup", "legacy_ids", "stale"}

// gauges registers the state gauges: the breaker, this replica's
// purchases in flight, and the store's pending purchases.
func (t *telemetry) gauges(m metric.Meter, g Gauges, now func() time.Time) error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	if g.Breaker != nil {
		_, err := m.Int64ObservableGauge("smsbulk_shim.native.breaker.state",
			metric.WithDescription("State of the native client's circuit breaker: 0 closed (calls flow), 1 open (calls refused, ERROR_SQL at once), 2 half-open (the next call tests the backend)."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(breakerGauge(g.Breaker.BreakerState()))
				return nil
			}))
		add(err)
	}
	inFlight, err := m.Int64ObservableGauge("smsbulk_shim.purchases.in_flight", metric.WithUnit("{purchase}"),
		metric.WithDescription("This replica's purchases journaled and not yet committed or released."))
	add(err)
	inFlightAge, err := m.Float64ObservableGauge("smsbulk_shim.purchases.in_flight.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("Age of this replica's oldest purchase in flight; 0 when there is none."))
	add(err)
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n, oldest := t.inFlightBuys.summary()
		o.ObserveInt64(inFlight, n)
		o.ObserveFloat64(inFlightAge, ageSeconds(now(), oldest))
		return nil
	}, inFlight, inFlightAge)
	add(err)
	if g.Pending != nil {
		pending, err := m.Int64ObservableGauge("smsbulk_shim.idmap.pending.purchases", metric.WithUnit("{purchase}"),
			metric.WithDescription("Purchases journaled in the ID map store and not settled, by every replica sharing it: the money at risk."))
		add(err)
		pendingAge, err := m.Float64ObservableGauge("smsbulk_shim.idmap.pending.oldest_age", metric.WithUnit("s"),
			metric.WithDescription("Age of the oldest pending purchase in the ID map store; 0 when there is none. Above SHIM_RECONCILE_AFTER plus a few SHIM_RECONCILE_EVERY, the reconciler is not keeping up."))
		add(err)
		_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
			p, err := g.Pending(ctx)
			if err != nil {
				// No sample this time: the series has a gap while the
				// store does not answer, which /readyz reports. An error
				// returned here would go to the process-wide OpenTelemetry
				// error handler at every scrape.
				return nil
			}
			o.ObserveInt64(pending, p.Count)
			o.ObserveFloat64(pendingAge, ageSeconds(now(), p.Oldest))
			return nil
		}, pending, pendingAge)
		add(err)
	}
	if g.OutboxDue != nil {
		_, err := m.Int64ObservableGauge("smsbulk_shim.callback.outbox.due", metric.WithUnit("{event}"),
			metric.WithDescription("Callback events in the ID map store waiting for delivery, by every replica sharing it."),
			metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
				if n, err := g.OutboxDue(ctx); err == nil {
					o.Observe(n)
				}
				return nil // a gap while the store does not answer, as for Pending
			}))
		add(err)
	}
	return errors.Join(errs...)
}

// breakerGauge is the value of smsbulk_shim.native.breaker.state.
func breakerGauge(s upstream.BreakerState) int64 {
	switch s {
	case upstream.BreakerOpen:
		return 1
	case upstream.BreakerHalfOpen:
		return 2
	}
	return 0
}

// ageSeconds is how long ago at was, or 0 for the zero time.
func ageSeconds(now, at time.Time) float64 {
	if at.IsZero() {
		return 0
	}
	return max(0, now.Sub(at).Seconds())
}

// pendingSet is the legacy IDs this replica reserved and has not yet
// committed or released, with when each was reserved.
type pendingSet struct {
	mu  sync.Mutex
	at  map[int64]time.Time
	now func() time.Time
}

func (p *pendingSet) add(id int64) {
	p.mu.Lock()
	p.at[id] = p.now()
	p.mu.Unlock()
}

func (p *pendingSet) remove(id int64) {
	p.mu.Lock()
	delete(p.at, id)
	p.mu.Unlock()
}

// summary is the count and the oldest reservation time (zero if none).
func (p *pendingSet) summary() (int64, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var oldest time.Time
	for _, at := range p.at {
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	return int64(len(p.at)), oldest
}

// CacheStats is a cache that counts its own lookups, such as
// *idmap.Cached: Stats returns the hits and misses so far. It is read at
// every metric collection, so it must be cheap and safe for concurrent use.
type CacheStats interface {
	Stats() (hits, misses uint64)
}

// cacheStats counts the lookups of one cache.
type cacheStats struct{ hits, misses atomic.Int64 }

// cacheLookup counts one lookup of a cache named in t.caches.
func (t *telemetry) cacheLookup(cache string, hit bool) {
	c := t.caches[cache]
	switch {
	case c == nil:
	case hit:
		c.hits.Add(1)
	default:
		c.misses.Add(1)
	}
}

func (t *telemetry) compensation(ctx context.Context, ok bool) {
	outcome := "ok"
	if !ok {
		outcome = "failed"
	}
	t.compensations.Add(ctx, 1, metric.WithAttributes(attrOutcome.String(outcome)))
}

// longPollWaiters counts waiters joining (+1) and leaving (-1).
func (t *telemetry) longPollWaiters(ctx context.Context, n int64) {
	if t.metered {
		t.lpWaiters.Add(ctx, n)
	}
}

// longPollActivations counts pollers starting (+1) and ending (-1).
func (t *telemetry) longPollActivations(ctx context.Context, n int64) {
	if t.metered {
		t.lpActivations.Add(ctx, n)
	}
}

// longPollPoll counts one shared poll.
func (t *telemetry) longPollPoll(ctx context.Context) {
	if t.metered {
		t.lpPolls.Add(ctx, 1)
	}
}

// longPollOver counts a waiter kept out by bound.
func (t *telemetry) longPollOver(ctx context.Context, bound string) {
	if t.metered {
		t.lpOver.Add(ctx, 1, t.attrSets.get(attrLongPollBound, bound, "", ""))
	}
}

// callbackEvent, callbackAttempt and callbackDead count the callbacks'
// events, delivery attempts and events given up, as the other counters
// do: nothing without a meter provider, attribute sets built once.
func (t *telemetry) callbackEvent(ctx context.Context, event string) {
	if t.metered {
		t.cbEvents.Add(ctx, 1, t.attrSets.get(attrCallbackEvent, event, "", ""))
	}
}

func (t *telemetry) callbackAttempt(ctx context.Context, outcome string) {
	if t.metered {
		t.cbAttempts.Add(ctx, 1, t.attrSets.get(attrOutcome, outcome, "", ""))
	}
}

func (t *telemetry) callbackDead(ctx context.Context) {
	if t.metered {
		t.cbDead.Add(ctx, 1)
	}
}

// outcome names how a call ended, for metrics: ok, the native error code,
// or transport.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var api *upstream.APIError
	if errors.As(err, &api) {
		if api.Code != "" {
			return api.Code
		}
		return "http_error"
	}
	if errors.Is(err, idmap.ErrNotFound) {
		return "not_found"
	}
	if errors.Is(err, idmap.ErrNotPending) {
		return "not_pending"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "error"
}

// native wraps one native call in a span and a measurement.
func native[T any](a tracedAPI, ctx context.Context, call string, f func(context.Context) (T, error)) (T, error) {
	t := a.t
	var span trace.Span = tracenoop.Span{}
	if t.tracing {
		ctx, span = t.tracer.Start(ctx, "native "+call, trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(attrNativeCall.String(call)))
		if a.sandbox {
			span.SetAttributes(attrSandbox.Bool(true))
		}
	}
	countNativeCall(ctx)
	start := time.Now()
	v, err := f(ctx)
	out := outcome(err)
	if t.metered && !a.sandbox {
		t.nativeDur.Record(ctx, time.Since(start).Seconds(), t.attrSets.get(attrNativeCall, call, attrOutcome, out))
	}
	if !span.IsRecording() {
		return v, err
	}
	span.SetAttributes(attrOutcome.String(out))
	if err != nil && ctx.Err() == nil {
		var api *upstream.APIError
		if !errors.As(err, &api) || api.Status >= 500 {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
	return v, err
}

// tracedAPI measures every native call. The sandbox lane's calls get
// spans, marked sandbox, and no native call metrics: those are the
// backend's.
type tracedAPI struct {
	NativeAPI
	t       *telemetry
	sandbox bool
}

func (t *telemetry) nativeAPI(api NativeAPI) NativeAPI { return tracedAPI{api, t, false} }

func (t *telemetry) sandboxAPI(api NativeAPI) NativeAPI { return tracedAPI{api, t, true} }

func (a tracedAPI) Balance(ctx context.Context, key string) (upstream.Balance, error) {
	return native(a, ctx, "balance", func(ctx context.Context) (upstream.Balance, error) { return a.NativeAPI.Balance(ctx, key) })
}

func (a tracedAPI) Buy(ctx context.Context, key string, req upstream.BuyRequest, idem string) (upstream.Activation, error) {
	return native(a, ctx, "buy", func(ctx context.Context) (upstream.Activation, error) { return a.NativeAPI.Buy(ctx, key, req, idem) })
}

func (a tracedAPI) Activation(ctx context.Context, key, id string) (upstream.Activation, error) {
	return native(a, ctx, "get", func(ctx context.Context) (upstream.Activation, error) { return a.NativeAPI.Activation(ctx, key, id) })
}

func (a tracedAPI) Ready(ctx context.Context, key, id string) (upstream.Activation, error) {
	return native(a, ctx, "ready", func(ctx context.Context) (upstream.Activation, error) { return a.NativeAPI.Ready(ctx, key, id) })
}

func (a tracedAPI) Retry(ctx context.Context, key, id string) (upstream.Activation, error) {
	return native(a, ctx, "retry", func(ctx context.Context) (upstream.Activation, error) { return a.NativeAPI.Retry(ctx, key, id) })
}

func (a tracedAPI) Complete(ctx context.Context, key, id string) (upstream.Activation, error) {
	return native(a, ctx, "complete", func(ctx context.Context) (upstream.Activation, error) { return a.NativeAPI.Complete(ctx, key, id) })
}

func (a tracedAPI) Cancel(ctx context.Context, key, id string) (upstream.Activation, error) {
	return native(a, ctx, "cancel", func(ctx context.Context) (upstream.Activation, error) { return a.NativeAPI.Cancel(ctx, key, id) })
}

func (a tracedAPI) Countries(ctx context.Context, key string) ([]upstream.Country, error) {
	return native(a, ctx, "countries", func(ctx context.Context) ([]upstream.Country, error) { return a.NativeAPI.Countries(ctx, key) })
}

func (a tracedAPI) Services(ctx context.Context, key string) ([]upstream.Service, error) {
	return native(a, ctx, "services", func(ctx context.Context) ([]upstream.Service, error) { return a.NativeAPI.Services(ctx, key) })
}

func (a tracedAPI) Offers(ctx context.Context, key string, f upstream.OfferFilter) ([]upstream.Offer, error) {
	return native(a, ctx, "offers", func(ctx context.Context) ([]upstream.Offer, error) { return a.NativeAPI.Offers(ctx, key, f) })
}

func (a tracedAPI) ListActive(ctx context.Context, key, cursor string, limit int) (upstream.ActivationList, error) {
	return native(a, ctx, "list_active", func(ctx context.Context) (upstream.ActivationList, error) {
		return a.NativeAPI.ListActive(ctx, key, cursor, limit)
	})
}

// store wraps one ID map operation in a client span and a measurement. An
// operation outside any trace (the reconciler's poll for stale rows every
// few seconds) is measured but gets no span: a root span of its own would
// flood the traces.
func store[T any](t *telemetry, ctx context.Context, op string, f func(context.Context) (T, error)) (T, error) {
	var span trace.Span = tracenoop.Span{}
	if t.tracing && trace.SpanContextFromContext(ctx).IsValid() {
		ctx, span = t.tracer.Start(ctx, "idmap "+op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attrIDMapOp.String(op)))
	}
	start := time.Now()
	v, err := f(ctx)
	out := outcome(err)
	if t.metered {
		t.idmapDur.Record(ctx, time.Since(start).Seconds(), t.attrSets.get(attrIDMapOp, op, attrOutcome, out))
	}
	if err != nil && !errors.Is(err, idmap.ErrNotFound) {
		t.idmapErrors.Add(ctx, 1, metric.WithAttributes(attrIDMapOp.String(op)))
		span.SetStatus(codes.Error, err.Error())
	}
	if span.IsRecording() {
		span.SetAttributes(attrOutcome.String(out))
	}
	span.End()
	return v, err
}

// tracedStore measures every ID map operation.
type tracedStore struct {
	IDStore
	t *telemetry
}

func (t *telemetry) idStore(ids IDStore) IDStore { return tracedStore{ids, t} }

// Reserve, Commit and Release also keep the set of this replica's
// purchases in flight: a purchase leaves it at its Commit or Release,
// whatever their outcome (a row they fail to settle stays pending in the
// store, and the store's gauge counts it).
func (s tracedStore) Reserve(ctx context.Context, r idmap.Reservation) (int64, error) {
	id, err := store(s.t, ctx, "reserve", func(ctx context.Context) (int64, error) { return s.IDStore.Reserve(ctx, r) })
	if err == nil {
		s.t.inFlightBuys.add(id)
	}
	return id, err
}

// ReserveRequest adds the row to the purchases in flight when this call
// reserved it or took it over: this replica now settles it.
func (s tracedStore) ReserveRequest(ctx context.Context, r idmap.Reservation, k idmap.RequestKey) (idmap.Claim, error) {
	c, err := store(s.t, ctx, "reserve_request", func(ctx context.Context) (idmap.Claim, error) { return s.IDStore.ReserveRequest(ctx, r, k) })
	if err == nil && (c.Kind == idmap.ClaimNew || c.Kind == idmap.ClaimTaken) {
		s.t.inFlightBuys.add(c.LegacyID)
	}
	return c, err
}

func (s tracedStore) Commit(ctx context.Context, id int64, nativeID string) error {
	defer s.t.inFlightBuys.remove(id)
	_, err := store(s.t, ctx, "commit", func(ctx context.Context) (struct{}, error) { return struct{}{}, s.IDStore.Commit(ctx, id, nativeID) })
	return err
}

func (s tracedStore) Release(ctx context.Context, id int64) error {
	defer s.t.inFlightBuys.remove(id)
	_, err := store(s.t, ctx, "release", func(ctx context.Context) (struct{}, error) { return struct{}{}, s.IDStore.Release(ctx, id) })
	return err
}

func (s tracedStore) Lookup(ctx context.Context, owner string, id int64) (string, error) {
	return store(s.t, ctx, "lookup", func(ctx context.Context) (string, error) { return s.IDStore.Lookup(ctx, owner, id) })
}

func (s tracedStore) LegacyIDs(ctx context.Context, owner string, nativeIDs []string) (map[string]int64, error) {
	return store(s.t, ctx, "legacy_ids", func(ctx context.Context) (map[string]int64, error) { return s.IDStore.LegacyIDs(ctx, owner, nativeIDs) })
}

func (s tracedStore) Stale(ctx context.Context, before time.Time, lease time.Duration, limit int) ([]idmap.Pending, error) {
	return store(s.t, ctx, "stale", func(ctx context.Context) ([]idmap.Pending, error) { return s.IDStore.Stale(ctx, before, lease, limit) })
}

// resultCode is the legacy result code of an answer body: the text before
// the first colon of a text answer ("ACCESS_NUMBER"), or "JSON" for the
// JSON answers.
func resultCode(body []byte) string {
	if len(body) > 0 && (body[0] == '{' || body[0] == '[') {
		return "JSON"
	}
	head := body
	for i, c := range body {
		if c == ':' {
			head = body[:i]
			break
		}
	}
	if c, ok := knownCodes[string(head)]; ok {
		return c
	}
	return string(head)
}

// knownCodes interns the result codes of the commonest answers, so that
// naming one allocates nothing.
var knownCodes = func() map[string]string {
	m := map[string]string{}
	for _, c := range []string{"STATUS_WAIT_CODE", "STATUS_WAIT_RETRY", "STATUS_OK", "STATUS_CANCEL",
		"ACCESS_NUMBER", "ACCESS_BALANCE", "ACCESS_READY", "ACCESS_RETRY_GET", "ACCESS_ACTIVATION", "ACCESS_CANCEL",
		"BAD_KEY", "BAD_ACTION", "BAD_SERVICE", "BAD_COUNTRY", "BAD_STATUS", "WRONG_ACTION", "NO_BALANCE",
		"NO_NUMBERS", "NO_ACTIVATION", "ERROR_SQL"} {
		m[c] = c
	}
	return m
}()

// failed reports whether a code is an ERROR_SQL-class outcome, which marks
// the request's span as an error.
func failed(code string) bool { return code == string(translate.ErrorSQL) }

// statusText is the span status description of a failed legacy request: the
// legacy code, then the error's cause chain when there is one (error texts
// never hold the API key: upstream scrubs it, and nothing else has it).
func statusText(code string, err error) string {
	if err == nil {
		return code
	}
	return code + ": " + err.Error()
}
