package upstream_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// TestAPIErrors checks that every non-2xx answer becomes an *APIError with
// the fields of the contract, and is not retried unless it is a 502-504.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	clk := newClock()
	now := clk.Now()
	tests := []struct {
		name     string
		status   int
		header   map[string]string
		body     string
		want     upstream.APIError // Op is always "buy"
		attempts int               // 0 means 1
	}{
		{name: "validation", status: 400, body: `{"error":"validation_error","message":"countryIso is required"}`,
			want: upstream.APIError{Status: 400, Code: upstream.CodeValidation, Message: "countryIso is required"}},
		{name: "unauthorized", status: 401, body: `{"error":"unauthorized","message":"unknown api key"}`,
			want: upstream.APIError{Status: 401, Code: upstream.CodeUnauthorized, Message: "unknown api key"}},
		{name: "insufficient balance", status: 402, body: `{"error":"insufficient_balance","message":"balance 0.10 < 0.50"}`,
			want: upstream.APIError{Status: 402, Code: upstream.CodeInsufficient, Message: "balance 0.10 < 0.50"}},
		{name: "forbidden", status: 403, body: `{"error":"forbidden","message":"key disabled"}`,
			want: upstream.APIError{Status: 403, Code: upstream.CodeForbidden, Message: "key disabled"}},
		{name: "not found", status: 404, body: `{"error":"not_found","message":"no such activation"}`,
			want: upstream.APIError{Status: 404, Code: upstream.CodeNotFound, Message: "no such activation"}},
		{name: "out of stock", status: 409, body: `{"error":"out_of_stock","message":"no numbers"}`,
			want: upstream.APIError{Status: 409, Code: upstream.CodeOutOfStock, Message: "no numbers"}},
		{name: "invalid state", status: 409, body: `{"error":"invalid_state","message":"activation is COMPLETED"}`,
			want: upstream.APIError{Status: 409, Code: upstream.CodeInvalidState, Message: "activation is COMPLETED"}},
		{name: "early cancel", status: 409, body: `{"error":"early_cancel","message":"wait 2 minutes"}`,
			want: upstream.APIError{Status: 409, Code: upstream.CodeEarlyCancel, Message: "wait 2 minutes"}},
		{name: "unknown service", status: 422, body: `{"error":"unknown_service","message":"no service xx"}`,
			want: upstream.APIError{Status: 422, Code: upstream.CodeUnknownService, Message: "no service xx"}},
		{name: "unknown country", status: 422, body: `{"error":"unknown_country","message":"no country XX"}`,
			want: upstream.APIError{Status: 422, Code: upstream.CodeUnknownCountry, Message: "no country XX"}},
		{name: "price above max, cheapest", status: 422, body: `{"error":"price_above_max","message":"cheapest offer is 0.75, above maxPrice 0.50."}`,
			want: upstream.APIError{Status: 422, Code: upstream.CodePriceAboveMax, Message: "cheapest offer is 0.75, above maxPrice 0.50.", MinPrice: "0.75"}},
		{name: "price above max, minimum last", status: 422, body: `{"error":"price_above_max","message":"maxPrice 0.50 is below the minimum price 1.20"}`,
			want: upstream.APIError{Status: 422, Code: upstream.CodePriceAboveMax, Message: "maxPrice 0.50 is below the minimum price 1.20", MinPrice: "1.20"}},
		{name: "price above max, only number", status: 422, body: `{"error":"price_above_max","message":"price is 3."}`,
			want: upstream.APIError{Status: 422, Code: upstream.CodePriceAboveMax, Message: "price is 3.", MinPrice: "3"}},
		{name: "price above max, ambiguous", status: 422, body: `{"error":"price_above_max","message":"0.75 > 0.50"}`,
			want: upstream.APIError{Status: 422, Code: upstream.CodePriceAboveMax, Message: "0.75 > 0.50"}},
		{name: "price above max, admin is not min", status: 422, body: `{"error":"price_above_max","message":"ask admin 42: 0.75 > 0.50"}`,
			want: upstream.APIError{Status: 422, Code: upstream.CodePriceAboveMax, Message: "ask admin 42: 0.75 > 0.50"}},
		{name: "rate limit header seconds", status: 429,
			header: map[string]string{"Retry-After": "120", "X-RateLimit-Limit": "10000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1764100000"},
			body:   `{"error":"rate_limit_exceeded","message":"quota","retryAfter":27937,"limit":10000,"usage":10000}`,
			want:   upstream.APIError{Status: 429, Code: upstream.CodeRateLimitExceeded, Message: "quota", RetryAfter: 120 * time.Second}},
		{name: "rate limit header date", status: 429,
			header: map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)},
			body:   `{"error":"rate_limit_exceeded","message":"quota","retryAfter":27937}`,
			want:   upstream.APIError{Status: 429, Code: upstream.CodeRateLimitExceeded, Message: "quota", RetryAfter: 90 * time.Second}},
		{name: "rate limit header date past", status: 429,
			header: map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)},
			body:   `{"error":"rate_limit_exceeded","message":"quota","retryAfter":27937}`,
			want:   upstream.APIError{Status: 429, Code: upstream.CodeRateLimitExceeded, Message: "quota"}},
		{name: "rate limit body fallback", status: 429,
			body: `{"error":"rate_limit_exceeded","message":"quota","retryAfter":27937,"limit":10000,"usage":10000}`,
			want: upstream.APIError{Status: 429, Code: upstream.CodeRateLimitExceeded, Message: "quota", RetryAfter: 27937 * time.Second}},
		{name: "rate limit bad header falls back to body", status: 429,
			header: map[string]string{"Retry-After": "soon"},
			body:   `{"error":"rate_limit_exceeded","message":"quota","retryAfter":5}`,
			want:   upstream.APIError{Status: 429, Code: upstream.CodeRateLimitExceeded, Message: "quota", RetryAfter: 5 * time.Second}},
		{name: "code upper case", status: 409, body: `{"error":"OUT_OF_STOCK","message":"none"}`,
			want: upstream.APIError{Status: 409, Code: upstream.CodeOutOfStock, Message: "none"}},
		{name: "internal", status: 500, body: `{"error":"internal","message":"db down"}`,
			want: upstream.APIError{Status: 500, Code: upstream.CodeInternal, Message: "db down"}},
		{name: "bad gateway html, retried", status: 502, body: `<html>bad gateway</html>`,
			want: upstream.APIError{Status: 502}, attempts: 3},
		{name: "unavailable, retried", status: 503, body: `{"error":"internal","message":"maintenance"}`,
			want: upstream.APIError{Status: 503, Code: upstream.CodeInternal, Message: "maintenance"}, attempts: 3},
		{name: "gateway timeout, retried", status: 504, body: ``,
			want: upstream.APIError{Status: 504}, attempts: 3},
		{name: "error is an object, not the contract", status: 400, body: `{"error":{"code":"x"},"message":"m"}`,
			want: upstream.APIError{Status: 400}},
		{name: "redirect not followed", status: 302, header: map[string]string{"Location": "http://127.0.0.1:1/steal"},
			want: upstream.APIError{Status: 302}},
		{name: "key echoed in message", status: 401, body: `{"error":"unauthorized","message":"unknown key ` + testKey + `"}`,
			want: upstream.APIError{Status: 401, Code: upstream.CodeUnauthorized, Message: "unknown key [redacted]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tc.status, []byte(tc.body))
			})
			c := newClient(t, f, upstream.Options{Now: clk.Now})
			_, err := c.Buy(t.Context(), testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
			noKeyIn(t, err)
			var ae *upstream.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			want := tc.want
			want.Op = "buy"
			if *ae != want {
				t.Errorf("got  %+v\nwant %+v", *ae, want)
			}
			if !errors.Is(err, &upstream.APIError{Status: tc.status, Code: want.Code}) {
				t.Errorf("errors.Is with its own status and code is false")
			}
			attempts := max(tc.attempts, 1)
			if n := len(f.requests()); n != attempts {
				t.Errorf("server got %d requests, want %d", n, attempts)
			}
		})
	}
}

// TestAPIErrorIs checks that callers can branch on codes with errors.Is.
func TestAPIErrorIs(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		writeJSON(w, 409, []byte(`{"error":"Out_Of_Stock","message":"none"}`))
	})
	c := newClient(t, f, upstream.Options{})
	_, err := c.Buy(t.Context(), testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
	tests := []struct {
		target *upstream.APIError
		want   bool
	}{
		{&upstream.APIError{Code: upstream.CodeOutOfStock}, true},
		{&upstream.APIError{Status: 409}, true},
		{&upstream.APIError{Status: 409, Code: upstream.CodeInvalidState}, false},
		{&upstream.APIError{Status: 422, Code: upstream.CodeOutOfStock}, false},
	}
	for _, tc := range tests {
		if got := errors.Is(err, tc.target); got != tc.want {
			t.Errorf("errors.Is(%v, %+v) = %v, want %v", err, *tc.target, got, tc.want)
		}
	}
}
