package upstream_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// BenchmarkBalance measures one GET /wallet/balance over a kept-alive
// loopback connection, decoding included (the allocations of the test server
// count too).
func BenchmarkBalance(b *testing.B) {
	body := fixture(b, "balance.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, body) }))
	b.Cleanup(srv.Close)
	c, err := upstream.New(srv.URL+"/api/v1", upstream.Options{Backoff: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		bal, err := c.Balance(ctx, testKey)
		if err != nil || bal.Balance != "42.50" {
			b.Fatalf("got %+v, %v", bal, err)
		}
	}
}

// BenchmarkOffersAll measures the unfiltered offer list of the sandbox
// (every country x service, about 7 MB) over loopback, decoding included.
func BenchmarkOffersAll(b *testing.B) {
	e := newSandboxEnv(b, sandbox.Config{})
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.raw.Offers(ctx, testKey, upstream.OfferFilter{}); err != nil {
			b.Fatal(err)
		}
	}
}
