package shim_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// TestUnknownKeyWritesNothing: a getNumber with a key the backend does not
// know is BAD_KEY and journals nothing, so junk keys cannot fill the ID
// map; a known key is checked once and then trusted.
func TestUnknownKeyWritesNothing(t *testing.T) {
	t.Parallel()
	balances := &countBalance{next: upstream.NewTransport()}
	r := newRig(t, rigOptions{
		sandbox:  sandbox.Config{Keys: map[string]string{"good": "10.00"}, SMSDelay: time.Hour, TTL: 2 * time.Hour},
		upstream: upstream.Options{Transport: balances},
	})
	// Warm the service catalog with the good key, so that only the key
	// check stands between the unknown key and a journal row.
	if got := serve(r.srv, "api_key=good&action=getNumber&service=wa&country=62").Body.String(); !strings.HasPrefix(got, "ACCESS_NUMBER:100000001:") {
		t.Fatalf("first purchase: %q", got)
	}
	for range 3 {
		if got := serve(r.srv, "api_key=junk&action=getNumber&service=wa&country=62").Body.String(); got != "BAD_KEY" {
			t.Fatalf("unknown key: %q, want BAD_KEY", got)
		}
	}
	// No legacy ID was consumed: the next row is the second one.
	id, err := r.store.Reserve(t.Context(), idmap.Reservation{Owner: "probe", IdemKey: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	if id != 100000002 {
		t.Errorf("after three unknown-key purchases the next legacy ID is %d, want 100000002 (nothing written)", id)
	}
	if n := len(r.sb.Ledger().Purchases("junk")); n != 0 {
		t.Errorf("%d purchases for the unknown key", n)
	}
	// The good key is trusted now: its next purchase makes no balance call.
	before := balances.n.Load()
	if got := serve(r.srv, "api_key=good&action=getNumber&service=wa&country=62").Body.String(); !strings.HasPrefix(got, "ACCESS_NUMBER:") {
		t.Fatalf("second purchase: %q", got)
	}
	if after := balances.n.Load(); after != before {
		t.Errorf("a verified key was checked again (%d balance calls, want %d)", after, before)
	}
}

// countBalance counts the native balance requests it carries.
type countBalance struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countBalance) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/wallet/balance") {
		c.n.Add(1)
	}
	return c.next.RoundTrip(r)
}
