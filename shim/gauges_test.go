package shim_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// holdCommit is a store whose Commit waits until release is closed, so
// that a purchase can be watched in flight.
type holdCommit struct {
	shim.IDStore
	arrived chan struct{}
	release chan struct{}
}

func (h holdCommit) Commit(ctx context.Context, id int64, nativeID string) error {
	h.arrived <- struct{}{}
	<-h.release
	return h.IDStore.Commit(ctx, id, nativeID)
}

type fixedBreaker struct{ s atomic.Value }

func (b *fixedBreaker) BreakerState() upstream.BreakerState {
	return b.s.Load().(upstream.BreakerState)
}

// TestGauges: the counters alerts count exist at 0 before any event; the
// breaker gauge follows the breaker; a purchase in flight shows in this
// replica's gauges and in the store's, and leaves both when committed.
func TestGauges(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	br := &fixedBreaker{}
	br.s.Store(upstream.BreakerClosed)
	hold := holdCommit{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	var store idmap.Store
	r := newRig(t, rigOptions{
		sandbox: sandbox.Config{Keys: map[string]string{"gauge-key": "100.00"}, SMSDelay: time.Hour, TTL: 2 * time.Hour},
		wrapStore: func(s idmap.Store) shim.IDStore {
			store = s
			hold.IDStore = s
			return hold
		},
		shim: shim.Options{MeterProvider: mp, Gauges: shim.Gauges{
			Breaker: br,
			Pending: func(ctx context.Context) (idmap.PendingSummary, error) {
				return store.(interface {
					Pending(ctx context.Context) (idmap.PendingSummary, error)
				}).Pending(ctx)
			},
		}},
	})
	url := r.listen(t)
	collect := func() map[string]float64 {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(t.Context(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		key := func(name string, set attribute.Set) string {
			var parts []string
			for _, kv := range set.ToSlice() {
				parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
			}
			return name + "{" + strings.Join(parts, ",") + "}"
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case metricdata.Sum[int64]:
					for _, dp := range d.DataPoints {
						got[key(m.Name, dp.Attributes)] = float64(dp.Value)
					}
				case metricdata.Gauge[int64]:
					for _, dp := range d.DataPoints {
						got[key(m.Name, dp.Attributes)] = float64(dp.Value)
					}
				case metricdata.Gauge[float64]:
					for _, dp := range d.DataPoints {
						got[key(m.Name, dp.Attributes)] = dp.Value
					}
				}
			}
		}
		return got
	}
	want := func(got map[string]float64, series string, check func(float64) bool) {
		t.Helper()
		v, ok := got[series]
		if !ok || !check(v) {
			t.Errorf("%s = %v (present %v)", series, v, ok)
		}
	}
	zero := func(v float64) bool { return v == 0 }
	one := func(v float64) bool { return v == 1 }

	got := collect()
	for _, s := range []string{
		"smsbulk_shim.compensations{smsbulk.outcome=ok}", "smsbulk_shim.compensations{smsbulk.outcome=failed}",
		"smsbulk_shim.idmap.errors{db.operation.name=reserve}", "smsbulk_shim.idmap.errors{db.operation.name=commit}",
		"smsbulk_shim.legacy.requests{smsbulk.legacy.action=getNumber,smsbulk.legacy.result_code=ERROR_SQL}",
		"smsbulk_shim.native.breaker.state{}", "smsbulk_shim.purchases.in_flight{}", "smsbulk_shim.idmap.pending.purchases{}",
		"smsbulk_shim.idmap.pending.oldest_age{}",
	} {
		want(got, s, zero)
	}
	br.s.Store(upstream.BreakerOpen)
	want(collect(), "smsbulk_shim.native.breaker.state{}", one)
	br.s.Store(upstream.BreakerHalfOpen)
	want(collect(), "smsbulk_shim.native.breaker.state{}", func(v float64) bool { return v == 2 })

	answered := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/stubs/handler_api.php?api_key=gauge-key&action=getNumber&service=wa&country=0")
		if err != nil {
			answered <- "error"
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- string(b)
	}()
	<-hold.arrived
	time.Sleep(20 * time.Millisecond) // so that the oldest age is above 0
	got = collect()
	want(got, "smsbulk_shim.purchases.in_flight{}", one)
	want(got, "smsbulk_shim.purchases.in_flight.oldest_age{}", func(v float64) bool { return v > 0 && v < 60 })
	want(got, "smsbulk_shim.idmap.pending.purchases{}", one)
	want(got, "smsbulk_shim.idmap.pending.oldest_age{}", func(v float64) bool { return v > 0 && v < 60 })
	close(hold.release)
	if body := <-answered; !strings.HasPrefix(body, "ACCESS_NUMBER:") {
		t.Fatalf("getNumber = %q", body)
	}
	got = collect()
	for _, s := range []string{"smsbulk_shim.purchases.in_flight{}", "smsbulk_shim.purchases.in_flight.oldest_age{}",
		"smsbulk_shim.idmap.pending.purchases{}", "smsbulk_shim.idmap.pending.oldest_age{}"} {
		want(got, s, zero)
	}
}
