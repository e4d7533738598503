package translate_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

var (
	bought  = time.Date(2026, 12, 1, 19, 30, 57, 0, time.UTC)
	waiting = upstream.Activation{
		ID: "cuid_1", PhoneNumber: "+90 555 123 45 67", Status: upstream.StatusWaiting, UserCost: "0.5",
		ServiceCode: "wa", CountryISO: "TR", CreatedAt: bought, ExpiresAt: bought.Add(20 * time.Minute),
	}
)

func withCode(a upstream.Activation, st upstream.Status, code, text string) upstream.Activation {
	a.Status, a.SMSCode = st, &code
	if text != "" {
		a.SMSText = &text
	}
	return a
}

// check returns a function that hands back an answer body, failing t on
// its error.
func check(t *testing.T) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func TestNumberV2Body(t *testing.T) {
	t.Parallel()
	n := translate.NumberV2{LegacyID: 100000001, CountryID: 62, Currency: 840}
	body := check(t)(translate.NumberV2Body(n, waiting))
	golden(t, "number_v2", body)
	// The types every known client reads (legacy-protocol.md section 6).
	var typed struct {
		ActivationID, PhoneNumber, ActivationCost, CountryCode string
		ActivationTime, ActivationEndTime, ActivationOperator  string
		CanGetAnotherSms                                       bool
		Currency                                               int
	}
	if err := json.Unmarshal(body, &typed); err != nil {
		t.Fatalf("a Go client cannot decode %s: %v", body, err)
	}
	if typed.ActivationID != "100000001" || typed.ActivationCost != "0.50" || !typed.CanGetAnotherSms || typed.ActivationOperator != "any" {
		t.Errorf("decoded %+v", typed)
	}
	golden(t, "number_v2_operator_no_currency", check(t)(translate.NumberV2Body(translate.NumberV2{LegacyID: 7, CountryID: 0, Operator: "mts"}, waiting)))
	if _, err := translate.NumberV2Body(n, upstream.Activation{PhoneNumber: "x1", UserCost: "0.5"}); !errors.Is(err, translate.ErrBadAnswer) {
		t.Errorf("bad phone: %v", err)
	}
	if _, err := translate.NumberV2Body(n, upstream.Activation{PhoneNumber: "905551234567", UserCost: "abc"}); !errors.Is(err, translate.ErrBadAnswer) {
		t.Errorf("bad cost: %v", err)
	}
}

func TestStatusV2AndFullSMS(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		a        upstream.Activation
		fullSMS  string
		statusV2 string // golden name, or the text answer
	}{
		{"waiting", waiting, "STATUS_WAIT_CODE", "status_v2_waiting"},
		{"received", withCode(waiting, upstream.StatusReceived, "123456", "Your code is 123456"), "FULL_SMS:Your code is 123456", "status_v2_received"},
		{"received without text", withCode(waiting, upstream.StatusReceived, "123456", ""), "FULL_SMS:123456", "status_v2_received_no_text"},
		{"retry", withCode(waiting, upstream.StatusRetryWaiting, "123456", "old"), "STATUS_WAIT_CODE", "status_v2_waiting"},
		{"completed", withCode(waiting, upstream.StatusCompleted, "123456", "Your code is 123456"), "FULL_SMS:Your code is 123456", "status_v2_received"},
		{"cancelled", upstream.Activation{Status: upstream.StatusCancelled}, "STATUS_CANCEL", "STATUS_CANCEL"},
		{"expired", upstream.Activation{Status: upstream.StatusExpired}, "STATUS_CANCEL", "STATUS_CANCEL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(check(t)(translate.FullSMSBody(tc.a))); got != tc.fullSMS {
				t.Errorf("FullSMSBody = %q, want %q", got, tc.fullSMS)
			}
			got := check(t)(translate.StatusV2Body(tc.a))
			if tc.statusV2 == "STATUS_CANCEL" {
				if string(got) != tc.statusV2 {
					t.Errorf("StatusV2Body = %q, want %q", got, tc.statusV2)
				}
				return
			}
			golden(t, tc.statusV2, got)
		})
	}
	if _, err := translate.FullSMSBody(upstream.Activation{Status: "LOST"}); !errors.Is(err, translate.ErrBadAnswer) {
		t.Errorf("unknown status: %v", err)
	}
	if _, err := translate.StatusV2Body(upstream.Activation{Status: "LOST"}); !errors.Is(err, translate.ErrBadAnswer) {
		t.Errorf("unknown status: %v", err)
	}
}

func TestActiveActivations(t *testing.T) {
	t.Parallel()
	list := []translate.ActiveActivation{
		{LegacyID: 100000001, CountryID: 62, CountryName: "Turkey", Activation: waiting},
		{LegacyID: 100000002, CountryID: 187, CountryName: "USA", Activation: withCode(waiting, upstream.StatusReceived, "4321", "code 4321")},
		{LegacyID: 100000003, CountryID: 0, CountryName: "Russia", Activation: withCode(waiting, upstream.StatusRetryWaiting, "4321", "")},
	}
	body := check(t)(translate.ActiveActivationsBody(list))
	golden(t, "active_activations", body)
	// Every value a string (or null): what the Go and C# clients decode.
	var typed struct {
		Status            string
		ActiveActivations []map[string]*string
	}
	if err := json.Unmarshal(body, &typed); err != nil || typed.Status != "success" || len(typed.ActiveActivations) != 3 {
		t.Fatalf("decoding as strings: %+v, %v", typed, err)
	}
	if n := len(typed.ActiveActivations[0]); n != 13 {
		t.Errorf("%d fields, want 13", n)
	}
	_, err := translate.ActiveActivationsBody(nil)
	if got := code(err); got != `{"status":"error","error":"NO_ACTIVATIONS"}` {
		t.Errorf("none: %q", got)
	}
	golden(t, "activation_list_page", check(t)(translate.ActivationListBody(list, 1, 1)))
	golden(t, "activation_list_empty", check(t)(translate.ActivationListBody(nil, 0, 0)))
	for _, tc := range []struct {
		start, length string
		ok            bool
	}{{"", "", true}, {"0", "10", true}, {"-1", "", false}, {"x", "", false}, {"", "100001", false}} {
		if _, _, err := translate.ParsePage(tc.start, tc.length); (err == nil) != tc.ok || err != nil && codeOf(err) != translate.BadAction {
			t.Errorf("ParsePage(%q, %q): %v", tc.start, tc.length, err)
		}
	}
}

func TestCatalogLists(t *testing.T) {
	t.Parallel()
	in := []translate.PriceOffer{
		{CountryID: 62, Offer: offers[0]},
		{CountryID: 12, Offer: offers[2]},
		{CountryID: 187, Offer: offers[2]},
		{CountryID: 62, Offer: offers[1]},
	}
	golden(t, "top_countries", check(t)(translate.TopCountriesBody(in, false)))
	golden(t, "top_countries_free_price", check(t)(translate.TopCountriesBody(in, true)))
	golden(t, "prices_extended", check(t)(translate.PricesExtendedBody(in)))
	golden(t, "operators", check(t)(translate.OperatorsBody([]int{187, 62, 12, 62})))
	if _, err := translate.OperatorsBody(nil); code(err) != `{"status":"error","error":"OPERATORS_NOT_FOUND"}` {
		t.Errorf("no country: %q", code(err))
	}
	golden(t, "services_list", translate.ServicesListBody(services))
}

func TestParsePurchaseOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		req     translate.Request
		code    translate.Code
		exclude []string
	}{
		{"none", translate.Request{}, "", nil},
		{"plain values", translate.Request{Forward: "0", ActivationType: "0", Verification: "false"}, "", nil},
		{"exceptions", translate.Request{PhoneException: "7918, +7900111"}, "", []string{"7918", "7900111"}},
		{"short prefix", translate.Request{PhoneException: "791"}, translate.WrongExceptionPhone, nil},
		{"letters", translate.Request{PhoneException: "7918,79a1"}, translate.WrongExceptionPhone, nil},
		{"empty item", translate.Request{PhoneException: "7918,,7900"}, translate.WrongExceptionPhone, nil},
		{"too many", translate.Request{PhoneException: "1111,1112,1113,1114,1115,1116,1117,1118,1119,1120,1121,1122,1123,1124,1125,1126,1127,1128,1129,1130,1131"}, translate.WrongExceptionPhone, nil},
		{"forwarding", translate.Request{Forward: "1"}, translate.NoNumbers, nil},
		{"voice", translate.Request{ActivationType: "2"}, translate.NoNumbers, nil},
		{"last digits", translate.Request{ActivationType: "1"}, translate.NoNumbers, nil},
		{"verification", translate.Request{Verification: "true"}, translate.NoNumbers, nil},
		{"junk", translate.Request{ActivationType: "7"}, translate.BadAction, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := translate.ParsePurchaseOptions(tc.req)
			if got := codeOf(err); err != nil && got != tc.code || err == nil && tc.code != "" {
				t.Fatalf("error %v, want %s", err, tc.code)
			}
			if len(o.Exclude) != len(tc.exclude) {
				t.Fatalf("Exclude = %q, want %q", o.Exclude, tc.exclude)
			}
			for i := range o.Exclude {
				if o.Exclude[i] != tc.exclude[i] {
					t.Fatalf("Exclude = %q, want %q", o.Exclude, tc.exclude)
				}
			}
		})
	}
	o := translate.PurchaseOptions{Exclude: []string{"90555"}}
	if !o.Excluded("905551234567") || !o.Excluded("+90 555 1234567") || o.Excluded("905561234567") {
		t.Error("Excluded does not match by prefix")
	}
}
