package telemetry

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/caarlos0/env/v11"
	"go.opentelemetry.io/otel/propagation"
)

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

// newPropagator reads OTEL_PROPAGATORS: a comma-separated list of
// tracecontext, baggage and none. Unset or empty is tracecontext,baggage;
// "none" alone propagates nothing. Other standard names (b3, jaeger, xray,
// ottrace) need propagators this binary does not carry, so they stop the
// start-up rather than being ignored.
func newPropagator(list string) (propagation.TextMapPropagator, error) {
	if strings.TrimSpace(list) == "" {
		list = "tracecontext,baggage"
	}
	var props []propagation.TextMapPropagator
	seen := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if seen[name] {
			continue
		}
		seen[name] = true
		switch name {
		case "tracecontext":
			props = append(props, propagation.TraceContext{})
		case "baggage":
			props = append(props, propagation.Baggage{})
		case "none":
		default:
			return nil, fmt.Errorf("OTEL_PROPAGATORS %q: this build supports tracecontext, baggage and none", name)
		}
	}
	if seen["none"] && len(props) > 0 {
		return nil, errors.New("OTEL_PROPAGATORS: none cannot be combined with other propagators")
	}
	return propagation.NewCompositeTextMapPropagator(props...), nil
}
