package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// TestOffersWholeCatalog checks that the unfiltered offer list of the
// sandbox, far larger than DefaultMaxBodyBytes, decodes through Offers with
// the default options: one offer per country and service.
func TestOffersWholeCatalog(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t, sandbox.Config{})
	ctx := t.Context()
	countries, err := e.raw.Countries(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	services, err := e.raw.Services(ctx, testKey)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	c, err := upstream.New(e.url, upstream.Options{WrapTransport: func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(r)
			if err == nil {
				size = resp.ContentLength
			}
			return resp, err
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	offers, err := c.Offers(ctx, testKey, upstream.OfferFilter{})
	if err != nil {
		t.Fatalf("whole catalog: %v", err)
	}
	if size <= upstream.DefaultMaxBodyBytes {
		t.Errorf("the catalog is %d bytes, not above DefaultMaxBodyBytes: the test proves nothing", size)
	}
	if want := len(countries) * len(services); len(offers) != want {
		t.Fatalf("%d offers, want %d countries x %d services = %d", len(offers), len(countries), len(services), want)
	}
	seen := map[upstream.OfferFilter]bool{}
	for _, o := range offers {
		k := upstream.OfferFilter{CountryISO: o.CountryISO, ServiceCode: o.ServiceCode}
		if seen[k] || !o.Price.IsValid() || o.Stock < 0 {
			t.Fatalf("offer %+v repeated or invalid", o)
		}
		seen[k] = true
	}
	if c.BreakerState() != upstream.BreakerClosed {
		t.Errorf("breaker %s after the catalog", c.BreakerState())
	}
}

// catalogCalls are the three catalog calls, by name.
var catalogCalls = []struct {
	name string
	path string
	call func(context.Context, *upstream.Client) error
}{
	{"countries", "/api/v1/catalog/countries", func(ctx context.Context, c *upstream.Client) error {
		_, err := c.Countries(ctx, testKey)
		return err
	}},
	{"services", "/api/v1/catalog/services", func(ctx context.Context, c *upstream.Client) error {
		_, err := c.Services(ctx, testKey)
		return err
	}},
	{"offers", "/api/v1/catalog/offers", func(ctx context.Context, c *upstream.Client) error {
		_, err := c.Offers(ctx, testKey, upstream.OfferFilter{})
		return err
	}},
}

// TestCatalogBadBodyIsNotDown checks that catalog answers the client cannot
// use, repeated well past the breaker's threshold, fail their own calls
// only: the breaker stays closed and Balance keeps working.
func TestCatalogBadBodyIsNotDown(t *testing.T) {
	t.Parallel()
	const limit = 1 << 10
	bodies := []struct {
		name string
		body func(list string) string
	}{
		{"larger than MaxCatalogBodyBytes", func(list string) string {
			return `{"` + list + `":[],"pad":"` + strings.Repeat("x", 2*limit) + `"}`
		}},
		{"not JSON", func(string) string { return `<html><body>maintenance</body></html>` }},
		{"truncated", func(list string) string { return `{"` + list + `":[` }},
		{"list missing", func(string) string { return `{"data":[]}` }},
	}
	for _, cc := range catalogCalls {
		for _, b := range bodies {
			t.Run(cc.name+" "+b.name, func(t *testing.T) {
				t.Parallel()
				list := strings.TrimPrefix(cc.path, "/api/v1/catalog/")
				balance := fixture(t, "balance.json")
				f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
					if r.URL.Path == cc.path {
						writeJSON(w, 200, []byte(b.body(list)))
						return
					}
					writeJSON(w, 200, balance)
				})
				const threshold = 3
				c := newClient(t, f, upstream.Options{BreakerThreshold: threshold, MaxCatalogBodyBytes: limit, Now: newClock().Now})
				const calls = 5 * threshold
				for i := range calls {
					err := cc.call(t.Context(), c)
					var te *upstream.TransportError
					if !errors.As(err, &te) || te.NotSent || errors.Is(err, upstream.ErrCircuitOpen) {
						t.Fatalf("call %d: err = %v (%T), want a sent *TransportError", i, err, err)
					}
					noKeyIn(t, err)
				}
				if n := len(f.requests()); n != calls {
					t.Errorf("%d requests, want %d: one per call, none retried or refused", n, calls)
				}
				if got := c.BreakerState(); got != upstream.BreakerClosed {
					t.Errorf("breaker %s after %d bad catalog bodies, want closed", got, calls)
				}
				if _, err := c.Balance(t.Context(), testKey); err != nil {
					t.Errorf("balance after the bad catalog bodies: %v", err)
				}
			})
		}
	}
}

// TestCatalogLimits checks which limit applies where: a catalog body above
// MaxBodyBytes but within MaxCatalogBodyBytes decodes; the same body to a
// balance call is too large, and counts as down.
func TestCatalogLimits(t *testing.T) {
	t.Parallel()
	pad := `,"pad":"` + strings.Repeat("x", 4<<10) + `"}`
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Path == "/api/v1/catalog/services" {
			writeJSON(w, 200, []byte(`{"services":[{"code":"wa","name":"WhatsApp"}]`+pad))
			return
		}
		writeJSON(w, 200, []byte(`{"balance":"1.00","currency":"USD"`+pad))
	})
	c := newClient(t, f, upstream.Options{MaxBodyBytes: 1 << 10, MaxCatalogBodyBytes: 8 << 10, BreakerThreshold: 1, Now: newClock().Now})
	if s, err := c.Services(t.Context(), testKey); err != nil || len(s) != 1 {
		t.Fatalf("services: %v, %v", s, err)
	}
	var te *upstream.TransportError
	if _, err := c.Balance(t.Context(), testKey); !errors.As(err, &te) {
		t.Fatalf("balance: err = %v, want a *TransportError for the body", err)
	}
	if got := c.BreakerState(); got != upstream.BreakerOpen {
		t.Errorf("breaker %s after an oversized balance body, want open", got)
	}
}

// TestCatalogDown checks that a catalog call still counts against the
// breaker when the backend is down, and that a bad catalog body as the
// probe neither closes nor reopens it.
func TestCatalogDown(t *testing.T) {
	t.Parallel()
	for _, cc := range catalogCalls {
		t.Run(cc.name, func(t *testing.T) {
			t.Parallel()
			s := newSwitchable(t)
			s.status.Store(503)
			clock := newClock()
			c := newClient(t, s.fake, upstream.Options{Retries: -1, BreakerThreshold: 3, BreakerCooldown: time.Second, Now: clock.Now})
			for i := range 3 {
				if err := cc.call(t.Context(), c); !errors.Is(err, &upstream.APIError{Status: 503}) {
					t.Fatalf("call %d: err = %v, want the 503", i, err)
				}
			}
			if got := c.BreakerState(); got != upstream.BreakerOpen {
				t.Fatalf("breaker %s after 3 catalog 503s, want open", got)
			}
			if _, err := c.Balance(t.Context(), testKey); !errors.Is(err, upstream.ErrCircuitOpen) {
				t.Fatalf("balance while open: err = %v, want ErrCircuitOpen", err)
			}
			// The switchable answers the balance fixture, which is no
			// catalog: the probe's body is unusable.
			clock.Advance(time.Second)
			s.status.Store(0)
			var te *upstream.TransportError
			if err := cc.call(t.Context(), c); !errors.As(err, &te) || te.NotSent {
				t.Fatalf("probe: err = %v, want a sent *TransportError", err)
			}
			if got := c.BreakerState(); got != upstream.BreakerHalfOpen {
				t.Errorf("breaker %s after a bad catalog body as the probe, want half-open", got)
			}
			if _, err := c.Balance(t.Context(), testKey); err != nil {
				t.Fatalf("balance as the next probe: %v", err)
			}
			if got := c.BreakerState(); got != upstream.BreakerClosed {
				t.Errorf("breaker %s after a good probe, want closed", got)
			}
		})
	}
}
