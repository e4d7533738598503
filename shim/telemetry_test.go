package shim_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// telKey is the bot's API key. It must appear in no span, metric or log.
const telKey = "tel-SECRET-key-6b1d93f0a2c8"

// telEnv is a shim in front of a sandbox, with in-memory span and metric
// exporters and a JSON log buffer.
type telEnv struct {
	url     string
	srv     *shim.Server
	sb      *sandbox.Sandbox
	store   idmap.Store
	keys    *shim.Keys
	spans   *tracetest.SpanRecorder
	metrics *sdkmetric.ManualReader
	logs    *logBuffer
	// sent counts the legacy requests made, by "action code".
	sent map[string]int64
}

func newTelEnv(tb testing.TB, origin bool) *telEnv {
	tb.Helper()
	spans := tracetest.NewSpanRecorder()
	metrics := sdkmetric.NewManualReader()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics))
	logs := &logBuffer{}
	// newRig opens the store and then calls wrapStore, before it makes the
	// server, so the cache exists before the first metric collection.
	var cache *idmap.Cached
	r := newRig(tb, rigOptions{
		sandbox: sandbox.Config{Keys: map[string]string{telKey: "100.00"}, SMSDelay: time.Hour, TTL: 2 * time.Hour},
		upstream: upstream.Options{
			Retries: -1,
			WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
				return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp))
			},
		},
		wrapStore: func(s idmap.Store) shim.IDStore { cache = idmap.NewCache(s, 100); return cache },
		secret:    "telemetry-test-secret-0123456789",
		shim: shim.Options{TracerProvider: tp, MeterProvider: mp,
			IDMapCache: statsFunc(func() (uint64, uint64) { return cache.Stats() })},
		origin: origin,
		log:    logs,
	})
	return &telEnv{url: r.listen(tb), srv: r.srv, sb: r.sb, store: r.store, keys: r.keys,
		spans: spans, metrics: metrics, logs: logs, sent: map[string]int64{}}
}

// statsFunc is a shim.CacheStats made of a function.
type statsFunc func() (hits, misses uint64)

func (f statsFunc) Stats() (hits, misses uint64) { return f() }

// call sends one legacy request with a sampled W3C traceparent of a new
// trace and returns the body and the span context it sent.
func (e *telEnv) call(tb testing.TB, params url.Values) (string, trace.SpanContext) {
	tb.Helper()
	var tid trace.TraceID
	var sid trace.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodGet, e.url+"/stubs/handler_api.php?"+params.Encode(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("traceparent", fmt.Sprintf("00-%s-%s-01", tid, sid))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	body := string(b)
	e.sent[params.Get("action")+" "+bodyCode(body)]++
	return body, parent
}

// bodyCode is the legacy result code an answer starts with; JSON answers
// are "JSON".
func bodyCode(body string) string {
	if strings.HasPrefix(body, "{") || strings.HasPrefix(body, "[") {
		return "JSON"
	}
	code, _, _ := strings.Cut(body, ":")
	return code
}

// trace waits for the server span of the trace tid to end and returns it
// with the spans under it (children and deeper), in start order.
func (e *telEnv) trace(tb testing.TB, tid trace.TraceID) (sdktrace.ReadOnlySpan, []sdktrace.ReadOnlySpan) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var server sdktrace.ReadOnlySpan
		var rest []sdktrace.ReadOnlySpan
		for _, s := range e.spans.Ended() {
			if s.SpanContext().TraceID() != tid {
				continue
			}
			if s.SpanKind() == trace.SpanKindServer {
				server = s
			} else {
				rest = append(rest, s)
			}
		}
		if server != nil {
			slices.SortFunc(rest, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
			return server, rest
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no server span of trace %s ended within 10s", tid)
		}
		time.Sleep(time.Millisecond)
	}
}

// points sums a counter's values, or a histogram's counts, by the values of
// keys joined with spaces.
func (e *telEnv) points(tb testing.TB, name string, keys ...attribute.Key) map[string]int64 {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.metrics.Collect(context.Background(), &rm); err != nil {
		tb.Fatal(err)
	}
	got := map[string]int64{}
	label := func(set attribute.Set) string {
		vals := make([]string, len(keys))
		for i, k := range keys {
			v, _ := set.Value(k)
			vals[i] = v.Emit()
		}
		return strings.Join(vals, " ")
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					got[label(dp.Attributes)] += dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					got[label(dp.Attributes)] += int64(dp.Count)
				}
			default:
				tb.Fatalf("metric %s has data %T", name, m.Data)
			}
		}
	}
	return got
}

// noSecret fails if the API key is in any span, metric or log line.
func (e *telEnv) noSecret(tb testing.TB) {
	tb.Helper()
	has := func(s string) bool { return strings.Contains(s, telKey) }
	attrsHave := func(kvs []attribute.KeyValue) bool {
		for _, kv := range kvs {
			if has(string(kv.Key)) || has(kv.Value.Emit()) {
				return true
			}
		}
		return false
	}
	for _, s := range e.spans.Ended() {
		leak := has(s.Name()) || has(s.Status().Description) || attrsHave(s.Attributes())
		for _, ev := range s.Events() {
			leak = leak || has(ev.Name) || attrsHave(ev.Attributes)
		}
		if leak {
			tb.Errorf("span %q holds the API key: %v %v", s.Name(), s.Attributes(), s.Status())
		}
	}
	var rm metricdata.ResourceMetrics
	if err := e.metrics.Collect(context.Background(), &rm); err != nil {
		tb.Fatal(err)
	}
	if b, err := json.Marshal(rm); err != nil {
		tb.Fatal(err)
	} else if has(string(b)) {
		tb.Errorf("metrics hold the API key: %s", b)
	}
	if has(e.logs.String()) {
		tb.Errorf("logs hold the API key:\n%s", e.logs)
	}
}

func attrMap(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// getNumber buys a tg number in Russia and returns its legacy ID.
func (e *telEnv) getNumber(tb testing.TB) string {
	tb.Helper()
	body, _ := e.call(tb, url.Values{"api_key": {telKey}, "action": {"getNumber"}, "service": {"tg"}, "country": {"0"}})
	parts := strings.Split(body, ":")
	if len(parts) != 3 || parts[0] != "ACCESS_NUMBER" {
		tb.Fatalf("getNumber = %q", body)
	}
	return parts[1]
}

// TestTelemetryActions checks, for each action, the span tree under the
// server span, its attributes, the metrics and the access log line.
func TestTelemetryActions(t *testing.T) {
	t.Parallel()
	num := func(id string) attribute.Value {
		n, _ := strconv.ParseInt(id, 10, 64)
		return attribute.Int64Value(n)
	}
	ru := map[attribute.Key]attribute.Value{"smsbulk.country.id": attribute.IntValue(0), "smsbulk.country.iso": attribute.StringValue("RU")}
	with := func(a, b map[attribute.Key]attribute.Value) map[attribute.Key]attribute.Value {
		m := map[attribute.Key]attribute.Value{}
		for k, v := range a {
			m[k] = v
		}
		for k, v := range b {
			m[k] = v
		}
		return m
	}
	tg := map[attribute.Key]attribute.Value{"smsbulk.service": attribute.StringValue("tg")}
	cases := []struct {
		name string
		// request makes any requests the case needs first, and returns the
		// parameters of the one under test and the attributes its server
		// span must have besides action, code, profile and owner.
		request  func(tb testing.TB, e *telEnv) (url.Values, map[attribute.Key]attribute.Value)
		action   string
		code     string
		children []string
		// failedSpan names the child span whose status must be an error.
		failedSpan string
	}{
		{
			name:   "getBalance",
			action: "getBalance", code: "ACCESS_BALANCE",
			request: func(tb testing.TB, e *telEnv) (url.Values, map[attribute.Key]attribute.Value) {
				return url.Values{"api_key": {telKey}, "action": {"getBalance"}}, nil
			},
			children: []string{"native balance", "HTTP GET"},
		},
		{
			name:   "getBalance with an unknown key",
			action: "getBalance", code: "BAD_KEY",
			request: func(tb testing.TB, e *telEnv) (url.Values, map[attribute.Key]attribute.Value) {
				return url.Values{"api_key": {"no-such-key"}, "action": {"getBalance"}}, nil
			},
			children: []string{"native balance", "HTTP GET"},
		},
		{
			name:   "getNumber",
			action: "getNumber", code: "ACCESS_NUMBER",
			request: func(tb testing.TB, e *telEnv) (url.Values, map[attribute.Key]attribute.Value) {
				return url.Values{"api_key": {telKey}, "action": {"getNumber"}, "service": {"tg"}, "country": {"0"}}, with(ru, tg)
			},
			children: []string{"native balance", "HTTP GET", "native services", "HTTP GET", "idmap reserve", "native buy", "HTTP POST", "idmap commit"},
		},
		{
			name:   "getNumber with the backend failing",
			action: "getNumber", code: "ERROR_SQL",
			request: func(tb testing.TB, e *telEnv) (url.Values, map[attribute.Key]attribute.Value) {
				e.sb.InjectFault(sandbox.RouteBuy, "status=500", 1)
				return url.Values{"api_key": {telKey}, "action": {"getNumber"}, "service": {"tg"}, "country": {"0"}}, with(ru, tg)
			},
			children:   []string{"native balance", "HTTP GET", "native services", "HTTP GET", "idmap reserve", "native buy", "HTTP POST"},
			failedSpan: "native buy",
		},
		{
			name:   "getNumber with the store down",
			action: "getNumber", code: "ERROR_SQL",
			request: func(tb testing.TB, e *telEnv) (url.Values, map[attribute.Key]attribute.Value) {
				if err := e.store.Close(); err != nil {
					tb.Fatal(err)
				}
				return url.Values{"api_key": {telKey}, "action": {"getNumber"}, "service": {"tg"}, "country": {"0"}}, with(ru, tg)
			},
			children:   []string{"native balance", "HTTP GET", "native services", "HTTP GET", "idmap reserve"},
			failedSpan: "idmap reserve",
		},
		{
			name:   "getStatus",
			action: "getStatus", code: "STATUS_WAIT_CODE",
			request: func(tb testing.TB, e *telEnv) (url.Values, map[attribute.Key]attribute.Value) {
				id := e.getNumber(tb)
				return url.Values{"api_key": {telKey}, "action": {"getStatus"}, "id": {id}},
					map[attribute.Key]attribute.Value{"smsbulk.activation.legacy_id": num(id)}
			},
			children: []string{"idmap lookup", "native get", "HTTP GET"},
		},
		{
			name:   "setStatus",
			action: "setStatus", code: "ACCESS_CANCEL",
			request: func(tb testing.TB, e *telEnv) (url.Values, map[attribute.Key]attribute.Value) {
				id := e.getNumber(tb)
				return url.Values{"api_key": {telKey}, "action": {"setStatus"}, "id": {id}, "status": {"8"}},
					map[attribute.Key]attribute.Value{"smsbulk.activation.legacy_id": num(id)}
			},
			children: []string{"idmap lookup", "native cancel", "HTTP POST"},
		},
		{
			name:   "getNumbersStatus",
			action: "getNumbersStatus", code: "JSON",
			request: func(tb testing.TB, e *telEnv) (url.Values, map[attribute.Key]attribute.Value) {
				return url.Values{"api_key": {telKey}, "action": {"getNumbersStatus"}, "country": {"0"}}, ru
			},
			children: []string{"native balance", "HTTP GET", "native services", "HTTP GET", "native offers", "HTTP GET"},
		},
		{
			name:   "getPrices",
			action: "getPrices", code: "JSON",
			request: func(tb testing.TB, e *telEnv) (url.Values, map[attribute.Key]attribute.Value) {
				return url.Values{"api_key": {telKey}, "action": {"getPrices"}, "service": {"tg"}, "country": {"0"}}, with(ru, tg)
			},
			children: []string{"native balance", "HTTP GET", "native services", "HTTP GET", "native offers", "HTTP GET"},
		},
		{
			name:   "getCountries",
			action: "getCountries", code: "JSON",
			request: func(tb testing.TB, e *telEnv) (url.Values, map[attribute.Key]attribute.Value) {
				return url.Values{"api_key": {telKey}, "action": {"getCountries"}}, nil
			},
			children: []string{"native balance", "HTTP GET", "native countries", "HTTP GET"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTelEnv(t, false)
			params, wantAttrs := tc.request(t, e)
			body, parent := e.call(t, params)
			if got := bodyCode(body); got != tc.code {
				t.Fatalf("body %q, want code %s", body, tc.code)
			}
			server, under := e.trace(t, parent.TraceID())

			// The server span: named after the action, a child of the
			// caller's span, with the attributes of the request.
			if server.Name() != tc.action {
				t.Errorf("server span %q, want %q", server.Name(), tc.action)
			}
			if p := server.Parent(); p.SpanID() != parent.SpanID() || !p.IsRemote() {
				t.Errorf("server span's parent %v, want the remote span %s", p.SpanID(), parent.SpanID())
			}
			attrs := attrMap(server.Attributes())
			want := with(map[attribute.Key]attribute.Value{
				"smsbulk.legacy.action":      attribute.StringValue(tc.action),
				"smsbulk.legacy.result_code": attribute.StringValue(bodyCode(body)),
				"smsbulk.legacy.profile":     attribute.StringValue("sms-activate"),
				"smsbulk.owner":              attribute.StringValue(shim.ShortOwner(e.keys.Owner(params.Get("api_key")))),
				"url.path":                   attribute.StringValue("/stubs/handler_api.php"),
				"http.request.method":        attribute.StringValue("GET"),
			}, wantAttrs)
			for k, v := range want {
				if attrs[k] != v {
					t.Errorf("server span %s = %v, want %v", k, attrs[k].Emit(), v.Emit())
				}
			}
			if tc.action == "getNumber" && tc.code == "ACCESS_NUMBER" {
				if id, _, _ := strings.Cut(strings.TrimPrefix(body, "ACCESS_NUMBER:"), ":"); attrs["smsbulk.activation.legacy_id"] != num(id) {
					t.Errorf("legacy_id %v, want %s", attrs["smsbulk.activation.legacy_id"].Emit(), id)
				}
				if attrs["smsbulk.activation.native_id"].AsString() == "" {
					t.Error("no native_id on the server span")
				}
			}
			for k := range attrs {
				if strings.HasPrefix(string(k), "url.") && k != "url.path" && k != "url.scheme" {
					t.Errorf("server span has %s: only url.path may describe the URL", k)
				}
			}
			if tc.code == "ERROR_SQL" {
				if st := server.Status(); st.Code != codes.Error || !strings.HasPrefix(st.Description, "ERROR_SQL: ") {
					t.Errorf("server span status %v, want an error with ERROR_SQL and the cause", st)
				}
			} else if st := server.Status(); st.Code == codes.Error {
				t.Errorf("server span status %v for %s", st, tc.code)
			}

			// The spans under it: native calls with their HTTP client span,
			// and ID map operations.
			var names []string
			nativeCalls := int64(0)
			ids := map[trace.SpanID]string{server.SpanContext().SpanID(): server.Name()}
			for _, s := range under {
				ids[s.SpanContext().SpanID()] = s.Name()
			}
			for _, s := range under {
				names = append(names, s.Name())
				parentName := ids[s.Parent().SpanID()]
				switch {
				case strings.HasPrefix(s.Name(), "HTTP "):
					if !strings.HasPrefix(parentName, "native ") || s.SpanKind() != trace.SpanKindClient {
						t.Errorf("%s (kind %v) is under %q, want a client span under a native call", s.Name(), s.SpanKind(), parentName)
					}
				default:
					if parentName != tc.action {
						t.Errorf("%s is under %q, want under the server span", s.Name(), parentName)
					}
				}
				if strings.HasPrefix(s.Name(), "native ") {
					nativeCalls++
				}
				if isErr := s.Status().Code == codes.Error; isErr != (s.Name() == tc.failedSpan) && !strings.HasPrefix(s.Name(), "HTTP ") {
					t.Errorf("span %s status %v", s.Name(), s.Status())
				}
			}
			if !slices.Equal(names, tc.children) {
				t.Errorf("spans under %s:\n got %q\nwant %q", tc.action, names, tc.children)
			}

			// Metrics: requests by action and code, as sent; durations by
			// action; native calls and ID map operations as many as spans.
			if got := e.points(t, "smsbulk_shim.legacy.requests", "smsbulk.legacy.action", "smsbulk.legacy.result_code"); !equalCounts(got, e.sent) {
				t.Errorf("legacy.requests = %v, want %v", got, e.sent)
			}
			perAction := map[string]int64{}
			for k, n := range e.sent {
				a, _, _ := strings.Cut(k, " ")
				perAction[a] += n
			}
			if got := e.points(t, "smsbulk_shim.legacy.request.duration", "smsbulk.legacy.action"); !equalCounts(got, perAction) {
				t.Errorf("legacy.request.duration counts = %v, want %v", got, perAction)
			}
			spanCount := map[string]int64{}
			for _, s := range e.spans.Ended() {
				if call, ok := strings.CutPrefix(s.Name(), "native "); ok {
					spanCount["native "+call]++
				}
				if op, ok := strings.CutPrefix(s.Name(), "idmap "); ok {
					spanCount["idmap "+op]++
				}
			}
			metricCount := map[string]int64{}
			for k, n := range e.points(t, "smsbulk_shim.native.call.duration", "smsbulk.native.call") {
				metricCount["native "+k] += n
			}
			for k, n := range e.points(t, "smsbulk_shim.idmap.operation.duration", "db.operation.name") {
				metricCount["idmap "+k] += n
			}
			if !equalCounts(metricCount, spanCount) {
				t.Errorf("native and ID map measurements %v, spans %v", metricCount, spanCount)
			}
			if tc.failedSpan == "idmap reserve" {
				if got := e.points(t, "smsbulk_shim.idmap.errors", "db.operation.name"); got["reserve"] != 1 {
					t.Errorf("idmap.errors = %v, want reserve 1", got)
				}
			}
			if got := e.points(t, "smsbulk_shim.legacy.active_requests"); got[""] != 0 {
				t.Errorf("active_requests = %v after the requests, want 0", got)
			}

			// The access line: trace ID, action, code, duration, native calls.
			var access map[string]any
			for _, r := range e.logs.records(t) {
				if r["msg"] == "legacy request" && r["trace_id"] == parent.TraceID().String() {
					access = r
				}
			}
			if access == nil {
				t.Fatalf("no access line with trace_id %s in\n%s", parent.TraceID(), e.logs)
			}
			if access["action"] != tc.action || access["code"] != tc.code || access["native_calls"] != float64(nativeCalls) {
				t.Errorf("access line %v, want action %s code %s native_calls %d", access, tc.action, tc.code, nativeCalls)
			}
			if d, ok := access["duration_ms"].(float64); !ok || d <= 0 {
				t.Errorf("access line duration %v", access["duration_ms"])
			}
			if tc.code == "ERROR_SQL" {
				found := false
				for _, r := range e.logs.records(t) {
					if r["msg"] == "legacy request failed" && r["code"] == "ERROR_SQL" {
						found = true
						if err, _ := r["err"].(string); !strings.Contains(server.Status().Description, err) || err == "" {
							t.Errorf("error line err %q is not the span's cause %q", err, server.Status().Description)
						}
					}
				}
				if !found {
					t.Errorf("no error line for ERROR_SQL in\n%s", e.logs)
				}
			}
			e.noSecret(t)
		})
	}
}

// TestTelemetryPassthrough checks that a passed-through request is traced
// with its path only, never its query. (A query with api_key is answered
// locally and never forwarded; a token stands for the other secrets.)
func TestTelemetryPassthrough(t *testing.T) {
	t.Parallel()
	e := newTelEnv(t, true)
	tid := trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.url+"/api/v1/wallet/balance?token="+telKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("traceparent", "00-"+tid.String()+"-0102030405060708-01")
	req.Header.Set("X-Api-Key", telKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "100") {
		t.Fatalf("pass-through = %d %q", resp.StatusCode, b)
	}
	server, _ := e.trace(t, tid)
	attrs := attrMap(server.Attributes())
	if server.Name() != "passthrough GET" || attrs["url.path"].AsString() != "/api/v1/wallet/balance" ||
		attrs["http.response.status_code"].AsInt64() != 200 {
		t.Errorf("pass-through span %q %v", server.Name(), server.Attributes())
	}
	e.noSecret(t)
}

// TestTelemetryCacheLookups checks the one cache counter: catalog,
// countries and ID map lookups by result.
func TestTelemetryCacheLookups(t *testing.T) {
	t.Parallel()
	e := newTelEnv(t, false)
	for range 2 {
		e.call(t, url.Values{"api_key": {telKey}, "action": {"getPrices"}, "service": {"tg"}, "country": {"0"}})
		e.call(t, url.Values{"api_key": {telKey}, "action": {"getCountries"}})
	}
	id := e.getNumber(t) // a services hit, a countries hit
	for range 2 {
		e.call(t, url.Values{"api_key": {telKey}, "action": {"getStatus"}, "id": {id}})
	}
	got := e.points(t, "smsbulk_shim.cache.lookups", "smsbulk.cache", "smsbulk.cache.result")
	want := map[string]int64{
		"services miss": 1, "services hit": 2,
		"catalog_countries miss": 1, "catalog_countries hit": 1,
		"countries miss": 1, "countries hit": 2,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("cache.lookups{%s} = %d, want %d", k, got[k], n)
		}
	}
	if n := got["idmap hit"] + got["idmap miss"]; n != 2 {
		t.Errorf("idmap lookups %d (%v), want 2", n, got)
	}
}

// TestTelemetryBackgroundStoreOps checks that the reconciler's poll, which
// runs outside any trace, is measured but starts no trace of its own.
func TestTelemetryBackgroundStoreOps(t *testing.T) {
	t.Parallel()
	e := newTelEnv(t, false)
	if _, err := e.srv.NewReconciler(shim.ReconcileOptions{}).Round(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := e.points(t, "smsbulk_shim.idmap.operation.duration", "db.operation.name")["stale"]; n != 1 {
		t.Errorf("stale operations measured: %d, want 1", n)
	}
	for _, s := range e.spans.Ended() {
		t.Errorf("span %q started by a background poll", s.Name())
	}
}
