package upstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

func ptr[T any](v T) *T { return &v }

var waiting = upstream.Activation{
	ID:          "cmox8h7pmicm3mkczzwhdz0yd",
	PhoneNumber: "905551234567",
	Status:      upstream.StatusWaiting,
	UserCost:    "0.50",
	ServiceCode: "wa",
	CountryISO:  "TR",
	CreatedAt:   time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC),
	ExpiresAt:   time.Date(2025, 11, 25, 10, 20, 0, 0, time.UTC),
}

// TestRequests checks the request each method sends and the value it decodes
// from the contract's answer.
func TestRequests(t *testing.T) {
	t.Parallel()
	received := waiting
	received.Status = upstream.StatusReceived
	received.SMSCode = ptr("123456")
	received.SMSText = ptr("Your WhatsApp code is 123-456")

	tests := []struct {
		name      string
		call      func(ctx context.Context, c *upstream.Client) (any, error)
		status    int
		fixture   string
		method    string
		path      string
		query     string
		body      string // JSON the request must carry; "" for none
		wantIdem  string // "" = any non-empty key on POSTs
		want      any
		wantAgent string
	}{
		{
			name:    "balance",
			call:    func(ctx context.Context, c *upstream.Client) (any, error) { return c.Balance(ctx, testKey) },
			fixture: "balance.json", method: "GET", path: "/api/v1/wallet/balance",
			want: upstream.Balance{Balance: "42.50", Currency: "USD"},
		},
		{
			name: "buy minimal",
			call: func(ctx context.Context, c *upstream.Client) (any, error) {
				return c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
			},
			status: http.StatusCreated, fixture: "activation_waiting.json", method: "POST", path: "/api/v1/activations",
			body: `{"serviceCode":"wa","countryIso":"TR"}`,
			want: waiting,
		},
		{
			name: "buy with max price, operator and own key",
			call: func(ctx context.Context, c *upstream.Client) (any, error) {
				return c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR", MaxPrice: "1.00", Operator: "any"}, "order-77")
			},
			status: http.StatusCreated, fixture: "activation_waiting.json", method: "POST", path: "/api/v1/activations",
			body:     `{"serviceCode":"wa","countryIso":"TR","maxPrice":"1.00","operator":"any"}`,
			wantIdem: "order-77",
			want:     waiting,
		},
		{
			name: "activation",
			call: func(ctx context.Context, c *upstream.Client) (any, error) {
				return c.Activation(ctx, testKey, waiting.ID)
			},
			fixture: "activation_received.json", method: "GET", path: "/api/v1/activations/cmox8h7pmicm3mkczzwhdz0yd",
			want: received,
		},
		{
			name:    "ready",
			call:    func(ctx context.Context, c *upstream.Client) (any, error) { return c.Ready(ctx, testKey, waiting.ID) },
			fixture: "activation_waiting.json", method: "POST", path: "/api/v1/activations/cmox8h7pmicm3mkczzwhdz0yd/ready",
			want: waiting,
		},
		{
			name:    "retry",
			call:    func(ctx context.Context, c *upstream.Client) (any, error) { return c.Retry(ctx, testKey, "a_B-9") },
			fixture: "activation_received.json", method: "POST", path: "/api/v1/activations/a_B-9/retry",
			want: received,
		},
		{
			name: "complete",
			call: func(ctx context.Context, c *upstream.Client) (any, error) {
				return c.Complete(ctx, testKey, waiting.ID)
			},
			fixture: "activation_received.json", method: "POST", path: "/api/v1/activations/cmox8h7pmicm3mkczzwhdz0yd/complete",
			want: received,
		},
		{
			name:    "cancel",
			call:    func(ctx context.Context, c *upstream.Client) (any, error) { return c.Cancel(ctx, testKey, waiting.ID) },
			fixture: "activation_waiting.json", method: "POST", path: "/api/v1/activations/cmox8h7pmicm3mkczzwhdz0yd/cancel",
			want: waiting,
		},
		{
			name:    "list first page",
			call:    func(ctx context.Context, c *upstream.Client) (any, error) { return c.ListActive(ctx, testKey, "", 0) },
			fixture: "activations_last_page.json", method: "GET", path: "/api/v1/activations", query: "status=ACTIVE",
			want: upstream.ActivationList{Activations: []upstream.Activation{}},
		},
		{
			name: "list with cursor and limit",
			call: func(ctx context.Context, c *upstream.Client) (any, error) {
				return c.ListActive(ctx, testKey, "c1 &=", 50)
			},
			fixture: "activations_page.json", method: "GET", path: "/api/v1/activations", query: "cursor=c1+%26%3D&limit=50&status=ACTIVE",
			want: upstream.ActivationList{
				Activations: []upstream.Activation{waiting, {
					ID: "cmox9a1b2c3d4e5f6g7h8i9j0k", PhoneNumber: "12025550123", Status: upstream.StatusRetryWaiting,
					UserCost: "1.25", ServiceCode: "tg", CountryISO: "US", SMSCode: ptr("654321"), SMSText: ptr("Telegram code 654321"),
					CreatedAt: time.Date(2025, 11, 25, 10, 1, 0, 0, time.UTC), ExpiresAt: time.Date(2025, 11, 25, 10, 21, 0, 0, time.UTC),
				}},
				NextCursor: ptr("c2"),
			},
		},
		{
			name:    "countries",
			call:    func(ctx context.Context, c *upstream.Client) (any, error) { return c.Countries(ctx, testKey) },
			fixture: "countries.json", method: "GET", path: "/api/v1/catalog/countries",
			want: []upstream.Country{{ISO: "TR", Name: "Turkey"}, {ISO: "US", Name: "USA"}},
		},
		{
			name:    "services",
			call:    func(ctx context.Context, c *upstream.Client) (any, error) { return c.Services(ctx, testKey) },
			fixture: "services.json", method: "GET", path: "/api/v1/catalog/services",
			want: []upstream.Service{{Code: "wa", Name: "WhatsApp"}, {Code: "tg", Name: "Telegram"}},
		},
		{
			name: "offers unfiltered, money exact",
			call: func(ctx context.Context, c *upstream.Client) (any, error) {
				return c.Offers(ctx, testKey, upstream.OfferFilter{})
			},
			fixture: "offers.json", method: "GET", path: "/api/v1/catalog/offers",
			want: []upstream.Offer{
				{CountryISO: "TR", ServiceCode: "wa", Price: "0.50", Stock: 1234},
				{CountryISO: "US", ServiceCode: "tg", Price: "0.04", Stock: 0},
				{CountryISO: "GB", ServiceCode: "wa", Price: "12.345678", Stock: 9007199254740993},
			},
		},
		{
			name: "offers filtered",
			call: func(ctx context.Context, c *upstream.Client) (any, error) {
				return c.Offers(ctx, testKey, upstream.OfferFilter{CountryISO: "TR", ServiceCode: "wa"})
			},
			fixture: "offers.json", method: "GET", path: "/api/v1/catalog/offers", query: "countryIso=TR&serviceCode=wa",
			want: []upstream.Offer{
				{CountryISO: "TR", ServiceCode: "wa", Price: "0.50", Stock: 1234},
				{CountryISO: "US", ServiceCode: "tg", Price: "0.04", Stock: 0},
				{CountryISO: "GB", ServiceCode: "wa", Price: "12.345678", Stock: 9007199254740993},
			},
		},
		{
			name:    "user agent",
			call:    func(ctx context.Context, c *upstream.Client) (any, error) { return c.Balance(ctx, testKey) },
			fixture: "balance.json", method: "GET", path: "/api/v1/wallet/balance",
			want:      upstream.Balance{Balance: "42.50", Currency: "USD"},
			wantAgent: "bot-farm/2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status := tc.status
			if status == 0 {
				status = http.StatusOK
			}
			body := fixture(t, tc.fixture)
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { writeJSON(w, status, body) })
			wrap, vt := withValidation(t)
			c := newClient(t, f, upstream.Options{UserAgent: tc.wantAgent, WrapTransport: wrap})

			got, err := tc.call(t.Context(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decoded\n got %+v\nwant %+v", got, tc.want)
			}

			if n := vt.validated(); n != 1 {
				t.Errorf("%d exchanges validated against openapi.yaml, want 1", n)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("server got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tc.method || r.Path != tc.path || r.RawQuery != tc.query {
				t.Errorf("request %s %s?%s, want %s %s?%s", r.Method, r.Path, r.RawQuery, tc.method, tc.path, tc.query)
			}
			if got := r.Header.Values("X-Api-Key"); len(got) != 1 || got[0] != testKey {
				t.Errorf("x-api-key = %q, want the key once", got)
			}
			if got := r.Header.Get("Authorization"); got != "" {
				t.Errorf("Authorization = %q, want none (the key goes in x-api-key)", got)
			}
			if strings.Contains(r.RawQuery, testKey) {
				t.Errorf("query %q holds the key", r.RawQuery)
			}
			if got := r.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept = %q", got)
			}
			wantAgent := tc.wantAgent
			if wantAgent == "" {
				wantAgent = upstream.DefaultUserAgent
			}
			if got := r.Header.Get("User-Agent"); got != wantAgent {
				t.Errorf("User-Agent = %q, want %q", got, wantAgent)
			}
			idem := r.Header.Values("Idempotency-Key")
			switch {
			case tc.method == "GET" && len(idem) != 0:
				t.Errorf("GET carries Idempotency-Key %q", idem)
			case tc.method == "POST" && (len(idem) != 1 || idem[0] == ""):
				t.Errorf("POST Idempotency-Key = %q, want one", idem)
			case tc.wantIdem != "" && idem[0] != tc.wantIdem:
				t.Errorf("Idempotency-Key = %q, want %q", idem[0], tc.wantIdem)
			}
			if tc.body == "" {
				if len(r.Body) != 0 {
					t.Errorf("body %q, want none", r.Body)
				}
				return
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if !jsonEqual(t, r.Body, []byte(tc.body)) {
				t.Errorf("body %s, want %s", r.Body, tc.body)
			}
			// Money is sent as a string, never a number.
			if strings.Contains(string(r.Body), `"maxPrice":1`) {
				t.Errorf("maxPrice sent as a number: %s", r.Body)
			}
		})
	}
}

func jsonEqual(tb testing.TB, a, b []byte) bool {
	tb.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		tb.Fatalf("decoding %q: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		tb.Fatalf("decoding %q: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// TestIdempotencyKeys checks one new key per logical POST call, and the
// generator of Options.
func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	body := fixture(t, "activation_waiting.json")
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { writeJSON(w, http.StatusCreated, body) })

	t.Run("random", func(t *testing.T) {
		c := newClient(t, f, upstream.Options{})
		for range 2 {
			if _, err := c.Buy(t.Context(), testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Cancel(t.Context(), testKey, waiting.ID); err != nil {
			t.Fatal(err)
		}
		reqs := f.requests()
		keys := map[string]bool{}
		for _, r := range reqs[len(reqs)-3:] {
			k := r.Header.Get("Idempotency-Key")
			if len(k) != 32 || strings.Trim(k, "0123456789abcdef") != "" {
				t.Errorf("key %q is not 128 bits of hex", k)
			}
			keys[k] = true
		}
		if len(keys) != 3 {
			t.Errorf("3 calls used %d distinct keys, want 3", len(keys))
		}
	})
	t.Run("generator", func(t *testing.T) {
		n := 0
		c := newClient(t, f, upstream.Options{NewIdempotencyKey: func() string { n++; return "k" + string(rune('0'+n)) }})
		if _, err := c.Ready(t.Context(), testKey, waiting.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Buy(t.Context(), testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "mine"); err != nil {
			t.Fatal(err)
		}
		reqs := f.requests()
		if got := reqs[len(reqs)-2].Header.Get("Idempotency-Key"); got != "k1" {
			t.Errorf("ready key = %q, want k1", got)
		}
		if got := reqs[len(reqs)-1].Header.Get("Idempotency-Key"); got != "mine" {
			t.Errorf("buy key = %q, want the caller's", got)
		}
		if n != 1 {
			t.Errorf("generator called %d times, want 1 (not for a caller's key)", n)
		}
	})
}

// TestRefusedWithoutRequest checks the inputs refused before any request.
func TestRefusedWithoutRequest(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { writeJSON(w, 200, []byte(`{}`)) })
	c := newClient(t, f, upstream.Options{})
	long := strings.Repeat("a", 65)
	tests := []struct {
		name      string
		call      func(ctx context.Context) error
		wantID    bool // errors.Is(err, ErrInvalidID)
		wantKey   bool // 401 unauthorized *APIError
		wantOther bool
	}{
		{name: "empty id", call: func(ctx context.Context) error { _, err := c.Activation(ctx, testKey, ""); return err }, wantID: true},
		{name: "slash", call: func(ctx context.Context) error { _, err := c.Ready(ctx, testKey, "a/b"); return err }, wantID: true},
		{name: "dot dot", call: func(ctx context.Context) error { _, err := c.Retry(ctx, testKey, ".."); return err }, wantID: true},
		{name: "escaped", call: func(ctx context.Context) error { _, err := c.Complete(ctx, testKey, "a%2Fb"); return err }, wantID: true},
		{name: "space", call: func(ctx context.Context) error { _, err := c.Cancel(ctx, testKey, "a b"); return err }, wantID: true},
		{name: "query", call: func(ctx context.Context) error { _, err := c.Activation(ctx, testKey, "a?x=1"); return err }, wantID: true},
		{name: "65 chars", call: func(ctx context.Context) error { _, err := c.Activation(ctx, testKey, long); return err }, wantID: true},
		{name: "unicode", call: func(ctx context.Context) error { _, err := c.Activation(ctx, testKey, "аbc"); return err }, wantID: true},
		{name: "empty key", call: func(ctx context.Context) error { _, err := c.Balance(ctx, ""); return err }, wantKey: true},
		{name: "key with newline", call: func(ctx context.Context) error { _, err := c.Balance(ctx, "abc\r\nX-Evil: 1"); return err }, wantKey: true},
		{name: "key with space", call: func(ctx context.Context) error { _, err := c.Countries(ctx, "a b"); return err }, wantKey: true},
		{name: "bad max price", call: func(ctx context.Context) error {
			_, err := c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR", MaxPrice: "1e3"}, "")
			return err
		}, wantOther: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(t.Context())
			if err == nil {
				t.Fatal("no error")
			}
			noKeyIn(t, err)
			if got := errors.Is(err, upstream.ErrInvalidID); got != tc.wantID {
				t.Errorf("errors.Is(%v, ErrInvalidID) = %v, want %v", err, got, tc.wantID)
			}
			var ae *upstream.APIError
			isKey := errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && ae.Code == upstream.CodeUnauthorized
			if isKey != tc.wantKey {
				t.Errorf("err %v: 401 unauthorized = %v, want %v", err, isKey, tc.wantKey)
			}
			var te *upstream.TransportError
			if errors.As(err, &te) {
				t.Errorf("err %v is a *TransportError", err)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("server got %d requests, want 0", n)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		baseURL string
		opt     upstream.Options
		wantErr bool
	}{
		{name: "https", baseURL: "https://smsbulk.net/api/v1"},
		{name: "trailing slash", baseURL: "http://127.0.0.1:8081/api/v1/"},
		{name: "no scheme", baseURL: "smsbulk.net/api/v1", wantErr: true},
		{name: "ftp", baseURL: "ftp://smsbulk.net/api/v1", wantErr: true},
		{name: "no host", baseURL: "http:///api/v1", wantErr: true},
		{name: "user info", baseURL: "https://user:s3cret@smsbulk.net/api/v1", wantErr: true},
		{name: "query", baseURL: "https://smsbulk.net/api/v1?key=s3cret", wantErr: true},
		{name: "fragment", baseURL: "https://smsbulk.net/api/v1#x", wantErr: true},
		{name: "unparsable", baseURL: "http://s3cret@[::1", wantErr: true},
		{name: "negative timeout", baseURL: "https://smsbulk.net/api/v1", opt: upstream.Options{Timeout: -1}, wantErr: true},
		{name: "negative body limit", baseURL: "https://smsbulk.net/api/v1", opt: upstream.Options{MaxBodyBytes: -1}, wantErr: true},
		{name: "negative backoff", baseURL: "https://smsbulk.net/api/v1", opt: upstream.Options{Backoff: -1}, wantErr: true},
		{name: "negative retries turn retries off", baseURL: "https://smsbulk.net/api/v1", opt: upstream.Options{Retries: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := upstream.New(tc.baseURL, tc.opt)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New(%q) error %v, want error %v", tc.baseURL, err, tc.wantErr)
			}
			if err == nil && c == nil {
				t.Fatal("nil client without error")
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q repeats a secret of the URL", err)
			}
		})
	}
}

// TestWrapTransport checks that WrapTransport sees every request.
func TestWrapTransport(t *testing.T) {
	t.Parallel()
	body := fixture(t, "balance.json")
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { writeJSON(w, 200, body) })
	var paths []string
	c := newClient(t, f, upstream.Options{WrapTransport: func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			paths = append(paths, r.URL.Path)
			return next.RoundTrip(r)
		})
	}})
	if _, err := c.Balance(t.Context(), testKey); err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || paths[0] != "/api/v1/wallet/balance" {
		t.Errorf("wrapper saw %q", paths)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
