package shim_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// countingBackend is the sandbox, counting the offer list calls it answers.
type countingBackend struct {
	sb     *sandbox.Sandbox
	offers atomic.Int64
}

func (c *countingBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api/v1/catalog/offers" {
		c.offers.Add(1)
	}
	c.sb.ServeHTTP(w, r)
}

func newCountingRig(tb testing.TB, opt shim.Options) (*rig, *countingBackend) {
	tb.Helper()
	sb, err := sandbox.New(sandbox.Config{Keys: map[string]string{"snap-key": "10.00", "snap-other": "10.00"}})
	if err != nil {
		tb.Fatal(err)
	}
	cb := &countingBackend{sb: sb}
	// Retries off: a failed offers call is one call. The whole offer list
	// is megabytes, decoded slowly under -race on a loaded machine: long
	// deadlines, so that only the backend's answers decide the outcome.
	if opt.RequestTimeout == 0 {
		opt.RequestTimeout = 3 * time.Minute
	}
	return newRig(tb, rigOptions{backend: cb, shim: opt, upstream: upstream.Options{Retries: -1, Timeout: 2 * time.Minute}}), cb
}

// TestPricesColdCoalesced sends 1000 getPrices with no filter at once to a
// shim that has no catalog yet: one native offers call serves them all,
// and every answer is the whole table, the same bytes.
func TestPricesColdCoalesced(t *testing.T) {
	t.Parallel()
	r, cb := newCountingRig(t, shim.Options{})
	// The key is verified first, so that the key check is not what the
	// requests wait for.
	if got := serve(r.srv, "api_key=snap-key&action=getBalance").Body.String(); got != "ACCESS_BALANCE:10.00" {
		t.Fatalf("getBalance = %q", got)
	}
	const n = 1000
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { bodies[i] = serve(r.srv, "api_key=snap-key&action=getPrices").Body.String() })
	}
	wg.Wait()
	if got := cb.offers.Load(); got != 1 {
		t.Errorf("%d native offers calls for %d cold getPrices, want 1", got, n)
	}
	if len(bodies[0]) < 1000 || bodies[0][0] != '{' {
		t.Fatalf("getPrices = %.80q", bodies[0])
	}
	for i, b := range bodies {
		if b != bodies[0] {
			t.Fatalf("answer %d differs from answer 0: %.80q", i, b)
		}
	}
	// Another key, another action, the same snapshot: no more calls.
	if got := serve(r.srv, "api_key=snap-other&action=getNumbersStatus&country=62").Body.String(); got == "" || got[0] != '{' {
		t.Errorf("getNumbersStatus = %q", got)
	}
	if got := cb.offers.Load(); got != 1 {
		t.Errorf("%d native offers calls after another key's getNumbersStatus, want 1", got)
	}
}

// TestCatalogRefreshAhead checks the snapshot's life: a request in the
// last quarter of the TTL is answered at once and refreshes the snapshot
// in the background; when the backend fails, the old copy is served until
// the TTL plus CatalogStaleFor, and then the failure is ERROR_SQL.
func TestCatalogRefreshAhead(t *testing.T) {
	t.Parallel()
	clock := fakeclock.At(time.Unix(1.7e9, 0))
	r, cb := newCountingRig(t, shim.Options{Now: clock.Now, CatalogTTL: 4 * time.Minute, CatalogStaleFor: 10 * time.Minute})
	const q = "api_key=snap-key&action=getPrices&country=62"
	first := serve(r.srv, q).Body.String()
	if first == "" || first[0] != '{' || cb.offers.Load() != 1 {
		t.Fatalf("getPrices = %.80q after %d offers calls", first, cb.offers.Load())
	}
	clock.Advance(2 * time.Minute)
	if got := serve(r.srv, q).Body.String(); got != first || cb.offers.Load() != 1 {
		t.Errorf("half way through the TTL: %d offers calls, answer changed: %v", cb.offers.Load(), got != first)
	}
	clock.Advance(90 * time.Second)
	if got := serve(r.srv, q).Body.String(); got != first {
		t.Errorf("in the last quarter of the TTL: answer changed")
	}
	waitFor(t, "the background refresh", func() bool { return !r.srv.RefreshingOffers() })
	if got := cb.offers.Load(); got != 2 {
		t.Fatalf("%d offers calls after the refresh ahead, want 2", got)
	}

	// The backend fails from now on; the refreshed copy is 3m30s old at
	// the TTL's end + 6m, still served; at +11m, no longer.
	cb.sb.InjectFault(sandbox.RouteOffers, "status=500", 1000)
	clock.Advance(10 * time.Minute)
	if got := serve(r.srv, q).Body.String(); got != first {
		t.Errorf("backend down, copy within TTL+stale: %.80q, want the old answer", got)
	}
	clock.Advance(5 * time.Minute)
	if got := serve(r.srv, q).Body.String(); got != "ERROR_SQL" {
		t.Errorf("backend down, copy too old: %.80q, want ERROR_SQL", got)
	}
}
