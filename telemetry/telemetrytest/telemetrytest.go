// Package telemetrytest helps tests that call telemetry.Setup, directly or
// through cmd/smsbulk-shim's run, with OTEL_ variables. It is for tests
// only: it changes the process environment.
package telemetrytest

import (
	"os"
	"strings"
	"testing"
)

// SetOTEL sets the OTEL_ variables kv (name, value, name, value, ...) in
// the process environment for the test, where the OpenTelemetry exporters
// read them, removes every other OTEL_ variable from it until the test
// ends, and returns kv as KEY=VALUE strings for Setup's environ. Like
// t.Setenv, it must not be called in a parallel test.
func SetOTEL(t *testing.T, kv ...string) []string {
	t.Helper()
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); strings.HasPrefix(k, "OTEL_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	var environ []string
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
		environ = append(environ, kv[i]+"="+kv[i+1])
	}
	return environ
}
