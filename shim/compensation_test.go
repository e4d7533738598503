package shim_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// compKey is the API key of the compensation tests. It must appear in no
// log line.
const compKey = "comp-key-5f2c9d0b7e41"

// failingCommits is a real store whose Commit fails on purpose while fail is
// set: the one fault the sandbox cannot produce.
type failingCommits struct {
	shim.IDStore
	fail atomic.Bool
}

func (s *failingCommits) Commit(ctx context.Context, legacyID int64, nativeID string) error {
	if s.fail.Load() {
		return fmt.Errorf("committing legacy id %d: %w: failed on purpose by the test", legacyID, idmap.ErrUnavailable)
	}
	return s.IDStore.Commit(ctx, legacyID, nativeID)
}

// compEnv is a shim on a real SQLite store (with failingCommits in front)
// and a real sandbox on loopback, with its logs and metrics captured.
type compEnv struct {
	sb      *sandbox.Sandbox
	store   *failingCommits
	srv     *shim.Server
	url     string
	keys    *shim.Keys
	logs    *logBuffer
	metrics *sdkmetric.ManualReader
	initial map[string]string
}

func newCompEnv(tb testing.TB) *compEnv {
	tb.Helper()
	e := &compEnv{initial: map[string]string{compKey: "50.00"}, logs: &logBuffer{}, metrics: sdkmetric.NewManualReader()}
	r := newRig(tb, rigOptions{
		// A long SMS delay keeps every activation WAITING, so that it can be
		// cancelled for a refund however long the test takes.
		sandbox:      sandbox.Config{Keys: e.initial, SMSDelay: time.Hour, TTL: 2 * time.Hour},
		upstream:     upstream.Options{Retries: 2, Backoff: time.Millisecond},
		wrapStore:    func(s idmap.Store) shim.IDStore { return &failingCommits{IDStore: s} },
		secret:       "compensation test secret, 32 bytes",
		countryCache: 64,
		shim:         shim.Options{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.metrics))},
		log:          e.logs,
		level:        slog.LevelDebug,
	})
	e.sb, e.store, e.srv, e.keys = r.sb, r.ids.(*failingCommits), r.srv, r.keys
	e.url = r.listen(tb) + "/stubs/handler_api.php"
	tb.Cleanup(func() {
		if strings.Contains(e.logs.String(), compKey) {
			tb.Errorf("the API key appears in the logs:\n%s", e.logs.String())
		}
	})
	return e
}

// legacy sends one legacy request and returns the HTTP status and body.
func (e *compEnv) legacy(tb testing.TB, params url.Values) (int, string) {
	tb.Helper()
	resp, err := http.Get(e.url + "?" + params.Encode())
	if err != nil {
		tb.Fatalf("legacy %s: %v", params.Get("action"), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (e *compEnv) getNumber(tb testing.TB) (int, string) {
	tb.Helper()
	return e.legacy(tb, url.Values{"api_key": {compKey}, "action": {"getNumber"}, "service": {"wa"}, "country": {"0"}})
}

// compensations returns the smsbulk_shim.compensations counter by outcome.
func (e *compEnv) compensations(tb testing.TB) map[string]int64 {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.metrics.Collect(tb.Context(), &rm); err != nil {
		tb.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "smsbulk_shim.compensations" {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				tb.Fatalf("smsbulk_shim.compensations is a %T, want an int64 sum", m.Data)
			}
			for _, dp := range sum.DataPoints {
				v, _ := dp.Attributes.Value(attribute.Key("smsbulk.outcome"))
				out[v.AsString()] += dp.Value
			}
		}
	}
	return out
}

// find returns the log records whose msg is msg.
func find(recs []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// TestCompensation covers the purchases the shim cannot answer: the map
// write fails after the native purchase, with or without a working refund,
// and the backend's answer is lost. In every case the bot gets ERROR_SQL and,
// at the latest after one Reconciler round, the ledger shows the purchase
// refunded.
func TestCompensation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// commitFails makes the map write fail.
		commitFails bool
		// cancelFaults is how many cancels the sandbox fails with a 503
		// (3 exhausts the client's 2 retries).
		cancelFaults int
		// buyFault is a fault spec for the native purchase.
		buyFault string
		// refundedAtOnce: the request itself refunds the purchase.
		refundedAtOnce bool
		// wantNow is the compensations counter after the request.
		wantNow map[string]int64
	}{
		{name: "commit fails, refund at once", commitFails: true, refundedAtOnce: true,
			wantNow: map[string]int64{"ok": 1}},
		{name: "commit fails, refund fails, reconciler refunds", commitFails: true, cancelFaults: 3,
			wantNow: map[string]int64{"failed": 1}},
		{name: "answer of the purchase lost, reconciler refunds", buyFault: "reset-after-commit",
			wantNow: map[string]int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newCompEnv(t)
			e.store.fail.Store(tc.commitFails)
			if tc.cancelFaults > 0 {
				e.sb.InjectFault(sandbox.RouteCancel, "status=503", tc.cancelFaults)
			}
			if tc.buyFault != "" {
				// More than the client's attempts: net/http may resend
				// once on a broken keep-alive connection too.
				e.sb.InjectFault(sandbox.RouteBuy, tc.buyFault, 10)
			}
			status, body := e.getNumber(t)
			if status != http.StatusOK || body != "ERROR_SQL" {
				t.Fatalf("getNumber = %d %q, want 200 ERROR_SQL", status, body)
			}
			e.sb.InjectFault(sandbox.RouteBuy, "", 0)
			e.sb.InjectFault(sandbox.RouteCancel, "", 0)
			e.store.fail.Store(false)

			led := e.sb.Ledger()
			buys := led.Purchases(compKey)
			if len(buys) != 1 {
				t.Fatalf("ledger has %d purchases, want 1: %+v", len(buys), led.Entries)
			}
			nativeID := buys[0].ActivationID
			if got := len(led.Refunds(compKey)); tc.refundedAtOnce != (got == 1) {
				t.Fatalf("after the request the ledger has %d refunds; refunded at once: %v", got, tc.refundedAtOnce)
			}
			if got := e.compensations(t); !equalCounts(got, tc.wantNow) {
				t.Errorf("compensations after the request = %v, want %v", got, tc.wantNow)
			}

			recs := e.logs.records(t)
			if tc.cancelFaults > 0 {
				// The one line a person needs to reconcile by hand.
				lines := find(recs, "refund of unstored purchase failed")
				if len(lines) != 1 {
					t.Fatalf("%d 'refund of unstored purchase failed' lines, want 1; logs:\n%s", len(lines), e.logs.String())
				}
				l := lines[0]
				if l["level"] != "ERROR" || l["native_id"] != nativeID || l["owner"] != e.keys.Owner(compKey) {
					t.Errorf("failed refund line = %v; want level ERROR, native_id %s, owner %s", l, nativeID, e.keys.Owner(compKey))
				}
				if id, _ := l["legacy_id"].(float64); id < 100000001 {
					t.Errorf("failed refund line has legacy_id %v", l["legacy_id"])
				}
			}

			// A Reconciler round with the real clock finds nothing due: the
			// pending row is younger than After.
			ctx := t.Context()
			if n, err := e.srv.NewReconciler(shim.ReconcileOptions{After: time.Minute}).Round(ctx); err != nil || n != 0 {
				t.Fatalf("early reconcile round settled %d, %v; want 0, nil", n, err)
			}
			// An hour later it settles what is left, and only that.
			later := fakeclock.Offset()
			later.Advance(time.Hour)
			n, err := e.srv.NewReconciler(shim.ReconcileOptions{After: time.Minute, Now: later.Now}).Round(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantSettled := 1
			if tc.refundedAtOnce {
				wantSettled = 0
			}
			if n != wantSettled {
				t.Errorf("reconcile round settled %d rows, want %d", n, wantSettled)
			}
			if n, err := e.srv.NewReconciler(shim.ReconcileOptions{After: time.Minute, Now: later.Now}).Round(ctx); err != nil || n != 0 {
				t.Errorf("second reconcile round settled %d, %v; want 0, nil", n, err)
			}

			led = e.sb.Ledger()
			refunds := led.Refunds(compKey)
			if len(refunds) != 1 || refunds[0].ActivationID != nativeID {
				t.Fatalf("ledger refunds = %+v, want one of %s", refunds, nativeID)
			}
			if len(led.Purchases(compKey)) != 1 {
				t.Errorf("the reconciler bought again: %+v", led.Purchases(compKey))
			}
			if got := led.Balance(compKey); got != e.initial[compKey] {
				t.Errorf("balance %s, want %s back", got, e.initial[compKey])
			}
			if err := led.Check(e.initial); err != nil {
				t.Errorf("ledger: %v", err)
			}
			if !tc.refundedAtOnce {
				got := e.compensations(t)
				if got["ok"] != 1 {
					t.Errorf("compensations after the round = %v, want ok=1", got)
				}
				lines := find(e.logs.records(t), "unanswered purchase refunded")
				if len(lines) != 1 || lines[0]["native_id"] != nativeID {
					t.Errorf("reconciler refund lines = %v, want one for %s", lines, nativeID)
				}
			}
		})
	}
}

// TestReconcileCountsAnIntentItCannotOpen: a pending purchase sealed
// under another secret cannot be settled by anyone; the reconciler voids it
// and counts it as a failed compensation, the series an alert watches.
func TestReconcileCountsAnIntentItCannotOpen(t *testing.T) {
	t.Parallel()
	e := newCompEnv(t)
	if _, err := e.store.Reserve(t.Context(), idmap.Reservation{Owner: e.keys.Owner(compKey), IdemKey: "idem-other-secret",
		Intent: []byte("sealed under another secret")}); err != nil {
		t.Fatal(err)
	}
	later := fakeclock.Offset()
	later.Advance(time.Hour)
	if n, err := e.srv.NewReconciler(shim.ReconcileOptions{After: time.Minute, Now: later.Now}).Round(t.Context()); err != nil || n != 1 {
		t.Fatalf("reconcile round settled %d, %v; want 1 (voided)", n, err)
	}
	if got := e.compensations(t); !equalCounts(got, map[string]int64{"failed": 1}) {
		t.Errorf("compensations = %v, want failed=1", got)
	}
	if lines := find(e.logs.records(t), "pending purchase cannot be opened; reconcile by hand with its idempotency key"); len(lines) != 1 {
		t.Errorf("%d lines for the intent that cannot be opened, want 1", len(lines))
	}
}

// equalCounts compares counts, a missing key counting as 0: counters start
// every known series at 0.
func equalCounts(a, b map[string]int64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
