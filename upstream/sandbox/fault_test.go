package sandbox_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// plainClient sends each request on a new connection, so that Go's
// transport does not quietly resend a request whose reused connection was
// reset, and does not validate answers.
func plainClient(e *env) *http.Client {
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr}
}

func TestFaultHeader(t *testing.T) {
	t.Parallel()
	const buyBody = `{"serviceCode":"wa","countryIso":"TR"}`
	tests := []struct {
		name     string
		spec     string
		wantErr  bool // a transport error instead of an answer
		status   int
		json     bool // the answer is JSON
		wantBuys int
		code     string
	}{
		{name: "latency", spec: "latency=1ms", status: 201, json: true, wantBuys: 1},
		{name: "status", spec: "status=503", status: 503, json: true, wantBuys: 0, code: upstream.CodeInternal},
		{name: "status 500 with latency", spec: "status=500, latency=1ms", status: 500, json: true, wantBuys: 0, code: upstream.CodeInternal},
		{name: "reset", spec: "reset", wantErr: true, wantBuys: 0},
		{name: "reset wins over status", spec: "status=503,reset", wantErr: true, wantBuys: 0},
		{name: "reset after commit", spec: "reset-after-commit", wantErr: true, wantBuys: 1},
		{name: "latency then reset after commit", spec: "latency=1ms,reset-after-commit", wantErr: true, wantBuys: 1},
		{name: "bad json", spec: "bad-json", status: 200, json: false, wantBuys: 1},
		{name: "invalid spec", spec: "explode", status: 400, json: true, wantBuys: 0, code: upstream.CodeValidation},
		{name: "invalid status", spec: "status=200", status: 400, json: true, wantBuys: 0, code: upstream.CodeValidation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sandbox.Config{})
			a, err := e.try(t, plainClient(e), req{method: "POST", path: "/activations", key: "demo", body: buyBody,
				header: map[string]string{sandbox.FaultHeader: tc.spec}})
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %d %s, want a transport error", a.status, a.body)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if a.status != tc.status || json.Valid(a.body) != tc.json {
					t.Errorf("got %d %q, want %d (JSON %v)", a.status, a.body, tc.status, tc.json)
				}
				if tc.code != "" && errorCode(t, a.body) != tc.code {
					t.Errorf("code %s, want %s", a.body, tc.code)
				}
			}
			l := checkLedger(t, e.sb, testKeys())
			if got := len(l.Purchases("demo")); got != tc.wantBuys {
				t.Errorf("%d purchases, want %d", got, tc.wantBuys)
			}
		})
	}
}

func TestFaultRetryWithIdempotencyKey(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"reset-after-commit", "bad-json", "status=503", "reset"} {
		t.Run(spec, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sandbox.Config{})
			r := req{method: "POST", path: "/activations", key: "demo", body: `{"serviceCode":"wa","countryIso":"TR"}`,
				header: map[string]string{"Idempotency-Key": "retry-me", sandbox.FaultHeader: spec}}
			if a, err := e.try(t, plainClient(e), r); err == nil && a.status == http.StatusCreated && json.Valid(a.body) {
				t.Fatalf("the fault did not happen: %d %s", a.status, a.body)
			}
			delete(r.header, sandbox.FaultHeader)
			a := e.do(t, r)
			if a.status != http.StatusCreated {
				t.Fatalf("retry: %d %s", a.status, a.body)
			}
			act := decode[upstream.Activation](t, a.body)
			l := checkLedger(t, e.sb, testKeys())
			p := l.Purchases("demo")
			if len(p) != 1 || p[0].ActivationID != act.ID {
				t.Errorf("purchases %+v, want one of %s", p, act.ID)
			}
		})
	}
}

func TestFaultLatencyClientGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	c := plainClient(e)
	c.Timeout = 50 * time.Millisecond
	_, err := e.try(t, c, req{method: "POST", path: "/activations", key: "demo", body: `{"serviceCode":"wa","countryIso":"TR"}`,
		header: map[string]string{sandbox.FaultHeader: "latency=1h"}})
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a client timeout", err)
	}
	// The handler gave up without buying; a later request sees no purchase.
	e.do(t, req{method: "GET", path: "/wallet/balance", key: "demo"})
	if l := checkLedger(t, e.sb, testKeys()); len(l.Entries) != 0 {
		t.Errorf("entries %+v", l.Entries)
	}
}

func TestInjectFault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	c := plainClient(e)
	e.sb.InjectFault(sandbox.RouteBalance, "status=503", 2)
	e.sb.InjectFault(sandbox.RouteAll, "bad-json", 1)
	balance := req{method: "GET", path: "/wallet/balance", key: "demo"}
	countries := req{method: "GET", path: "/catalog/countries", key: "demo"}
	steps := []struct {
		name   string
		r      req
		status int
		json   bool
	}{
		// The first balance request takes a fault from "balance" and one from "*".
		{"balance 1: status and bad-json", balance, 503, true},
		{"countries: nothing left for *", countries, 200, true},
		{"balance 2", balance, 503, true},
		{"balance 3: used up", balance, 200, true},
	}
	for _, st := range steps {
		a, err := e.try(t, c, st.r)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if a.status != st.status || json.Valid(a.body) != st.json {
			t.Errorf("%s: %d %q, want %d", st.name, a.status, a.body, st.status)
		}
	}

	e.sb.InjectFault(sandbox.RouteBuy, "reset-after-commit", 1)
	if _, err := e.try(t, c, req{method: "POST", path: "/activations", key: "demo", body: `{"serviceCode":"wa","countryIso":"TR"}`}); err == nil {
		t.Error("buy with reset-after-commit answered")
	}
	if l := checkLedger(t, e.sb, testKeys()); len(l.Purchases("demo")) != 1 {
		t.Errorf("purchases %+v, want 1", l.Purchases("demo"))
	}

	e.sb.InjectFault(sandbox.RouteGet, "status=500", 5)
	e.sb.InjectFault(sandbox.RouteGet, "", 0)
	if a, err := e.try(t, c, req{method: "GET", path: "/activations/cnothere", key: "demo"}); err != nil || a.status != http.StatusNotFound {
		t.Errorf("after clearing: %v %d", err, a.status)
	}
}

func TestInjectFaultPanics(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, route, spec string }{
		{"unknown route", "nope", "reset"},
		{"bad spec", sandbox.RouteBuy, "latency=soon"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			sb.InjectFault(tc.route, tc.spec, 1)
		})
	}
}

func TestGlobalFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rate   float64
		status int
	}{
		{"always", 1, 503},
		{"never", 0, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sandbox.Config{Fault: "status=503", FaultRate: tc.rate})
			c := plainClient(e)
			for range 3 {
				a, err := e.try(t, c, req{method: "GET", path: "/wallet/balance", key: "demo"})
				if err != nil || a.status != tc.status {
					t.Fatalf("%v %d %s, want %d", err, a.status, a.body, tc.status)
				}
			}
		})
	}
}

func TestGlobalFaultFraction(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{Fault: "status=502", FaultRate: 0.5})
	c := plainClient(e)
	counts := map[int]int{}
	for range 40 {
		a, err := e.try(t, c, req{method: "GET", path: "/catalog/services", key: "demo"})
		if err != nil {
			t.Fatal(err)
		}
		counts[a.status]++
	}
	// With a seeded source the split is fixed; both kinds must occur.
	if counts[502] == 0 || counts[200] == 0 || counts[502]+counts[200] != 40 {
		t.Errorf("statuses %v", counts)
	}
}

func TestFaultInProcessPanicsWithAbort(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sb.InjectFault(sandbox.RouteBalance, "reset", 1)
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", r)
		}
	}()
	newRecorderRequest(t, sb, "GET", "/api/v1/wallet/balance", "demo")
}
