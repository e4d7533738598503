package upstream_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// cannedClient is a client whose every request is answered by answer, in
// process: the whole client (attempt loop, error mapping, body cap,
// decoding and checks) runs on bytes the fuzzer chose.
func cannedClient(tb testing.TB, answer func() *http.Response) *upstream.Client {
	tb.Helper()
	c, err := upstream.New("http://native.test/api/v1", upstream.Options{
		Retries: -1, BreakerThreshold: -1, MaxBodyBytes: 4096,
		Now:       newClock().Now,
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) { resp := answer(); resp.Request = r; return resp, nil }),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// FuzzDecodeActivation feeds arbitrary 2xx bodies to every decoding call of
// the client: a body is either decoded into a value that passes the
// contract's checks, or refused with a *TransportError that does not carry
// the key.
func FuzzDecodeActivation(f *testing.F) {
	for i, name := range []string{"activation_waiting.json", "activation_received.json", "activations_page.json",
		"activations_last_page.json", "balance.json", "offers.json", "countries.json", "services.json"} {
		f.Add(uint8(i), fixture(f, name))
	}
	f.Add(uint8(0), []byte(`{"id":"../x","status":"WAITING"}`))
	f.Add(uint8(1), []byte(`{"id":"a","status":"WAITING","userCost":1e3}`))
	f.Add(uint8(3), []byte(`{"balance":"NaN"}`))
	f.Add(uint8(2), []byte(`{"activations":[{"id":"a","status":""}],"nextCursor":null}`))
	f.Add(uint8(0), []byte(`{"id":"a","status":"WAITING","smsCode":"`+testKey+`"}trailing`))
	var body []byte
	c := cannedClient(f, func() *http.Response {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body))}
	})
	f.Fuzz(func(t *testing.T, op uint8, b []byte) {
		body = b
		ctx := t.Context()
		var err error
		switch op % 7 {
		case 0, 1:
			var a upstream.Activation
			if op%7 == 0 {
				a, err = c.Activation(ctx, testKey, "cmox8h7pmicm3mkczzwhdz0yd")
			} else {
				a, err = c.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
			}
			if err == nil {
				checkActivation(t, a)
			}
		case 2:
			var l upstream.ActivationList
			l, err = c.ListActive(ctx, testKey, "", 0)
			if err == nil {
				if l.Activations == nil {
					t.Fatal("list without activations")
				}
				for _, a := range l.Activations {
					checkActivation(t, a)
				}
			}
		case 3:
			var bal upstream.Balance
			bal, err = c.Balance(ctx, testKey)
			if err == nil && !bal.Balance.IsValid() {
				t.Fatalf("balance %q", bal.Balance)
			}
		case 4:
			var offers []upstream.Offer
			offers, err = c.Offers(ctx, testKey, upstream.OfferFilter{})
			for _, o := range offers {
				if err == nil && !o.Price.IsValid() {
					t.Fatalf("offer price %q", o.Price)
				}
			}
		case 5:
			_, err = c.Countries(ctx, testKey)
		case 6:
			_, err = c.Services(ctx, testKey)
		}
		if err == nil {
			return
		}
		var te *upstream.TransportError
		if !errors.As(err, &te) || te.NotSent {
			t.Fatalf("err = %v (%T), want a sent *TransportError", err, err)
		}
		if strings.Contains(err.Error(), testKey) {
			t.Fatalf("error text holds the API key: %q", err)
		}
		if e, known := translate.Classify(err); !known || e.Code != translate.ErrorSQL {
			t.Fatalf("Classify(%v) = %v, %v", err, e.Code, known)
		}
	})
}

func checkActivation(t *testing.T, a upstream.Activation) {
	t.Helper()
	if !upstream.ValidID(a.ID) || a.Status == "" || a.UserCost != "" && !a.UserCost.IsValid() {
		t.Fatalf("accepted activation %+v", a)
	}
}

// FuzzErrorBody feeds arbitrary non-2xx answers (status, Retry-After and
// body) to the client: each must become an *APIError with the status, the
// contract's code when the body carries one, a wait that is never negative,
// a MinPrice that is a decimal, and no API key in any text.
func FuzzErrorBody(f *testing.F) {
	f.Add(uint16(429), "30", []byte(`{"error":"rate_limit_exceeded","message":"slow down","retryAfter":30}`))
	f.Add(uint16(429), "Fri, 01 May 2026 10:01:00 GMT", []byte(`{"error":"rate_limit_exceeded"}`))
	f.Add(uint16(422), "", []byte(`{"error":"price_above_max","message":"min price 0.75 exceeds maxPrice 0.50"}`))
	f.Add(uint16(422), "", []byte(`{"error":" Price_Above_Max ","message":"cheapest is 1.5."}`))
	f.Add(uint16(401), "", []byte(`{"error":"unauthorized","message":"key `+testKey+` unknown"}`))
	f.Add(uint16(401), "", []byte(`{"error":"unauthorized","message":"key `+strings.ToUpper(testKey)+` unknown"}`))
	f.Add(uint16(503), "-1", []byte(`<html>busy</html>`))
	f.Add(uint16(409), "99999999999999999999", []byte(`{"error":"out_of_stock","retryAfter":-5}`))
	f.Add(uint16(302), "", []byte(``))
	f.Add(uint16(409), "", []byte(`{"error":"out_of_stock","message":"x"}`))
	var status int
	var retryAfter string
	var body []byte
	c := cannedClient(f, func() *http.Response {
		h := http.Header{"Content-Type": {"application/json"}}
		if retryAfter != "" {
			h["Retry-After"] = []string{retryAfter}
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body))}
	})
	f.Fuzz(func(t *testing.T, st uint16, ra string, b []byte) {
		status, retryAfter, body = 300+int(st)%300, ra, b
		_, err := c.Balance(t.Context(), testKey)
		var ae *upstream.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("err = %v (%T), want *APIError", err, err)
		}
		if ae.Status != status || ae.Op != "balance" {
			t.Fatalf("got status %d op %q, want %d balance", ae.Status, ae.Op, status)
		}
		if ae.Code != strings.ToLower(strings.TrimSpace(ae.Code)) {
			t.Fatalf("code %q is not trimmed lower case", ae.Code)
		}
		var eb upstream.ErrorBody
		if len(b) <= 4096 && json.Unmarshal(b, &eb) == nil {
			want := strings.ToLower(strings.TrimSpace(eb.Error))
			if strings.Contains(want, testKey) {
				want = "" // a code holding the key is dropped (testKey is in no contract code)
			}
			if ae.Code != want {
				t.Fatalf("code %q, body says %q", ae.Code, eb.Error)
			}
		}
		if ae.RetryAfter < 0 {
			t.Fatalf("RetryAfter %v", ae.RetryAfter)
		}
		if ae.MinPrice != "" && (!ae.MinPrice.IsValid() || !strings.Contains(ae.Message, string(ae.MinPrice))) {
			t.Fatalf("MinPrice %q from message %q", ae.MinPrice, ae.Message)
		}
		if strings.Contains(lowerASCII(ae.Message), testKey) || strings.Contains(lowerASCII(err.Error()), testKey) {
			t.Fatalf("the API key leaked: %q / %q", ae.Message, err)
		}
		e, _ := translate.Classify(err)
		if e.Code == translate.RateLimited && status != 429 || status == 429 && e.Code != translate.RateLimited {
			t.Fatalf("status %d classified %s", status, e.Code)
		}
		if e.Code == translate.WrongMaxPrice && !upstream.Decimal(e.Arg).IsValid() {
			t.Fatalf("WRONG_MAX_PRICE:%q", e.Arg)
		}
	})
}

// lowerASCII lower-cases the ASCII letters of s (testKey is lower case), so
// that the key is found whatever case the backend echoed it in.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// TestKeyEchoedByBackend is the regression test of what FuzzErrorBody found:
// a backend that echoes the key as its error code put the key into error
// text. Contract codes stay, however short the key.
func TestKeyEchoedByBackend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, body string
		wantCode        string
		wantMsg         string
	}{
		{name: "key as the code, other case", key: testKey, body: `{"error":"` + strings.ToUpper(testKey) + `"}`},
		{name: "key inside a code", key: testKey, body: `{"error":"bad_` + testKey + `"}`},
		{name: "key in the message, other case", key: testKey, body: `{"error":"unauthorized","message":"key ` + strings.ToUpper(testKey) + ` is unknown"}`,
			wantCode: upstream.CodeUnauthorized, wantMsg: "key [redacted] is unknown"},
		{name: "one-letter key in a contract code", key: "K", body: `{"error":"out_of_stock","message":"none left"}`,
			wantCode: upstream.CodeOutOfStock, wantMsg: "none left"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := cannedClient(t, func() *http.Response {
				return &http.Response{StatusCode: 409, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tc.body))}
			})
			_, err := c.Balance(t.Context(), tc.key)
			var ae *upstream.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v", err)
			}
			if ae.Code != tc.wantCode || ae.Message != tc.wantMsg {
				t.Errorf("code %q message %q, want %q %q", ae.Code, ae.Message, tc.wantCode, tc.wantMsg)
			}
			if len(tc.key) > 1 && strings.Contains(lowerASCII(err.Error()), lowerASCII(tc.key)) {
				t.Errorf("error text %q holds the key", err)
			}
		})
	}
}
