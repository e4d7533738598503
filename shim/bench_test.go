package shim_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// benchServer is a shim in front of a sandbox served over loopback HTTP,
// with an SQLite ID map behind the LRU, as -sandbox runs it.
func benchServer(b *testing.B) http.Handler {
	b.Helper()
	return newRig(b, rigOptions{
		sandbox:   sandbox.Config{Keys: map[string]string{"bench": "1000000.00"}},
		wrapStore: func(s idmap.Store) shim.IDStore { return idmap.NewCache(s, 1000) },
		secret:    "bench-secret-0123456789abcdef",
	}).srv
}

// BenchmarkGetStatus is the hot path: every bot polls it every few seconds.
// It includes the native GET over loopback HTTP to the sandbox.
func BenchmarkGetStatus(b *testing.B) {
	h := benchServer(b)
	num := serve(h, "api_key=bench&action=getNumber&service=wa&country=62").Body.String()
	if !strings.HasPrefix(num, "ACCESS_NUMBER:") {
		b.Fatalf("getNumber = %q", num)
	}
	q := "api_key=bench&action=getStatus&id=" + strings.Split(num, ":")[1]
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got := serve(h, q).Body.String(); got != "STATUS_WAIT_CODE" {
			b.Fatalf("getStatus = %q", got)
		}
	}
}

// BenchmarkGetNumber is one purchase: catalog (cached), journal, native buy,
// commit to SQLite.
func BenchmarkGetNumber(b *testing.B) {
	h := benchServer(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got := serve(h, "api_key=bench&action=getNumber&service=wa&country=62").Body.String(); !strings.HasPrefix(got, "ACCESS_NUMBER:") {
			b.Fatalf("getNumber = %q", got)
		}
	}
}

// BenchmarkBadCountry is the cost of junk that is answered without a
// native call.
func BenchmarkBadCountry(b *testing.B) {
	h := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		if got := serve(h, "api_key=bench&action=getNumber&service=wa&country=atlantis").Body.String(); got != "BAD_COUNTRY" {
			b.Fatalf("got %q", got)
		}
	}
}

// BenchmarkGetNumberBreakdown is BenchmarkGetNumber with the shim's own
// metrics on, and reports where a purchase's time goes, per purchase: the
// ID map's reserve and commit (SQLite, synchronous=FULL: each a durable
// write), the native buy, and the key check and catalog calls (made once
// and then cached, so near zero per purchase).
func BenchmarkGetNumberBreakdown(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	h := newRig(b, rigOptions{
		sandbox:   sandbox.Config{Keys: map[string]string{"bench": "1000000.00"}},
		wrapStore: func(s idmap.Store) shim.IDStore { return idmap.NewCache(s, 1000) },
		secret:    "bench-secret-0123456789abcdef",
		shim:      shim.Options{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))},
	}).srv
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if got := serve(h, "api_key=bench&action=getNumber&service=wa&country=62").Body.String(); !strings.HasPrefix(got, "ACCESS_NUMBER:") {
			b.Fatalf("getNumber = %q", got)
		}
		n++
	}
	b.StopTimer()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		b.Fatal(err)
	}
	sums := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			hist, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				continue
			}
			for _, p := range hist.DataPoints {
				for _, k := range []attribute.Key{"db.operation.name", "smsbulk.native.call", "smsbulk.legacy.action"} {
					if v, ok := p.Attributes.Value(k); ok {
						sums[v.AsString()] += p.Sum
					}
				}
			}
		}
	}
	for _, phase := range []string{"getNumber", "reserve", "buy", "commit", "balance", "services"} {
		b.ReportMetric(sums[phase]/float64(n)*1e6, phase+"-µs/op")
	}
}
