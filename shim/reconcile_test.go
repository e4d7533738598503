package shim_test

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// unanswered makes n purchases whose answer is lost (the backend buys,
// then resets the connection), through a replica of r without retries or
// breaker, so that each leaves a pending row for the reconciler.
func unanswered(tb testing.TB, r *faultRig, n int) {
	tb.Helper()
	tr := upstream.NewTransport()
	tr.DisableKeepAlives = true
	buyer := r.with(tb, rigOptions{upstream: upstream.Options{Transport: tr, Retries: -1, BreakerThreshold: -1, Now: r.clock.Now}})
	r.sb.InjectFault(sandbox.RouteBuy, "reset-after-commit", n)
	for range n {
		if a := serve(buyer.srv, "api_key="+faultKey+"&action=getNumber&service=wa&country=0"); a.Body.String() != "ERROR_SQL" {
			tb.Fatalf("unanswered purchase = %q, want ERROR_SQL", a.Body.String())
		}
	}
	if got := len(r.sb.Ledger().Purchases(faultKey)); got != n {
		tb.Fatalf("%d purchases, want %d", got, n)
	}
}

// alarms counts the log lines that page a person about money.
func alarms(r *faultRig) int {
	return strings.Count(r.log.String(), "unanswered purchase cannot be refunded")
}

// TestReconcileAfterEarlierRefund checks that a pending purchase that was
// refunded meanwhile (an earlier compensation, another replica) raises no
// "cannot be refunded" alarm although the replay answers it as it was
// bought, WAITING, and the cancel is refused.
func TestReconcileAfterEarlierRefund(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, sandbox.Config{})
	unanswered(t, r, 1)
	id := r.sb.Ledger().Purchases(faultKey)[0].ActivationID
	if _, err := r.api.Cancel(t.Context(), faultKey, id); err != nil {
		t.Fatal(err)
	}
	r.drain(t)
	if n := alarms(r); n != 0 {
		t.Errorf("%d alarms for a purchase refunded once", n)
	}
	if !strings.Contains(r.log.String(), "unanswered purchase already refunded") {
		t.Error("the refund made meanwhile was not noticed")
	}
	l := r.sb.Ledger()
	if err := l.Check(r.initial); err != nil {
		t.Errorf("ledger: %v", err)
	}
	if n := len(l.Refunds(faultKey)); n != 1 {
		t.Errorf("%d refunds, want 1", n)
	}
}

// TestReconcileTwoReplicasSlowBackend runs two replicas' reconcilers at
// once on a backend slow to cancel, with a configured lease far shorter
// than a batch takes: each row is settled by one replica only (the lease
// is sized to the batch), no alarm is raised and every purchase is
// refunded once.
func TestReconcileTwoReplicasSlowBackend(t *testing.T) {
	t.Parallel()
	const n = 12
	// Long native timeouts: the slow cancels must be slow, never timed out,
	// however loaded the machine is.
	r := newFaultRigTimeout(t, sandbox.Config{}, 10*time.Second)
	unanswered(t, r, n)
	r.sb.InjectFault(sandbox.RouteCancel, "latency=100ms", n)
	opt := shim.ReconcileOptions{After: time.Millisecond, Lease: time.Millisecond, Batch: 4, Concurrency: 2,
		CallTimeout: 10 * time.Second, Now: r.clock.Now}
	replicas := []*shim.Reconciler{r.srv.NewReconciler(opt), r.with(t, rigOptions{log: r.log, level: slog.LevelDebug}).srv.NewReconciler(opt)}
	var wg sync.WaitGroup
	var settled atomic.Int64
	for i, rec := range replicas {
		wg.Go(func() {
			// The second replica starts while the first is mid-batch.
			time.Sleep(time.Duration(i) * 150 * time.Millisecond)
			n, err := rec.Round(t.Context())
			if err != nil {
				t.Error(err)
			}
			settled.Add(int64(n))
		})
	}
	wg.Wait()
	if got := settled.Load(); got != n {
		t.Errorf("the replicas settled %d rows in one round each, want %d", got, n)
	}
	r.drain(t)
	if n := alarms(r); n != 0 {
		t.Errorf("%d alarms", n)
	}
	if n := strings.Count(r.log.String(), "unanswered purchase already refunded"); n != 0 {
		t.Errorf("%d rows settled by both replicas", n)
	}
	l := r.sb.Ledger()
	if err := l.Check(r.initial); err != nil {
		t.Errorf("ledger: %v", err)
	}
	if got := len(l.Refunds(faultKey)); got != n {
		t.Errorf("%d refunds, want %d", got, n)
	}
}

// TestReconcileOwnBreaker checks that replays timing out on a degraded
// backend, through a client with its own breaker, leave the breaker of live
// requests closed.
func TestReconcileOwnBreaker(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, sandbox.Config{})
	// More replays time out than the breaker's threshold (5).
	unanswered(t, r, 8)
	r.sb.InjectFault(sandbox.RouteBuy, "latency=2s", 8)
	rec := r.srv.NewReconciler(shim.ReconcileOptions{After: time.Millisecond, CallTimeout: time.Second, Now: r.clock.Now,
		API: r.api.WithOwnBreaker()})
	if _, err := rec.Round(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := r.api.BreakerState(); st != upstream.BreakerClosed {
		t.Errorf("the live breaker is %s after the replays timed out, want closed", st)
	}
	if a := r.legacy(t, "action", "getBalance"); !strings.HasPrefix(a.body, "ACCESS_BALANCE:") {
		t.Errorf("live getBalance = %q", a.body)
	}
}
