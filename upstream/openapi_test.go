package upstream_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/smsbulk/smsbulk-shim/upstream/internal/contract"
)

// TestOpenAPISpec checks that openapi.yaml loads, validates and describes
// every call of the contract with its errors.
func TestOpenAPISpec(t *testing.T) {
	t.Parallel()
	doc, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Errorf("servers = %v, want /api/v1", doc.Servers)
	}
	for _, name := range []string{"apiKey", "bearer"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("security scheme %s missing", name)
		}
	}
	if s := doc.Components.SecuritySchemes["apiKey"]; s != nil && (s.Value.In != "header" || s.Value.Name != "x-api-key") {
		t.Errorf("apiKey scheme = %+v, want header x-api-key", s.Value)
	}
	tests := []struct {
		method, path string
		success      string
		errors       []string
	}{
		{"GET", "/wallet/balance", "200", []string{"400", "401", "403", "429", "5XX"}},
		{"POST", "/activations", "201", []string{"400", "401", "402", "403", "409", "422", "429", "5XX"}},
		{"GET", "/activations", "200", []string{"400", "401", "403", "429", "5XX"}},
		{"GET", "/activations/{id}", "200", []string{"400", "401", "403", "404", "429", "5XX"}},
		{"POST", "/activations/{id}/ready", "200", []string{"400", "401", "403", "404", "409", "429", "5XX"}},
		{"POST", "/activations/{id}/retry", "200", []string{"400", "401", "403", "404", "409", "429", "5XX"}},
		{"POST", "/activations/{id}/complete", "200", []string{"400", "401", "403", "404", "409", "429", "5XX"}},
		{"POST", "/activations/{id}/cancel", "200", []string{"400", "401", "403", "404", "409", "429", "5XX"}},
		{"GET", "/catalog/countries", "200", []string{"400", "401", "403", "429", "5XX"}},
		{"GET", "/catalog/services", "200", []string{"400", "401", "403", "429", "5XX"}},
		{"GET", "/catalog/offers", "200", []string{"400", "401", "403", "422", "429", "5XX"}},
	}
	ops := 0
	for _, item := range doc.Paths.Map() {
		ops += len(item.Operations())
	}
	if ops != len(tests) {
		t.Errorf("spec has %d operations, want %d", ops, len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			item := doc.Paths.Find(tc.path)
			if item == nil {
				t.Fatal("path missing")
			}
			op := item.GetOperation(tc.method)
			if op == nil {
				t.Fatal("operation missing")
			}
			if op.Responses.Value(tc.success) == nil {
				t.Errorf("success %s missing", tc.success)
			}
			for _, code := range tc.errors {
				r := op.Responses.Value(code)
				if r == nil {
					t.Errorf("error %s missing", code)
					continue
				}
				if r.Value.Content.Get("application/json") == nil {
					t.Errorf("error %s has no JSON body", code)
				}
			}
			if r := op.Responses.Value("429"); r != nil {
				for _, h := range []string{"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
					if r.Value.Headers[h] == nil {
						t.Errorf("429 lacks header %s", h)
					}
				}
			}
			idem := op.Parameters.GetByInAndName("header", "Idempotency-Key")
			if (tc.method == "POST") != (idem != nil) {
				t.Errorf("Idempotency-Key parameter present = %v on %s", idem != nil, tc.method)
			}
		})
	}
}

// TestFixturesMatchContract checks that the shared JSON fixtures and the
// error bodies the tests use are answers the contract allows.
func TestFixturesMatchContract(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	tests := []struct {
		method, path string
		status       int
		header       http.Header
		body         []byte
		wantErr      bool
	}{
		{method: "GET", path: "/api/v1/wallet/balance", status: 200, body: fixture(t, "balance.json")},
		{method: "POST", path: "/api/v1/activations", status: 201, body: fixture(t, "activation_waiting.json")},
		{method: "GET", path: "/api/v1/activations/cmox8h7pmicm3mkczzwhdz0yd", status: 200, body: fixture(t, "activation_received.json")},
		{method: "POST", path: "/api/v1/activations/x/retry", status: 200, body: fixture(t, "activation_received.json")},
		{method: "GET", path: "/api/v1/activations?status=ACTIVE", status: 200, body: fixture(t, "activations_page.json")},
		{method: "GET", path: "/api/v1/activations?status=ACTIVE&cursor=c2", status: 200, body: fixture(t, "activations_last_page.json")},
		{method: "GET", path: "/api/v1/catalog/countries", status: 200, body: fixture(t, "countries.json")},
		{method: "GET", path: "/api/v1/catalog/services", status: 200, body: fixture(t, "services.json")},
		{method: "GET", path: "/api/v1/catalog/offers", status: 200, body: fixture(t, "offers.json")},
		{method: "POST", path: "/api/v1/activations", status: 409, body: []byte(`{"error":"out_of_stock","message":"none"}`)},
		{method: "POST", path: "/api/v1/activations", status: 422, body: []byte(`{"error":"price_above_max","message":"cheapest offer is 0.75"}`)},
		{method: "POST", path: "/api/v1/activations/x/cancel", status: 409, body: []byte(`{"error":"early_cancel","message":"wait"}`)},
		{method: "GET", path: "/api/v1/wallet/balance", status: 503, body: []byte(`{"error":"internal","message":"busy"}`)},
		{method: "GET", path: "/api/v1/wallet/balance", status: 429,
			header: http.Header{"Retry-After": {"120"}, "X-Ratelimit-Limit": {"10000"}, "X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"1764100000"}},
			body:   []byte(`{"error":"rate_limit_exceeded","message":"quota","retryAfter":27937,"limit":10000,"usage":10000}`)},
		// The validator itself must be able to fail.
		{method: "GET", path: "/api/v1/wallet/balance", status: 200, body: []byte(`{"balance":42.5,"currency":"USD"}`), wantErr: true},
		{method: "GET", path: "/api/v1/wallet/balance", status: 429, body: []byte(`{"error":"rate_limit_exceeded","message":"q","retryAfter":1,"limit":1,"usage":1}`), wantErr: true},
		{method: "POST", path: "/api/v1/activations", status: 409, body: []byte(`{"error":"invalid_state","message":"x"}`), wantErr: true},
		{method: "GET", path: "/api/v1/activations/x", status: 200, body: []byte(`{"id":"x","status":"PENDING"}`), wantErr: true},
		{method: "GET", path: "/api/v1/activations/x", status: 418, body: []byte(`{}`), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path+" "+http.StatusText(tc.status), func(t *testing.T) {
			var body io.Reader
			if tc.method == "POST" && tc.path == "/api/v1/activations" {
				body = strings.NewReader(`{"serviceCode":"wa","countryIso":"TR"}`)
			}
			req, err := http.NewRequestWithContext(t.Context(), tc.method, "http://127.0.0.1"+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("x-api-key", testKey)
			req.Header.Set("Content-Type", "application/json")
			header := tc.header.Clone()
			if header == nil {
				header = http.Header{}
			}
			header.Set("Content-Type", "application/json")
			err = v.check(t.Context(), req, &http.Response{StatusCode: tc.status, Header: header, Body: io.NopCloser(bytes.NewReader(tc.body))})
			if (err != nil) != tc.wantErr {
				t.Errorf("validation error %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

// validator checks requests and answers against openapi.yaml.
type validator struct {
	router routers.Router
}

func newValidator(tb testing.TB) *validator {
	tb.Helper()
	doc, err := contract.Load()
	if err != nil {
		tb.Fatal(err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return &validator{router: router}
}

// check validates req and resp; it leaves both bodies readable again.
func (v *validator) check(ctx context.Context, req *http.Request, resp *http.Response) error {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return err
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    authenticate,
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		defer func() { req.Body = io.NopCloser(bytes.NewReader(b)) }()
	}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	respErr := openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(b)),
		Options:                opts,
	})
	if reqErr != nil {
		reqErr = errors.New("request: " + reqErr.Error())
	}
	if respErr != nil {
		respErr = errors.New("response: " + respErr.Error())
	}
	return errors.Join(reqErr, respErr)
}

// authenticate accepts a request that carries the key in the header of the
// scheme; it does not know which keys exist.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header
	switch in.SecuritySchemeName {
	case "apiKey":
		if h.Get("x-api-key") != "" {
			return nil
		}
	case "bearer":
		if strings.HasPrefix(h.Get("Authorization"), "Bearer ") {
			return nil
		}
	}
	return errors.New("no key for " + in.SecuritySchemeName)
}

// validatingTransport wraps next so that every exchange is checked against
// openapi.yaml; a mismatch fails tb.
type validatingTransport struct {
	tb   testing.TB
	v    *validator
	next http.RoundTripper

	mu    sync.Mutex
	count int
}

func (vt *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Keep a copy of the request body for validation after the exchange.
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := vt.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	check := req.Clone(req.Context())
	if reqBody != nil {
		check.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	if err := vt.v.check(req.Context(), check, resp); err != nil {
		vt.tb.Errorf("%s %s does not match openapi.yaml: %v", req.Method, req.URL.Path, err)
	}
	vt.mu.Lock()
	vt.count++
	vt.mu.Unlock()
	return resp, nil
}

// validated returns how many exchanges were checked.
func (vt *validatingTransport) validated() int {
	vt.mu.Lock()
	defer vt.mu.Unlock()
	return vt.count
}

// withValidation returns Options.WrapTransport that validates every
// exchange, and the transport, to count the checks.
func withValidation(tb testing.TB) (func(http.RoundTripper) http.RoundTripper, *validatingTransport) {
	tb.Helper()
	vt := &validatingTransport{tb: tb, v: newValidator(tb)}
	return func(next http.RoundTripper) http.RoundTripper {
		vt.next = next
		return vt
	}, vt
}
