package sandbox_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{RateLimit: 2, RateWindow: time.Minute})
	start := e.clock.Now()
	unix := func(d time.Duration) string { return strconv.FormatInt(start.Add(d).Unix(), 10) }
	reset := unix(time.Minute)
	balance := req{method: "GET", path: "/wallet/balance", key: "demo"}
	steps := []struct {
		name      string
		advance   time.Duration
		r         req
		status    int
		remaining string
		reset     string
	}{
		{"first", 0, balance, 200, "1", reset},
		{"second", 10 * time.Second, req{method: "POST", path: "/activations", key: "demo", body: `{"serviceCode":"wa","countryIso":"TR"}`}, 201, "0", reset},
		{"third is refused", 20 * time.Second, balance, 429, "0", reset},
		{"other key has its own quota", 0, req{method: "GET", path: "/wallet/balance", key: "other"}, 200, "1", unix(90 * time.Second)},
		{"still refused", 29 * time.Second, balance, 429, "0", reset},
		{"next window", time.Second, balance, 200, "1", unix(2 * time.Minute)},
	}
	for _, st := range steps {
		e.clock.Advance(st.advance)
		a := e.do(t, st.r)
		if a.status != st.status {
			t.Fatalf("%s: %d %s, want %d", st.name, a.status, a.body, st.status)
		}
		h := a.header
		if h.Get("X-RateLimit-Limit") != "2" || h.Get("X-RateLimit-Remaining") != st.remaining || h.Get("X-RateLimit-Reset") != st.reset {
			t.Errorf("%s: headers limit %q remaining %q reset %q, want 2 %s %s", st.name,
				h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Reset"), st.remaining, st.reset)
		}
		if st.status != http.StatusTooManyRequests {
			if h.Get("Retry-After") != "" {
				t.Errorf("%s: Retry-After on a success", st.name)
			}
			continue
		}
		body := decode[upstream.ErrorBody](t, a.body)
		wait := st.reset
		wantWait, _ := strconv.ParseInt(wait, 10, 64)
		wantWait -= e.clock.Now().Unix()
		if body.Error != upstream.CodeRateLimitExceeded || body.Limit != 2 || body.Usage != 2 || body.RetryAfter != wantWait || body.Message == "" {
			t.Errorf("%s: body %s, want retryAfter %d", st.name, a.body, wantWait)
		}
		if h.Get("Retry-After") != strconv.FormatInt(wantWait, 10) {
			t.Errorf("%s: Retry-After %q, want %d", st.name, h.Get("Retry-After"), wantWait)
		}
	}
	// Refused requests did nothing.
	if l := checkLedger(t, e.sb, testKeys()); len(l.Purchases("demo")) != 1 {
		t.Errorf("purchases %+v", l.Purchases("demo"))
	}
}

func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	for range 5 {
		a := e.do(t, req{method: "GET", path: "/wallet/balance", key: "demo"})
		if a.status != 200 || a.header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("%d, X-RateLimit-Limit %q", a.status, a.header.Get("X-RateLimit-Limit"))
		}
	}
}
