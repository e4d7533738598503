package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// serve sends one request to h in process.
func serve(b *testing.B, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	b.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequestWithContext(b.Context(), method, path, strings.NewReader(body))
	} else {
		r = httptest.NewRequestWithContext(b.Context(), method, path, nil)
	}
	r.Header.Set("x-api-key", "demo")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// BenchmarkLifecycle measures buy, poll until the code, complete.
func BenchmarkLifecycle(b *testing.B) {
	c := newClock()
	sb, err := sandbox.New(sandbox.Config{Keys: map[string]string{"demo": "100000000.00"}, Now: c.Now})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rec := serve(b, sb, "POST", "/api/v1/activations", `{"serviceCode":"wa","countryIso":"TR"}`)
		var a upstream.Activation
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != http.StatusCreated {
			b.Fatalf("buy: %d %s", rec.Code, rec.Body)
		}
		serve(b, sb, "GET", "/api/v1/activations/"+a.ID, "")
		c.Advance(3 * time.Second)
		serve(b, sb, "GET", "/api/v1/activations/"+a.ID, "")
		if rec := serve(b, sb, "POST", "/api/v1/activations/"+a.ID+"/complete", ""); rec.Code != http.StatusOK {
			b.Fatalf("complete: %d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkOffersAll measures the unfiltered offer list (~110k offers).
func BenchmarkOffersAll(b *testing.B) {
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if rec := serve(b, sb, "GET", "/api/v1/catalog/offers", ""); rec.Code != http.StatusOK {
			b.Fatalf("%d", rec.Code)
		}
	}
}
