package upstream_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// clock is the one fake clock of this package's tests: it stands still
// until a test moves it.
type clock = fakeclock.Clock

// newClock returns a clock at 2026-05-01 10:00 UTC.
func newClock() *clock { return fakeclock.At(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)) }

// testKey is the API key of the tests; no error text may contain it.
const testKey = "smsbulk_test_5f2b9c1e0d7a4"

// seen is one request as the fake native server received it.
type seen struct {
	Method   string
	Path     string // r.URL.EscapedPath()
	RawQuery string
	Header   http.Header
	Body     []byte
}

// fake is a native server on loopback that records every request and
// answers with handle, which gets the 0-based number of the request.
type fake struct {
	srv    *httptest.Server
	handle func(w http.ResponseWriter, r *http.Request, n int)

	mu   sync.Mutex
	reqs []seen
}

// newFake starts a fake native server answering with handle.
func newFake(tb testing.TB, handle func(w http.ResponseWriter, r *http.Request, n int)) *fake {
	tb.Helper()
	f := &fake{handle: handle}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		n := len(f.reqs)
		f.reqs = append(f.reqs, seen{
			Method:   r.Method,
			Path:     r.URL.EscapedPath(),
			RawQuery: r.URL.RawQuery,
			Header:   r.Header.Clone(),
			Body:     body,
		})
		f.mu.Unlock()
		f.handle(w, r, n)
	}))
	tb.Cleanup(f.srv.Close)
	return f
}

// requests returns a copy of what the server received so far.
func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// baseURL is the native base URL of the fake server.
func (f *fake) baseURL() string { return f.srv.URL + "/api/v1" }

// newClient returns a client of f with fast retries; opt overrides them.
func newClient(tb testing.TB, f *fake, opt upstream.Options) *upstream.Client {
	tb.Helper()
	if opt.Backoff == 0 {
		opt.Backoff = time.Millisecond
	}
	c, err := upstream.New(f.baseURL(), opt)
	if err != nil {
		tb.Fatalf("upstream.New: %v", err)
	}
	return c
}

// fixture returns the bytes of testdata/name.
func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("reading fixture: %v", err)
	}
	return b
}

// writeJSON answers status with body as JSON.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// noKeyIn fails the test when err's text holds the API key.
func noKeyIn(tb testing.TB, err error) {
	tb.Helper()
	if err != nil && strings.Contains(err.Error(), testKey) {
		tb.Errorf("error text holds the API key: %q", err.Error())
	}
}
