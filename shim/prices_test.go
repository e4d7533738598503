package shim_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// wholeCatalogKeys are the keys of the whole-catalog tests: one asks for
// every price, the other must not notice.
var wholeCatalogKeys = map[string]string{"prices-key": "10.00", "other-key": "10.00"}

// assertOtherKeyWorks checks that another key's getBalance and getNumber
// still answer, as they must after any number of catalog failures.
func assertOtherKeyWorks(t *testing.T, r *rig) {
	t.Helper()
	if got := serve(r.srv, "api_key=other-key&action=getBalance").Body.String(); got != "ACCESS_BALANCE:10.00" {
		t.Errorf("getBalance of another key: %q", got)
	}
	if got := serve(r.srv, "api_key=other-key&action=getNumber&service=wa&country=62").Body.String(); !strings.HasPrefix(got, "ACCESS_NUMBER:") {
		t.Errorf("getNumber of another key: %q", got)
	}
}

// TestPricesWholeCatalog asks for getPrices with no filter, the default
// call of the official Python and PHP classes, 20 times: each answers the
// whole table of the sandbox (every country it sells under each of its
// legacy IDs, every service), and another key's getBalance and getNumber
// work after them.
func TestPricesWholeCatalog(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{sandbox: sandbox.Config{Keys: wholeCatalogKeys, SMSDelay: time.Hour}})
	svcs, err := r.api.Services(t.Context(), "prices-key")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := r.api.Countries(t.Context(), "prices-key")
	if err != nil {
		t.Fatal(err)
	}
	services := len(svcs)
	sold := map[string]bool{}
	for _, c := range cs {
		sold[c.ISO] = true
	}
	wantIDs := 0
	for _, c := range countries.Builtin().All() {
		if sold[c.ISO] {
			wantIDs++
		}
	}
	var first []byte
	for i := range 20 {
		rec := serve(r.srv, "api_key=prices-key&action=getPrices")
		if i > 0 {
			if got := rec.Body.Bytes(); string(got) != string(first) {
				t.Fatalf("call %d: %d bytes %.200q, not the table of the first call", i, len(got), got)
			}
			continue
		}
		first = rec.Body.Bytes()
		var table map[string]map[string]struct {
			Cost  json.Number `json:"cost"`
			Count int64       `json:"count"`
		}
		if err := json.Unmarshal(first, &table); err != nil {
			t.Fatalf("call %d: %v: %.200q", i, err, first)
		}
		t.Logf("the whole table: %d bytes, %d country IDs", rec.Body.Len(), len(table))
		if len(table) != wantIDs {
			t.Errorf("%d country IDs, want %d (every legacy ID of every country sold)", len(table), wantIDs)
		}
		for _, id := range []string{"0", "12", "62", "187"} {
			if n := len(table[id]); n != services {
				t.Errorf("country %s has %d services, want %d", id, n, services)
			}
		}
		if table["12"]["wa"] != table["187"]["wa"] {
			t.Errorf("the USA differs under 12 and 187: %+v, %+v", table["12"]["wa"], table["187"]["wa"])
		}
	}
	assertOtherKeyWorks(t, r)
}

// TestPricesCatalogTooLarge gives the client a catalog limit below the
// sandbox's whole offer list: getPrices with no filter fails, 20 times,
// and the breaker that guards purchases and polling stays closed.
func TestPricesCatalogTooLarge(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{
		sandbox:  sandbox.Config{Keys: wholeCatalogKeys, SMSDelay: time.Hour},
		upstream: upstream.Options{MaxCatalogBodyBytes: 1 << 20, BreakerThreshold: 3},
	})
	for i := range 20 {
		if got := serve(r.srv, "api_key=prices-key&action=getPrices").Body.String(); got != "ERROR_SQL" {
			t.Fatalf("call %d: %q, want ERROR_SQL", i, got)
		}
	}
	if st := r.api.BreakerState(); st != upstream.BreakerClosed {
		t.Errorf("breaker %s after 20 oversized catalog answers", st)
	}
	assertOtherKeyWorks(t, r)
}
