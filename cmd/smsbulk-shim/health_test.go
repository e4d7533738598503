package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// TestBackendOutageKeepsTheReplicaReady is the stuck-readiness test: a
// backend outage opens the breaker, which /readyz and the gauge report
// while the replica stays ready and bots get ERROR_SQL at once; a log line
// marks each change. When the backend returns, with no traffic at all in
// between, the replica is still ready and its very next purchase works.
func TestBackendOutageKeepsTheReplicaReady(t *testing.T) {
	t.Parallel()
	_, sbURL := serveSandbox(t, waitingSandbox(map[string]string{"outage-key": "100.00"}), nil)
	cut := newCutProxy(t, strings.TrimPrefix(sbURL, "http://"))
	p := startShim(t, nil, "SHIM_UPSTREAM_URL=http://"+cut.Addr(), testSecret,
		"SHIM_UPSTREAM_RETRIES=0", "SHIM_BREAKER_THRESHOLD=2", "SHIM_BREAKER_COOLDOWN=1s")
	balance := url.Values{"api_key": {"outage-key"}, "action": {"getBalance"}}
	number := url.Values{"api_key": {"outage-key"}, "action": {"getNumber"}, "service": {"wa"}, "country": {"0"}}
	readyz := func() (int, string) {
		code, _, body := get(t, "http://"+p.AdminAddr+"/readyz")
		return code, body
	}
	if _, _, body := p.legacy(t, balance); body != "ACCESS_BALANCE:100.00" {
		t.Fatalf("getBalance before the outage = %q", body)
	}
	if code, body := readyz(); code != 200 || body != "ready\nnative backend: up\n" {
		t.Fatalf("/readyz before the outage = %d %q", code, body)
	}

	cut.Cut(false)
	for range 2 {
		if _, _, body := p.legacy(t, balance); body != "ERROR_SQL" {
			t.Fatalf("getBalance with the backend down = %q, want ERROR_SQL", body)
		}
	}
	start := time.Now()
	if _, _, body := p.legacy(t, number); body != "ERROR_SQL" {
		t.Fatalf("getNumber with the breaker open = %q, want ERROR_SQL", body)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("getNumber with the breaker open took %v; the breaker should answer at once", took)
	}
	code, body := readyz()
	if code != 200 || !strings.HasPrefix(body, "ready\nnative backend: failing") {
		t.Errorf("/readyz with the breaker open = %d %q; want 200, reporting the backend failing", code, body)
	}
	if m := metricsText(t, p.AdminAddr); !strings.Contains(m, "smsbulk_shim_native_breaker_state 1") {
		t.Errorf("/metrics lacks smsbulk_shim_native_breaker_state 1 with the breaker open")
	}
	pollUntil(t, "a log line says the backend failed", func() bool {
		return logged(p, `"msg":"native backend state changed","from":"closed","to":"open"`)
	})

	cut.Restore()
	returned := time.Now()
	// No legacy request from here on until the purchase below.
	pollUntil(t, "/readyz reports the backend recovering", func() bool {
		code, body := readyz()
		if code != 200 {
			t.Fatalf("/readyz after the backend came back = %d %q", code, body)
		}
		return strings.Contains(body, "native backend: recovering")
	})
	if _, _, body := p.legacy(t, number); !strings.HasPrefix(body, "ACCESS_NUMBER:") {
		t.Fatalf("first getNumber after the backend came back = %q", body)
	}
	if took := time.Since(returned); took > 5*time.Second {
		t.Errorf("serving again took %v after the backend came back", took)
	}
	if code, body := readyz(); code != 200 || body != "ready\nnative backend: up\n" {
		t.Errorf("/readyz after the first purchase = %d %q", code, body)
	}
	pollUntil(t, "a log line says the backend is up again", func() bool {
		return logged(p, `"to":"closed"`)
	})
}

// TestReadyReportsTheCatalog: with a probe key the catalog's freshness is
// reported, and a catalog the backend refuses leaves the replica ready.
func TestReadyReportsTheCatalog(t *testing.T) {
	t.Parallel()
	_, sbURL := serveSandbox(t, sandbox.Config{Keys: map[string]string{"probe": "1.00"}}, nil)
	good := startShim(t, nil, "SHIM_UPSTREAM_URL="+sbURL, testSecret, "SHIM_PROBE_API_KEY=probe")
	pollUntil(t, "the catalog answers", func() bool {
		_, _, body := get(t, "http://"+good.AdminAddr+"/readyz")
		return strings.Contains(body, "native catalog: answered ")
	})
	bad := startShim(t, nil, "SHIM_UPSTREAM_URL="+sbURL, testSecret, "SHIM_PROBE_API_KEY=nobody")
	code, body := waitReady(t, bad, 200)
	if code != 200 || body != "ready\nnative backend: up\nnative catalog: has not answered yet\n" {
		t.Errorf("probe key that the backend refuses: /readyz = %d %q", code, body)
	}
}

// TestReadyNeedsAWritableStore: a store that answers pings but cannot
// write (a full disk) makes the replica unready, and ready again as soon as
// it can write, with nothing in between.
func TestReadyNeedsAWritableStore(t *testing.T) {
	t.Parallel()
	var full atomic.Bool
	h := &health{
		store: pingStore{},
		writable: func(context.Context) error {
			if full.Load() {
				return errors.New("database or disk is full")
			}
			return nil
		},
		breaker: closedBreaker{},
		now:     time.Now,
	}
	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ready(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	for _, step := range []struct {
		full bool
		code int
		body string
	}{
		{false, 200, "ready\nnative backend: up\n"},
		{true, 503, "id map store cannot write\nnative backend: up\n"},
		{false, 200, "ready\nnative backend: up\n"},
	} {
		full.Store(step.full)
		if code, body := readyz(); code != step.code || body != step.body {
			t.Errorf("disk full %v: /readyz = %d %q, want %d %q", step.full, code, body, step.code, step.body)
		}
	}
}

// TestShutdownDelayKeepsServing: after SIGTERM, for SHIM_SHUTDOWN_DELAY,
// /readyz is 503 while the legacy listener still accepts and answers; then
// it stops accepting.
func TestShutdownDelayKeepsServing(t *testing.T) {
	t.Parallel()
	p := startShim(t, []string{"-sandbox"}, "SHIM_SHUTDOWN_DELAY=2s")
	balance := url.Values{"api_key": {"demo"}, "action": {"getBalance"}}
	waitReady(t, p, 200)
	stopped := time.Now()
	p.cancel() // as SIGTERM does; Stop at cleanup waits for run
	pollUntil(t, "/readyz turns 503", func() bool { return statusOf("http://"+p.AdminAddr+"/readyz") == http.StatusServiceUnavailable })
	// A new connection each time, as a load balancer that has not yet
	// noticed would open.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	_, _, body, err := answer(c.Get(legacyURL(p.Addr, balance)))
	if err != nil || body != "ACCESS_BALANCE:100.00" {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // the URL holds the key
		}
		t.Fatalf("getBalance during the shutdown delay = %q, %v", body, err)
	}
	if time.Since(stopped) > 1500*time.Millisecond {
		t.Fatal("too slow to check within the delay")
	}
	pollUntil(t, "the listener closes after the delay", func() bool {
		_, err := c.Get(legacyURL(p.Addr, balance))
		return err != nil
	})
	if took := time.Since(stopped); took < 2*time.Second {
		t.Errorf("the listener closed %v after SIGTERM, before SHIM_SHUTDOWN_DELAY", took)
	}
}

type pingStore struct{}

func (pingStore) Ping(context.Context) error { return nil }

type closedBreaker struct{}

func (closedBreaker) BreakerState() upstream.BreakerState { return upstream.BreakerClosed }

// metricsText is the admin listener's /metrics.
func metricsText(tb testing.TB, adminAddr string) string {
	tb.Helper()
	_, _, body := get(tb, "http://"+adminAddr+"/metrics")
	return body
}

// logged reports whether a log line of p holds s.
func logged(p *shimProc, s string) bool {
	for _, l := range p.logs.Lines() {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
