package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// defaultServiceName is service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES names another.
const defaultServiceName = "smsbulk-shim"

// flushTimeout bounds the telemetry flush when the caller gives no deadline
// (run failing before it serves).
const flushTimeout = 5 * time.Second

// telemetry is the process's OpenTelemetry wiring. Make it with
// setupTelemetry and call shutdown once the servers have stopped.
type telemetry struct {
	// tracerProvider makes every span of the shim.
	tracerProvider trace.TracerProvider
	// meterProvider makes every instrument; its metrics are served by
	// metricsHandler and, when configured, pushed by OTLP.
	meterProvider metric.MeterProvider
	// propagator is W3C tracecontext and baggage.
	propagator propagation.TextMapPropagator
	// metricsHandler serves the metrics in Prometheus text format on the
	// admin listener.
	metricsHandler http.Handler
	// wrapTransport puts a client span around every native and pass-through
	// request and sends traceparent; it records no header and no secret
	// query value.
	wrapTransport func(http.RoundTripper) http.RoundTripper

	flush func(context.Context) error
	once  sync.Once
}

// setupTelemetry builds the providers from the standard OTEL_ variables in
// environ.
//
// The shim decides from environ alone: whether each signal is exported
// (OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, or else whether an OTLP
// endpoint is set for it), OTEL_SDK_DISABLED, the sampler
// (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) and the resource
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES). The exporters themselves
// (autoexport and the OTLP exporters: endpoint, protocol, headers, TLS,
// timeouts, batch and export intervals) read the process environment, as
// every OpenTelemetry SDK does; so every OTEL_ variable in environ must have
// the same value in the process environment, or setupTelemetry fails. main
// passes os.Environ(); a test that calls run with OTEL_ variables sets them
// with t.Setenv as well.
//
// With no exporter configured nothing is sent anywhere: spans are not
// recorded (unless an incoming traceparent asks for sampling, so that the
// trace continues at the backend), and metrics are only kept for /metrics.
func setupTelemetry(ctx context.Context, environ []string, log *slog.Logger) (*telemetry, error) {
	vars := otelVars(environ)
	if err := sameAsProcess(vars); err != nil {
		return nil, err
	}
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	if disabled, _ := strconv.ParseBool(strings.TrimSpace(vars["OTEL_SDK_DISABLED"])); disabled {
		log.Info("telemetry disabled by OTEL_SDK_DISABLED: no spans, no metrics, /metrics answers 404")
		return &telemetry{
			tracerProvider: tracenoop.NewTracerProvider(),
			meterProvider:  metricnoop.NewMeterProvider(),
			propagator:     prop,
			metricsHandler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "metrics are disabled (OTEL_SDK_DISABLED)", http.StatusNotFound)
			}),
			wrapTransport: func(rt http.RoundTripper) http.RoundTripper { return rt },
			flush:         func(context.Context) error { return nil },
		}, nil
	}

	res, err := newResource(ctx, vars)
	if err != nil {
		return nil, err
	}
	sampler, err := newSampler(vars)
	if err != nil {
		return nil, err
	}

	// Prometheus, on the admin listener, always; with its own registry.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	prom, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("making the prometheus exporter: %w", err)
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(prom)}
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}

	tracesTo, metricsTo := exporter(vars, "TRACES"), exporter(vars, "METRICS")
	samplerName := strings.ToLower(strings.TrimSpace(vars["OTEL_TRACES_SAMPLER"]))
	if samplerName == "" {
		samplerName = "parentbased_always_on"
	}
	var spanExp sdktrace.SpanExporter
	if tracesTo != "none" {
		if spanExp, err = autoexport.NewSpanExporter(ctx); err != nil {
			return nil, fmt.Errorf("making the trace exporter (OTEL_TRACES_EXPORTER %q): %w", tracesTo, err)
		}
		topts = append(topts, sdktrace.WithBatcher(spanExp))
	} else {
		// Spans go nowhere: record none, but keep a sampled caller's
		// decision so that its trace goes on at the backend.
		sampler, samplerName = sdktrace.ParentBased(sdktrace.NeverSample()), "parentbased_always_off (no trace exporter)"
	}
	topts = append(topts, sdktrace.WithSampler(sampler))
	if metricsTo != "none" {
		reader, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			if spanExp != nil {
				_ = spanExp.Shutdown(ctx)
			}
			return nil, fmt.Errorf("making the metric exporter (OTEL_METRICS_EXPORTER %q): %w", metricsTo, err)
		}
		mopts = append(mopts, sdkmetric.WithReader(reader))
	}
	if tracesTo != "none" || metricsTo != "none" {
		// Export failures (a collector down) are reported through the
		// process-wide OpenTelemetry error handler: send them to the log.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("opentelemetry export failed", slog.String("err", err.Error()))
		}))
	}

	tp := sdktrace.NewTracerProvider(topts...)
	mp := sdkmetric.NewMeterProvider(mopts...)
	instance, _ := res.Set().Value(semconv.ServiceInstanceIDKey)
	log.Info("telemetry", slog.String("traces_exporter", tracesTo), slog.String("metrics_exporter", metricsTo),
		slog.String("sampler", samplerName), slog.String("service_instance_id", instance.AsString()))
	return &telemetry{
		tracerProvider: tp,
		meterProvider:  mp,
		propagator:     prop,
		metricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		wrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return maskQuery{otelhttp.NewTransport(unmaskQuery{rt},
				otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp), otelhttp.WithPropagators(prop))}
		},
		flush: func(ctx context.Context) error {
			return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
		},
	}, nil
}

// shutdown flushes and stops the exporters, within ctx's deadline or else
// flushTimeout. Only the first call does anything.
func (t *telemetry) shutdown(ctx context.Context, log *slog.Logger) {
	t.once.Do(func() {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, flushTimeout)
			defer cancel()
		}
		if err := t.flush(ctx); err != nil {
			log.Warn("flushing telemetry", slog.String("err", err.Error()))
		}
	})
}

// otelVars are the OTEL_ variables of environ.
func otelVars(environ []string) map[string]string {
	vars := map[string]string{}
	for k, v := range env.ToMap(environ) {
		if strings.HasPrefix(k, "OTEL_") {
			vars[k] = v
		}
	}
	return vars
}

// sameAsProcess fails when an OTEL_ variable of environ has another value
// (or none) in the process environment, where the exporters read it. The
// error names the variable, never its value: OTEL_EXPORTER_OTLP_HEADERS may
// hold a token.
func sameAsProcess(vars map[string]string) error {
	var errs []error
	for k, v := range vars {
		if pv, ok := os.LookupEnv(k); !ok || pv != v {
			errs = append(errs, fmt.Errorf("%s differs from the process environment, where the OpenTelemetry exporters read it", k))
		}
	}
	return errors.Join(errs...)
}

// exporter names the exporter of a signal ("TRACES" or "METRICS"), as
// autoexport will choose it: OTEL_<signal>_EXPORTER when set; else "otlp"
// when an OTLP endpoint is set for the signal; else "none", which makes no
// exporter at all.
func exporter(vars map[string]string, signal string) string {
	if name := strings.TrimSpace(vars["OTEL_"+signal+"_EXPORTER"]); name != "" {
		return name
	}
	if vars["OTEL_EXPORTER_OTLP_ENDPOINT"] != "" || vars["OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT"] != "" {
		return "otlp"
	}
	return "none"
}

// newResource describes this process: service.name (smsbulk-shim),
// service.version (from the build), service.instance.id (random, new each
// start), host, pid and SDK, then OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME over them.
func newResource(ctx context.Context, vars map[string]string) (*resource.Resource, error) {
	fromEnv, err := parseResourceAttributes(vars["OTEL_RESOURCE_ATTRIBUTES"])
	if err != nil {
		return nil, err
	}
	if name := strings.TrimSpace(vars["OTEL_SERVICE_NAME"]); name != "" {
		fromEnv = append(fromEnv, semconv.ServiceName(name))
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithAttributes(
			semconv.ServiceName(defaultServiceName),
			semconv.ServiceVersion(serviceVersion()),
			semconv.ServiceInstanceID(newInstanceID()),
		),
		resource.WithAttributes(fromEnv...),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		// A detector that fails (no host name) leaves its attribute out;
		// anything else is a bug.
		return nil, fmt.Errorf("describing the telemetry resource: %w", err)
	}
	return res, nil
}

// parseResourceAttributes reads OTEL_RESOURCE_ATTRIBUTES: key=value pairs
// separated by commas, values percent-encoded.
func parseResourceAttributes(s string) ([]attribute.KeyValue, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var attrs []attribute.KeyValue
	for i, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: entry %d is not key=value", i+1)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: the value of %s is not percent-encoded", k)
		}
		attrs = append(attrs, attribute.String(k, val))
	}
	return attrs, nil
}

// newSampler reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG. The
// default is parentbased_always_on: a caller's traceparent decides, and a
// request without one is sampled.
func newSampler(vars map[string]string) (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(vars["OTEL_TRACES_SAMPLER"]))
	arg := strings.TrimSpace(vars["OTEL_TRACES_SAMPLER_ARG"])
	ratio := func() (sdktrace.Sampler, error) {
		if arg == "" {
			return sdktrace.TraceIDRatioBased(1), nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %q: want a ratio from 0 to 1", arg)
		}
		return sdktrace.TraceIDRatioBased(r), nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		s, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(s), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return ratio()
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER %q: want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio", name)
}

// serviceVersion is the module version of the binary, or its VCS revision
// for a development build.
func serviceVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "(devel)"
	}
	v := "devel+" + rev[:min(12, len(rev))]
	if modified == "true" {
		v += "-dirty"
	}
	return v
}

// newInstanceID is a random (version 4) UUID: service.instance.id, which
// tells replicas and restarts apart.
func newInstanceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails; it crashes instead.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// maskQuery hides the values of secret-looking query parameters (api_key,
// token, ...) from the otelhttp transport it wraps, which records the whole
// URL as url.full; unmaskQuery, under otelhttp, puts them back before the
// request leaves. A pass-through request may carry a bot's API key in its
// query string; native calls carry it in a header, which is never recorded.
type maskQuery struct{ next http.RoundTripper }

// unmaskQuery restores the query that maskQuery hid.
type unmaskQuery struct{ next http.RoundTripper }

type rawQueryKey struct{}

func (m maskQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	masked, ok := maskedQuery(r.URL.RawQuery)
	if !ok {
		return m.next.RoundTrip(r)
	}
	out := r.Clone(context.WithValue(r.Context(), rawQueryKey{}, r.URL.RawQuery))
	out.URL.RawQuery = masked
	return m.next.RoundTrip(out)
}

func (u unmaskQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	raw, ok := r.Context().Value(rawQueryKey{}).(string)
	if !ok {
		return u.next.RoundTrip(r)
	}
	out := r.Clone(r.Context())
	out.URL.RawQuery = raw
	return u.next.RoundTrip(out)
}

// maskedQuery is raw with the value of every secret-looking parameter
// replaced by REDACTED, and whether there was one. Order and encoding of the
// other parameters are kept.
func maskedQuery(raw string) (string, bool) {
	if raw == "" {
		return raw, false
	}
	parts := strings.Split(raw, "&")
	found := false
	for i, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if secretParam(name) {
			parts[i] = url.QueryEscape(name) + "=REDACTED"
			found = true
		}
	}
	if !found {
		return raw, false
	}
	return strings.Join(parts, "&"), true
}

// secretParam reports whether a query parameter name looks like it holds a
// credential.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"key", "token", "secret", "passw", "signature", "auth", "session"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return n == "sig"
}

// traceLogHandler adds trace_id and span_id to every record logged with a
// context that carries a span, unless the record names its trace_id
// itself, so that an error line can be joined to its access line and trace.
type traceLogHandler struct{ slog.Handler }

func (h traceLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "trace_id"
			return !has
		})
		if !has {
			r = r.Clone()
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceLogHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceLogHandler) WithGroup(name string) slog.Handler {
	return traceLogHandler{h.Handler.WithGroup(name)}
}
