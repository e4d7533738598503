package sandbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/internal/contract"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// clock is a fake clock that tests move by hand.
type clock = fakeclock.Clock

func newClock() *clock { return fakeclock.At(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)) }

// env is one sandbox served over loopback HTTP with a fake clock.
type env struct {
	sb    *sandbox.Sandbox
	srv   *httptest.Server
	clock *clock
	// client validates every answer against upstream/internal/contract/openapi.yaml, except
	// answers to requests that ask for a fault.
	client *http.Client
}

// testKeys are the keys of every test sandbox unless a test sets its own.
func testKeys() map[string]string {
	return map[string]string{"demo": "100.00", "other": "10.00", "broke": "0.00"}
}

// newEnv starts a sandbox on loopback. cfg.Now and cfg.Rand are filled in
// when nil; cfg.Keys defaults to testKeys().
func newEnv(tb testing.TB, cfg sandbox.Config) *env {
	tb.Helper()
	e := &env{clock: newClock()}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 2))
	}
	if cfg.Keys == nil {
		cfg.Keys = testKeys()
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		tb.Fatalf("sandbox.New: %v", err)
	}
	e.sb = sb
	e.srv = httptest.NewServer(sb)
	tb.Cleanup(e.srv.Close)
	e.client = &http.Client{Transport: &validating{tb: tb, base: e.srv.Client().Transport, router: specRouter(tb, e.srv.URL)}}
	return e
}

// specRouter routes requests to the operations of upstream/internal/contract/openapi.yaml with
// the server at base.
func specRouter(tb testing.TB, base string) routers.Router {
	tb.Helper()
	doc, err := contract.Load()
	if err != nil {
		tb.Fatalf("loading the OpenAPI document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: base + "/api/v1"}}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		tb.Fatalf("routing the OpenAPI document: %v", err)
	}
	return r
}

// validating is a RoundTripper that checks every answer against the
// OpenAPI document.
type validating struct {
	tb     testing.TB
	base   http.RoundTripper
	router routers.Router
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.base.RoundTrip(req)
	if err != nil || req.Header.Get(sandbox.FaultHeader) != "" {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		if resp.StatusCode != http.StatusNotFound {
			v.tb.Errorf("%s %s: not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
		}
		return resp, nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  resp.StatusCode,
		Header:  resp.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		v.tb.Errorf("%s %s: answer %d %s does not match the OpenAPI document: %v", req.Method, req.URL.Path, resp.StatusCode, body, err)
	}
	return resp, nil
}

// answer is a whole HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// req describes one request for env.do.
type req struct {
	method string
	path   string // under /api/v1
	key    string // x-api-key; "" sends none
	body   string
	header map[string]string
}

// do sends r and returns the answer; it fails the test on a transport error.
func (e *env) do(tb testing.TB, r req) answer {
	tb.Helper()
	a, err := e.try(tb, e.client, r)
	if err != nil {
		tb.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return a
}

// try sends r with client and returns the answer or the transport error.
func (e *env) try(tb testing.TB, client *http.Client, r req) (answer, error) {
	tb.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequestWithContext(tb.Context(), r.method, e.srv.URL+"/api/v1"+r.path, body)
	if err != nil {
		tb.Fatalf("making request: %v", err)
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		hr.Header.Set("x-api-key", r.key)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := client.Do(hr)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// buy buys wa in TR for key and returns the activation.
func (e *env) buy(tb testing.TB, key, service, country string) upstream.Activation {
	tb.Helper()
	a := e.do(tb, req{method: "POST", path: "/activations", key: key,
		body: fmt.Sprintf(`{"serviceCode":%q,"countryIso":%q}`, service, country)})
	if a.status != http.StatusCreated {
		tb.Fatalf("buying %s/%s: %d %s", service, country, a.status, a.body)
	}
	return decode[upstream.Activation](tb, a.body)
}

// activation sends method to /activations/{id}[/op] and decodes a 200
// activation.
func (e *env) activation(tb testing.TB, method, key, id, op string) upstream.Activation {
	tb.Helper()
	path := "/activations/" + id
	if op != "" {
		path += "/" + op
	}
	a := e.do(tb, req{method: method, path: path, key: key})
	if a.status != http.StatusOK {
		tb.Fatalf("%s %s: %d %s", method, path, a.status, a.body)
	}
	return decode[upstream.Activation](tb, a.body)
}

func (e *env) balance(tb testing.TB, key string) string {
	tb.Helper()
	a := e.do(tb, req{method: "GET", path: "/wallet/balance", key: key})
	if a.status != http.StatusOK {
		tb.Fatalf("balance: %d %s", a.status, a.body)
	}
	return string(decode[upstream.Balance](tb, a.body).Balance)
}

func (e *env) stock(tb testing.TB, service, country string) int64 {
	tb.Helper()
	a := e.do(tb, req{method: "GET", path: "/catalog/offers?serviceCode=" + service + "&countryIso=" + country, key: "demo"})
	offers := decode[struct{ Offers []upstream.Offer }](tb, a.body).Offers
	if a.status != http.StatusOK || len(offers) != 1 {
		tb.Fatalf("offers %s/%s: %d %s", service, country, a.status, a.body)
	}
	return offers[0].Stock
}

func decode[T any](tb testing.TB, b []byte) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// errorCode returns the "error" field of an error answer.
func errorCode(tb testing.TB, b []byte) string {
	tb.Helper()
	return decode[upstream.ErrorBody](tb, b).Error
}

// checkLedger fails the test when the ledger is not consistent with the
// test keys.
func checkLedger(tb testing.TB, sb *sandbox.Sandbox, initial map[string]string) sandbox.Ledger {
	tb.Helper()
	l := sb.Ledger()
	if err := l.Check(initial); err != nil {
		tb.Errorf("ledger check: %v", err)
	}
	return l
}

// newRecorderRequest serves one request in process, without a network.
func newRecorderRequest(tb testing.TB, h http.Handler, method, path, key string) *httptest.ResponseRecorder {
	tb.Helper()
	r := httptest.NewRequestWithContext(tb.Context(), method, path, nil)
	if key != "" {
		r.Header.Set("x-api-key", key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}
