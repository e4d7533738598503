package telemetry

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// newResource describes this process: service.name (serviceName),
// service.version (version, see ReadBuild), service.instance.id (random, new each
// start), host, pid and SDK, then OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME over them.
func newResource(ctx context.Context, serviceName, version string, vars map[string]string) (*resource.Resource, error) {
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
			semconv.ServiceName(serviceName),
			semconv.ServiceVersion(version),
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

// newInstanceID is a random (version 4) UUID: service.instance.id, which
// tells replicas and restarts apart.
func newInstanceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails; it crashes instead.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
