package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/smsbulk/smsbulk-shim/telemetry/telemetrytest"
)

// TestSetupTelemetry checks the choices Setup makes from the environment.
func TestSetupTelemetry(t *testing.T) {
	sampled := trace.ContextWithRemoteSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true}))
	cases := []struct {
		name string
		env  []string
		// wantErr is a text the error must hold; "" means no error.
		wantErr string
		// recordRoot and recordSampled say whether a span is recorded
		// without a parent and under a sampled caller's.
		recordRoot, recordSampled bool
		metrics                   int // status of /metrics
		logged                    string
	}{
		{name: "nothing set", recordRoot: false, recordSampled: true, metrics: 200, logged: `"traces_exporter":"none","metrics_exporter":"none"`},
		{name: "exporters none", env: []string{"OTEL_TRACES_EXPORTER", "none", "OTEL_METRICS_EXPORTER", "none", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"},
			recordRoot: false, recordSampled: true, metrics: 200, logged: `"traces_exporter":"none","metrics_exporter":"none"`},
		{name: "endpoint set", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"},
			recordRoot: true, recordSampled: true, metrics: 200, logged: `"traces_exporter":"otlp","metrics_exporter":"otlp","sampler":"parentbased_always_on"`},
		{name: "ratio sampler", env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:1/v1/traces", "OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "0"},
			recordRoot: false, recordSampled: false, metrics: 200, logged: `"traces_exporter":"otlp","metrics_exporter":"none","sampler":"traceidratio"`},
		{name: "sdk disabled", env: []string{"OTEL_SDK_DISABLED", "true", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"},
			recordRoot: false, recordSampled: false, metrics: 404, logged: "OTEL_SDK_DISABLED"},
		{name: "bad sampler", env: []string{"OTEL_TRACES_SAMPLER", "sometimes"}, wantErr: "OTEL_TRACES_SAMPLER"},
		{name: "bad sampler ratio", env: []string{"OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "2"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "bad resource attributes", env: []string{"OTEL_RESOURCE_ATTRIBUTES", "a=1,b"}, wantErr: "OTEL_RESOURCE_ATTRIBUTES"},
		{name: "bad protocol", env: []string{"OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"}, wantErr: "trace exporter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			environ := telemetrytest.SetOTEL(t, tc.env...)
			var logs bytes.Buffer
			tel, err := Setup(t.Context(), Service{Name: "smsbulk-shim", Build: ReadBuild("", "")}, environ, slog.New(slog.NewJSONHandler(&logs, nil)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one about %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer shutdownNow(t.Context(), tel)
			tracer := tel.TracerProvider.Tracer("test")
			_, root := tracer.Start(t.Context(), "root")
			_, child := tracer.Start(sampled, "child")
			if root.IsRecording() != tc.recordRoot || child.IsRecording() != tc.recordSampled {
				t.Errorf("recording: root %v under a sampled caller %v; want %v %v",
					root.IsRecording(), child.IsRecording(), tc.recordRoot, tc.recordSampled)
			}
			if !root.SpanContext().TraceID().IsValid() && tc.metrics == 200 {
				t.Error("no trace ID for the access log")
			}
			root.End()
			child.End()
			rec := httptest.NewRecorder()
			tel.MetricsHandler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if rec.Code != tc.metrics {
				t.Errorf("/metrics = %d, want %d", rec.Code, tc.metrics)
			}
			if rec.Code == 200 && !strings.Contains(rec.Body.String(), "go_goroutines") {
				t.Errorf("/metrics lacks the Go runtime metrics:\n%.500s", rec.Body.String())
			}
			if !strings.Contains(logs.String(), tc.logged) {
				t.Errorf("log %s lacks %s", logs.String(), tc.logged)
			}
			// The propagator writes W3C traceparent and baggage.
			h := http.Header{}
			tel.Propagator.Inject(sampled, propagation.HeaderCarrier(h))
			if !strings.HasPrefix(h.Get("traceparent"), "00-01000000") {
				t.Errorf("traceparent %q", h.Get("traceparent"))
			}
		})
	}
}

// TestSetupTelemetryWantsTheProcessEnvironment checks that an OTEL_
// variable that the exporters would not see is refused, naming it but not
// its value.
func TestSetupTelemetryWantsTheProcessEnvironment(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=process-token")
	_, err := Setup(t.Context(), Service{Name: "smsbulk-shim", Build: ReadBuild("", "")}, []string{"OTEL_EXPORTER_OTLP_HEADERS=authorization=other-token"}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_HEADERS") || strings.Contains(err.Error(), "token") {
		t.Fatalf("error %v, want one naming OTEL_EXPORTER_OTLP_HEADERS without its value", err)
	}
}

// shutdownNow stops tel without waiting for exports to an endpoint that
// is not there.
func shutdownNow(ctx context.Context, tel *SDK) {
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_ = tel.Shutdown(ctx)
}

// stubTransport answers every request at once with an empty 200.
type stubTransport struct{}

func (stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// BenchmarkWrapTransport measures what the telemetry adds to one native
// call when nothing is configured: bare is the transport alone, off wraps it
// as setupTelemetry does with no OTEL_ variable, off-sampled-caller does so
// under a caller's sampled trace (spans recorded, exported nowhere).
//
//	go test ./telemetry -run '^$' -bench WrapTransport -benchmem
func BenchmarkWrapTransport(b *testing.B) {
	tel, err := Setup(b.Context(), Service{Name: "smsbulk-shim"}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer shutdownNow(b.Context(), tel)
	sampled := trace.ContextWithRemoteSpanContext(b.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true}))
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
		ctx  context.Context
	}{
		{"bare", stubTransport{}, b.Context()},
		{"off", tel.WrapTransport(stubTransport{}), b.Context()},
		{"off-sampled-caller", tel.WrapTransport(stubTransport{}), sampled},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req, _ := http.NewRequestWithContext(bc.ctx, http.MethodGet, "http://backend.invalid/api/v1/wallet/balance", nil)
			req.Header.Set("X-Api-Key", "k")
			b.ReportAllocs()
			for b.Loop() {
				resp, err := bc.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				_ = resp.Body.Close()
			}
		})
	}
}
