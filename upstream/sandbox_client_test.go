package upstream_test

import (
	"errors"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// poorKey is a sandbox key whose wallet cannot pay for a 0.50 number;
// otherKey is a second key with money.
const (
	poorKey  = "smsbulk_test_poor"
	otherKey = "smsbulk_test_other"
)

// sandboxEnv is a sandbox on loopback with two clients: one whose every
// exchange is validated against openapi.yaml, and one without validation for
// the faults that break the contract on purpose.
type sandboxEnv struct {
	sb    *sandbox.Sandbox
	url   string // the native base URL
	clock *clock
	keys  map[string]string
	c     *upstream.Client // validated
	vt    *validatingTransport
	raw   *upstream.Client // not validated
}

const smsDelay = 30 * time.Second

func newSandboxEnv(tb testing.TB, cfg sandbox.Config) *sandboxEnv {
	tb.Helper()
	e := &sandboxEnv{
		clock: newClock(),
		keys:  map[string]string{testKey: "100.00", poorKey: "0.20", otherKey: "10.00"},
	}
	cfg.Keys = e.keys
	cfg.Now = e.clock.Now
	cfg.SMSDelay = smsDelay
	cfg.Rand = rand.New(rand.NewPCG(1, 2))
	sb, err := sandbox.New(cfg)
	if err != nil {
		tb.Fatalf("sandbox.New: %v", err)
	}
	e.sb = sb
	srv := httptest.NewServer(sb)
	tb.Cleanup(srv.Close)
	e.url = srv.URL + "/api/v1"
	wrap, vt := withValidation(tb)
	e.vt = vt
	opt := upstream.Options{Backoff: time.Millisecond, WrapTransport: wrap}
	if e.c, err = upstream.New(e.url, opt); err != nil {
		tb.Fatal(err)
	}
	if e.raw, err = upstream.New(e.url, upstream.Options{Backoff: time.Millisecond}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := sb.Ledger().Check(e.keys); err != nil {
			tb.Errorf("ledger: %v", err)
		}
	})
	return e
}

// TestSandboxLifecycle runs every client method against the sandbox, with
// every exchange validated against openapi.yaml.
func TestSandboxLifecycle(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t, sandbox.Config{})
	ctx := t.Context()
	c := e.c

	bal, err := c.Balance(ctx, testKey)
	if err != nil || bal != (upstream.Balance{Balance: "100.00", Currency: "USD"}) {
		t.Fatalf("balance: %+v, %v", bal, err)
	}
	countries, err := c.Countries(ctx, testKey)
	if err != nil || !containsCountry(countries, "TR") {
		t.Fatalf("countries: %d, %v; want TR among them", len(countries), err)
	}
	services, err := c.Services(ctx, testKey)
	if err != nil || !containsService(services, "wa") {
		t.Fatalf("services: %d, %v; want wa among them", len(services), err)
	}
	offers, err := c.Offers(ctx, testKey, upstream.OfferFilter{CountryISO: "TR", ServiceCode: "wa"})
	want := []upstream.Offer{{CountryISO: "TR", ServiceCode: "wa", Price: "0.50", Stock: 10000}}
	if err != nil || len(offers) != 1 || offers[0] != want[0] {
		t.Fatalf("offers: %+v, %v; want %+v", offers, err, want)
	}
	all, err := c.Offers(ctx, testKey, upstream.OfferFilter{ServiceCode: "tg"})
	if err != nil || len(all) != len(countries) {
		t.Fatalf("tg offers: %d, %v; want one per country (%d)", len(all), err, len(countries))
	}

	a, err := c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR", MaxPrice: "1.00"}, "")
	if err != nil {
		t.Fatalf("buy: %v", err)
	}
	if a.Status != upstream.StatusWaiting || a.UserCost != "0.50" || a.ServiceCode != "wa" || a.CountryISO != "TR" || a.SMSCode != nil || a.PhoneNumber == "" {
		t.Errorf("bought %+v", a)
	}
	if bal, _ := c.Balance(ctx, testKey); bal.Balance != "99.50" {
		t.Errorf("balance after buy %q, want 99.50", bal.Balance)
	}
	step := func(name string, call func() (upstream.Activation, error), status upstream.Status) upstream.Activation {
		t.Helper()
		got, err := call()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.ID != a.ID || got.Status != status {
			t.Fatalf("%s: got %s %s, want %s %s", name, got.ID, got.Status, a.ID, status)
		}
		return got
	}
	step("poll", func() (upstream.Activation, error) { return c.Activation(ctx, testKey, a.ID) }, upstream.StatusWaiting)
	step("ready", func() (upstream.Activation, error) { return c.Ready(ctx, testKey, a.ID) }, upstream.StatusWaiting)

	page, err := c.ListActive(ctx, testKey, "", 0)
	if err != nil || len(page.Activations) != 1 || page.Activations[0].ID != a.ID || page.NextCursor != nil {
		t.Fatalf("list: %+v, %v", page, err)
	}

	e.clock.Advance(smsDelay)
	got := step("poll after sms", func() (upstream.Activation, error) { return c.Activation(ctx, testKey, a.ID) }, upstream.StatusReceived)
	if got.SMSCode == nil || *got.SMSCode == "" {
		t.Fatalf("no code after the SMS: %+v", got)
	}
	first := *got.SMSCode
	got = step("retry", func() (upstream.Activation, error) { return c.Retry(ctx, testKey, a.ID) }, upstream.StatusRetryWaiting)
	if got.SMSCode == nil || *got.SMSCode != first {
		t.Errorf("retry lost the last code: %v, want %q", got.SMSCode, first)
	}
	e.clock.Advance(smsDelay)
	step("poll after second sms", func() (upstream.Activation, error) { return c.Activation(ctx, testKey, a.ID) }, upstream.StatusReceived)
	step("complete", func() (upstream.Activation, error) { return c.Complete(ctx, testKey, a.ID) }, upstream.StatusCompleted)

	b, err := c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "tg", CountryISO: "US"}, "")
	if err != nil {
		t.Fatalf("second buy: %v", err)
	}
	// Two open activations, one per page.
	c2, err := c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "US"}, "")
	if err != nil {
		t.Fatalf("third buy: %v", err)
	}
	var ids []string
	cursor := ""
	for range 3 {
		page, err := c.ListActive(ctx, testKey, cursor, 1)
		if err != nil {
			t.Fatalf("list page: %v", err)
		}
		for _, x := range page.Activations {
			ids = append(ids, x.ID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if len(ids) != 2 || ids[0] != b.ID || ids[1] != c2.ID {
		t.Errorf("paged list %q, want [%s %s]", ids, b.ID, c2.ID)
	}
	if got, err := c.Cancel(ctx, testKey, b.ID); err != nil || got.Status != upstream.StatusCancelled {
		t.Fatalf("cancel: %+v, %v", got, err)
	}
	if got, err := c.Cancel(ctx, testKey, c2.ID); err != nil || got.Status != upstream.StatusCancelled {
		t.Fatalf("cancel: %+v, %v", got, err)
	}
	if bal, _ := c.Balance(ctx, testKey); bal.Balance != "99.50" {
		t.Errorf("balance after refunds %q, want 99.50", bal.Balance)
	}
	if n := e.vt.validated(); n < 20 {
		t.Errorf("only %d exchanges validated", n)
	}
}

func containsCountry(cs []upstream.Country, iso string) bool {
	for _, c := range cs {
		if c.ISO == iso {
			return true
		}
	}
	return false
}

func containsService(ss []upstream.Service, code string) bool {
	for _, s := range ss {
		if s.Code == code {
			return true
		}
	}
	return false
}

// TestSandboxErrors checks the sandbox's error answers as the client turns
// them into *APIError, each answer validated against openapi.yaml.
func TestSandboxErrors(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t, sandbox.Config{})
	ctx := t.Context()
	done, err := e.c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(smsDelay)
	if _, err := e.c.Activation(ctx, testKey, done.ID); err != nil {
		t.Fatal(err)
	}
	buy := func(key, svc, iso string, maxPrice upstream.Decimal) func() error {
		return func() error {
			_, err := e.c.Buy(ctx, key, upstream.BuyRequest{ServiceCode: svc, CountryISO: iso, MaxPrice: maxPrice}, "")
			return err
		}
	}
	tests := []struct {
		name string
		call func() error
		want upstream.APIError
	}{
		{name: "unknown key", call: func() error { _, err := e.c.Balance(ctx, "smsbulk_nobody"); return err },
			want: upstream.APIError{Op: "balance", Status: 401, Code: upstream.CodeUnauthorized}},
		{name: "out of stock", call: buy(testKey, "tg", "NU", ""),
			want: upstream.APIError{Op: "buy", Status: 409, Code: upstream.CodeOutOfStock}},
		{name: "unknown service", call: buy(testKey, "zz9", "TR", ""),
			want: upstream.APIError{Op: "buy", Status: 422, Code: upstream.CodeUnknownService}},
		{name: "unknown country", call: buy(testKey, "wa", "QQ", ""),
			want: upstream.APIError{Op: "buy", Status: 422, Code: upstream.CodeUnknownCountry}},
		{name: "price above max", call: buy(testKey, "wa", "TR", "0.10"),
			want: upstream.APIError{Op: "buy", Status: 422, Code: upstream.CodePriceAboveMax, MinPrice: "0.50"}},
		{name: "insufficient balance", call: buy(poorKey, "wa", "TR", ""),
			want: upstream.APIError{Op: "buy", Status: 402, Code: upstream.CodeInsufficient}},
		{name: "no such activation", call: func() error { _, err := e.c.Activation(ctx, testKey, "cnotthere0000000000000000"); return err },
			want: upstream.APIError{Op: "activation", Status: 404, Code: upstream.CodeNotFound}},
		{name: "another key's activation", call: func() error { _, err := e.c.Activation(ctx, poorKey, done.ID); return err },
			want: upstream.APIError{Op: "activation", Status: 404, Code: upstream.CodeNotFound}},
		{name: "cancel after sms", call: func() error { _, err := e.c.Cancel(ctx, testKey, done.ID); return err },
			want: upstream.APIError{Op: "cancel", Status: 409, Code: upstream.CodeInvalidState}},
		{name: "offers of unknown country", call: func() error {
			_, err := e.c.Offers(ctx, testKey, upstream.OfferFilter{CountryISO: "QQ"})
			return err
		}, want: upstream.APIError{Op: "offers", Status: 422, Code: upstream.CodeUnknownCountry}},
		{name: "bad cursor", call: func() error { _, err := e.c.ListActive(ctx, testKey, "not-a-cursor", 0); return err },
			want: upstream.APIError{Op: "list_active", Status: 400, Code: upstream.CodeValidation}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.vt.validated()
			err := tc.call()
			noKeyIn(t, err)
			var ae *upstream.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			got := *ae
			got.Message = "" // the sandbox's wording is not the contract
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if n := e.vt.validated() - before; n != 1 {
				t.Errorf("%d exchanges, want 1 (no retry)", n)
			}
		})
	}
	if bal := e.sb.Ledger().Balance(poorKey); bal != "0.20" {
		t.Errorf("poor wallet %q, want 0.20 untouched", bal)
	}
}

// TestSandboxIdempotentRetry checks that a purchase or a cancel whose answer
// is lost is retried with the same Idempotency-Key and acts once.
func TestSandboxIdempotentRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		route string
		fault string
	}{
		{name: "buy, reset after commit", route: sandbox.RouteBuy, fault: "reset-after-commit"},
		{name: "buy, reset before acting", route: sandbox.RouteBuy, fault: "reset"},
		{name: "buy, 503", route: sandbox.RouteBuy, fault: "status=503"},
		{name: "cancel, reset after commit", route: sandbox.RouteCancel, fault: "reset-after-commit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newSandboxEnv(t, sandbox.Config{})
			ctx := t.Context()
			var bought upstream.Activation
			var err error
			if tc.route == sandbox.RouteBuy {
				e.sb.InjectFault(tc.route, tc.fault, 1)
				bought, err = e.raw.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
			} else {
				bought, err = e.raw.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
				if err != nil {
					t.Fatal(err)
				}
				e.sb.InjectFault(tc.route, tc.fault, 1)
				var got upstream.Activation
				got, err = e.raw.Cancel(ctx, testKey, bought.ID)
				if err == nil && got.Status != upstream.StatusCancelled {
					t.Errorf("cancel answered %s", got.Status)
				}
			}
			if err != nil {
				t.Fatalf("call with one fault: %v", err)
			}
			l := e.sb.Ledger()
			p := l.Purchases(testKey)
			if len(p) != 1 {
				t.Fatalf("%d purchases, want 1", len(p))
			}
			if p[0].ActivationID != bought.ID || p[0].IdempotencyKey == "" {
				t.Errorf("purchase %+v, answer %s", p[0], bought.ID)
			}
			wantRefunds, wantBalance := 0, "99.50"
			if tc.route == sandbox.RouteCancel {
				wantRefunds, wantBalance = 1, "100.00"
			}
			if r := l.Refunds(testKey); len(r) != wantRefunds {
				t.Errorf("%d refunds, want %d", len(r), wantRefunds)
			}
			if got := l.Balance(testKey); got != wantBalance {
				t.Errorf("balance %s, want %s", got, wantBalance)
			}
		})
	}
}

// TestSandboxReplayWithCallerKey checks the caller's way out of an answer
// the client cannot read: calling Buy again with its own Idempotency-Key
// returns the first purchase instead of buying again.
func TestSandboxReplayWithCallerKey(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t, sandbox.Config{})
	ctx := t.Context()
	req := upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}
	e.sb.InjectFault(sandbox.RouteBuy, "bad-json", 1)
	_, err := e.raw.Buy(ctx, testKey, req, "order-42")
	var te *upstream.TransportError
	if !errors.As(err, &te) || te.NotSent {
		t.Fatalf("err = %v, want a sent *TransportError", err)
	}
	a, err := e.c.Buy(ctx, testKey, req, "order-42")
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	p := e.sb.Ledger().Purchases(testKey)
	if len(p) != 1 || p[0].ActivationID != a.ID || p[0].IdempotencyKey != "order-42" {
		t.Fatalf("purchases %+v, replayed %s", p, a.ID)
	}
	if _, err := e.c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "tg", CountryISO: "TR"}, "order-42"); !errors.Is(err, &upstream.APIError{Status: 400, Code: upstream.CodeValidation}) {
		t.Errorf("same key for another purchase: %v, want 400 validation_error", err)
	}
}

// TestSandboxRetries checks retries on 5xx faults and that a 429 is not
// retried.
func TestSandboxRetries(t *testing.T) {
	t.Parallel()
	t.Run("503 then answer", func(t *testing.T) {
		t.Parallel()
		e := newSandboxEnv(t, sandbox.Config{})
		e.sb.InjectFault(sandbox.RouteBalance, "status=503", 2)
		bal, err := e.c.Balance(t.Context(), testKey)
		if err != nil || bal.Balance != "100.00" {
			t.Fatalf("got %+v, %v", bal, err)
		}
		if n := e.vt.validated(); n != 3 {
			t.Errorf("%d exchanges, want 3", n)
		}
	})
	t.Run("503 every time", func(t *testing.T) {
		t.Parallel()
		e := newSandboxEnv(t, sandbox.Config{})
		e.sb.InjectFault(sandbox.RouteCountries, "status=503", 10)
		_, err := e.c.Countries(t.Context(), testKey)
		if !errors.Is(err, &upstream.APIError{Status: 503}) {
			t.Fatalf("err = %v, want 503", err)
		}
		if n := e.vt.validated(); n != 3 {
			t.Errorf("%d exchanges, want 3", n)
		}
	})
	t.Run("500 not retried", func(t *testing.T) {
		t.Parallel()
		e := newSandboxEnv(t, sandbox.Config{})
		e.sb.InjectFault(sandbox.RouteServices, "status=500", 10)
		_, err := e.c.Services(t.Context(), testKey)
		if !errors.Is(err, &upstream.APIError{Status: 500, Code: upstream.CodeInternal}) {
			t.Fatalf("err = %v, want 500 internal", err)
		}
		if n := e.vt.validated(); n != 1 {
			t.Errorf("%d exchanges, want 1", n)
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		t.Parallel()
		e := newSandboxEnv(t, sandbox.Config{RateLimit: 2})
		for range 2 {
			if _, err := e.c.Balance(t.Context(), testKey); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.c.Balance(t.Context(), testKey)
		var ae *upstream.APIError
		if !errors.As(err, &ae) || ae.Status != 429 || ae.Code != upstream.CodeRateLimitExceeded || ae.RetryAfter != time.Minute {
			t.Fatalf("err = %+v, want 429 rate_limit_exceeded with a minute to wait", err)
		}
		if n := e.vt.validated(); n != 3 {
			t.Errorf("%d exchanges, want 3 (no retry of a 429)", n)
		}
	})
}
