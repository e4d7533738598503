package shim_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/smsbulk/smsbulk-shim/callback"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

const (
	laneRealKey = "real-key-0001"
	laneKey     = "sandbox_dev-alice"
)

// keyRecorder serves h and remembers the API key of every request it saw,
// as the native API reads it.
type keyRecorder struct {
	h    http.Handler
	mu   sync.Mutex
	keys []string
}

func (k *keyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-Api-Key")
	if a := r.Header.Get("Authorization"); key == "" && len(a) > 7 {
		key = a[7:]
	}
	k.mu.Lock()
	k.keys = append(k.keys, key)
	k.mu.Unlock()
	k.h.ServeHTTP(w, r)
}

// seen returns how many requests came with key, and in all.
func (k *keyRecorder) seen(key string) (withKey, all int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, got := range k.keys {
		if strings.HasPrefix(got, key) {
			withKey++
		}
	}
	return withKey, len(k.keys)
}

// laneEnv is a shim whose backend is one sandbox (standing for the real
// backend, its every request recorded) and whose sandbox lane is another.
type laneEnv struct {
	r       *rig
	real    *sandbox.Sandbox
	lane    *sandbox.Sandbox
	seen    *keyRecorder
	url     string
	spans   *tracetest.SpanRecorder
	metrics *sdkmetric.ManualReader
	logs    *logBuffer
}

func newLaneEnv(t *testing.T, laneOpts upstream.Options, opts ...func(*shim.Options)) *laneEnv {
	t.Helper()
	e := &laneEnv{spans: tracetest.NewSpanRecorder(), metrics: sdkmetric.NewManualReader(), logs: &logBuffer{}}
	var err error
	if e.real, err = sandbox.New(sandbox.Config{Keys: map[string]string{laneRealKey: "100.00"}, SMSDelay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if e.lane, err = sandbox.New(sandbox.Config{OpenPrefix: "sandbox_", SMSDelay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	laneSrv := httptest.NewServer(e.lane)
	t.Cleanup(laneSrv.Close)
	// Long deadlines: under -race on a loaded machine the catalogs decode
	// slowly, and only the backends' answers may decide the outcomes.
	long := func(o *upstream.Options) {
		if o.Timeout == 0 {
			o.Timeout, o.BuyTimeout = 2*time.Minute, 2*time.Minute
		}
	}
	long(&laneOpts)
	laneAPI, err := upstream.New(laneSrv.URL+"/api/v1", laneOpts)
	if err != nil {
		t.Fatal(err)
	}
	laneOrigin, _ := url.Parse(laneSrv.URL)
	e.seen = &keyRecorder{h: e.real}
	opt := shim.Options{
		Sandbox:        &shim.SandboxLane{Prefix: "sandbox_", API: laneAPI, Origin: laneOrigin},
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.metrics)),
		RequestTimeout: 3 * time.Minute,
	}
	for _, f := range opts {
		f(&opt)
	}
	var realOpts upstream.Options
	long(&realOpts)
	e.r = newRig(t, rigOptions{backend: e.seen, origin: true, log: e.logs, shim: opt, upstream: realOpts})
	e.url = e.r.listen(t)
	return e
}

func (e *laneEnv) get(t *testing.T, key, query string) string {
	t.Helper()
	resp, err := http.Get(e.url + "/stubs/handler_api.php?api_key=" + url.QueryEscape(key) + "&" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// walk runs every kind of action a bot uses with key, and returns the
// legacy ID of the number it bought.
func (e *laneEnv) walk(t *testing.T, key string) string {
	t.Helper()
	if got := e.get(t, key, "action=getBalance"); got != "ACCESS_BALANCE:100.00" {
		t.Fatalf("getBalance = %q", got)
	}
	got := e.get(t, key, "action=getNumber&service=wa&country=62")
	parts := strings.Split(got, ":")
	if len(parts) != 3 || parts[0] != "ACCESS_NUMBER" {
		t.Fatalf("getNumber = %q", got)
	}
	id := parts[1]
	if got := e.get(t, key, "action=getStatus&id="+id); got != "STATUS_WAIT_CODE" {
		t.Errorf("getStatus = %q", got)
	}
	for _, q := range []string{"action=getPrices&service=wa&country=62", "action=getCountries", "action=getNumbersStatus&country=62",
		"action=getActiveActivations", "action=getStatusV2&id=" + id, "action=getNumberV2&service=tg&country=12"} {
		if got := e.get(t, key, q); strings.HasPrefix(got, "BAD_") || strings.HasPrefix(got, "ERROR") || strings.HasPrefix(got, "NO_") {
			t.Errorf("%s = %q", q, got)
		}
	}
	if got := e.get(t, key, "action=setStatus&status=8&id="+id); got != "ACCESS_CANCEL" {
		t.Errorf("setStatus 8 = %q", got)
	}
	req, _ := http.NewRequest(http.MethodGet, e.url+"/api/v1/wallet/balance", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"currency":"USD"`) {
		t.Errorf("pass-through balance: %d %s", resp.StatusCode, b)
	}
	return id
}

// TestSandboxLane: every request of a key with the lane's prefix, legacy
// or pass-through, is served by the lane's sandbox: the real backend sees
// no call from such a key, while the same walk with a real key reaches
// it. The lane's requests are labelled sandbox in the access lines and
// spans and counted in smsbulk_shim.sandbox.requests, not in
// smsbulk_shim.legacy.requests.
func TestSandboxLane(t *testing.T) {
	t.Parallel()
	e := newLaneEnv(t, upstream.Options{})
	e.walk(t, laneKey)
	if n, all := e.seen.seen("sandbox_"); n != 0 || all != 0 {
		t.Errorf("the real backend saw %d requests from the lane's key (%d in all), want none", n, all)
	}
	l := e.lane.Ledger()
	if len(l.Purchases(laneKey)) != 2 || len(l.Refunds(laneKey)) != 1 {
		t.Errorf("lane ledger: %d purchases, %d refunds; want 2, 1", len(l.Purchases(laneKey)), len(l.Refunds(laneKey)))
	}
	if err := l.Check(sandbox.DefaultKeys()); err != nil {
		t.Errorf("lane ledger: %v", err)
	}
	if len(e.real.Ledger().Entries) != 0 {
		t.Errorf("the real backend's ledger has %d entries", len(e.real.Ledger().Entries))
	}

	e.walk(t, laneRealKey)
	if n, all := e.seen.seen(laneRealKey); n == 0 || n != all {
		t.Errorf("the real backend saw %d requests with the real key of %d, want all and some", n, all)
	}
	if n, _ := e.seen.seen("sandbox_"); n != 0 {
		t.Errorf("the real backend saw %d requests from the lane's key", n)
	}
	if got := len(e.real.Ledger().Purchases(laneRealKey)); got != 2 {
		t.Errorf("real ledger: %d purchases, want 2", got)
	}

	var lane, real int
	for _, rec := range e.logs.records(t) {
		switch rec["msg"] {
		case "legacy request", "pass-through request":
		default:
			continue
		}
		if rec["sandbox"] == true {
			lane++
		} else {
			real++
		}
	}
	if lane != 11 || real != 11 {
		t.Errorf("access lines: %d labelled sandbox, %d not; want 11 and 11 (10 legacy, 1 pass-through each)", lane, real)
	}
	var laneSpans, realSpans int
	for _, s := range e.spans.Ended() {
		sandboxed := false
		for _, a := range s.Attributes() {
			if a.Key == "smsbulk.sandbox" && a.Value.AsBool() {
				sandboxed = true
			}
		}
		if s.Name() == "getNumber" || s.Name() == "native buy" {
			if sandboxed {
				laneSpans++
			} else {
				realSpans++
			}
		}
	}
	if laneSpans != 3 || realSpans != 3 {
		t.Errorf("getNumber and native buy spans: %d marked sandbox, %d not; want 3 and 3", laneSpans, realSpans)
	}
	var rm metricdata.ResourceMetrics
	if err := e.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, p := range sum.DataPoints {
					counts[m.Name] += p.Value
				}
			}
		}
	}
	if counts["smsbulk_shim.sandbox.requests"] != 11 || counts["smsbulk_shim.legacy.requests"] != 10 {
		t.Errorf("sandbox.requests %d (want 11: 10 legacy, 1 pass-through), legacy.requests %d (want 10)",
			counts["smsbulk_shim.sandbox.requests"], counts["smsbulk_shim.legacy.requests"])
	}
}

// TestSandboxLaneReconciles: a lane purchase whose answer was lost is
// replayed and refunded by the Reconciler on the lane's sandbox, even with
// a reconciler API of its own, and the real backend never sees the key.
func TestSandboxLaneReconciles(t *testing.T) {
	t.Parallel()
	tr := upstream.NewTransport()
	tr.DisableKeepAlives = true
	e := newLaneEnv(t, upstream.Options{Transport: tr, Retries: -1, BreakerThreshold: -1})
	e.lane.InjectFault(sandbox.RouteBuy, "reset-after-commit", 1)
	if got := e.get(t, laneKey, "action=getNumber&service=wa&country=62"); got != "ERROR_SQL" {
		t.Fatalf("getNumber with its answer lost = %q, want ERROR_SQL", got)
	}
	if got := len(e.lane.Ledger().Purchases(laneKey)); got != 1 {
		t.Fatalf("%d lane purchases, want 1", got)
	}
	own, err := upstream.New(e.r.baseURL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rc := e.r.srv.NewReconciler(shim.ReconcileOptions{After: time.Nanosecond, API: own})
	n, err := rc.Round(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Round = %d, %v; want 1 row settled", n, err)
	}
	if got := len(e.lane.Ledger().Refunds(laneKey)); got != 1 {
		t.Errorf("%d lane refunds, want 1", got)
	}
	if n, all := e.seen.seen("sandbox_"); n != 0 || all != 0 {
		t.Errorf("the real backend saw %d requests (%d from the lane's key)", all, n)
	}
}

// TestSandboxLaneCallbacks: the watcher of a lane purchase's callback
// polls the lane's sandbox, even with a watcher API of its own, and
// delivers its events; the real backend never sees the key.
func TestSandboxLaneCallbacks(t *testing.T) {
	t.Parallel()
	e := newLaneEnv(t, upstream.Options{}, func(o *shim.Options) { o.CallbackAllowPrivate = true })
	h := newHooks(t, 0)
	got := e.get(t, laneKey, "action=getNumber&service=wa&country=62&callback="+url.QueryEscape(h.srv.URL+"/hook"))
	id, ok := parseNumberIDShim(got)
	if !ok {
		t.Fatalf("getNumber with a callback = %q", got)
	}
	if got := e.get(t, laneKey, "action=setStatus&status=8&id="+strconv.FormatInt(id, 10)); got != "ACCESS_CANCEL" {
		t.Fatalf("setStatus 8 = %q", got)
	}
	own, err := upstream.New(e.r.baseURL, upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cbs := e.r.srv.NewCallbacks(shim.CallbackOptions{API: own, PollEvery: time.Millisecond,
		Poster: callback.New(callback.Options{AllowPrivate: true, Timeout: 10 * time.Second})})
	ctx := t.Context()
	until(t, "the cancelled event", func() { _, _ = cbs.WatchRound(ctx); _, _ = cbs.DeliverRound(ctx) }, func() bool { return h.count() > 0 })
	h.mu.Lock()
	body := string(h.calls[0].body)
	ok = callback.Verify(h.calls[0].body, laneKey, h.calls[0].signature)
	h.mu.Unlock()
	if !strings.Contains(body, `"cancelled"`) || !ok {
		t.Errorf("event %s (signature verifies with the lane key: %v)", body, ok)
	}
	if n, all := e.seen.seen("sandbox_"); n != 0 || all != 0 {
		t.Errorf("the real backend saw %d requests (%d from the lane's key)", all, n)
	}
}
