package sandbox_test

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

var (
	idPattern   = regexp.MustCompile(`^c[a-z0-9]{24}$`)
	codePattern = regexp.MustCompile(`^[0-9]{6}$`)
)

func TestBalance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{Keys: nil})
	tests := []struct {
		name   string
		header map[string]string
		status int
		body   string
	}{
		{"x-api-key", map[string]string{"x-api-key": "demo"}, 200, `{"balance":"100.00","currency":"USD"}`},
		{"bearer", map[string]string{"Authorization": "Bearer other"}, 200, `{"balance":"10.00","currency":"USD"}`},
		{"bearer lower case", map[string]string{"Authorization": "bearer broke"}, 200, `{"balance":"0.00","currency":"USD"}`},
		{"no key", nil, 401, `{"error":"unauthorized","message":"missing or unknown API key"}`},
		{"unknown key", map[string]string{"x-api-key": "nope"}, 401, `{"error":"unauthorized","message":"missing or unknown API key"}`},
		{"basic auth", map[string]string{"Authorization": "Basic ZGVtbzo="}, 401, `{"error":"unauthorized","message":"missing or unknown API key"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, req{method: "GET", path: "/wallet/balance", header: tc.header})
			if a.status != tc.status || string(a.body) != tc.body {
				t.Errorf("got %d %q, want %d %q", a.status, a.body, tc.status, tc.body)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestDefaultKeys(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorderRequest(t, sb, "GET", "/api/v1/wallet/balance", "demo")
	if got, want := rec.Body.String(), `{"balance":"100.00","currency":"USD"}`; rec.Code != 200 || got != want {
		t.Errorf("got %d %q, want 200 %q", rec.Code, got, want)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	start := e.clock.Now()
	stockBefore := e.stock(t, "wa", "TR")

	raw := e.do(t, req{method: "POST", path: "/activations", key: "demo", body: `{"serviceCode":"wa","countryIso":"TR","maxPrice":"1.00","operator":"any"}`})
	if raw.status != http.StatusCreated {
		t.Fatalf("buy: %d %s", raw.status, raw.body)
	}
	for _, want := range []string{`"smsCode":null`, `"smsText":null`, `"userCost":"0.50"`, `"status":"WAITING"`, `"createdAt":"2026-05-01T10:00:00Z"`, `"expiresAt":"2026-05-01T10:20:00Z"`} {
		if !bytes.Contains(raw.body, []byte(want)) {
			t.Errorf("buy answer %s lacks %s", raw.body, want)
		}
	}
	a := decode[upstream.Activation](t, raw.body)
	if !idPattern.MatchString(a.ID) {
		t.Errorf("id %q is not cuid-like", a.ID)
	}
	if !regexp.MustCompile(`^90[2-9][0-9]{9}$`).MatchString(a.PhoneNumber) {
		t.Errorf("phone %q is not a Turkish number without +", a.PhoneNumber)
	}
	if a.ServiceCode != "wa" || a.CountryISO != "TR" || !a.CreatedAt.Equal(start) || !a.ExpiresAt.Equal(start.Add(20*time.Minute)) {
		t.Errorf("activation %+v", a)
	}
	if got := e.balance(t, "demo"); got != "99.50" {
		t.Errorf("balance after buy %s, want 99.50", got)
	}
	if got := e.stock(t, "wa", "TR"); got != stockBefore-1 {
		t.Errorf("stock after buy %d, want %d", got, stockBefore-1)
	}

	e.clock.Advance(2999 * time.Millisecond)
	if got := e.activation(t, "GET", "demo", a.ID, ""); got.Status != upstream.StatusWaiting || got.SMSCode != nil {
		t.Fatalf("before the delay: %s code %v", got.Status, got.SMSCode)
	}
	if got := e.activation(t, "POST", "demo", a.ID, "ready"); got.Status != upstream.StatusWaiting {
		t.Errorf("ready in WAITING: %s", got.Status)
	}
	e.clock.Advance(time.Millisecond)
	got := e.activation(t, "GET", "demo", a.ID, "")
	if got.Status != upstream.StatusReceived || got.SMSCode == nil || !codePattern.MatchString(*got.SMSCode) {
		t.Fatalf("after the delay: %s code %v", got.Status, got.SMSCode)
	}
	first := *got.SMSCode
	if got.SMSText == nil || !strings.Contains(*got.SMSText, first) || !strings.Contains(*got.SMSText, "WhatsApp") {
		t.Errorf("smsText %v", got.SMSText)
	}
	if got := e.activation(t, "POST", "demo", a.ID, "ready"); got.Status != upstream.StatusReceived {
		t.Errorf("ready in RECEIVED: %s", got.Status)
	}

	got = e.activation(t, "POST", "demo", a.ID, "retry")
	if got.Status != upstream.StatusRetryWaiting || got.SMSCode == nil || *got.SMSCode != first {
		t.Fatalf("retry: %s code %v, want RETRY_WAITING %s", got.Status, got.SMSCode, first)
	}
	if got := e.activation(t, "POST", "demo", a.ID, "ready"); got.Status != upstream.StatusRetryWaiting {
		t.Errorf("ready in RETRY_WAITING: %s", got.Status)
	}
	if got := e.activation(t, "POST", "demo", a.ID, "retry"); got.Status != upstream.StatusRetryWaiting {
		t.Errorf("second retry: %s", got.Status)
	}
	e.clock.Advance(3 * time.Second)
	got = e.activation(t, "GET", "demo", a.ID, "")
	if got.Status != upstream.StatusReceived || got.SMSCode == nil || *got.SMSCode == first || !codePattern.MatchString(*got.SMSCode) {
		t.Fatalf("after the retry delay: %s code %v (first %s)", got.Status, got.SMSCode, first)
	}
	second := *got.SMSCode

	got = e.activation(t, "POST", "demo", a.ID, "complete")
	if got.Status != upstream.StatusCompleted || *got.SMSCode != second {
		t.Errorf("complete: %s code %v", got.Status, got.SMSCode)
	}
	for _, op := range []string{"complete", "cancel", "retry", "ready"} {
		ans := e.do(t, req{method: "POST", path: "/activations/" + a.ID + "/" + op, key: "demo"})
		if ans.status != http.StatusConflict || errorCode(t, ans.body) != upstream.CodeInvalidState {
			t.Errorf("%s after complete: %d %s", op, ans.status, ans.body)
		}
	}
	if got := e.balance(t, "demo"); got != "99.50" {
		t.Errorf("balance after complete %s, want 99.50", got)
	}
	if got := e.stock(t, "wa", "TR"); got != stockBefore {
		t.Errorf("stock after complete %d, want %d", got, stockBefore)
	}
	l := checkLedger(t, e.sb, testKeys())
	if p, r := l.Purchases("demo"), l.Refunds("demo"); len(p) != 1 || len(r) != 0 || p[0].ActivationID != a.ID || p[0].Amount != "0.50" || !p[0].Time.Equal(start) {
		t.Errorf("ledger purchases %+v refunds %+v", p, r)
	}
	if l.Balance("demo") != "99.50" {
		t.Errorf("ledger balance %q", l.Balance("demo"))
	}
}

func TestCompleteDuringRetryKeepsLastCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	a := e.buy(t, "demo", "tg", "US")
	e.clock.Advance(3 * time.Second)
	first := e.activation(t, "GET", "demo", a.ID, "")
	e.activation(t, "POST", "demo", a.ID, "retry")
	got := e.activation(t, "POST", "demo", a.ID, "complete")
	if got.Status != upstream.StatusCompleted || got.SMSCode == nil || *got.SMSCode != *first.SMSCode {
		t.Errorf("complete in RETRY_WAITING: %s %v, want COMPLETED %s", got.Status, got.SMSCode, *first.SMSCode)
	}
	e.clock.Advance(time.Hour)
	if got := e.activation(t, "GET", "demo", a.ID, ""); got.Status != upstream.StatusCompleted || *got.SMSCode != *first.SMSCode {
		t.Errorf("later: %s %v", got.Status, got.SMSCode)
	}
}

func TestCancelRefund(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	stock := e.stock(t, "tg", "RU")
	a := e.buy(t, "demo", "tg", "RU")
	if !strings.HasPrefix(a.PhoneNumber, "7") {
		t.Errorf("Russian phone %q", a.PhoneNumber)
	}
	for _, op := range []string{"retry", "complete"} {
		ans := e.do(t, req{method: "POST", path: "/activations/" + a.ID + "/" + op, key: "demo"})
		if ans.status != http.StatusConflict || errorCode(t, ans.body) != upstream.CodeInvalidState {
			t.Errorf("%s in WAITING: %d %s", op, ans.status, ans.body)
		}
	}
	ans := e.do(t, req{method: "POST", path: "/activations/" + a.ID + "/cancel", key: "demo", header: map[string]string{"Idempotency-Key": "cancel-1"}})
	if ans.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", ans.status, ans.body)
	}
	if got := decode[upstream.Activation](t, ans.body); got.Status != upstream.StatusCancelled || got.SMSCode != nil {
		t.Errorf("cancel: %s %v", got.Status, got.SMSCode)
	}
	if got := e.balance(t, "demo"); got != "100.00" {
		t.Errorf("balance after cancel %s, want 100.00", got)
	}
	if got := e.stock(t, "tg", "RU"); got != stock {
		t.Errorf("stock after cancel %d, want %d", got, stock)
	}
	// The SMS that was due never comes.
	e.clock.Advance(time.Minute)
	if got := e.activation(t, "GET", "demo", a.ID, ""); got.Status != upstream.StatusCancelled || got.SMSCode != nil {
		t.Errorf("after cancel: %s %v", got.Status, got.SMSCode)
	}
	for _, op := range []string{"cancel", "ready", "retry", "complete"} {
		ans := e.do(t, req{method: "POST", path: "/activations/" + a.ID + "/" + op, key: "demo"})
		if ans.status != http.StatusConflict || errorCode(t, ans.body) != upstream.CodeInvalidState {
			t.Errorf("%s after cancel: %d %s", op, ans.status, ans.body)
		}
	}
	l := checkLedger(t, e.sb, testKeys())
	r := l.Refunds("demo")
	if len(r) != 1 || r[0].ActivationID != a.ID || r[0].Amount != "0.50" || r[0].IdempotencyKey != "cancel-1" {
		t.Errorf("refunds %+v", r)
	}
}

func TestCancelAfterSMS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	a := e.buy(t, "demo", "wa", "GB")
	e.clock.Advance(3 * time.Second)
	ans := e.do(t, req{method: "POST", path: "/activations/" + a.ID + "/cancel", key: "demo"})
	if ans.status != http.StatusConflict || errorCode(t, ans.body) != upstream.CodeInvalidState {
		t.Errorf("cancel after SMS: %d %s", ans.status, ans.body)
	}
	if got := e.balance(t, "demo"); got != "99.50" {
		t.Errorf("balance %s, want 99.50 (no refund)", got)
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cfg        sandbox.Config
		wantStatus upstream.Status
		wantCode   bool
		balance    string
	}{
		{"no SMS: expired and refunded", sandbox.Config{SMSDelay: time.Hour}, upstream.StatusExpired, false, "100.00"},
		{"SMS due at the expiry never comes", sandbox.Config{SMSDelay: 20 * time.Minute}, upstream.StatusExpired, false, "100.00"},
		{"code received: completed, no refund", sandbox.Config{}, upstream.StatusCompleted, true, "99.50"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.cfg)
			stock := e.stock(t, "wa", "ID")
			a := e.buy(t, "demo", "wa", "ID")
			var elapsed time.Duration
			if tc.wantCode {
				elapsed = 3 * time.Second
				e.clock.Advance(elapsed)
				if got := e.activation(t, "GET", "demo", a.ID, ""); got.Status != upstream.StatusReceived {
					t.Fatalf("status %s after the delay", got.Status)
				}
			}
			e.clock.Advance(20*time.Minute - time.Millisecond - elapsed)
			if got := e.activation(t, "GET", "demo", a.ID, ""); got.Status == tc.wantStatus {
				t.Fatalf("status %s a millisecond before the expiry", got.Status)
			}
			e.clock.Advance(time.Hour)
			// The ledger shows the refund without anyone polling the activation.
			l := checkLedger(t, e.sb, testKeys())
			if got := l.Balance("demo"); got != tc.balance {
				t.Errorf("ledger balance %s, want %s", got, tc.balance)
			}
			refunds := l.Refunds("demo")
			if want := !tc.wantCode; (len(refunds) == 1) != want {
				t.Fatalf("refunds %+v", refunds)
			}
			if len(refunds) == 1 && (!refunds[0].Time.Equal(a.ExpiresAt) || refunds[0].ActivationID != a.ID) {
				t.Errorf("refund %+v, want at %v", refunds[0], a.ExpiresAt)
			}
			got := e.activation(t, "GET", "demo", a.ID, "")
			if got.Status != tc.wantStatus || (got.SMSCode != nil) != tc.wantCode {
				t.Errorf("after the expiry: %s %v", got.Status, got.SMSCode)
			}
			if got := e.balance(t, "demo"); got != tc.balance {
				t.Errorf("balance %s, want %s", got, tc.balance)
			}
			if got := e.stock(t, "wa", "ID"); got != stock {
				t.Errorf("stock %d after the end, want %d", got, stock)
			}
			ans := e.do(t, req{method: "POST", path: "/activations/" + a.ID + "/cancel", key: "demo"})
			if ans.status != http.StatusConflict {
				t.Errorf("cancel after expiry: %d %s", ans.status, ans.body)
			}
			checkLedger(t, e.sb, testKeys())
		})
	}
}

func TestBuyErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	tests := []struct {
		name    string
		key     string
		body    string
		status  int
		code    string
		message string // a part of the message, when it matters
	}{
		{"bad JSON", "demo", `{"serviceCode":`, 400, upstream.CodeValidation, ""},
		{"not an object", "demo", `[1]`, 400, upstream.CodeValidation, ""},
		{"empty body", "demo", ``, 400, upstream.CodeValidation, ""},
		{"two objects", "demo", `{"serviceCode":"wa","countryIso":"TR"}{}`, 400, upstream.CodeValidation, ""},
		{"unknown field", "demo", `{"serviceCode":"wa","countryIso":"TR","x":1}`, 400, upstream.CodeValidation, ""},
		{"no service", "demo", `{"countryIso":"TR"}`, 400, upstream.CodeValidation, "serviceCode"},
		{"no country", "demo", `{"serviceCode":"wa"}`, 400, upstream.CodeValidation, "countryIso"},
		{"maxPrice not a number", "demo", `{"serviceCode":"wa","countryIso":"TR","maxPrice":"abc"}`, 400, upstream.CodeValidation, "maxPrice"},
		{"maxPrice with exponent", "demo", `{"serviceCode":"wa","countryIso":"TR","maxPrice":"1e3"}`, 400, upstream.CodeValidation, "maxPrice"},
		{"maxPrice negative", "demo", `{"serviceCode":"wa","countryIso":"TR","maxPrice":"-1.00"}`, 400, upstream.CodeValidation, "maxPrice"},
		{"maxPrice boolean", "demo", `{"serviceCode":"wa","countryIso":"TR","maxPrice":true}`, 400, upstream.CodeValidation, "maxPrice"},
		{"empty operator", "demo", `{"serviceCode":"wa","countryIso":"TR","operator":""}`, 400, upstream.CodeValidation, "operator"},
		{"unknown service", "demo", `{"serviceCode":"zzzz","countryIso":"TR"}`, 422, upstream.CodeUnknownService, ""},
		{"unknown country", "demo", `{"serviceCode":"wa","countryIso":"QQ"}`, 422, upstream.CodeUnknownCountry, ""},
		{"out of stock", "demo", `{"serviceCode":"tg","countryIso":"NU"}`, 409, upstream.CodeOutOfStock, ""},
		{"price above max", "demo", `{"serviceCode":"wa","countryIso":"TR","maxPrice":"0.49"}`, 422, upstream.CodePriceAboveMax, "cheapest offer is 0.50"},
		{"price above zero max", "demo", `{"serviceCode":"wa","countryIso":"TR","maxPrice":0}`, 422, upstream.CodePriceAboveMax, "cheapest offer is 0.50"},
		{"insufficient balance", "broke", `{"serviceCode":"wa","countryIso":"TR"}`, 402, upstream.CodeInsufficient, ""},
		{"unauthorized", "", `{"serviceCode":"wa","countryIso":"TR"}`, 401, upstream.CodeUnauthorized, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, req{method: "POST", path: "/activations", key: tc.key, body: tc.body})
			if a.status != tc.status {
				t.Fatalf("status %d %s, want %d", a.status, a.body, tc.status)
			}
			body := decode[upstream.ErrorBody](t, a.body)
			if body.Error != tc.code || body.Message == "" || !strings.Contains(body.Message, tc.message) {
				t.Errorf("body %s, want code %s with %q", a.body, tc.code, tc.message)
			}
		})
	}
	if l := checkLedger(t, e.sb, testKeys()); len(l.Entries) != 0 {
		t.Errorf("failed purchases moved money: %+v", l.Entries)
	}
}

func TestBuyAccepts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	tests := []struct {
		name string
		body string
	}{
		{"maxPrice equal to the price", `{"serviceCode":"wa","countryIso":"TR","maxPrice":"0.50"}`},
		{"maxPrice as a number", `{"serviceCode":"wa","countryIso":"TR","maxPrice":0.5}`},
		{"maxPrice null", `{"serviceCode":"wa","countryIso":"TR","maxPrice":null}`},
		{"lower-case country, upper-case service", `{"serviceCode":"WA","countryIso":"tr"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, req{method: "POST", path: "/activations", key: "demo", body: tc.body})
			if a.status != http.StatusCreated {
				t.Fatalf("%d %s", a.status, a.body)
			}
			if got := decode[upstream.Activation](t, a.body); got.ServiceCode != "wa" || got.CountryISO != "TR" {
				t.Errorf("bought %s/%s", got.ServiceCode, got.CountryISO)
			}
		})
	}
}

func TestBuyUntilBroke(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{Keys: map[string]string{"demo": "1.20"}})
	for range 2 {
		e.buy(t, "demo", "wa", "RU")
	}
	a := e.do(t, req{method: "POST", path: "/activations", key: "demo", body: `{"serviceCode":"wa","countryIso":"RU"}`})
	if a.status != http.StatusPaymentRequired || errorCode(t, a.body) != upstream.CodeInsufficient {
		t.Errorf("third buy: %d %s", a.status, a.body)
	}
	if got := e.balance(t, "demo"); got != "0.20" {
		t.Errorf("balance %s, want 0.20", got)
	}
	checkLedger(t, e.sb, map[string]string{"demo": "1.20"})
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	a := e.buy(t, "demo", "wa", "TR")
	tests := []struct {
		name   string
		method string
		path   string
		key    string
	}{
		{"unknown id", "GET", "/activations/cnotthereatall0000000000000", "demo"},
		{"another key's activation", "GET", "/activations/" + a.ID, "other"},
		{"another key's cancel", "POST", "/activations/" + a.ID + "/cancel", "other"},
		{"another key's complete", "POST", "/activations/" + a.ID + "/complete", "other"},
		{"unknown path", "GET", "/nothing", "demo"},
		{"unknown path without key", "GET", "/nothing", ""},
		{"unknown action", "POST", "/activations/" + a.ID + "/explode", "demo"},
		{"wrong method", "DELETE", "/activations/" + a.ID, "demo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ans := e.do(t, req{method: tc.method, path: tc.path, key: tc.key})
			if ans.status != http.StatusNotFound || errorCode(t, ans.body) != upstream.CodeNotFound {
				t.Errorf("%d %s, want 404 not_found", ans.status, ans.body)
			}
		})
	}
	// The other key's attempts changed nothing.
	if got := e.activation(t, "GET", "demo", a.ID, ""); got.Status != upstream.StatusWaiting {
		t.Errorf("status %s", got.Status)
	}
	checkLedger(t, e.sb, testKeys())
}

func TestList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	var ids []string
	for range 5 {
		ids = append(ids, e.buy(t, "demo", "wa", "US").ID)
	}
	e.buy(t, "other", "wa", "US")
	e.activation(t, "POST", "demo", ids[1], "cancel")
	e.clock.Advance(3 * time.Second)
	e.activation(t, "POST", "demo", ids[3], "complete")
	want := []string{ids[0], ids[2], ids[4]}

	var got []string
	cursor := ""
	for page := 0; ; page++ {
		path := "/activations?status=ACTIVE&limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		a := e.do(t, req{method: "GET", path: path, key: "demo"})
		if a.status != http.StatusOK {
			t.Fatalf("page %d: %d %s", page, a.status, a.body)
		}
		l := decode[upstream.ActivationList](t, a.body)
		for _, act := range l.Activations {
			if act.Status != upstream.StatusReceived {
				t.Errorf("listed %s in %s", act.ID, act.Status)
			}
			got = append(got, act.ID)
		}
		if l.NextCursor == nil {
			if !bytes.Contains(a.body, []byte(`"nextCursor":null`)) {
				t.Errorf("last page %s", a.body)
			}
			break
		}
		if page > 5 {
			t.Fatal("too many pages")
		}
		cursor = *l.NextCursor
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("listed %v, want %v", got, want)
	}

	a := e.do(t, req{method: "GET", path: "/activations?status=ACTIVE", key: "broke"})
	if a.status != http.StatusOK || string(a.body) != `{"activations":[],"nextCursor":null}` {
		t.Errorf("empty list: %d %s", a.status, a.body)
	}

	bad := []struct{ name, query string }{
		{"no status", ""},
		{"other status", "?status=WAITING"},
		{"limit 0", "?status=ACTIVE&limit=0"},
		{"limit too big", "?status=ACTIVE&limit=1001"},
		{"limit not a number", "?status=ACTIVE&limit=x"},
		{"cursor garbage", "?status=ACTIVE&cursor=%21%21"},
		{"cursor past the end", "?status=ACTIVE&cursor=cDk5"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, req{method: "GET", path: "/activations" + tc.query, key: "demo"})
			if a.status != http.StatusBadRequest || errorCode(t, a.body) != upstream.CodeValidation {
				t.Errorf("%d %s", a.status, a.body)
			}
		})
	}
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	a := e.do(t, req{method: "GET", path: "/catalog/countries", key: "demo"})
	countries := decode[struct{ Countries []upstream.Country }](t, a.body).Countries
	names := map[string]string{}
	for i, c := range countries {
		if _, dup := names[c.ISO]; dup {
			t.Errorf("country %s listed twice", c.ISO)
		}
		if i > 0 && countries[i-1].ISO >= c.ISO {
			t.Errorf("countries not sorted at %s", c.ISO)
		}
		if c.Name == "" {
			t.Errorf("country %s has no name", c.ISO)
		}
		names[c.ISO] = c.Name
	}
	if len(countries) != 202 {
		t.Errorf("%d countries, want 202", len(countries))
	}
	for iso, want := range map[string]string{"US": "USA", "TR": "Turkey", "NU": "Niue", "GI": "Gibraltar", "RU": "Russia"} {
		if names[iso] != want {
			t.Errorf("country %s named %q, want %q", iso, names[iso], want)
		}
	}

	a = e.do(t, req{method: "GET", path: "/catalog/services", key: "demo"})
	services := decode[struct{ Services []upstream.Service }](t, a.body).Services
	if len(services) != 539 {
		t.Errorf("%d services, want 539", len(services))
	}
	if !bytes.Contains(a.body, []byte(`{"code":"wa","name":"WhatsApp"}`)) || !bytes.Contains(a.body, []byte(`{"code":"tg","name":"Telegram"}`)) {
		t.Errorf("services lack wa or tg")
	}

	// The full list (~110k offers) skips the OpenAPI check, which is slow
	// for that size; the filtered lists below are checked.
	a, err := e.try(t, plainClient(e), req{method: "GET", path: "/catalog/offers", key: "demo"})
	if err != nil || a.status != http.StatusOK {
		t.Fatalf("offers: %v %d", err, a.status)
	}
	offers := decode[struct{ Offers []upstream.Offer }](t, a.body).Offers
	if len(offers) != len(countries)*len(services) {
		t.Errorf("%d offers, want %d", len(offers), len(countries)*len(services))
	}
	zero := 0
	price := regexp.MustCompile(`^[0-2]\.[0-9]{2}$`)
	for _, o := range offers {
		if !price.MatchString(string(o.Price)) || o.Price < "0.10" || o.Price > "2.50" {
			t.Errorf("offer %+v: price out of 0.10..2.50", o)
		}
		if o.Stock == 0 {
			zero++
			if o.CountryISO != "NU" || o.ServiceCode != "tg" {
				t.Errorf("offer %+v has no stock", o)
			}
		}
	}
	if zero != 1 {
		t.Errorf("%d offers with stock 0, want 1 (tg/NU)", zero)
	}

	filters := []struct {
		name  string
		query string
		count int
		code  string
	}{
		{"country", "?countryIso=TR", len(services), ""},
		{"service", "?serviceCode=wa", len(countries), ""},
		{"both, lower case", "?countryIso=tr&serviceCode=wa", 1, ""},
		{"unknown country", "?countryIso=QQ", 0, upstream.CodeUnknownCountry},
		{"unknown service", "?serviceCode=nope", 0, upstream.CodeUnknownService},
	}
	for _, tc := range filters {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, req{method: "GET", path: "/catalog/offers" + tc.query, key: "demo"})
			if tc.code != "" {
				if a.status != http.StatusUnprocessableEntity || errorCode(t, a.body) != tc.code {
					t.Errorf("%d %s, want 422 %s", a.status, a.body, tc.code)
				}
				return
			}
			if got := len(decode[struct{ Offers []upstream.Offer }](t, a.body).Offers); a.status != 200 || got != tc.count {
				t.Errorf("%d with %d offers, want 200 with %d", a.status, got, tc.count)
			}
		})
	}

	for _, iso := range []string{"RU", "US", "TR", "GB", "ID"} {
		for _, svc := range []string{"wa", "tg"} {
			a := e.do(t, req{method: "GET", path: "/catalog/offers?countryIso=" + iso + "&serviceCode=" + svc, key: "demo"})
			want := `{"offers":[{"countryIso":"` + iso + `","serviceCode":"` + svc + `","price":"0.50","stock":10000}]}`
			if string(a.body) != want {
				t.Errorf("offer %s/%s: %s, want %s", svc, iso, a.body, want)
			}
		}
	}
}
