package shim_test

import (
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// BenchmarkReconcileDegraded measures how long one reconcile round takes
// to refund 181 unanswered purchases on a backend that answers every call
// after 250ms, as in the attack pass (run with -benchtime=1x; the
// sequential reconciler of before took about 2 calls x 250ms per row).
func BenchmarkReconcileDegraded(b *testing.B) {
	for range b.N {
		b.StopTimer()
		r := newFaultRig(b, sandbox.Config{})
		unanswered(b, r, 181)
		r.sb.InjectFault(sandbox.RouteAll, "latency=250ms", 10000)
		rec := r.srv.NewReconciler(shim.ReconcileOptions{After: time.Millisecond, CallTimeout: 5 * time.Second, Now: r.clock.Now,
			API: r.api.WithOwnBreaker()})
		b.StartTimer()
		n, err := rec.Round(b.Context())
		b.StopTimer()
		if err != nil || n != 181 || len(r.sb.Ledger().Refunds(faultKey)) != 181 {
			b.Fatalf("refunded %d, %d in the ledger (err %v), want 181", n, len(r.sb.Ledger().Refunds(faultKey)), err)
		}
		b.ReportMetric(float64(alarms(r)), "alarms")
	}
}

// BenchmarkReconcileTwoReplicas measures two replicas reconciling 160
// unanswered purchases at once on that degraded backend, a tenth of them
// refunded earlier, and reports the false "cannot be refunded" alarms
// (the attack pass saw 16 of 160).
func BenchmarkReconcileTwoReplicas(b *testing.B) {
	const n = 160
	for range b.N {
		b.StopTimer()
		r := newFaultRig(b, sandbox.Config{})
		unanswered(b, r, n)
		for i, p := range r.sb.Ledger().Purchases(faultKey) {
			if i%10 == 0 {
				if _, err := r.api.Cancel(b.Context(), faultKey, p.ActivationID); err != nil {
					b.Fatal(err)
				}
			}
		}
		r.sb.InjectFault(sandbox.RouteAll, "latency=250ms", 100000)
		opt := shim.ReconcileOptions{After: time.Millisecond, CallTimeout: 5 * time.Second, Now: r.clock.Now}
		replicas := []*shim.Reconciler{r.srv.NewReconciler(opt), r.with(b, rigOptions{log: r.log}).srv.NewReconciler(opt)}
		done := make(chan int, len(replicas))
		b.StartTimer()
		for _, rec := range replicas {
			go func() { s, _ := rec.Round(b.Context()); done <- s }()
		}
		settled := <-done + <-done
		b.StopTimer()
		l := r.sb.Ledger()
		if err := l.Check(r.initial); err != nil || len(l.Refunds(faultKey)) != n || settled < n {
			b.Fatalf("settled %d, refunds %d of %d, ledger %v", settled, len(l.Refunds(faultKey)), n, err)
		}
		b.ReportMetric(float64(alarms(r)), "alarms")
	}
}
