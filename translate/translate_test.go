package translate_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		sources []url.Values
		want    translate.Request
	}{
		{
			name:    "query only",
			sources: []url.Values{{"api_key": {"K"}, "action": {"getNumber"}, "service": {"wa"}, "country": {"62"}}},
			want:    translate.Request{APIKey: "K", Action: "getNumber", Service: "wa", Country: "62"},
		},
		{
			name:    "query wins over form",
			sources: []url.Values{{"action": {"getStatus"}, "id": {"100000001"}}, {"action": {"getBalance"}, "api_key": {"F"}, "id": {"9"}}},
			want:    translate.Request{APIKey: "F", Action: "getStatus", ID: "100000001"},
		},
		{
			name:    "first repeated value wins",
			sources: []url.Values{{"id": {"1", "2"}, "status": {"6", "8"}}},
			want:    translate.Request{ID: "1", Status: "6"},
		},
		{
			name:    "trimmed name",
			sources: []url.Values{{"country ": {"0"}, " service": {"tg"}}},
			want:    translate.Request{Country: "0", Service: "tg"},
		},
		{
			name:    "exact name before trimmed",
			sources: []url.Values{{"country ": {"0"}, "country": {"62"}}},
			want:    translate.Request{Country: "62"},
		},
		{
			name:    "trimmed names choose the smallest",
			sources: []url.Values{{"country  ": {"2"}, "country ": {"1"}}},
			want:    translate.Request{Country: "1"},
		},
		{
			name:    "unknown parameters ignored",
			sources: []url.Values{{"lang": {"ru"}, "ref": {"x"}, "useCashBack": {"true"}, "operator": {""}, "maxPrice": {"1.5"}}},
			want:    translate.Request{MaxPrice: "1.5"},
		},
		{
			name:    "empty value in query does not fall through to form",
			sources: []url.Values{{"service": {""}}, {"service": {"wa"}}},
			want:    translate.Request{},
		},
		{
			name: "no sources",
			want: translate.Request{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := translate.ParseRequest(tc.sources...)
			if got != tc.want {
				t.Errorf("ParseRequest = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func code(err error) string {
	if err == nil {
		return ""
	}
	return string(classified(err).Body())
}

// classified is the legacy error that err stands for.
func classified(err error) *translate.Error {
	e, _ := translate.Classify(err)
	return e
}

// codeOf is the legacy code of a validator's error.
func codeOf(err error) translate.Code {
	if err == nil {
		return ""
	}
	return classified(err).Code
}

func TestCheckAction(t *testing.T) {
	tests := []struct {
		key, action string
		activate    string
		smsbulk     string
	}{
		{"", "getBalance", "BAD_KEY", "BAD_KEY"},
		{"  ", "getBalance", "BAD_KEY", "BAD_KEY"},
		{"", "", "BAD_KEY", "BAD_KEY"},
		{"K", "", "BAD_ACTION", "BAD_ACTION"},
		{"K", "getBalanceX", "BAD_ACTION", "WRONG_ACTION"},
		{"K", "getRentNumber", "BAD_ACTION", "WRONG_ACTION"},
		{"K", "getNumberV2", "", ""},
		{"K", "getActiveActivations", "", ""},
		{"K", "getbalance", "BAD_ACTION", "WRONG_ACTION"},
		{"K", "get/../Balance", "BAD_ACTION", "BAD_ACTION"},
		{"K", "getBalance\x00", "BAD_ACTION", "BAD_ACTION"},
		{"K", strings.Repeat("a", 65), "BAD_ACTION", "BAD_ACTION"},
		{"K", "getBalance", "", ""},
		{"K", "getNumber", "", ""},
		{"K", "getStatus", "", ""},
		{"K", "setStatus", "", ""},
		{"K", "getNumbersStatus", "", ""},
		{"K", "getPrices", "", ""},
		{"K", "getCountries", "", ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q/%q", tc.key, tc.action), func(t *testing.T) {
			r := translate.Request{APIKey: tc.key, Action: translate.Action(tc.action)}
			if got := code(translate.CheckAction(r, translate.ProfileSMSActivate)); got != tc.activate {
				t.Errorf("sms-activate: %q, want %q", got, tc.activate)
			}
			if got := code(translate.CheckAction(r, translate.ProfileSMSBulk)); got != tc.smsbulk {
				t.Errorf("smsbulk: %q, want %q", got, tc.smsbulk)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"100000001", 100000001},
		{"1", 1},
		{"2147483647", 2147483647},
		{"9007199254740991", 9007199254740991},
		{"0001", 1},
		{"", 0},
		{"0", 0},
		{"-1", 0},
		{"+5", 0},
		{" 5", 0},
		{"5 ", 0},
		{"1e3", 0},
		{"0x10", 0},
		{"9007199254740992", 0},
		{"99999999999999999999", 0},
		{"12345678901234567", 0},
		{"../1", 0},
		{"1%2F2", 0},
		{"1 OR 1=1", 0},
		{"١٢٣", 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := translate.ParseID(tc.in)
			if tc.want == 0 {
				if err == nil || codeOf(err) != translate.NoActivation {
					t.Fatalf("ParseID(%q) = %d, %v; want NO_ACTIVATION", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseID(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseSetStatus(t *testing.T) {
	tests := []struct {
		in   string
		op   translate.SetOp
		body string
	}{
		{"1", translate.OpReady, "ACCESS_READY"},
		{"3", translate.OpRetry, "ACCESS_RETRY_GET"},
		{"6", translate.OpComplete, "ACCESS_ACTIVATION"},
		{"8", translate.OpCancel, "ACCESS_CANCEL"},
		{"-1", translate.OpCancel, "ACCESS_CANCEL"},
		{"2", 0, ""},
		{"0", 0, ""},
		{"", 0, ""},
		{"06", 0, ""},
		{" 6", 0, ""},
		{"cancel", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			op, err := translate.ParseSetStatus(tc.in)
			if tc.op == 0 {
				if err == nil || codeOf(err) != translate.BadStatus {
					t.Fatalf("ParseSetStatus(%q) = %v, %v; want BAD_STATUS", tc.in, op, err)
				}
				return
			}
			if err != nil || op != tc.op {
				t.Fatalf("ParseSetStatus(%q) = %v, %v; want %v", tc.in, op, err, tc.op)
			}
			if got := string(translate.SetStatusBody(op)); got != tc.body {
				t.Errorf("SetStatusBody = %q, want %q", got, tc.body)
			}
		})
	}
}

func TestParseMaxPriceAndOperator(t *testing.T) {
	prices := []struct{ in, want, err string }{
		{"", "", ""},
		{" ", "", ""},
		{"1.50", "1.50", ""},
		{"2", "2", ""},
		{"0", "", "BAD_ACTION"},
		{"0.00", "", "BAD_ACTION"},
		{"-1", "", "BAD_ACTION"},
		{"1,5", "", "BAD_ACTION"},
		{"1e2", "", "BAD_ACTION"},
		{"NaN", "", "BAD_ACTION"},
		{"1234567890.12", "", "BAD_ACTION"},
	}
	for _, tc := range prices {
		got, err := translate.ParseMaxPrice(tc.in)
		if string(got) != tc.want || code(err) != tc.err {
			t.Errorf("ParseMaxPrice(%q) = %q, %q; want %q, %q", tc.in, got, code(err), tc.want, tc.err)
		}
	}
	ops := []struct{ in, want, err string }{
		{"", "", ""},
		{"MTS", "mts", ""},
		{"mts,beeline", "mts,beeline", ""},
		{"any", "any", ""},
		{"mts,", "", "BAD_ACTION"},
		{"m ts", "", "BAD_ACTION"},
		{`"}`, "", "BAD_ACTION"},
		{strings.Repeat("a", 65), "", "BAD_ACTION"},
	}
	for _, tc := range ops {
		got, err := translate.ParseOperator(tc.in)
		if got != tc.want || code(err) != tc.err {
			t.Errorf("ParseOperator(%q) = %q, %q; want %q, %q", tc.in, got, code(err), tc.want, tc.err)
		}
	}
}

func TestServicesCode(t *testing.T) {
	s := translate.BuiltinServices()
	tests := []struct{ in, want, err string }{
		{"wa", "wa", ""},
		{" WA ", "wa", ""},
		{"whatsapp", "wa", ""},
		{"WhatsApp", "wa", ""},
		{"whats-app", "wa", ""},
		{"Whats App", "wa", ""},
		{"telegram", "tg", ""},
		{"tg", "tg", ""},
		{"gg", "gg", ""}, // a code is itself, though service qe is named "GG"
		{"zz9", "zz9", ""},
		{"", "", "BAD_SERVICE"},
		{"   ", "", "BAD_SERVICE"},
		{"w/a", "", "BAD_SERVICE"},
		{"wa'--", "", "BAD_SERVICE"},
		{"a-very-long-service-name-x", "", "BAD_SERVICE"},
		{"\x00", "", "BAD_SERVICE"},
	}
	for _, tc := range tests {
		got, err := s.Code(tc.in)
		if got != tc.want || code(err) != tc.err {
			t.Errorf("Code(%q) = %q, %q; want %q, %q", tc.in, got, code(err), tc.want, tc.err)
		}
	}
	if _, err := translate.NewServices(strings.NewReader("code,name\nwa,WhatsApp\n")); err == nil {
		t.Error("NewServices accepted a table without the aliases column")
	}
	if _, err := translate.NewServices(strings.NewReader("code,name,aliases\nw a,WhatsApp,\n")); err == nil {
		t.Error("NewServices accepted a code with a space")
	}
}

func TestClassify(t *testing.T) {
	api := func(status int, code string) error {
		return fmt.Errorf("calling: %w", &upstream.APIError{Op: "buy", Status: status, Code: code})
	}
	tests := []struct {
		name  string
		err   error
		body  string
		known bool
		wait  time.Duration
	}{
		{"401", api(401, "unauthorized"), "BAD_KEY", true, 0},
		{"403", api(403, "forbidden"), "BAD_KEY", true, 0},
		{"402", api(402, "insufficient_balance"), "NO_BALANCE", true, 0},
		{"404", api(404, "not_found"), "NO_ACTIVATION", true, 0},
		{"409 stock", api(409, "out_of_stock"), "NO_NUMBERS", true, 0},
		{"409 stock upper", api(409, "OUT_OF_STOCK"), "NO_NUMBERS", true, 0},
		{"409 state", api(409, "invalid_state"), "BAD_STATUS", true, 0},
		{"409 early", api(409, "early_cancel"), "EARLY_CANCEL_DENIED", true, 0},
		{"409 other", api(409, "whatever"), "ERROR_SQL", false, 0},
		{"422 service", api(422, "unknown_service"), "BAD_SERVICE", true, 0},
		{"422 country", api(422, "unknown_country"), "BAD_COUNTRY", true, 0},
		{"422 price no min", api(422, "price_above_max"), "NO_NUMBERS", true, 0},
		{"422 price min", &upstream.APIError{Status: 422, Code: "price_above_max", MinPrice: "0.75"}, "WRONG_MAX_PRICE:0.75", true, 0},
		{"422 other", api(422, "x"), "ERROR_SQL", false, 0},
		{"429", &upstream.APIError{Status: 429, Code: "rate_limit_exceeded", RetryAfter: 27937 * time.Second}, "RATE_LIMITED", true, 27937 * time.Second},
		{"400", api(400, "validation_error"), "ERROR_SQL", false, 0},
		{"500", api(500, "internal"), "ERROR_SQL", true, 0},
		{"503 html", api(503, ""), "ERROR_SQL", true, 0},
		{"transport", &upstream.TransportError{Op: "get", Err: errors.New("reset")}, "ERROR_SQL", true, 0},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), "ERROR_SQL", true, 0},
		{"bad answer", fmt.Errorf("x: %w", translate.ErrBadAnswer), "ERROR_SQL", false, 0},
		{"store unavailable", fmt.Errorf("journaling purchase: reserving: %w: %w", idmap.ErrUnavailable, errors.New("disk I/O error")), "ERROR_SQL", true, 0},
		{"legacy passes", fmt.Errorf("x: %w", &translate.Error{Code: translate.BadCountry}), "BAD_COUNTRY", true, 0},
		{"unknown", errors.New("boom"), "ERROR_SQL", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, known := translate.Classify(tc.err)
			if got := string(e.Body()); got != tc.body || known != tc.known || e.RetryAfter != tc.wait {
				t.Errorf("Classify = %q known=%v wait=%v; want %q known=%v wait=%v", got, known, e.RetryAfter, tc.body, tc.known, tc.wait)
			}
		})
	}
}

func TestCodeStatus(t *testing.T) {
	want := map[translate.Code]int{
		translate.BadKey: 401, translate.BadAction: 400, translate.BadService: 400, translate.BadCountry: 400,
		translate.BadStatus: 400, translate.WrongAction: 400, translate.NoBalance: 402, translate.NoNumbers: 404,
		translate.NoActivation: 404, translate.RateLimited: 429, translate.ErrorSQL: 500,
		translate.EarlyCancelDenied: 409, translate.WrongMaxPrice: 400,
	}
	for c, s := range want {
		if got := c.Status(translate.ProfileSMSBulk); got != s {
			t.Errorf("%s smsbulk status %d, want %d", c, got, s)
		}
		if got := c.Status(translate.ProfileSMSActivate); got != http.StatusOK {
			t.Errorf("%s sms-activate status %d, want 200", c, got)
		}
	}
}

func TestParseProfile(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want translate.Profile
		ok   bool
	}{{"", translate.ProfileSMSActivate, true}, {"sms-activate", translate.ProfileSMSActivate, true}, {"smsbulk", translate.ProfileSMSBulk, true}, {"SMSBULK", 0, false}} {
		p, err := translate.ParseProfile(tc.in)
		if (err == nil) != tc.ok || (tc.ok && p != tc.want) {
			t.Errorf("ParseProfile(%q) = %v, %v", tc.in, p, err)
		}
		if tc.ok && tc.in != "" && p.String() != tc.in {
			t.Errorf("String() = %q, want %q", p.String(), tc.in)
		}
	}
}

func TestSetOpReached(t *testing.T) {
	all := []upstream.Status{upstream.StatusWaiting, upstream.StatusReceived, upstream.StatusRetryWaiting,
		upstream.StatusCompleted, upstream.StatusCancelled, upstream.StatusExpired, upstream.StatusRefunded}
	want := map[translate.SetOp][]upstream.Status{
		translate.OpReady:    nil,
		translate.OpRetry:    {upstream.StatusRetryWaiting},
		translate.OpComplete: {upstream.StatusCompleted},
		translate.OpCancel:   {upstream.StatusCancelled, upstream.StatusExpired, upstream.StatusRefunded},
	}
	for op, yes := range want {
		for _, st := range all {
			if got := op.Reached(st); got != slices.Contains(yes, st) {
				t.Errorf("%v.Reached(%s) = %v", op, st, got)
			}
		}
	}
}
