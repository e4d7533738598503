package upstream_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// reset answers by closing the connection without a response (an RST where
// the platform allows it).
func reset(tb testing.TB, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		tb.Errorf("hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// TestTransportErrors checks failures without a usable answer: each is a
// *TransportError, retried only when the backend may answer differently.
func TestTransportErrors(t *testing.T) {
	t.Parallel()
	balance := fixture(t, "balance.json")
	tests := []struct {
		name     string
		handle   func(t *testing.T, w http.ResponseWriter, n int)
		opt      upstream.Options
		attempts int
		notSent  bool
		want     upstream.Balance // zero: an error is expected
	}{
		{name: "reset, retried", attempts: 3,
			handle: func(t *testing.T, w http.ResponseWriter, _ int) { reset(t, w) }},
		{name: "reset once, then answer", attempts: 2, want: upstream.Balance{Balance: "42.50", Currency: "USD"},
			handle: func(t *testing.T, w http.ResponseWriter, n int) {
				if n == 0 {
					reset(t, w)
					return
				}
				writeJSON(w, 200, balance)
			}},
		{name: "reset, retries off", attempts: 1, opt: upstream.Options{Retries: -1},
			handle: func(t *testing.T, w http.ResponseWriter, _ int) { reset(t, w) }},
		{name: "reset, one retry", attempts: 2, opt: upstream.Options{Retries: 1},
			handle: func(t *testing.T, w http.ResponseWriter, _ int) { reset(t, w) }},
		{name: "body cut short", attempts: 3,
			handle: func(t *testing.T, w http.ResponseWriter, _ int) {
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(200)
				_, _ = w.Write([]byte(`{"balance":"4`))
				http.NewResponseController(w).Flush()
				reset(t, w)
			}},
		{name: "not json", attempts: 1,
			handle: func(t *testing.T, w http.ResponseWriter, _ int) { writeJSON(w, 200, []byte(`<html>ok</html>`)) }},
		{name: "empty body", attempts: 1,
			handle: func(t *testing.T, w http.ResponseWriter, _ int) { writeJSON(w, 200, nil) }},
		{name: "truncated json", attempts: 1,
			handle: func(t *testing.T, w http.ResponseWriter, _ int) { writeJSON(w, 200, []byte(`{"balance":"42.50"`)) }},
		{name: "wrong type", attempts: 1,
			handle: func(t *testing.T, w http.ResponseWriter, _ int) { writeJSON(w, 200, []byte(`{"balance":true}`)) }},
		{name: "money not a decimal", attempts: 1,
			handle: func(t *testing.T, w http.ResponseWriter, _ int) { writeJSON(w, 200, []byte(`{"balance":"1e3"}`)) }},
		{name: "money echoes the key", attempts: 1,
			handle: func(t *testing.T, w http.ResponseWriter, _ int) {
				writeJSON(w, 200, []byte(`{"balance":"`+testKey+`"}`))
			}},
		{name: "required field missing", attempts: 1,
			handle: func(t *testing.T, w http.ResponseWriter, _ int) { writeJSON(w, 200, []byte(`{"currency":"USD"}`)) }},
		{name: "oversize body", attempts: 1, opt: upstream.Options{MaxBodyBytes: 64},
			handle: func(t *testing.T, w http.ResponseWriter, _ int) {
				writeJSON(w, 200, []byte(`{"balance":"42.50","currency":"`+strings.Repeat("X", 100)+`"}`))
			}},
		{name: "body at the limit", attempts: 1, opt: upstream.Options{MaxBodyBytes: int64(len(balance))},
			want:   upstream.Balance{Balance: "42.50", Currency: "USD"},
			handle: func(t *testing.T, w http.ResponseWriter, _ int) { writeJSON(w, 200, balance) }},
		{name: "oversize error body is still an APIError", attempts: 1, opt: upstream.Options{MaxBodyBytes: 16},
			handle: func(t *testing.T, w http.ResponseWriter, _ int) {
				writeJSON(w, 404, []byte(`{"error":"not_found","message":"`+strings.Repeat("x", 100)+`"}`))
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, n int) { tc.handle(t, w, n) })
			c := newClient(t, f, tc.opt)
			got, err := c.Balance(t.Context(), testKey)
			noKeyIn(t, err)
			if n := len(f.requests()); n != tc.attempts {
				t.Errorf("server got %d requests, want %d", n, tc.attempts)
			}
			if tc.want != (upstream.Balance{}) {
				if err != nil || got != tc.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if strings.HasPrefix(tc.name, "oversize error body") {
				var ae *upstream.APIError
				if !errors.As(err, &ae) || ae.Status != 404 || ae.Code != "" {
					t.Fatalf("err = %v, want a 404 *APIError without code", err)
				}
				return
			}
			var te *upstream.TransportError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v (%T), want *TransportError", err, err)
			}
			if te.Op != "balance" || te.NotSent != tc.notSent {
				t.Errorf("got Op %q NotSent %v, want balance %v", te.Op, te.NotSent, tc.notSent)
			}
			if strings.Contains(err.Error(), "http://") {
				t.Errorf("error %q holds a URL", err)
			}
		})
	}
}

// TestClosedServer checks that a refused dial is NotSent and retried.
func TestClosedServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL + "/api/v1"
	srv.Close()
	dials := 0
	c, err := upstream.New(base, upstream.Options{
		Backoff: time.Millisecond,
		WrapTransport: func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				dials++
				return next.RoundTrip(r)
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Buy(t.Context(), testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
	noKeyIn(t, err)
	var te *upstream.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want *TransportError", err, err)
	}
	if !te.NotSent || te.Op != "buy" {
		t.Errorf("got NotSent %v Op %q, want true buy", te.NotSent, te.Op)
	}
	if dials != 3 {
		t.Errorf("%d attempts, want 3", dials)
	}
}

// TestRetryKeepsIdempotencyKey checks that every attempt of one POST carries
// the same key, and that the answer after the failures is the one returned.
func TestRetryKeepsIdempotencyKey(t *testing.T) {
	t.Parallel()
	body := fixture(t, "activation_waiting.json")
	tests := []struct {
		name string
		call func(ctx context.Context, c *upstream.Client) (upstream.Activation, error)
	}{
		{name: "buy", call: func(ctx context.Context, c *upstream.Client) (upstream.Activation, error) {
			return c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
		}},
		{name: "ready", call: func(ctx context.Context, c *upstream.Client) (upstream.Activation, error) {
			return c.Ready(ctx, testKey, waiting.ID)
		}},
		{name: "retry", call: func(ctx context.Context, c *upstream.Client) (upstream.Activation, error) {
			return c.Retry(ctx, testKey, waiting.ID)
		}},
		{name: "complete", call: func(ctx context.Context, c *upstream.Client) (upstream.Activation, error) {
			return c.Complete(ctx, testKey, waiting.ID)
		}},
		{name: "cancel", call: func(ctx context.Context, c *upstream.Client) (upstream.Activation, error) {
			return c.Cancel(ctx, testKey, waiting.ID)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				switch n {
				case 0:
					reset(t, w)
				case 1:
					writeJSON(w, 503, []byte(`{"error":"internal","message":"busy"}`))
				default:
					writeJSON(w, 200, body)
				}
			})
			c := newClient(t, f, upstream.Options{})
			got, err := tc.call(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != waiting.ID {
				t.Errorf("got %+v", got)
			}
			reqs := f.requests()
			if len(reqs) != 3 {
				t.Fatalf("server got %d requests, want 3", len(reqs))
			}
			key := reqs[0].Header.Get("Idempotency-Key")
			if key == "" {
				t.Fatal("no Idempotency-Key")
			}
			for i, r := range reqs {
				if got := r.Header.Get("Idempotency-Key"); got != key {
					t.Errorf("attempt %d key %q, want %q", i, got, key)
				}
				if i > 0 && (string(r.Body) != string(reqs[0].Body) || r.Path != reqs[0].Path) {
					t.Errorf("attempt %d sent %s %q, first sent %s %q", i, r.Path, r.Body, reqs[0].Path, reqs[0].Body)
				}
			}
		})
	}
}

// TestRetryAfterBeyondDeadline checks that a 503 asking for a wait longer
// than the call may last is returned at once instead of slept on.
func TestRetryAfterBeyondDeadline(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "3600")
		writeJSON(w, 503, []byte(`{"error":"internal","message":"maintenance"}`))
	})
	c := newClient(t, f, upstream.Options{})
	_, err := c.Balance(t.Context(), testKey)
	var ae *upstream.APIError
	if !errors.As(err, &ae) || ae.Status != 503 || ae.RetryAfter != time.Hour {
		t.Fatalf("err = %v, want the 503 with its Retry-After", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}

// TestContext checks cancellation by the caller and the per-call timeout.
func TestContext(t *testing.T) {
	t.Parallel()
	t.Run("already cancelled", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { writeJSON(w, 200, []byte(`{}`)) })
		c := newClient(t, f, upstream.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.Balance(ctx, testKey)
		if err != context.Canceled {
			t.Errorf("err = %v, want context.Canceled itself", err)
		}
		if n := len(f.requests()); n != 0 {
			t.Errorf("server got %d requests", n)
		}
	})

	t.Run("cancelled while waiting", func(t *testing.T) {
		t.Parallel()
		arrived := make(chan struct{})
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			close(arrived)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		c := newClient(t, f, upstream.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-arrived
			cancel()
		}()
		_, err := c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
		if err != context.Canceled {
			t.Errorf("err = %v (%T), want context.Canceled itself", err, err)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("server got %d requests, want 1 (no retry after cancel)", n)
		}
	})

	t.Run("caller deadline", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		c := newClient(t, f, upstream.Options{})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		_, err := c.Countries(ctx, testKey)
		if err != context.DeadlineExceeded {
			t.Errorf("err = %v (%T), want context.DeadlineExceeded itself", err, err)
		}
	})

	t.Run("call timeout", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		c := newClient(t, f, upstream.Options{Timeout: 20 * time.Millisecond})
		_, err := c.Services(t.Context(), testKey)
		var te *upstream.TransportError
		if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v (%T), want a *TransportError wrapping DeadlineExceeded", err, err)
		}
		if te.Op != "services" {
			t.Errorf("Op = %q", te.Op)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("server got %d requests, want 1 (no time left to retry)", n)
		}
	})
}
