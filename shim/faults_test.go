package shim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// faultKey is the API key of the fault tests. It must appear in no log line.
const faultKey = "fault-matrix-key-7c1e93"

// faultCallTimeout is the native call timeout of the fault tests; the
// sandbox's injected latency is far beyond it.
const faultCallTimeout = 300 * time.Millisecond

// faultClock is the clock of the ID map, the reconciler and the client's
// circuit breaker: real time plus an offset the test moves forward, so
// that leases, the reconciler's age limit and the breaker's cooldown pass
// without waiting.
type faultClock = fakeclock.Clock

// faultRig is the whole bot path for one case: the sandbox on loopback, the
// real client (300ms per call, 2 retries, the default breaker), SQLite in a
// temporary directory, the shim and its reconciler.
type faultRig struct {
	*rig
	// buy is the purchase action the bot uses: getNumber, or getNumberV2.
	buy     string
	rec     *shim.Reconciler
	clock   *faultClock
	initial map[string]string
	log     *logBuffer
}

func newFaultRig(tb testing.TB, cfg sandbox.Config) *faultRig {
	tb.Helper()
	return newFaultRigTimeout(tb, cfg, faultCallTimeout)
}

// newFaultRigTimeout is newFaultRig with another native call timeout, for
// tests whose faults need no timeout to fire and that must not turn into
// timeouts on a loaded machine.
func newFaultRigTimeout(tb testing.TB, cfg sandbox.Config, callTimeout time.Duration) *faultRig {
	tb.Helper()
	r := &faultRig{buy: "getNumber", clock: fakeclock.Offset(), initial: map[string]string{faultKey: "100.00"}, log: &logBuffer{}}
	cfg.Keys = r.initial
	// Activations stay WAITING for the whole test, so they can be cancelled
	// for a full refund.
	cfg.SMSDelay, cfg.TTL = time.Hour, 2*time.Hour
	cfg.Rand = rand.New(rand.NewPCG(7, 7))
	// No keep-alive: a reset then reaches the client as a reset, instead of
	// being absorbed by http.Transport's silent resend on a reused
	// connection (upstream's tests cover that path).
	tr := upstream.NewTransport()
	tr.DisableKeepAlives = true
	r.rig = newRig(tb, rigOptions{
		sandbox: cfg,
		upstream: upstream.Options{
			Transport: tr, Timeout: callTimeout, BuyTimeout: callTimeout,
			Retries: 2, Backoff: 5 * time.Millisecond, Now: r.clock.Now,
		},
		idmap:  idmap.Options{Now: r.clock.Now},
		secret: "fault matrix test secret, 32 bytes",
		log:    r.log,
		level:  slog.LevelDebug,
	})
	r.rec = r.srv.NewReconciler(shim.ReconcileOptions{After: time.Millisecond, CallTimeout: time.Second, Now: r.clock.Now})
	tb.Cleanup(func() {
		if strings.Contains(r.log.String(), faultKey) {
			tb.Errorf("the API key appears in the logs")
		}
	})
	return r
}

// answer is one legacy answer as the bot saw it.
type answer struct {
	status     int
	body       string
	retryAfter string
}

// String is the answer as the matrix shows it: a purchase of either
// action is "ACCESS_NUMBER".
func (a answer) String() string {
	s := a.body
	if _, ok := a.legacyID(); ok {
		s = "ACCESS_NUMBER"
	}
	if a.retryAfter != "" {
		s += " (Retry-After " + a.retryAfter + ")"
	}
	return s
}

// legacyID is the legacy ID a purchase answer hands out: from
// ACCESS_NUMBER:<id>:<phone>, or from getNumberV2's JSON. ok is false for
// any other answer.
func (a answer) legacyID() (id int64, ok bool) {
	raw := ""
	if parts := strings.Split(a.body, ":"); len(parts) == 3 && parts[0] == "ACCESS_NUMBER" {
		raw = parts[1]
	} else if strings.HasPrefix(a.body, "{") {
		var v struct {
			ActivationID string `json:"activationId"`
			PhoneNumber  string `json:"phoneNumber"`
		}
		if json.Unmarshal([]byte(a.body), &v) != nil || v.PhoneNumber == "" {
			return 0, false
		}
		raw = v.ActivationID
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	return id, err == nil
}

// legacy sends one legacy request of faultKey through the shim, in process.
func (r *faultRig) legacy(tb testing.TB, params ...string) answer {
	tb.Helper()
	q := url.Values{"api_key": {faultKey}}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	req := httptest.NewRequestWithContext(tb.Context(), http.MethodGet, "/stubs/handler_api.php?"+q.Encode(), nil)
	rec := httptest.NewRecorder()
	r.srv.ServeHTTP(rec, req)
	return answer{status: rec.Code, body: rec.Body.String(), retryAfter: rec.Header().Get("Retry-After")}
}

// getNumber buys a number with the rig's purchase action.
func (r *faultRig) getNumber(tb testing.TB) answer {
	tb.Helper()
	return r.legacy(tb, "action", r.buy, "service", "wa", "country", "0")
}

// drain runs reconciler rounds, moving the clock past leases and the
// breaker's cooldown each time, until no purchase is pending. The sandbox
// may still hold queued faults, which the replays use up.
func (r *faultRig) drain(tb testing.TB) (rounds int) {
	tb.Helper()
	for rounds = 1; rounds <= 20; rounds++ {
		r.clock.Advance(2 * time.Minute)
		if _, err := r.rec.Round(tb.Context()); err != nil {
			tb.Fatalf("reconcile round %d: %v", rounds, err)
		}
		r.clock.Advance(2 * time.Minute)
		left, err := r.store.Stale(tb.Context(), r.clock.Now(), time.Second, 100)
		if err != nil {
			tb.Fatal(err)
		}
		if len(left) == 0 {
			return rounds
		}
	}
	tb.Fatalf("purchases still pending after %d reconcile rounds", rounds-1)
	return rounds
}

// tally is what the ledger says about a case.
type tally struct {
	purchases int
	answered  int // purchases behind an ACCESS_NUMBER the bot got
	refunds   int
	unknown   []string // purchases neither answered nor refunded
}

// check verifies the ledger against what the bot was answered: the ledger
// balances; no Idempotency-Key bought twice and no more purchases than
// getNumber requests; every purchase is behind an ACCESS_NUMBER or
// refunded; the shim refunded none the bot holds (cancelled lists those the
// bot cancelled itself).
func (r *faultRig) check(tb testing.TB, getNumbers int, numbers []answer, cancelled int) tally {
	tb.Helper()
	l := r.sb.Ledger()
	if err := l.Check(r.initial); err != nil {
		tb.Errorf("ledger: %v", err)
	}
	held := map[string]bool{} // native IDs behind ACCESS_NUMBER answers
	owner := r.keys.Owner(faultKey)
	for _, a := range numbers {
		id, ok := a.legacyID()
		if !ok {
			tb.Fatalf("not a purchase answer: %q", a.body)
		}
		nativeID, err := r.store.Lookup(tb.Context(), owner, id)
		if err != nil {
			tb.Fatalf("ACCESS_NUMBER %d is not in the ID map: %v", id, err)
		}
		held[nativeID] = true
	}
	refunded := map[string]bool{}
	for _, e := range l.Refunds(faultKey) {
		refunded[e.ActivationID] = true
	}
	var t tally
	byKey := map[string]int{}
	for _, e := range l.Purchases(faultKey) {
		t.purchases++
		byKey[e.IdempotencyKey]++
		if byKey[e.IdempotencyKey] == 2 {
			tb.Errorf("Idempotency-Key %s bought twice", e.IdempotencyKey)
		}
		switch {
		case held[e.ActivationID]:
			t.answered++
		case refunded[e.ActivationID]:
		default:
			t.unknown = append(t.unknown, e.ActivationID)
		}
	}
	t.refunds = len(refunded)
	if t.purchases > getNumbers {
		tb.Errorf("%d purchases for %d getNumber requests", t.purchases, getNumbers)
	}
	if len(t.unknown) > 0 {
		tb.Errorf("purchases the bot does not know of and that were not refunded: %q", t.unknown)
	}
	if t.answered != len(numbers) {
		tb.Errorf("%d ACCESS_NUMBER answers but %d of them found among the purchases", len(numbers), t.answered)
	}
	shimRefunds := 0
	for id := range refunded {
		if !held[id] {
			shimRefunds++
		}
	}
	if got := t.refunds - shimRefunds; got != cancelled {
		tb.Errorf("%d refunds of numbers the bot holds, want %d (the ones it cancelled)", got, cancelled)
	}
	return t
}

// matrixRow is one line of the fault matrix.
type matrixRow struct {
	route, fault, answers string
	t                     tally
	rounds                int
}

// TestFaultMatrix drives the bot flow through every fault the sandbox can
// inject, on the purchase route and on the routes of getStatus and
// setStatus, and checks the ledger after a reconciler pass: never a
// purchase the bot does not know of left unrefunded, never two purchases
// for one getNumber. The table goes to the test log and, when
// SHIM_FAULT_MATRIX_REPORT names a file, to that file.
func TestFaultMatrix(t *testing.T) {
	type fault struct {
		spec  string
		times int
	}
	buyCases := []struct {
		name   string
		faults []fault
		cfg    sandbox.Config
		want   []string // the bot's answers, in order; it stops at ACCESS_NUMBER or after 3
	}{
		{name: "none", want: []string{"ACCESS_NUMBER"}},
		{name: "latency 2s (timeout 300ms)", faults: []fault{{"latency=2s", 1}}, want: []string{"ERROR_SQL", "ACCESS_NUMBER"}},
		{name: "status=503 x1", faults: []fault{{"status=503", 1}}, want: []string{"ACCESS_NUMBER"}},
		{name: "status=503 x3", faults: []fault{{"status=503", 3}}, want: []string{"ERROR_SQL", "ACCESS_NUMBER"}},
		// 3 failures in the first request and 2 in the second open the
		// breaker (threshold 5): the third is refused without a request.
		{name: "status=503 x10", faults: []fault{{"status=503", 10}}, want: []string{"ERROR_SQL", "ERROR_SQL", "ERROR_SQL"}},
		{name: "status=500 x1", faults: []fault{{"status=500", 1}}, want: []string{"ERROR_SQL", "ACCESS_NUMBER"}},
		{name: "reset x1", faults: []fault{{"reset", 1}}, want: []string{"ACCESS_NUMBER"}},
		{name: "reset x3", faults: []fault{{"reset", 3}}, want: []string{"ERROR_SQL", "ACCESS_NUMBER"}},
		{name: "reset-after-commit x1", faults: []fault{{"reset-after-commit", 1}}, want: []string{"ACCESS_NUMBER"}},
		{name: "reset-after-commit x3", faults: []fault{{"reset-after-commit", 3}}, want: []string{"ERROR_SQL", "ACCESS_NUMBER"}},
		{name: "bad-json x1", faults: []fault{{"bad-json", 1}}, want: []string{"ERROR_SQL", "ACCESS_NUMBER"}},
		{name: "status=429 x1", faults: []fault{{"status=429", 1}}, want: []string{"RATE_LIMITED (Retry-After 60)", "ACCESS_NUMBER"}},
		// The retry's 429 comes before the backend looks at the key: the
		// first attempt's purchase must still be found and refunded.
		{name: "reset-after-commit, then status=429", faults: []fault{{"reset-after-commit", 1}, {"status=429", 1}},
			want: []string{"ERROR_SQL", "ACCESS_NUMBER"}},
		// The second request's retries find its own purchase again.
		{name: "latency 2s, then reset-after-commit x2", faults: []fault{{"latency=2s", 1}, {"reset-after-commit", 2}},
			want: []string{"ERROR_SQL", "ACCESS_NUMBER"}},
		// The sandbox's own limit: 1 request a minute, used by the catalog.
		{name: "rate limit 1/min", cfg: sandbox.Config{RateLimit: 1},
			want: []string{"RATE_LIMITED (Retry-After 60)", "RATE_LIMITED (Retry-After 60)", "RATE_LIMITED (Retry-After 60)"}},
	}
	var rows []matrixRow
	for _, buy := range []string{"getNumber", "getNumberV2"} {
		for _, tc := range buyCases {
			route := "buy"
			if buy != "getNumber" {
				route = "buy (" + buy + ")"
			}
			t.Run(route+"/"+tc.name, func(t *testing.T) {
				r := newFaultRig(t, tc.cfg)
				r.buy = buy
				// Load the service catalog first, so that faults hit the purchase.
				if a := r.legacy(t, "action", "getPrices", "service", "wa", "country", "0"); tc.cfg.RateLimit == 0 && !strings.HasPrefix(a.body, "{") {
					t.Fatalf("getPrices: %v", a)
				}
				for _, f := range tc.faults {
					r.sb.InjectFault(sandbox.RouteBuy, f.spec, f.times)
				}
				var got []string
				var numbers []answer
				for range 3 {
					a := r.getNumber(t)
					if a.status != http.StatusOK {
						t.Errorf("HTTP %d", a.status)
					}
					got = append(got, a.String())
					if _, ok := a.legacyID(); ok {
						numbers = append(numbers, a)
						break
					}
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("bot got %q, want %q", got, tc.want)
				}
				rounds := r.drain(t)
				tl := r.check(t, len(got), numbers, 0)
				rows = append(rows, matrixRow{route: route, fault: tc.name, answers: strings.Join(got, " → "), t: tl, rounds: rounds})
			})
		}
	}

	// getStatus and setStatus: the bot holds a number; the fault hits the
	// poll or the cancel.
	otherCases := []struct {
		name   string
		route  string
		faults []fault
		want   []string // answers to getStatus (route get) or setStatus 8 (route cancel), retried until a good one, up to 3
	}{
		{name: "latency 2s", route: sandbox.RouteGet, faults: []fault{{"latency=2s", 1}}, want: []string{"ERROR_SQL", "STATUS_WAIT_CODE"}},
		{name: "status=503 x1", route: sandbox.RouteGet, faults: []fault{{"status=503", 1}}, want: []string{"STATUS_WAIT_CODE"}},
		{name: "status=503 x3", route: sandbox.RouteGet, faults: []fault{{"status=503", 3}}, want: []string{"ERROR_SQL", "STATUS_WAIT_CODE"}},
		{name: "reset x1", route: sandbox.RouteGet, faults: []fault{{"reset", 1}}, want: []string{"STATUS_WAIT_CODE"}},
		{name: "bad-json x1", route: sandbox.RouteGet, faults: []fault{{"bad-json", 1}}, want: []string{"ERROR_SQL", "STATUS_WAIT_CODE"}},
		{name: "status=429 x1", route: sandbox.RouteGet, faults: []fault{{"status=429", 1}}, want: []string{"RATE_LIMITED (Retry-After 60)", "STATUS_WAIT_CODE"}},
		{name: "latency 2s", route: sandbox.RouteCancel, faults: []fault{{"latency=2s", 1}}, want: []string{"ERROR_SQL", "ACCESS_CANCEL"}},
		{name: "status=503 x1", route: sandbox.RouteCancel, faults: []fault{{"status=503", 1}}, want: []string{"ACCESS_CANCEL"}},
		{name: "reset x1", route: sandbox.RouteCancel, faults: []fault{{"reset", 1}}, want: []string{"ACCESS_CANCEL"}},
		{name: "reset-after-commit x1", route: sandbox.RouteCancel, faults: []fault{{"reset-after-commit", 1}}, want: []string{"ACCESS_CANCEL"}},
		// Every attempt of the first cancel is cut off after acting: the
		// bot's own retry (a new key) finds the activation cancelled, and
		// hears ACCESS_CANCEL, not BAD_STATUS.
		{name: "reset-after-commit x3", route: sandbox.RouteCancel, faults: []fault{{"reset-after-commit", 3}}, want: []string{"ERROR_SQL", "ACCESS_CANCEL"}},
		{name: "bad-json x1", route: sandbox.RouteCancel, faults: []fault{{"bad-json", 1}}, want: []string{"ERROR_SQL", "ACCESS_CANCEL"}},
		{name: "status=429 x1", route: sandbox.RouteCancel, faults: []fault{{"status=429", 1}}, want: []string{"RATE_LIMITED (Retry-After 60)", "ACCESS_CANCEL"}},
	}
	for _, tc := range otherCases {
		t.Run(tc.route+"/"+tc.name, func(t *testing.T) {
			r := newFaultRig(t, sandbox.Config{})
			num := r.getNumber(t)
			if !strings.HasPrefix(num.body, "ACCESS_NUMBER:") {
				t.Fatalf("getNumber: %v", num)
			}
			id := strings.Split(num.body, ":")[1]
			for _, f := range tc.faults {
				r.sb.InjectFault(tc.route, f.spec, f.times)
			}
			params := []string{"action", "getStatus", "id", id}
			if tc.route == sandbox.RouteCancel {
				params = []string{"action", "setStatus", "id", id, "status", "8"}
			}
			var got []string
			for range 3 {
				a := r.legacy(t, params...)
				got = append(got, a.String())
				if !strings.HasPrefix(a.body, "ERROR_SQL") && !strings.HasPrefix(a.body, "RATE_LIMITED") {
					break
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("bot got %q, want %q", got, tc.want)
			}
			cancelled := 0
			if tc.route == sandbox.RouteCancel {
				cancelled = 1
				if n := len(r.sb.Ledger().Refunds(faultKey)); n != 1 {
					t.Errorf("%d refunds for one cancelled number, want 1", n)
				}
			}
			rounds := r.drain(t)
			tl := r.check(t, 1, []answer{num}, cancelled)
			rows = append(rows, matrixRow{route: tc.route, fault: tc.name, answers: strings.Join(got, " → "), t: tl, rounds: rounds})
		})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Fault matrix (go test ./shim -run TestFaultMatrix): native call timeout %v, 2 retries, breaker 5/5s,\n", faultCallTimeout)
	b.WriteString("bot retries an ERROR_SQL/RATE_LIMITED up to 3 requests; ledger read after the reconciler settled every pending purchase.\n\n")
	b.WriteString("| route | fault | legacy answers the bot got | purchases | ACCESS_NUMBER held | refunds | unknown & unrefunded | reconcile rounds |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %d | %d |\n", row.route, row.fault, row.answers,
			row.t.purchases, row.t.answered, row.t.refunds, len(row.t.unknown), row.rounds)
	}
	t.Logf("\n%s", b.String())
	if path := os.Getenv("SHIM_FAULT_MATRIX_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Errorf("writing %s: %v", path, err)
		}
	}
}

// TestBackendDownAnswersFast checks that with the backend down, once the
// circuit breaker opens, the shim answers ERROR_SQL at once (well under the
// native call timeout) without calling the backend or leaving a pending
// purchase, and that it recovers by itself when the backend is back.
func TestBackendDownAnswersFast(t *testing.T) {
	const timeout = 400 * time.Millisecond
	for _, mode := range []string{"hangs", "resets", "closed port"} {
		t.Run(mode, func(t *testing.T) {
			clock := fakeclock.Offset()
			initial := map[string]string{faultKey: "100.00"}
			sb, err := sandbox.New(sandbox.Config{Keys: initial, SMSDelay: time.Hour, TTL: 2 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			var down atomic.Bool
			var downHits atomic.Int64
			fr := &faultRig{rig: newRig(t, rigOptions{
				backend: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if !down.Load() {
						sb.ServeHTTP(w, r)
						return
					}
					downHits.Add(1)
					if mode == "hangs" {
						<-r.Context().Done()
						return
					}
					conn, _, err := http.NewResponseController(w).Hijack()
					if err != nil {
						panic(http.ErrAbortHandler)
					}
					if tc, ok := conn.(*net.TCPConn); ok {
						_ = tc.SetLinger(0)
					}
					conn.Close()
				}),
				upstream: upstream.Options{
					Timeout: timeout, BuyTimeout: timeout, Retries: 2, Backoff: 5 * time.Millisecond,
					BreakerThreshold: 3, BreakerCooldown: 5 * time.Second, Now: clock.Now,
				},
				idmap:  idmap.Options{Now: clock.Now},
				secret: "backend down test secret, 32 bytes",
			})}
			backend, api, store := fr.backend, fr.api, fr.store
			addr := backend.Listener.Addr().String()
			ask := func(params ...string) (answer, time.Duration) {
				start := time.Now()
				a := fr.legacy(t, params...)
				return a, time.Since(start)
			}

			if a, _ := ask("action", "getBalance"); a.body != "ACCESS_BALANCE:100.00" {
				t.Fatalf("backend up: %v", a)
			}
			first, _ := ask("action", "getNumber", "service", "wa", "country", "0")
			if !strings.HasPrefix(first.body, "ACCESS_NUMBER:") {
				t.Fatalf("backend up: %v", first)
			}
			id := strings.Split(first.body, ":")[1]

			down.Store(true)
			if mode == "closed port" {
				backend.Close()
			}
			// Until the breaker opens (3 failed attempts), answers may take
			// up to the timeout.
			opened := false
			for i := 0; i < 5 && !opened; i++ {
				a, _ := ask("action", "getBalance")
				if a.body != "ERROR_SQL" {
					t.Fatalf("backend down: %v", a)
				}
				_, err := api.Balance(t.Context(), faultKey)
				opened = errors.Is(err, upstream.ErrCircuitOpen)
			}
			if !opened {
				t.Fatal("the breaker did not open")
			}
			hits := downHits.Load()
			var slowest time.Duration
			for range 20 {
				for _, params := range [][]string{
					{"action", "getBalance"},
					{"action", "getNumber", "service", "wa", "country", "0"},
					{"action", "getStatus", "id", id},
				} {
					a, d := ask(params...)
					if a.body != "ERROR_SQL" || a.status != http.StatusOK {
						t.Fatalf("%s with the breaker open: %v (HTTP %d)", params[1], a, a.status)
					}
					slowest = max(slowest, d)
				}
			}
			// Fast because nothing is sent (checked just below), not because
			// of a clock: the time is reported, never asserted.
			t.Logf("%s: slowest of 60 ERROR_SQL answers with the breaker open: %v (call timeout %v)", mode, slowest, timeout)
			if n := downHits.Load() - hits; n != 0 {
				t.Errorf("the backend got %d requests while the breaker was open", n)
			}
			// Refused purchases were never sent: nothing is left to reconcile.
			clock.Advance(time.Hour)
			if left, err := store.Stale(t.Context(), clock.Now(), time.Second, 100); err != nil || len(left) != 0 {
				t.Errorf("pending purchases after refused getNumber: %d, %v", len(left), err)
			}

			// The backend comes back: after the cooldown one probe closes the
			// breaker, with no restart.
			if mode == "closed port" {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatalf("listening again on %s: %v", addr, err)
				}
				again := &http.Server{Handler: sb, ReadHeaderTimeout: time.Second}
				go again.Serve(ln)
				t.Cleanup(func() { again.Close() })
			}
			down.Store(false)
			clock.Advance(5 * time.Second)
			if a, _ := ask("action", "getBalance"); !strings.HasPrefix(a.body, "ACCESS_BALANCE:") {
				t.Fatalf("backend back: %v", a)
			}
			if a, _ := ask("action", "getNumber", "service", "wa", "country", "0"); !strings.HasPrefix(a.body, "ACCESS_NUMBER:") {
				t.Fatalf("backend back: %v", a)
			}
			l := sb.Ledger()
			if err := l.Check(initial); err != nil {
				t.Error(err)
			}
			if n := len(l.Purchases(faultKey)); n != 2 {
				t.Errorf("%d purchases, want 2 (one before, one after the outage)", n)
			}
		})
	}
}
