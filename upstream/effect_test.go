package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// attempt is the fate of one attempt of a scripted call.
type attempt = func(*http.Request) (*http.Response, error)

// answerWith is an attempt that gets status with body as JSON.
func answerWith(status int, body string) attempt {
	return func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	}
}

// Attempts the sandbox cannot script one by one.
var (
	lost      attempt = func(*http.Request) (*http.Response, error) { return nil, io.ErrUnexpectedEOF }
	dialFails attempt = func(*http.Request) (*http.Response, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	limited = answerWith(429, `{"error":"rate_limit_exceeded","message":"slow down"}`)
	busy    = answerWith(503, `{"error":"internal","message":"busy"}`)
	bought  = answerWith(201, `{"id":"cmox8h7pmicm3mkczzwhdz0yd","phoneNumber":"905551234567","status":"WAITING","userCost":"0.50"}`)
)

// scripted returns a client whose attempts meet attempts in turn, with as
// many retries as there are attempts after the first.
func scripted(tb testing.TB, attempts ...attempt) *upstream.Client {
	tb.Helper()
	var n atomic.Int32
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		i := int(n.Add(1)) - 1
		if i >= len(attempts) {
			tb.Errorf("attempt %d: more attempts than scripted", i+1)
			return nil, io.ErrUnexpectedEOF
		}
		return attempts[i](r)
	})
	retries := len(attempts) - 1
	if retries == 0 {
		retries = -1 // 0 would mean DefaultRetries
	}
	c, err := upstream.New("http://127.0.0.1:1/api/v1", upstream.Options{Transport: rt, Backoff: time.Millisecond,
		Retries: retries, BreakerThreshold: -1})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// buyTR buys wa in TR with c.
func buyTR(ctx context.Context, c *upstream.Client) error {
	_, err := c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
	return err
}

// TestEffectOfScripted runs the client through every shape of failure it
// reports and checks the verdict on each error as the client made it.
func TestEffectOfScripted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		attempts []attempt
		want     upstream.Effect
	}{
		{"302 redirect", []attempt{answerWith(302, `<html>moved</html>`)}, upstream.EffectNoneUnderKey},
		{"400 validation_error", []attempt{answerWith(400, `{"error":"validation_error","message":"x"}`)}, upstream.EffectNoneUnderKey},
		{"401 unauthorized", []attempt{answerWith(401, `{"error":"unauthorized","message":"x"}`)}, upstream.EffectNoneUnderKey},
		{"402 insufficient_balance", []attempt{answerWith(402, `{"error":"insufficient_balance","message":"x"}`)}, upstream.EffectNoneUnderKey},
		{"403 forbidden", []attempt{answerWith(403, `{"error":"forbidden","message":"x"}`)}, upstream.EffectNoneUnderKey},
		{"404 not_found", []attempt{answerWith(404, `{"error":"not_found","message":"x"}`)}, upstream.EffectNoneUnderKey},
		{"409 out_of_stock", []attempt{answerWith(409, `{"error":"out_of_stock","message":"x"}`)}, upstream.EffectNoneUnderKey},
		{"422 price_above_max", []attempt{answerWith(422, `{"error":"price_above_max","message":"min 0.75"}`)}, upstream.EffectNoneUnderKey},
		{"422 unknown_service", []attempt{answerWith(422, `{"error":"unknown_service","message":"x"}`)}, upstream.EffectNoneUnderKey},
		{"418 without a contract body", []attempt{answerWith(418, `<html>teapot</html>`)}, upstream.EffectNoneUnderKey},
		{"429 rate_limit_exceeded", []attempt{limited}, upstream.EffectNoneThisCall},
		{"429 from a proxy, no code", []attempt{answerWith(429, `<html>slow</html>`)}, upstream.EffectNoneThisCall},
		{"500 internal", []attempt{answerWith(500, `{"error":"internal","message":"x"}`)}, upstream.EffectUnknown},
		{"502 every time", []attempt{answerWith(502, `{}`), answerWith(502, `{}`)}, upstream.EffectUnknown},
		{"503 every time", []attempt{busy, busy, busy}, upstream.EffectUnknown},
		{"504 every time", []attempt{answerWith(504, `{}`), answerWith(504, `{}`)}, upstream.EffectUnknown},
		{"599", []attempt{answerWith(599, `{}`)}, upstream.EffectUnknown},
		{"dial fails every time", []attempt{dialFails, dialFails, dialFails}, upstream.EffectNoneThisCall},
		{"answer lost every time", []attempt{lost, lost}, upstream.EffectUnknown},
		{"answer lost then dial fails", []attempt{lost, dialFails}, upstream.EffectUnknown},
		{"dial fails then answer lost", []attempt{dialFails, lost}, upstream.EffectUnknown},
		// history.add: a 4xx after an attempt of unknown effect is no proof.
		{"answer lost then 429", []attempt{lost, limited}, upstream.EffectUnknown},
		{"answer lost then 409", []attempt{lost, answerWith(409, `{"error":"out_of_stock","message":"x"}`)}, upstream.EffectUnknown},
		{"503 then 402", []attempt{busy, answerWith(402, `{"error":"insufficient_balance","message":"x"}`)}, upstream.EffectUnknown},
		{"503 then 429", []attempt{busy, limited}, upstream.EffectUnknown},
		// An attempt that never left changes nothing.
		{"dial fails then 429", []attempt{dialFails, limited}, upstream.EffectNoneThisCall},
		{"dial fails then 409", []attempt{dialFails, answerWith(409, `{"error":"out_of_stock","message":"x"}`)}, upstream.EffectNoneUnderKey},
		// A 2xx the client cannot read is a purchase that happened.
		{"201 not JSON", []attempt{answerWith(201, `<html>ok</html>`)}, upstream.EffectUnknown},
		{"201 without an id", []attempt{answerWith(201, `{"status":"WAITING"}`)}, upstream.EffectUnknown},
		{"201 truncated", []attempt{answerWith(201, `{"id":"abc","sta`)}, upstream.EffectUnknown},
		{"201 larger than MaxBodyBytes", []attempt{answerWith(201, `{"id":"abc","status":"WAITING","pad":"`+strings.Repeat("x", upstream.DefaultMaxBodyBytes)+`"}`)}, upstream.EffectUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := buyTR(t.Context(), scripted(t, tc.attempts...))
			if err == nil {
				t.Fatal("the call succeeded")
			}
			if got := upstream.EffectOf(err); got != tc.want {
				t.Errorf("EffectOf(%v) = %s, want %s", err, got, tc.want)
			}
			if got := upstream.EffectOf(fmt.Errorf("buying wa: %w", err)); got != tc.want {
				t.Errorf("EffectOf of the wrapped error = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestEffectOfSandbox checks the verdict on the errors the client gets from
// the sandbox, whose ledger says what was bought.
func TestEffectOfSandbox(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    sandbox.Config
		setup  func(t *testing.T, e *sandboxEnv)
		key    string
		buy    upstream.BuyRequest
		want   upstream.Effect
		bought bool // the ledger holds a purchase afterwards
	}{
		{name: "unknown key", key: "smsbulk_test_nobody", buy: upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"},
			want: upstream.EffectNoneUnderKey},
		{name: "empty key, no request", key: "", buy: upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"},
			want: upstream.EffectNoneUnderKey},
		{name: "insufficient balance", key: poorKey, buy: upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"},
			want: upstream.EffectNoneUnderKey},
		{name: "out of stock", key: testKey, buy: upstream.BuyRequest{ServiceCode: "tg", CountryISO: "NU"},
			want: upstream.EffectNoneUnderKey},
		{name: "unknown service", key: testKey, buy: upstream.BuyRequest{ServiceCode: "nosuch", CountryISO: "TR"},
			want: upstream.EffectNoneUnderKey},
		{name: "price above max", key: testKey, buy: upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR", MaxPrice: "0.10"},
			want: upstream.EffectNoneUnderKey},
		{name: "rate limited", cfg: sandbox.Config{RateLimit: 1}, key: testKey, buy: upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"},
			setup: func(t *testing.T, e *sandboxEnv) {
				if _, err := e.raw.Balance(t.Context(), testKey); err != nil {
					t.Fatal(err)
				}
			},
			want: upstream.EffectNoneThisCall},
		{name: "500 before acting", key: testKey, buy: upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"},
			setup: func(_ *testing.T, e *sandboxEnv) { e.sb.InjectFault(sandbox.RouteBuy, "status=500", 1) },
			want:  upstream.EffectUnknown},
		{name: "bought, answer not JSON", key: testKey, buy: upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"},
			setup: func(_ *testing.T, e *sandboxEnv) { e.sb.InjectFault(sandbox.RouteBuy, "bad-json", 1) },
			want:  upstream.EffectUnknown, bought: true},
		{name: "bought, answer lost", key: testKey, buy: upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"},
			setup: func(_ *testing.T, e *sandboxEnv) { e.sb.InjectFault(sandbox.RouteBuy, "reset-after-commit", 3) },
			want:  upstream.EffectUnknown, bought: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newSandboxEnv(t, tc.cfg)
			if tc.setup != nil {
				tc.setup(t, e)
			}
			_, err := e.raw.Buy(t.Context(), tc.key, tc.buy, "")
			if err == nil {
				t.Fatal("the purchase succeeded")
			}
			if got := upstream.EffectOf(err); got != tc.want {
				t.Errorf("EffectOf(%v) = %s, want %s", err, got, tc.want)
			}
			if got := len(e.sb.Ledger().Purchases(tc.key)) > 0; got != tc.bought {
				t.Errorf("ledger holds a purchase: %v, want %v", got, tc.bought)
			}
		})
	}
}

// TestEffectOfReplay checks the case the reconciler meets: a replay with
// the Idempotency-Key of a purchase whose answer was lost. A 429 to the
// replay says nothing of the purchase; the replay that gets through answers
// with it.
func TestEffectOfReplay(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t, sandbox.Config{RateLimit: 1})
	e.sb.InjectFault(sandbox.RouteBuy, "reset-after-commit", 1)
	const idem = "replay-key-1"
	buy := upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}
	// The answer is lost and the client's retry gets a 429.
	_, err := e.raw.Buy(t.Context(), testKey, buy, idem)
	if got := upstream.EffectOf(err); got != upstream.EffectUnknown {
		t.Fatalf("first purchase: EffectOf(%v) = %s, want unknown", err, got)
	}
	_, err = e.raw.Buy(t.Context(), testKey, buy, idem)
	if got := upstream.EffectOf(err); got != upstream.EffectNoneThisCall {
		t.Fatalf("rate-limited replay: EffectOf(%v) = %s, want none_this_call", err, got)
	}
	if n := len(e.sb.Ledger().Purchases(testKey)); n != 1 {
		t.Fatalf("%d purchases, want the first one", n)
	}
	e.clock.Advance(sandbox.DefaultRateWindow)
	a, err := e.raw.Buy(t.Context(), testKey, buy, idem)
	if err != nil || a.Status != upstream.StatusWaiting {
		t.Fatalf("replay after the window: %+v, %v; want the first purchase", a, err)
	}
	if n := len(e.sb.Ledger().Purchases(testKey)); n != 1 {
		t.Fatalf("%d purchases after the replay, want 1", n)
	}
}

// TestEffectOfOther checks the errors that are not the client's answers:
// context ends, the breaker, and errors of other packages.
func TestEffectOfOther(t *testing.T) {
	t.Parallel()
	ends := []struct {
		name       string
		cancel     bool          // the caller cancels once the request is out
		timeout    time.Duration // of the caller's context; 0 for none
		buyTimeout time.Duration
		want       error
	}{
		{name: "caller cancelled mid-call", cancel: true, want: context.Canceled},
		{name: "caller's deadline", timeout: 20 * time.Millisecond, want: context.DeadlineExceeded},
		{name: "call's own timeout", buyTimeout: 20 * time.Millisecond, want: context.DeadlineExceeded},
	}
	for _, tc := range ends {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.timeout > 0 {
				var stop context.CancelFunc
				ctx, stop = context.WithTimeout(ctx, tc.timeout)
				defer stop()
			}
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if tc.cancel {
					cancel()
				}
				<-r.Context().Done()
				return nil, r.Context().Err()
			})
			c, err := upstream.New("http://127.0.0.1:1/api/v1", upstream.Options{Transport: rt, Retries: -1, BuyTimeout: tc.buyTimeout})
			if err != nil {
				t.Fatal(err)
			}
			err = buyTR(ctx, c)
			var te *upstream.TransportError
			if !errors.Is(err, tc.want) || errors.As(err, &te) != (tc.buyTimeout > 0) {
				t.Fatalf("err = %v (%T), want %v, in a *TransportError only for the call's own timeout", err, err, tc.want)
			}
			if got := upstream.EffectOf(err); got != upstream.EffectUnknown {
				t.Errorf("EffectOf = %s, want unknown", got)
			}
		})
	}
	t.Run("circuit open", func(t *testing.T) {
		t.Parallel()
		rt := roundTripFunc(busy)
		c, err := upstream.New("http://127.0.0.1:1/api/v1", upstream.Options{Transport: rt, Retries: -1, BreakerThreshold: 1, Now: newClock().Now})
		if err != nil {
			t.Fatal(err)
		}
		if got := upstream.EffectOf(buyTR(t.Context(), c)); got != upstream.EffectUnknown {
			t.Fatalf("the 503 that opens the breaker: EffectOf = %s, want unknown", got)
		}
		err = buyTR(t.Context(), c)
		if !errors.Is(err, upstream.ErrCircuitOpen) {
			t.Fatalf("err = %v, want ErrCircuitOpen", err)
		}
		if got := upstream.EffectOf(err); got != upstream.EffectNoneThisCall {
			t.Errorf("EffectOf = %s, want none_this_call", got)
		}
	})
	t.Run("success", func(t *testing.T) {
		t.Parallel()
		if err := buyTR(t.Context(), scripted(t, bought)); err != nil {
			t.Fatal(err)
		}
		if got := upstream.EffectOf(nil); got != upstream.EffectUnknown {
			t.Errorf("EffectOf(nil) = %s, want unknown", got)
		}
	})
	for _, err := range []error{errors.New("storing purchase: disk full"), context.Canceled, upstream.ErrCircuitOpen, upstream.ErrInvalidID} {
		if got := upstream.EffectOf(err); got != upstream.EffectUnknown {
			t.Errorf("EffectOf(%v) = %s, want unknown", err, got)
		}
	}
}

func TestEffectString(t *testing.T) {
	t.Parallel()
	for e, want := range map[upstream.Effect]string{
		upstream.EffectUnknown: "unknown", upstream.EffectNoneThisCall: "none_this_call",
		upstream.EffectNoneUnderKey: "none_under_key", upstream.Effect(9): "unknown",
	} {
		if got := e.String(); got != want {
			t.Errorf("Effect(%d).String() = %q, want %q", e, got, want)
		}
	}
}
