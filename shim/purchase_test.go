package shim_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// TestClientLeavesMidPurchase checks that a bot that gives up while the
// native purchase is in flight does not abandon it: the purchase is
// finished and, since nobody can hear its ID any more, refunded at once,
// with nothing left for the reconciler.
func TestClientLeavesMidPurchase(t *testing.T) {
	t.Parallel()
	const key = "leaving-key"
	initial := map[string]string{key: "100.00"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// The bot gives up the moment the purchase leaves for the backend
	// (after it is journaled), and the backend takes a while to answer.
	leave := leaveOnBuy{cancel: cancel}
	clock := fakeclock.Offset()
	r := newRig(t, rigOptions{
		sandbox:  sandbox.Config{Keys: initial, SMSDelay: time.Hour},
		upstream: upstream.Options{WrapTransport: leave.wrap},
		idmap:    idmap.Options{Now: clock.Now},
	})
	r.sb.InjectFault(sandbox.RouteBuy, "latency=200ms", 1)
	q := url.Values{"api_key": {key}, "action": {"getNumber"}, "service": {"wa"}, "country": {"0"}}
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/stubs/handler_api.php?"+q.Encode(), nil)
	r.srv.ServeHTTP(httptest.NewRecorder(), req)
	if ctx.Err() == nil {
		t.Fatal("the bot never gave up: the purchase did not reach the backend")
	}

	l := r.sb.Ledger()
	if err := l.Check(initial); err != nil {
		t.Errorf("ledger: %v", err)
	}
	if p, f := len(l.Purchases(key)), len(l.Refunds(key)); p != 1 || f != 1 {
		t.Errorf("%d purchases and %d refunds when the request returned, want 1 and 1", p, f)
	}
	clock.Advance(time.Hour)
	left, err := r.store.Stale(t.Context(), clock.Now(), time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("%d purchases left for the reconciler", len(left))
	}
}

// leaveOnBuy cancels the bot's request when the shim sends the native
// purchase, and sends it on.
type leaveOnBuy struct {
	cancel context.CancelFunc
	next   http.RoundTripper
}

func (l *leaveOnBuy) wrap(next http.RoundTripper) http.RoundTripper { l.next = next; return l }

func (l *leaveOnBuy) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/activations") {
		l.cancel()
	}
	return l.next.RoundTrip(r)
}

// TestRepeatedCancelUnconfirmed checks that a cancel repeated after its
// answer was lost, refused because it already happened, answers ERROR_SQL
// (not BAD_STATUS) when the activation cannot be read to confirm it, and
// ACCESS_CANCEL once it can.
func TestRepeatedCancelUnconfirmed(t *testing.T) {
	t.Parallel()
	// A long native timeout (not the fault rig's 300ms): no fault here
	// needs one, and load on the machine must not turn an answer into one.
	r := newFaultRigTimeout(t, sandbox.Config{}, 10*time.Second)
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
