package shim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// requestTimeout is the request deadline of the requestId tests: what a
// retry waits at most for a purchase in flight.
const requestTimeout = 2 * time.Second

// newRequestRig is a fault rig whose shim reads the fault clock too, so
// that moving it ends the lease of a purchase left pending, as a bot that
// retries later would find it.
func newRequestRig(tb testing.TB) *faultRig {
	tb.Helper()
	r := newFaultRig(tb, sandbox.Config{})
	tr := upstream.NewTransport()
	tr.DisableKeepAlives = true
	r.rig = r.rig.with(tb, rigOptions{
		upstream: upstream.Options{
			Transport: tr, Timeout: faultCallTimeout, BuyTimeout: faultCallTimeout,
			Retries: 2, Backoff: 5 * time.Millisecond, Now: r.clock.Now,
		},
		shim: shim.Options{Now: r.clock.Now, RequestTimeout: requestTimeout},
		log:  r.log,
	})
	r.rec = r.srv.NewReconciler(shim.ReconcileOptions{After: time.Millisecond, CallTimeout: time.Second, Now: r.clock.Now})
	if a := r.legacy(tb, "action", "getPrices", "service", "wa", "country", "0"); !strings.HasPrefix(a.body, "{") {
		tb.Fatalf("getPrices: %v", a)
	}
	return r
}

// legacyCtx is legacy on ctx, for a client that gives up.
func (r *faultRig) legacyCtx(ctx context.Context, params ...string) answer {
	q := url.Values{"api_key": {faultKey}}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/stubs/handler_api.php?"+q.Encode(), nil)
	rec := httptest.NewRecorder()
	r.srv.ServeHTTP(rec, req)
	return answer{status: rec.Code, body: rec.Body.String()}
}

// onePurchase checks that the ledger holds exactly one purchase and no
// refund, and that the ID map maps legacyID to it.
func (r *faultRig) onePurchase(tb testing.TB, legacyID int64) {
	tb.Helper()
	l := r.sb.Ledger()
	if err := l.Check(r.initial); err != nil {
		tb.Errorf("ledger: %v", err)
	}
	ps, refunds := l.Purchases(faultKey), l.Refunds(faultKey)
	if len(ps) != 1 || len(refunds) != 0 {
		tb.Fatalf("ledger: %d purchases and %d refunds, want exactly 1 purchase and no refund", len(ps), len(refunds))
	}
	nativeID, err := r.store.Lookup(tb.Context(), r.keys.Owner(faultKey), legacyID)
	if err != nil || nativeID != ps[0].ActivationID {
		tb.Fatalf("legacy id %d maps to %q, %v; want the one purchase %q", legacyID, nativeID, err, ps[0].ActivationID)
	}
}

// TestRequestIDFaultMatrix is the fault matrix for a bot that retries a
// purchase with the same requestId: whatever the fault (a timeout, a reset
// before or after the backend acted, 5xx, a breaker that opens, a client
// that gives up), the ledger holds exactly one purchase, and every answer
// that carries a number carries the same one, also after the reconciler
// has run. Between two tries the bot waits past the lease of a purchase
// left pending, so that its retry settles it.
func TestRequestIDFaultMatrix(t *testing.T) {
	type fault struct {
		spec  string
		times int
	}
	cases := []struct {
		name   string
		faults []fault
		// clientGivesUp is how long the bot waits for its first answer; 0
		// is the request deadline.
		clientGivesUp time.Duration
		want          string // the answers as collapse shows them
	}{
		{name: "none", want: "ACCESS_NUMBER → ACCESS_NUMBER"},
		{name: "latency 2s (timeout 300ms)", faults: []fault{{"latency=2s", 1}}, want: "ERROR_SQL → ACCESS_NUMBER → ACCESS_NUMBER"},
		{name: "status=503 x3", faults: []fault{{"status=503", 3}}, want: "ERROR_SQL → ACCESS_NUMBER → ACCESS_NUMBER"},
		{name: "status=503 x10 (breaker opens)", faults: []fault{{"status=503", 10}}, want: "ERROR_SQL… → ACCESS_NUMBER → ACCESS_NUMBER"},
		{name: "status=500 x1", faults: []fault{{"status=500", 1}}, want: "ERROR_SQL → ACCESS_NUMBER → ACCESS_NUMBER"},
		{name: "reset x3 (before acting)", faults: []fault{{"reset", 3}}, want: "ERROR_SQL → ACCESS_NUMBER → ACCESS_NUMBER"},
		{name: "reset-after-commit x3", faults: []fault{{"reset-after-commit", 3}}, want: "ERROR_SQL → ACCESS_NUMBER → ACCESS_NUMBER"},
		{name: "latency 2s, then reset-after-commit x2", faults: []fault{{"latency=2s", 1}, {"reset-after-commit", 2}},
			want: "ERROR_SQL → ACCESS_NUMBER → ACCESS_NUMBER"},
		{name: "bad-json x1", faults: []fault{{"bad-json", 1}}, want: "ERROR_SQL → ACCESS_NUMBER → ACCESS_NUMBER"},
		// Definite noes: nothing was bought, and the retry buys.
		{name: "status=429 x1 (definite no)", faults: []fault{{"status=429", 1}}, want: "RATE_LIMITED → ACCESS_NUMBER → ACCESS_NUMBER"},
		{name: "status=402 x1 (definite no)", faults: []fault{{"status=402", 1}}, want: "NO_BALANCE → ACCESS_NUMBER → ACCESS_NUMBER"},
		// The client gives up while the buy is slow: the shim finishes and
		// keeps the number for the retry instead of refunding it.
		{name: "client gives up (latency 250ms)", faults: []fault{{"latency=250ms", 1}}, clientGivesUp: 50 * time.Millisecond,
			want: "(no answer) → ACCESS_NUMBER → ACCESS_NUMBER"},
	}
	var report strings.Builder
	report.WriteString("| buy | fault | answers to the same requestId | purchases | refunds |\n|---|---|---|---|---|\n")
	for _, buy := range []string{"getNumber", "getNumberV2"} {
		for _, tc := range cases {
			t.Run(buy+"/"+tc.name, func(t *testing.T) {
				r := newRequestRig(t)
				for _, f := range tc.faults {
					r.sb.InjectFault(sandbox.RouteBuy, f.spec, f.times)
				}
				params := []string{"action", buy, "service", "wa", "country", "0", "requestId", "order-42/" + tc.name}
				var got []string
				var bodies []string
				for try := 0; try < 12; try++ {
					ctx := t.Context()
					if try == 0 && tc.clientGivesUp > 0 {
						c, cancel := context.WithTimeout(ctx, tc.clientGivesUp)
						defer cancel()
						ctx = c
					}
					start := time.Now()
					a := r.legacyCtx(ctx, params...)
					// By the clock, not ctx.Err(): on a loaded machine the
					// deadline's timer may fire after the shim saw it pass.
					gaveUp := tc.clientGivesUp > 0 && try == 0 && time.Since(start) >= tc.clientGivesUp
					switch {
					case gaveUp:
						got = append(got, "(no answer)")
					default:
						got = append(got, strings.SplitN(a.String(), " (", 2)[0])
					}
					if _, ok := a.legacyID(); ok && !gaveUp {
						bodies = append(bodies, a.body)
						if len(bodies) == 2 {
							break
						}
					}
					// The bot retries later: past the lease of a purchase
					// left pending, and past the breaker's cooldown.
					r.clock.Advance(time.Minute)
				}
				if g := collapse(got); g != tc.want {
					t.Errorf("bot got %s, want %s", g, tc.want)
				}
				if len(bodies) != 2 || bodies[0] != bodies[1] {
					t.Fatalf("answers with a number %q, want two identical ones", bodies)
				}
				id, _ := answer{body: bodies[0]}.legacyID()
				r.onePurchase(t, id)
				// The reconciler finds nothing to refund, and a later retry
				// still gets the same answer.
				r.drain(t)
				r.onePurchase(t, id)
				if a := r.legacy(t, params...); a.body != bodies[0] {
					t.Errorf("retry after the reconciler = %q, want %q", a.body, bodies[0])
				}
				fmt.Fprintf(&report, "| %s | %s | %s | %d | %d |\n", buy, tc.name, strings.Join(got, " → "),
					len(r.sb.Ledger().Purchases(faultKey)), len(r.sb.Ledger().Refunds(faultKey)))
			})
		}
	}
	t.Logf("\n%s", report.String())
}

// TestRequestIDConcurrent sends one requestId many times at once while the
// backend is slow: one purchase, and every request answers it, the ones
// that waited for it included.
func TestRequestIDConcurrent(t *testing.T) {
	r := newRequestRig(t)
	r.sb.InjectFault(sandbox.RouteBuy, "latency=200ms", 1)
	const n = 8
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			bodies[i] = r.legacy(t, "action", "getNumber", "service", "wa", "country", "0", "requestId", "same").body
		})
	}
	wg.Wait()
	for i, b := range bodies {
		if !strings.HasPrefix(b, "ACCESS_NUMBER:") || b != bodies[0] {
			t.Fatalf("answer %d = %q, want %q for all", i, b, bodies[0])
		}
	}
	id, _ := answer{body: bodies[0]}.legacyID()
	r.onePurchase(t, id)
}

// TestRequestIDWaitsThenGivesUp checks that a retry of a purchase still in
// flight waits for it, bounded by its own deadline, and answers ERROR_SQL
// rather than buying; once the first settles, the retry gets it.
func TestRequestIDWaitsThenGivesUp(t *testing.T) {
	r := newRequestRig(t)
	// Park a pending row under its lease, as a request in flight holds it.
	params := []string{"action", "getNumber", "service", "wa", "country", "0", "requestId", "slow"}
	r.sb.InjectFault(sandbox.RouteBuy, "latency=2s", 1)
	if a := r.legacy(t, params...); a.body != "ERROR_SQL" {
		t.Fatalf("first = %q, want ERROR_SQL (its outcome is unknown)", a.body)
	}
	start := time.Now()
	if a := r.legacy(t, params...); a.body != "ERROR_SQL" {
		t.Fatalf("retry within the lease = %q, want ERROR_SQL", a.body)
	}
	if d := time.Since(start); d < requestTimeout/2 {
		t.Errorf("retry answered after %v, want it to wait for the purchase (up to %v)", d, requestTimeout)
	}
	if n := len(r.sb.Ledger().Purchases(faultKey)); n > 1 {
		t.Fatalf("%d purchases after a retry within the lease, want at most 1", n)
	}
	r.clock.Advance(time.Minute)
	a := r.legacy(t, params...)
	id, ok := a.legacyID()
	if !ok {
		t.Fatalf("retry after the lease = %q, want ACCESS_NUMBER", a.body)
	}
	r.onePurchase(t, id)
}

// TestRequestIDSameAnswer checks the answers a requestId gives: the same
// purchase in either action's format, REQUEST_ID_CONFLICT for other
// parameters, BAD_ACTION for a malformed requestId, a new purchase for a
// new requestId or once the window has passed, and the bot's own key
// scoping.
func TestRequestIDSameAnswer(t *testing.T) {
	r := newRequestRig(t)
	buy := func(action, service, country, rid string) string {
		return r.legacy(t, "action", action, "service", service, "country", country, "requestId", rid).body
	}
	first := buy("getNumber", "wa", "0", "r1")
	id, ok := answer{body: first}.legacyID()
	if !ok {
		t.Fatalf("getNumber = %q", first)
	}
	phone := strings.Split(first, ":")[2]
	v2 := buy("getNumberV2", "wa", "0", "r1")
	if !strings.Contains(v2, fmt.Sprintf(`"activationId":"%d","phoneNumber":"%s"`, id, phone)) {
		t.Errorf("getNumberV2 with the same requestId = %q, want activation %d, phone %s", v2, id, phone)
	}
	if again := buy("getNumberV2", "wa", "0", "r1"); again != v2 {
		t.Errorf("getNumberV2 again = %q, want the same JSON %q", again, v2)
	}
	for _, tc := range []struct{ name, service, country string }{
		{"other service", "tg", "0"},
		{"other country", "wa", "62"},
	} {
		if got := buy("getNumber", tc.service, tc.country, "r1"); got != "REQUEST_ID_CONFLICT" {
			t.Errorf("%s with the same requestId = %q, want REQUEST_ID_CONFLICT", tc.name, got)
		}
	}
	if got := r.legacy(t, "action", "getNumber", "service", "wa", "country", "0", "requestId", "r1", "maxPrice", "5").body; got != "REQUEST_ID_CONFLICT" {
		t.Errorf("another maxPrice = %q, want REQUEST_ID_CONFLICT", got)
	}
	for _, bad := range []string{strings.Repeat("x", 65), "tab\there", "ünï"} {
		if got := buy("getNumber", "wa", "0", bad); got != "BAD_ACTION" {
			t.Errorf("requestId %q = %q, want BAD_ACTION", bad, got)
		}
	}
	r.onePurchase(t, id)

	second := buy("getNumber", "wa", "0", "r2")
	if second == first || !strings.HasPrefix(second, "ACCESS_NUMBER:") {
		t.Errorf("a new requestId = %q, want a new number (first %q)", second, first)
	}
	if n := len(r.sb.Ledger().Purchases(faultKey)); n != 2 {
		t.Errorf("%d purchases for two requestIds, want 2", n)
	}
	r.clock.Advance(25 * time.Hour)
	if late := buy("getNumber", "wa", "0", "r1"); late == first || !strings.HasPrefix(late, "ACCESS_NUMBER:") {
		t.Errorf("r1 past SHIM_REQUEST_ID_TTL = %q, want a new purchase", late)
	}
}

// TestRequestIDStoredHashed checks that the store holds a hash of the
// requestId, never its text.
func TestRequestIDStoredHashed(t *testing.T) {
	r := newRequestRig(t)
	const rid = "plain-text-request-id-5b1f"
	if a := r.legacy(t, "action", "getNumber", "service", "wa", "country", "0", "requestId", rid); !strings.HasPrefix(a.body, "ACCESS_NUMBER:") {
		t.Fatalf("getNumber = %q", a.body)
	}
	c, err := r.store.ReserveRequest(t.Context(), idmap.Reservation{Owner: r.keys.Owner(faultKey), IdemKey: "probe"},
		idmap.RequestKey{ID: rid, Params: "x", Since: time.Time{}, Lease: time.Minute})
	if err != nil || c.Kind != idmap.ClaimNew {
		t.Fatalf("the plain requestId is a binding of the store: %+v, %v", c, err)
	}
}

// collapse joins answers with " → ", a run of two or more ERROR_SQL shown
// as "ERROR_SQL…": how many requests a breaker refuses depends on timing.
func collapse(answers []string) string {
	var out []string
	for i, a := range answers {
		switch {
		case a == "ERROR_SQL" && i > 0 && answers[i-1] == "ERROR_SQL":
			out[len(out)-1] = "ERROR_SQL…"
		default:
			out = append(out, a)
		}
	}
	return strings.Join(out, " → ")
}
