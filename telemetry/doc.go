// Package telemetry sets up the OpenTelemetry SDK of smsbulk-shim from the
// standard OTEL_ variables: the tracer and meter providers, the W3C
// propagator, the resource, the sampler, the Prometheus handler for
// /metrics, an HTTP client transport that traces requests without
// recording secret query values, and a slog handler that adds trace_id and
// span_id to log lines. cmd/smsbulk-shim's run calls Setup once and
// Shutdown at the end.
//
// It is not for instrumenting: the shim's spans and instruments are made in
// package shim (and upstream), with the providers given to them. Nothing
// here reads the process environment except the OpenTelemetry exporters,
// which always do (see Setup).
package telemetry
