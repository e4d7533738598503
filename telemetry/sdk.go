package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

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
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// FlushTimeout bounds Shutdown's flush when ctx has no deadline.
const FlushTimeout = 5 * time.Second

// SDK is the process's OpenTelemetry wiring. Make it with Setup and call
// Shutdown once the servers have stopped. A zero SDK is not usable; a
// literal with every exported field set is (its Shutdown does nothing).
type SDK struct {
	// TracerProvider makes every span.
	TracerProvider trace.TracerProvider
	// MeterProvider makes every instrument; its metrics are served by
	// MetricsHandler and, when configured, pushed by OTLP.
	MeterProvider metric.MeterProvider
	// Propagator is what OTEL_PROPAGATORS names; by default W3C
	// tracecontext and baggage.
	Propagator propagation.TextMapPropagator
	// MetricsHandler serves the metrics in Prometheus text format (with
	// the Go runtime and process collectors), or 404 with
	// OTEL_SDK_DISABLED.
	MetricsHandler http.Handler
	// WrapTransport puts a client span around every request of the
	// transport it wraps and sends traceparent; it records no header and no
	// secret query value (see maskQuery).
	WrapTransport func(http.RoundTripper) http.RoundTripper

	flush func(context.Context) error // nil: nothing to flush
	once  sync.Once
}

// Service names the program for Setup.
type Service struct {
	// Name is service.name unless OTEL_SERVICE_NAME or
	// OTEL_RESOURCE_ATTRIBUTES names another.
	Name string
	// Build is service.version (Build.Version) and the labels of the
	// smsbulk_shim_build_info gauge.
	Build Build
}

// Setup builds the providers from the standard OTEL_ variables in environ,
// for svc: its resource carries svc's name and version, and its meter
// provider serves the gauge smsbulk_shim_build_info{version, revision,
// goversion} = 1. log receives one line saying
// what was chosen, and export failures.
//
// Setup decides from environ alone: whether each signal is exported
// (OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, or else whether an OTLP
// endpoint is set for it), OTEL_SDK_DISABLED, the sampler
// (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) and the resource
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) and the propagators
// (OTEL_PROPAGATORS: tracecontext, baggage or none; default
// tracecontext,baggage). The exporters themselves
// (autoexport and the OTLP exporters: endpoint, protocol, headers, TLS,
// timeouts, batch and export intervals) read the process environment, as
// every OpenTelemetry SDK does; so every OTEL_ variable in environ must have
// the same value in the process environment, or Setup fails. Pass
// os.Environ(); a test that passes OTEL_ variables sets them with t.Setenv
// as well.
//
// With no exporter configured nothing is sent anywhere: spans are not
// recorded (unless an incoming traceparent asks for sampling, so that the
// trace continues at the backend), and metrics are only kept for
// MetricsHandler. Call Shutdown once the servers have stopped.
//
// Setup sets the process-wide OpenTelemetry error handler when it exports
// anything; nothing else of it is global.
func Setup(ctx context.Context, svc Service, environ []string, log *slog.Logger) (*SDK, error) {
	vars := otelVars(environ)
	if err := sameAsProcess(vars); err != nil {
		return nil, err
	}
	prop, err := newPropagator(vars["OTEL_PROPAGATORS"])
	if err != nil {
		return nil, err
	}
	if disabled, _ := strconv.ParseBool(strings.TrimSpace(vars["OTEL_SDK_DISABLED"])); disabled {
		log.Info("telemetry disabled by OTEL_SDK_DISABLED: no spans, no metrics, /metrics answers 404")
		return &SDK{
			TracerProvider: tracenoop.NewTracerProvider(),
			MeterProvider:  metricnoop.NewMeterProvider(),
			Propagator:     prop,
			MetricsHandler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "metrics are disabled (OTEL_SDK_DISABLED)", http.StatusNotFound)
			}),
			WrapTransport: func(rt http.RoundTripper) http.RoundTripper { return rt },
		}, nil
	}

	res, err := newResource(ctx, svc.Name, svc.Build.Version, vars)
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
	// No otel_scope_* labels: every series would carry the instrumentation
	// library's name and version, which no query needs.
	prom, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
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
	if err := buildInfo(mp, svc.Build); err != nil {
		_ = tp.Shutdown(ctx)
		_ = mp.Shutdown(ctx)
		return nil, err
	}
	instance, _ := res.Set().Value(semconv.ServiceInstanceIDKey)
	log.Info("telemetry", slog.String("traces_exporter", tracesTo), slog.String("metrics_exporter", metricsTo),
		slog.String("sampler", samplerName), slog.String("service_instance_id", instance.AsString()))
	return &SDK{
		TracerProvider: tp,
		MeterProvider:  mp,
		Propagator:     prop,
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
			return maskQuery{otelhttp.NewTransport(unmaskQuery{rt},
				otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp), otelhttp.WithPropagators(prop))}
		},
		flush: func(ctx context.Context) error {
			return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
		},
	}, nil
}

// Shutdown flushes and stops the exporters, within ctx's deadline or else
// FlushTimeout. Only the first call does anything; later ones return nil.
// Spans and metrics made after it are dropped.
func (s *SDK) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		if s.flush == nil {
			return
		}
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, FlushTimeout)
			defer cancel()
		}
		err = s.flush(ctx)
	})
	return err
}

// buildInfo registers smsbulk_shim.build.info, always 1, labelled with b:
// on /metrics smsbulk_shim_build_info{version, revision, goversion}.
func buildInfo(mp metric.MeterProvider, b Build) error {
	attrs := metric.WithAttributes(attribute.String("version", b.Version), attribute.String("revision", b.Revision),
		attribute.String("goversion", b.GoVersion))
	_, err := mp.Meter("github.com/smsbulk/smsbulk-shim/telemetry").Int64ObservableGauge("smsbulk_shim.build.info",
		metric.WithDescription("The build that runs: always 1, labelled with its version, VCS revision and Go version."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(1, attrs)
			return nil
		}))
	if err != nil {
		return fmt.Errorf("registering the build info gauge: %w", err)
	}
	return nil
}
