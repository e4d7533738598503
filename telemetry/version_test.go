package telemetry

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/smsbulk/smsbulk-shim/telemetry/telemetrytest"
)

func TestReadBuildPrefersTheLinkedVersion(t *testing.T) {
	t.Parallel()
	b := ReadBuild("v1.2.3", "0123456789abcdef")
	if b.Version != "v1.2.3" || b.Revision != "0123456789abcdef" || b.GoVersion != runtime.Version() {
		t.Errorf("ReadBuild with -X values = %+v", b)
	}
	// A test binary has no module version and, under go test, usually
	// no VCS stamp: whatever it has, the version is never empty.
	if b := ReadBuild("", ""); b.Version == "" || b.Revision == "" {
		t.Errorf("ReadBuild without -X values = %+v", b)
	}
}

// TestMetricsCarryBuildInfoAndNoScope: /metrics serves the build info
// gauge, and no series carries otel_scope_* labels.
func TestMetricsCarryBuildInfoAndNoScope(t *testing.T) {
	environ := telemetrytest.SetOTEL(t)
	tel, err := Setup(t.Context(), Service{Name: "smsbulk-shim", Build: Build{Version: "v9.8.7", Revision: "abc", GoVersion: "go1.x"}},
		environ, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdownNow(t.Context(), tel)
	rec := httptest.NewRecorder()
	tel.MetricsHandler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if want := `smsbulk_shim_build_info{goversion="go1.x",revision="abc",version="v9.8.7"} 1`; !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s:\n%s", want, body)
	}
	if strings.Contains(body, "otel_scope_") {
		t.Errorf("/metrics has otel_scope_ labels:\n%s", body)
	}
}

func TestOTELPropagators(t *testing.T) {
	sampled := trace.ContextWithRemoteSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true}))
	cases := []struct {
		value, wantErr string
		traceparent    bool
	}{
		{value: "", traceparent: true},
		{value: "tracecontext", traceparent: true},
		{value: "baggage", traceparent: false},
		{value: "none", traceparent: false},
		{value: "b3", wantErr: `OTEL_PROPAGATORS "b3"`},
		{value: "none,tracecontext", wantErr: "none cannot be combined"},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			var env []string
			if tc.value != "" {
				env = []string{"OTEL_PROPAGATORS", tc.value}
			}
			environ := telemetrytest.SetOTEL(t, env...)
			tel, err := Setup(t.Context(), Service{Name: "smsbulk-shim"}, environ, slog.New(slog.DiscardHandler))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer shutdownNow(t.Context(), tel)
			h := http.Header{}
			tel.Propagator.Inject(sampled, propagation.HeaderCarrier(h))
			if got := h.Get("traceparent") != ""; got != tc.traceparent {
				t.Errorf("traceparent sent = %v (%q), want %v", got, h.Get("traceparent"), tc.traceparent)
			}
		})
	}
}
