package shim_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// TestClientLeavesMidPurchase checks that a bot that gives up while the
// native purchase is in flight does not abandon it: the purchase is
// finished and, since nobody can hear its ID any more, refunded at once,
// with nothing left for the reconciler.
func TestClientLeavesMidPurchase(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, sandbox.Config{})
	if a := r.legacy(t, "action", "getBalance"); a.body != "ACCESS_BALANCE:100.00" {
		t.Fatalf("getBalance = %q", a.body)
	}
	r.sb.InjectFault(sandbox.RouteBuy, "latency=150ms", 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	time.AfterFunc(30*time.Millisecond, cancel)
	q := url.Values{"api_key": {faultKey}, "action": {"getNumber"}, "service": {"wa"}, "country": {"0"}}
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/stubs/handler_api.php?"+q.Encode(), nil)
	r.srv.ServeHTTP(httptest.NewRecorder(), req)

	l := r.sb.Ledger()
	if err := l.Check(r.initial); err != nil {
		t.Errorf("ledger: %v", err)
	}
	if p, f := len(l.Purchases(faultKey)), len(l.Refunds(faultKey)); p != 1 || f != 1 {
		t.Errorf("%d purchases and %d refunds when the request returned, want 1 and 1", p, f)
	}
	r.clock.Advance(time.Hour)
	left, err := r.store.Stale(t.Context(), r.clock.Now(), time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("%d purchases left for the reconciler", len(left))
	}
}

// TestRepeatedCancelUnconfirmed checks that a cancel repeated after its
// answer was lost, refused because it already happened, answers ERROR_SQL
// (not BAD_STATUS) when the activation cannot be read to confirm it, and
// ACCESS_CANCEL once it can.
func TestRepeatedCancelUnconfirmed(t *testing.T) {
	t.Parallel()
	r := newFaultRig(t, sandbox.Config{})
	a := r.getNumber(t)
	id, ok := a.legacyID()
	if !ok {
		t.Fatalf("getNumber = %q", a.body)
	}
	ids := strconv.FormatInt(id, 10)
	r.sb.InjectFault(sandbox.RouteCancel, "reset-after-commit", 3)
	if a := r.legacy(t, "action", "setStatus", "id", ids, "status", "8"); a.body != "ERROR_SQL" {
		t.Fatalf("cancel with its answer lost = %q, want ERROR_SQL", a.body)
	}
	r.sb.InjectFault(sandbox.RouteGet, "status=503", 3)
	if a := r.legacy(t, "action", "setStatus", "id", ids, "status", "8"); a.body != "ERROR_SQL" {
		t.Errorf("repeated cancel, confirming read failed = %q, want ERROR_SQL", a.body)
	}
	if a := r.legacy(t, "action", "setStatus", "id", ids, "status", "8"); a.body != "ACCESS_CANCEL" {
		t.Errorf("repeated cancel, confirmed = %q, want ACCESS_CANCEL", a.body)
	}
}
