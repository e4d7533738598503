package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// TestTraceLogHandler checks that lines logged in a span carry its IDs, and
// that a line naming its own trace_id keeps it.
func TestTraceLogHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(traceLogHandler{slog.NewJSONHandler(&buf, nil)}).With(slog.String("component", "x"))
	ctx := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0xab}, SpanID: trace.SpanID{0xcd}}))
	log.InfoContext(ctx, "in a span")
	log.InfoContext(ctx, "own id", slog.String("trace_id", "mine"))
	log.InfoContext(context.Background(), "no span")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`"msg":"in a span","component":"x","trace_id":"ab000000000000000000000000000000","span_id":"cd00000000000000"}`,
		`"msg":"own id","component":"x","trace_id":"mine"}`,
		`"msg":"no span","component":"x"}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d = %s, want it to end %s", i, lines[i], w)
		}
	}
}
