package main

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/telemetry"
	"github.com/smsbulk/smsbulk-shim/telemetry/telemetrytest"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// otlpReceiver is an OTLP/HTTP (protobuf) receiver on loopback that keeps
// every export request it gets.
type otlpReceiver struct {
	URL string

	mu      sync.Mutex
	raw     [][]byte
	traces  []*coltracepb.ExportTraceServiceRequest
	metrics []*colmetricpb.ExportMetricsServiceRequest
}

func newOTLPReceiver(tb testing.TB) *otlpReceiver {
	tb.Helper()
	rcv := &otlpReceiver{}
	read := func(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return nil, false
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want a protobuf body", http.StatusBadRequest)
			return nil, false
		}
		return b, true
	}
	reply := func(w http.ResponseWriter, m proto.Message) {
		b, _ := proto.Marshal(m)
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		b, ok := read(w, r)
		if !ok {
			return
		}
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(b, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		rcv.raw, rcv.traces = append(rcv.raw, b), append(rcv.traces, req)
		rcv.mu.Unlock()
		reply(w, &coltracepb.ExportTraceServiceResponse{})
	})
	mux.HandleFunc("POST /v1/metrics", func(w http.ResponseWriter, r *http.Request) {
		b, ok := read(w, r)
		if !ok {
			return
		}
		req := &colmetricpb.ExportMetricsServiceRequest{}
		if err := proto.Unmarshal(b, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		rcv.raw, rcv.metrics = append(rcv.raw, b), append(rcv.metrics, req)
		rcv.mu.Unlock()
		reply(w, &colmetricpb.ExportMetricsServiceResponse{})
	})
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	rcv.URL = srv.URL
	return rcv
}

// exportedSpan is one received span with its resource.
type exportedSpan struct {
	*tracepb.Span
	resource map[string]string
}

func (rcv *otlpReceiver) spans() []exportedSpan {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var out []exportedSpan
	for _, req := range rcv.traces {
		for _, rs := range req.GetResourceSpans() {
			res := kvMap(rs.GetResource().GetAttributes())
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					out = append(out, exportedSpan{s, res})
				}
			}
		}
	}
	return out
}

// text is everything received, raw and as protobuf JSON, for searching.
func (rcv *otlpReceiver) text(tb testing.TB) string {
	tb.Helper()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var sb strings.Builder
	for _, b := range rcv.raw {
		sb.Write(b)
	}
	for _, m := range rcv.traces {
		b, err := protojson.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		sb.Write(b)
	}
	for _, m := range rcv.metrics {
		b, err := protojson.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		sb.Write(b)
	}
	return sb.String()
}

// counter is the value of a received cumulative counter at the data point
// with the given attributes (its last export).
func (rcv *otlpReceiver) counter(name string, attrs map[string]string) (int64, bool) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var v int64
	found := false
	for _, req := range rcv.metrics {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() != name {
						continue
					}
				points:
					for _, dp := range m.GetSum().GetDataPoints() {
						got := kvMap(dp.GetAttributes())
						for k, want := range attrs {
							if got[k] != want {
								continue points
							}
						}
						v, found = dp.GetAsInt(), true
					}
				}
			}
		}
	}
	return v, found
}

func kvMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(v.IntValue, 10)
		default:
			m[kv.GetKey()] = kv.GetValue().String()
		}
	}
	return m
}

// telE2EKey is the bot's API key in the end-to-end test.
const telE2EKey = "e2e-SECRET-key-0f9e8d7c6b5a"

// backendRecorder wraps the sandbox and keeps the traceparent header of
// every native request, by method and path.
type backendRecorder struct {
	next http.Handler
	mu   sync.Mutex
	seen map[string][]string
}

func (b *backendRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.seen[r.Method+" "+r.URL.Path] = append(b.seen[r.Method+" "+r.URL.Path], r.Header.Get("traceparent"))
	b.mu.Unlock()
	b.next.ServeHTTP(w, r)
}

func (b *backendRecorder) traceparents(call string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.seen[call]...)
}

// TestTelemetryExportsOverOTLP runs a bot flow through the shim configured
// with the standard OTEL_ variables only, against an OTLP/HTTP receiver on
// loopback, and checks the trace tree, the propagation in and out, the
// resource, the metrics, and that the API key is nowhere.
func TestTelemetryExportsOverOTLP(t *testing.T) {
	rcv := newOTLPReceiver(t)
	backend := &backendRecorder{seen: map[string][]string{}}
	sb, origin := serveSandbox(t, waitingSandbox(map[string]string{telE2EKey: "100.00"}), func(sb http.Handler) http.Handler {
		backend.next = sb
		return backend
	})

	environ := telemetrytest.SetOTEL(t,
		"OTEL_TRACES_EXPORTER", "otlp",
		"OTEL_METRICS_EXPORTER", "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf",
		"OTEL_SERVICE_NAME", "shim-e2e",
		"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=e2e,service.namespace=sms%20bulk",
	)
	p := startShim(t, nil, append(environ, "SHIM_UPSTREAM_URL="+origin, "SHIM_KEY_SECRET=telemetry-e2e-secret-0123456789")...)

	legacy := func(params url.Values, traceparent string) string {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, legacyURL(p.Addr, params), nil)
		if err != nil {
			t.Fatal(err)
		}
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		_, _, body, err := answer(http.DefaultClient.Do(req))
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	key := url.Values{"api_key": {telE2EKey}}
	with := func(kv ...string) url.Values {
		v := url.Values{"api_key": key["api_key"]}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	// The bot flow. getNumber carries the caller's trace context.
	const callerTrace, callerSpan = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
	if got := legacy(with("action", "getBalance"), ""); got != "ACCESS_BALANCE:100.00" {
		t.Fatalf("getBalance = %q", got)
	}
	number := legacy(with("action", "getNumber", "service", "tg", "country", "0"), "00-"+callerTrace+"-"+callerSpan+"-01")
	parts := strings.Split(number, ":")
	if len(parts) != 3 || parts[0] != "ACCESS_NUMBER" {
		t.Fatalf("getNumber = %q", number)
	}
	id := parts[1]
	for _, params := range []url.Values{
		with("action", "getStatus", "id", id),
		with("action", "getPrices", "service", "tg", "country", "0"),
		with("action", "getNumbersStatus", "country", "0"),
		with("action", "getCountries"),
		with("action", "setStatus", "id", id, "status", "8"),
	} {
		if got := legacy(params, ""); strings.HasPrefix(got, "BAD_") || strings.HasPrefix(got, "ERROR_") || got == "NO_ACTIVATION" {
			t.Errorf("%s = %q", params.Get("action"), got)
		}
	}
	// An ERROR_SQL: its error line must carry the request's trace ID.
	sb.InjectFault(sandbox.RouteBuy, "status=500", 1)
	if got := legacy(with("action", "getNumber", "service", "tg", "country", "0"), ""); got != "ERROR_SQL" {
		t.Errorf("getNumber with a failing backend = %q", got)
	}
	// A pass-through request with a secret in its query string (one with
	// api_key is answered locally and never forwarded).
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+p.Addr+"/api/v1/wallet/balance?token="+telE2EKey+"&x=1", nil)
	req.Header.Set("X-Api-Key", telE2EKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("pass-through = %d", resp.StatusCode)
	}
	code, _, scrape := get(t, "http://"+p.AdminAddr+"/metrics")
	if code != http.StatusOK || !strings.Contains(scrape, `smsbulk_shim_legacy_requests_total{`) ||
		!strings.Contains(scrape, `smsbulk_legacy_action="getNumber"`) || !strings.Contains(scrape, `target_info{`) {
		t.Errorf("/metrics = %d, without the shim's metrics:\n%.2000s", code, scrape)
	}

	p.Stop(t) // flushes the exporters

	spans := rcv.spans()
	byID := map[string]exportedSpan{}
	for _, s := range spans {
		byID[hex.EncodeToString(s.GetSpanId())] = s
	}
	find := func(name, parentID string) (exportedSpan, bool) {
		for _, s := range spans {
			if s.GetName() == name && (parentID == "" || hex.EncodeToString(s.GetParentSpanId()) == parentID) {
				return s, true
			}
		}
		return exportedSpan{}, false
	}

	// The server span continues the caller's trace.
	var server exportedSpan
	for _, s := range spans {
		if s.GetName() == "getNumber" && hex.EncodeToString(s.GetTraceId()) == callerTrace {
			server = s
		}
	}
	if server.Span == nil {
		t.Fatalf("no getNumber span in the caller's trace %s among %d spans", callerTrace, len(spans))
	}
	if got := hex.EncodeToString(server.GetParentSpanId()); got != callerSpan || server.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("getNumber span: parent %s kind %v, want parent %s, server", got, server.GetKind(), callerSpan)
	}
	serverID := hex.EncodeToString(server.GetSpanId())
	attrs := kvMap(server.GetAttributes())
	if attrs["smsbulk.legacy.result_code"] != "ACCESS_NUMBER" || attrs["smsbulk.service"] != "tg" ||
		attrs["smsbulk.country.iso"] != "RU" || attrs["smsbulk.activation.legacy_id"] != id {
		t.Errorf("getNumber span attributes %v", attrs)
	}

	// Its children: the ID map operations and the native calls, each native
	// call with its HTTP client span, whose traceparent reached the backend.
	for _, name := range []string{"idmap reserve", "native buy", "idmap commit"} {
		if _, ok := find(name, serverID); !ok {
			t.Errorf("no %q span under getNumber", name)
		}
	}
	buy, _ := find("native buy", serverID)
	post, ok := find("HTTP POST", hex.EncodeToString(buy.GetSpanId()))
	if !ok {
		t.Fatal("no HTTP POST span under native buy")
	}
	if post.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || !strings.HasSuffix(kvMap(post.GetAttributes())["url.full"], "/api/v1/activations") {
		t.Errorf("HTTP POST span: kind %v attributes %v", post.GetKind(), kvMap(post.GetAttributes()))
	}
	wantTP := "00-" + callerTrace + "-" + hex.EncodeToString(post.GetSpanId()) + "-01"
	if got := backend.traceparents("POST /api/v1/activations"); len(got) == 0 || got[0] != wantTP {
		t.Errorf("backend got traceparent %q for the purchase, want %q", got, wantTP)
	}

	// The resource says which service, version and instance.
	res := server.resource
	if res["service.name"] != "shim-e2e" || res["service.version"] == "" || len(res["service.instance.id"]) != 36 ||
		res["deployment.environment.name"] != "e2e" || res["service.namespace"] != "sms bulk" {
		t.Errorf("resource %v", res)
	}

	// The pass-through request is traced with its query masked.
	pt, ok := find("passthrough GET", "")
	if !ok {
		t.Fatal("no passthrough span")
	}
	ptClient, ok := find("HTTP GET", hex.EncodeToString(pt.GetSpanId()))
	if full := kvMap(ptClient.GetAttributes())["url.full"]; !ok || !strings.HasSuffix(full, "/api/v1/wallet/balance?token=REDACTED&x=REDACTED") {
		t.Errorf("pass-through client span url.full %q, want the key masked", full)
	}

	// Metrics by action and code, pushed by OTLP.
	if n, ok := rcv.counter("smsbulk_shim.legacy.requests", map[string]string{
		"smsbulk.legacy.action": "getNumber", "smsbulk.legacy.result_code": "ACCESS_NUMBER"}); !ok || n != 1 {
		t.Errorf("legacy.requests{getNumber, ACCESS_NUMBER} = %d (found %v), want 1", n, ok)
	}
	if n, ok := rcv.counter("smsbulk_shim.legacy.requests", map[string]string{
		"smsbulk.legacy.action": "getNumber", "smsbulk.legacy.result_code": "ERROR_SQL"}); !ok || n != 1 {
		t.Errorf("legacy.requests{getNumber, ERROR_SQL} = %d (found %v), want 1", n, ok)
	}

	// Logs: the access line of getNumber carries the caller's trace ID, and
	// the ERROR_SQL error line the trace ID of its access line.
	var access, failedAccess, failure map[string]any
	for _, line := range p.logs.Lines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		switch {
		case m["msg"] == "legacy request" && m["trace_id"] == callerTrace:
			access = m
		case m["msg"] == "legacy request" && m["code"] == "ERROR_SQL":
			failedAccess = m
		case m["msg"] == "legacy request failed":
			failure = m
		}
	}
	if access == nil || access["action"] != "getNumber" || access["native_calls"] != float64(2) {
		t.Errorf("access line of getNumber: %v", access)
	}
	if failure == nil || failedAccess == nil || failure["trace_id"] != failedAccess["trace_id"] ||
		!strings.Contains(failure["err"].(string), "upstream buy") {
		t.Errorf("error line %v does not match its access line %v", failure, failedAccess)
	}

	// The key is nowhere.
	if strings.Contains(rcv.text(t), telE2EKey) {
		t.Error("the API key was exported in a span or a metric")
	}
	if strings.Contains(scrape, telE2EKey) {
		t.Error("the API key is on /metrics")
	}
	for _, line := range p.logs.Lines() {
		if strings.Contains(line, telE2EKey) {
			t.Errorf("the API key is in a log line: %s", line)
		}
	}
}

// BenchmarkLegacyGetBalance measures one getBalance through the shim (one
// native call to a sandbox on loopback) with no-op telemetry and with the
// telemetry telemetry.Setup makes when no OTEL_ variable is set.
//
//	go test ./cmd/smsbulk-shim -run '^$' -bench LegacyGetBalance -benchmem
func BenchmarkLegacyGetBalance(b *testing.B) {
	_, origin := serveSandbox(b, sandbox.Config{Keys: map[string]string{"bench-key": "100.00"}}, nil)
	store, err := idmap.Open(b.Context(), filepath.Join(b.TempDir(), "idmap.db"), idmap.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	keys, err := shim.NewKeys([]byte("benchmark-secret-0123456789"))
	if err != nil {
		b.Fatal(err)
	}
	cc, err := countries.NewResolver(countries.Builtin(), 0)
	if err != nil {
		b.Fatal(err)
	}
	off, err := telemetry.Setup(b.Context(), telemetry.Service{Name: serviceName}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		// without waiting for exports to an endpoint that is not there
		ctx, cancel := context.WithTimeout(b.Context(), 100*time.Millisecond)
		defer cancel()
		_ = off.Shutdown(ctx)
	}()
	noop := &telemetry.SDK{
		TracerProvider: tracenoop.NewTracerProvider(),
		MeterProvider:  metricnoop.NewMeterProvider(),
		Propagator:     propagation.TraceContext{},
		WrapTransport:  func(rt http.RoundTripper) http.RoundTripper { return rt },
	}
	for _, bc := range []struct {
		name string
		tel  *telemetry.SDK
	}{{"noop", noop}, {"off", off}} {
		b.Run(bc.name, func(b *testing.B) {
			client, err := upstream.New(origin+"/api/v1", upstream.Options{WrapTransport: bc.tel.WrapTransport})
			if err != nil {
				b.Fatal(err)
			}
			srv, err := shim.NewServer(slog.New(slog.DiscardHandler), client, store, cc, shim.Options{
				Keys: keys, Services: translate.BuiltinServices(),
				TracerProvider: bc.tel.TracerProvider, MeterProvider: bc.tel.MeterProvider, Propagator: bc.tel.Propagator,
			})
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/stubs/handler_api.php?api_key=bench-key&action=getBalance", nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Body.String() != "ACCESS_BALANCE:100.00" {
					b.Fatalf("getBalance = %q", rec.Body.String())
				}
			}
		})
	}
}
