package upstream_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// switchable is a fake native server whose answer the test changes: a 200
// balance, or an error status.
type switchable struct {
	*fake
	status atomic.Int32 // 0 answers 200
}

func newSwitchable(tb testing.TB) *switchable {
	tb.Helper()
	s := &switchable{}
	body := fixture(tb, "balance.json")
	s.fake = newFake(tb, func(w http.ResponseWriter, _ *http.Request, _ int) {
		switch st := int(s.status.Load()); st {
		case 0:
			writeJSON(w, 200, body)
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "30")
			writeJSON(w, st, []byte(`{"error":"rate_limit_exceeded","message":"slow down","retryAfter":30}`))
		default:
			writeJSON(w, st, []byte(`{"error":"internal","message":"down"}`))
		}
	})
	return s
}

// wantOpen fails the test unless err is the breaker's refusal.
func wantOpen(tb testing.TB, err error) {
	tb.Helper()
	var te *upstream.TransportError
	if !errors.Is(err, upstream.ErrCircuitOpen) || !errors.As(err, &te) || !te.NotSent || te.Op != "balance" {
		tb.Fatalf("err = %v (%T), want a NotSent balance *TransportError wrapping ErrCircuitOpen", err, err)
	}
}

// TestBreakerOpensAndRecovers walks the breaker through its states with a
// fake clock: threshold failures open it, calls then fail without a request
// until the cooldown ends, a failed probe opens it again, a good one closes
// it.
func TestBreakerOpensAndRecovers(t *testing.T) {
	t.Parallel()
	s := newSwitchable(t)
	clock := newClock()
	c := newClient(t, s.fake, upstream.Options{Retries: -1, BreakerThreshold: 3, BreakerCooldown: 5 * time.Second, Now: clock.Now})
	s.status.Store(503)
	sent := func() int { return len(s.requests()) }

	for i := range 3 {
		_, err := c.Balance(t.Context(), testKey)
		if !errors.Is(err, &upstream.APIError{Status: 503}) {
			t.Fatalf("call %d: err = %v, want the 503", i, err)
		}
	}
	if n := sent(); n != 3 {
		t.Fatalf("%d requests before opening, want 3", n)
	}
	_, err := c.Balance(t.Context(), testKey)
	wantOpen(t, err)
	noKeyIn(t, err)
	clock.Advance(4999 * time.Millisecond)
	_, err = c.Balance(t.Context(), testKey)
	wantOpen(t, err)
	if n := sent(); n != 3 {
		t.Fatalf("%d requests while open, want still 3", n)
	}

	// Cooldown over, backend still down: one probe, and open again.
	clock.Advance(time.Millisecond)
	_, err = c.Balance(t.Context(), testKey)
	if !errors.Is(err, &upstream.APIError{Status: 503}) {
		t.Fatalf("probe: err = %v, want the 503", err)
	}
	_, err = c.Balance(t.Context(), testKey)
	wantOpen(t, err)
	if n := sent(); n != 4 {
		t.Fatalf("%d requests after the failed probe, want 4", n)
	}

	// Backend back: the next probe closes the breaker for good.
	s.status.Store(0)
	clock.Advance(5 * time.Second)
	for i := range 5 {
		if _, err := c.Balance(t.Context(), testKey); err != nil {
			t.Fatalf("call %d after recovery: %v", i, err)
		}
	}
	if n := sent(); n != 9 {
		t.Fatalf("%d requests after recovery, want 9", n)
	}
}

// TestBreakerCounts checks which answers count as failures: 5xx and
// transport failures do; 429 and other 4xx answers show the backend is up
// and reset the count.
func TestBreakerCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		statuses []int // one call each; 0 is a 200
		wantOpen bool  // after the calls
	}{
		{name: "three 503", statuses: []int{503, 503, 503}, wantOpen: true},
		{name: "three 500", statuses: []int{500, 500, 500}, wantOpen: true},
		{name: "mixed 5xx", statuses: []int{502, 504, 500}, wantOpen: true},
		{name: "429 is up", statuses: []int{429, 429, 429, 429, 429}},
		{name: "4xx is up", statuses: []int{400, 401, 402, 403, 404, 409, 422}},
		{name: "429 resets the count", statuses: []int{503, 503, 429, 503, 503}},
		{name: "404 resets the count", statuses: []int{503, 503, 404, 503, 503}},
		{name: "200 resets the count", statuses: []int{503, 503, 0, 503, 503}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSwitchable(t)
			c := newClient(t, s.fake, upstream.Options{Retries: -1, BreakerThreshold: 3, Now: newClock().Now})
			for _, st := range tc.statuses {
				s.status.Store(int32(st))
				_, _ = c.Balance(t.Context(), testKey)
			}
			if n := len(s.requests()); n != len(tc.statuses) {
				t.Fatalf("%d requests, want %d", n, len(tc.statuses))
			}
			s.status.Store(0)
			_, err := c.Balance(t.Context(), testKey)
			if tc.wantOpen {
				wantOpen(t, err)
			} else if err != nil {
				t.Fatalf("breaker refused or call failed: %v", err)
			}
		})
	}
}

// TestBreakerTransportFailures checks that refused dials and resets count,
// and that the retries of one call stop as soon as the breaker opens
// instead of hammering it.
func TestBreakerTransportFailures(t *testing.T) {
	t.Parallel()
	t.Run("closed port", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL + "/api/v1"
		srv.Close()
		var attempts atomic.Int32
		c, err := upstream.New(base, upstream.Options{
			Backoff: time.Millisecond, Retries: 10, BreakerThreshold: 3, Now: newClock().Now,
			WrapTransport: func(next http.RoundTripper) http.RoundTripper {
				return roundTripFunc(func(r *http.Request) (*http.Response, error) {
					attempts.Add(1)
					return next.RoundTrip(r)
				})
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Balance(t.Context(), testKey)
		var te *upstream.TransportError
		if !errors.As(err, &te) || !te.NotSent || errors.Is(err, upstream.ErrCircuitOpen) {
			t.Fatalf("first call: err = %v, want the dial failure itself", err)
		}
		if n := attempts.Load(); n != 3 {
			t.Fatalf("%d attempts, want 3: retries must stop when the breaker opens", n)
		}
		_, err = c.Balance(t.Context(), testKey)
		wantOpen(t, err)
		if n := attempts.Load(); n != 3 {
			t.Fatalf("%d attempts after opening, want still 3", n)
		}
	})
	t.Run("reset", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reset(t, w) })
		c := newClient(t, f, upstream.Options{Retries: 10, BreakerThreshold: 4, Now: newClock().Now,
			Transport: &http.Transport{DisableKeepAlives: true}})
		_, err := c.Balance(t.Context(), testKey)
		var te *upstream.TransportError
		if !errors.As(err, &te) || errors.Is(err, upstream.ErrCircuitOpen) {
			t.Fatalf("first call: err = %v, want the reset", err)
		}
		if n := len(f.requests()); n != 4 {
			t.Fatalf("%d requests, want 4", n)
		}
		_, err = c.Balance(t.Context(), testKey)
		wantOpen(t, err)
	})
	t.Run("no backoff on an open breaker", func(t *testing.T) {
		t.Parallel()
		s := newSwitchable(t)
		s.status.Store(503)
		// A backoff of 4s jitters to at least 2s: a call that returns much
		// sooner did not sleep before finding the breaker open.
		c := newClient(t, s.fake, upstream.Options{Retries: 5, BreakerThreshold: 1, Backoff: 4 * time.Second,
			Timeout: time.Minute, Now: newClock().Now})
		start := time.Now()
		_, err := c.Balance(t.Context(), testKey)
		if !errors.Is(err, &upstream.APIError{Status: 503}) {
			t.Fatalf("err = %v, want the 503 of the last attempt", err)
		}
		if n := len(s.requests()); n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
		if d := time.Since(start); d >= 2*time.Second {
			t.Errorf("call took %v: it slept on a backoff although the breaker was open", d)
		}
	})
}

// TestBreakerOneProbe checks that a half-open breaker lets exactly one call
// through while the others fail at once, and that a probe cut short by its
// caller hands the probe to the next caller.
func TestBreakerOneProbe(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	var down atomic.Bool
	down.Store(true)
	body := fixture(t, "balance.json")
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if down.Load() {
			writeJSON(w, 503, []byte(`{"error":"internal","message":"down"}`))
			return
		}
		arrived <- struct{}{}
		select {
		case <-release:
			writeJSON(w, 200, body)
		case <-r.Context().Done():
		}
	})
	clock := newClock()
	c := newClient(t, f, upstream.Options{Retries: -1, BreakerThreshold: 1, BreakerCooldown: time.Second, Now: clock.Now})
	if _, err := c.Balance(t.Context(), testKey); err == nil {
		t.Fatal("the 503 succeeded")
	}
	down.Store(false)
	clock.Advance(time.Second)

	// A probe whose caller gives up: the next caller probes.
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Balance(ctx, testKey)
		errc <- err
	}()
	<-arrived
	_, err := c.Balance(t.Context(), testKey)
	wantOpen(t, err)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled probe: err = %v", err)
	}

	// The next probe is in flight: every other caller is refused at once.
	go func() {
		_, err := c.Balance(t.Context(), testKey)
		errc <- err
	}()
	<-arrived
	var wg sync.WaitGroup
	var refused atomic.Int32
	for range 8 {
		wg.Go(func() {
			if _, err := c.Balance(t.Context(), testKey); errors.Is(err, upstream.ErrCircuitOpen) {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if n := refused.Load(); n != 8 {
		t.Fatalf("%d of 8 calls refused during the probe, want 8", n)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if n := len(f.requests()); n != 3 {
		t.Fatalf("%d requests, want 3 (the 503 and two probes)", n)
	}
	if _, err := c.Balance(t.Context(), testKey); err != nil {
		t.Fatalf("after a good probe: %v", err)
	}
}

// TestBreakerStaleSuccess checks that an answer to a request sent before
// the breaker opened does not close it.
func TestBreakerStaleSuccess(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	body := fixture(t, "balance.json")
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			arrived <- struct{}{}
			<-release
			writeJSON(w, 200, body)
			return
		}
		writeJSON(w, 503, []byte(`{"error":"internal","message":"down"}`))
	})
	c := newClient(t, f, upstream.Options{Retries: -1, BreakerThreshold: 1, Now: newClock().Now})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Balance(t.Context(), testKey)
		errc <- err
	}()
	<-arrived
	if _, err := c.Balance(t.Context(), testKey); !errors.Is(err, &upstream.APIError{Status: 503}) {
		t.Fatalf("err = %v, want the 503", err)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("slow call: %v", err)
	}
	_, err := c.Balance(t.Context(), testKey)
	wantOpen(t, err)
}

// TestBreakerStaleFailure checks that a failure of a request sent before
// the breaker opened does not count again: it neither extends the cooldown
// nor keeps the probe out.
func TestBreakerStaleFailure(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	body := fixture(t, "balance.json")
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 0: // A: slow, then fails
			arrived <- struct{}{}
			<-release
			writeJSON(w, 503, []byte(`{"error":"internal","message":"down"}`))
		case 1: // B: fails and opens the breaker
			writeJSON(w, 503, []byte(`{"error":"internal","message":"down"}`))
		default:
			writeJSON(w, 200, body)
		}
	})
	clock := newClock()
	c := newClient(t, f, upstream.Options{Retries: -1, BreakerThreshold: 1, BreakerCooldown: time.Second, Now: clock.Now})
	errA := make(chan error, 1)
	go func() {
		_, err := c.Balance(t.Context(), testKey)
		errA <- err
	}()
	<-arrived
	if _, err := c.Balance(t.Context(), testKey); !errors.Is(err, &upstream.APIError{Status: 503}) {
		t.Fatalf("B: err = %v, want the 503", err)
	}
	clock.Advance(500 * time.Millisecond)
	close(release)
	if err := <-errA; !errors.Is(err, &upstream.APIError{Status: 503}) {
		t.Fatalf("A: err = %v, want the 503", err)
	}
	clock.Advance(500 * time.Millisecond)
	if _, err := c.Balance(t.Context(), testKey); err != nil {
		t.Fatalf("probe at the end of the cooldown: %v (a stale failure extended it)", err)
	}
}

// TestBreakerOff checks that a negative threshold turns the breaker off.
func TestBreakerOff(t *testing.T) {
	t.Parallel()
	s := newSwitchable(t)
	s.status.Store(503)
	c := newClient(t, s.fake, upstream.Options{Retries: -1, BreakerThreshold: -1})
	for range 20 {
		if _, err := c.Balance(t.Context(), testKey); errors.Is(err, upstream.ErrCircuitOpen) {
			t.Fatal("breaker refused a call while off")
		}
	}
	if n := len(s.requests()); n != 20 {
		t.Fatalf("%d requests, want 20", n)
	}
	if got := c.BreakerState(); got != upstream.BreakerClosed {
		t.Errorf("breaker off: state %s, want closed", got)
	}
}

// TestNotSentAcrossAttempts checks that a call whose first attempt may have
// reached the backend is never reported NotSent, even when its last attempt
// failed to dial.
func TestNotSentAcrossAttempts(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if n.Add(1) == 1 {
			return nil, io.ErrUnexpectedEOF // the connection broke after sending
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	})
	c, err := upstream.New("http://127.0.0.1:1/api/v1", upstream.Options{Transport: rt, Backoff: time.Millisecond, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Buy(t.Context(), testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
	var te *upstream.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want *TransportError", err, err)
	}
	if te.NotSent {
		t.Error("NotSent after an attempt that may have been sent")
	}
	if n.Load() != 2 {
		t.Errorf("%d attempts, want 2", n.Load())
	}
}

// TestOutcomeAcrossAttempts checks what a call reports when its attempts
// disagree: a 4xx answer to a POST retried after an attempt whose effect is
// unknown must not read as "nothing happened".
func TestOutcomeAcrossAttempts(t *testing.T) {
	t.Parallel()
	type step = func(*http.Request) (*http.Response, error) // one attempt's fate
	broken := func(*http.Request) (*http.Response, error) { return nil, io.ErrUnexpectedEOF }
	refused := func(*http.Request) (*http.Response, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	answer := func(status int, body string) step {
		return func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		}
	}
	limited := answer(429, `{"error":"rate_limit_exceeded","message":"slow down"}`)
	busy := answer(503, `{"error":"internal","message":"busy"}`)
	tests := []struct {
		name     string
		post     bool
		attempts []step
		wantAPI  int  // status of the *APIError the call must give; 0 for none
		notSent  bool // for a *TransportError
	}{
		{name: "POST reset then 429", post: true, attempts: []step{broken, limited}},
		{name: "POST 503 then 429", post: true, attempts: []step{busy, limited}},
		{name: "POST refused dial then 429", post: true, attempts: []step{refused, limited}, wantAPI: 429},
		{name: "POST 429 at once", post: true, attempts: []step{limited}, wantAPI: 429},
		{name: "GET reset then 429", attempts: []step{broken, limited}, wantAPI: 429},
		{name: "POST reset then refused dial", post: true, attempts: []step{broken, refused}},
		{name: "POST refused twice", post: true, attempts: []step{refused, refused}, notSent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int32
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				i := int(n.Add(1)) - 1
				if i >= len(tc.attempts) {
					t.Errorf("attempt %d: more attempts than planned", i+1)
					return nil, io.ErrUnexpectedEOF
				}
				return tc.attempts[i](r)
			})
			c, err := upstream.New("http://127.0.0.1:1/api/v1", upstream.Options{Transport: rt, Backoff: time.Millisecond,
				Retries: len(tc.attempts) - 1, BreakerThreshold: -1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.post {
				_, err = c.Buy(t.Context(), testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
			} else {
				_, err = c.Balance(t.Context(), testKey)
			}
			if int(n.Load()) != len(tc.attempts) {
				t.Errorf("%d attempts, want %d", n.Load(), len(tc.attempts))
			}
			var ae *upstream.APIError
			var te *upstream.TransportError
			switch {
			case tc.wantAPI != 0:
				if !errors.As(err, &ae) || ae.Status != tc.wantAPI {
					t.Fatalf("err = %v (%T), want the %d *APIError", err, err, tc.wantAPI)
				}
			case errors.As(err, &ae):
				t.Fatalf("err = %v wraps an *APIError: a caller would think nothing was bought", err)
			case !errors.As(err, &te):
				t.Fatalf("err = %v (%T), want a *TransportError", err, err)
			case te.NotSent != tc.notSent:
				t.Fatalf("NotSent = %v, want %v (err %v)", te.NotSent, tc.notSent, err)
			}
		})
	}
}

// TestNotSentAfterSilentRetry checks the case http.Transport hides: a POST
// written on a reused connection that then breaks is sent again by the
// transport on a new connection; when that dial fails, the call must still
// say the request may have been sent.
func TestNotSentAfterSilentRetry(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	body := fixture(t, "balance.json")
	posted := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		br := bufio.NewReader(conn)
		if req, err := http.ReadRequest(br); err == nil {
			_, _ = io.Copy(io.Discard, req.Body)
			fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
		req, err := http.ReadRequest(br)
		if err == nil {
			_, _ = io.Copy(io.Discard, req.Body)
			posted <- req.Method + " " + req.URL.Path
		}
		// The backend dies after reading the purchase: no answer, and no
		// more connections.
		ln.Close()
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		conn.Close()
	}()
	c, err := upstream.New("http://"+ln.Addr().String()+"/api/v1", upstream.Options{Retries: -1, BreakerThreshold: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Balance(t.Context(), testKey); err != nil {
		t.Fatal(err)
	}
	_, err = c.Buy(t.Context(), testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
	if got := <-posted; got != "POST /api/v1/activations" {
		t.Fatalf("backend read %q", got)
	}
	var te *upstream.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want *TransportError", err, err)
	}
	if te.NotSent {
		t.Errorf("NotSent for a purchase the backend read (err %v)", err)
	}
}

// TestBreakerConcurrent hammers one client from many goroutines while the
// backend flips between up and down; run with -race. Every error must be
// one of the client's typed errors.
func TestBreakerConcurrent(t *testing.T) {
	t.Parallel()
	s := newSwitchable(t)
	clock := newClock()
	c := newClient(t, s.fake, upstream.Options{Retries: 1, BreakerThreshold: 3, BreakerCooldown: time.Second, Now: clock.Now})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				if g == 0 && i%10 == 0 {
					s.status.Store(int32(503 * (i / 10 % 2)))
					clock.Advance(time.Second)
				}
				_, err := c.Balance(t.Context(), testKey)
				var ae *upstream.APIError
				var te *upstream.TransportError
				if err != nil && !errors.As(err, &ae) && !errors.As(err, &te) {
					t.Errorf("untyped error %v (%T)", err, err)
					return
				}
				if st := c.BreakerState(); st > upstream.BreakerHalfOpen {
					t.Errorf("state %s", st)
					return
				}
			}
		})
	}
	wg.Wait()
	s.status.Store(0)
	clock.Advance(time.Second)
	if _, err := c.Balance(t.Context(), testKey); err != nil {
		t.Fatalf("after the storm, with the backend up: %v", err)
	}
}

// TestBreakerState follows BreakerState through every change of state, with
// a fake clock, and checks that a probe in flight reads half-open.
func TestBreakerState(t *testing.T) {
	t.Parallel()
	s := newSwitchable(t)
	clock := newClock()
	c := newClient(t, s.fake, upstream.Options{Retries: -1, BreakerThreshold: 2, BreakerCooldown: time.Second, Now: clock.Now})
	want := func(step string, st upstream.BreakerState) {
		t.Helper()
		if got := c.BreakerState(); got != st {
			t.Fatalf("%s: state %s, want %s", step, got, st)
		}
	}
	balance := func() { _, _ = c.Balance(t.Context(), testKey) }

	want("new", upstream.BreakerClosed)
	s.status.Store(503)
	balance()
	want("one failure", upstream.BreakerClosed)
	s.status.Store(404)
	balance()
	balance()
	want("4xx answers", upstream.BreakerClosed)
	s.status.Store(503)
	balance()
	balance()
	want("threshold failures", upstream.BreakerOpen)
	clock.Advance(999 * time.Millisecond)
	want("cooldown not over", upstream.BreakerOpen)
	clock.Advance(time.Millisecond)
	want("cooldown over, no call yet", upstream.BreakerHalfOpen)
	balance()
	want("failed probe", upstream.BreakerOpen)
	clock.Advance(time.Second)
	s.status.Store(0)
	balance()
	want("good probe", upstream.BreakerClosed)

}

// TestBreakerStateProbe checks that the breaker reads half-open while its
// probe is in flight, and closed once the probe got its answer.
func TestBreakerStateProbe(t *testing.T) {
	t.Parallel()
	inFlight, release := make(chan struct{}), make(chan struct{})
	body := fixture(t, "balance.json")
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 0 {
			writeJSON(w, 503, []byte(`{"error":"internal","message":"down"}`))
			return
		}
		close(inFlight)
		<-release
		writeJSON(w, 200, body)
	})
	clock := newClock()
	c := newClient(t, f, upstream.Options{Retries: -1, BreakerThreshold: 1, BreakerCooldown: time.Second, Now: clock.Now})
	if _, err := c.Balance(t.Context(), testKey); err == nil {
		t.Fatal("the 503 succeeded")
	}
	clock.Advance(time.Second)
	done := make(chan error)
	go func() {
		_, err := c.Balance(t.Context(), testKey)
		done <- err
	}()
	<-inFlight
	if got := c.BreakerState(); got != upstream.BreakerHalfOpen {
		t.Errorf("probe in flight: state %s, want half-open", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := c.BreakerState(); got != upstream.BreakerClosed {
		t.Errorf("after the probe: state %s, want closed", got)
	}
}

func TestBreakerStateString(t *testing.T) {
	t.Parallel()
	for st, want := range map[upstream.BreakerState]string{
		upstream.BreakerClosed: "closed", upstream.BreakerOpen: "open", upstream.BreakerHalfOpen: "half-open", upstream.BreakerState(7): "BreakerState(7)",
	} {
		if got := st.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}
