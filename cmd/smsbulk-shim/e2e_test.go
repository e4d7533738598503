package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

const testSecret = "SHIM_KEY_SECRET=e2e-test-secret-0123456789"

// do sends one legacy request the way a bot library does: GET with the
// query, POST with everything in the query and an empty form body, or POST
// with everything in a form body.
func do(tb testing.TB, addr, style string, params url.Values) string {
	tb.Helper()
	var resp *http.Response
	var err error
	switch style {
	case "GET":
		resp, err = http.Get(legacyURL(addr, params))
	case "POST-query":
		resp, err = http.Post(legacyURL(addr, params), "application/x-www-form-urlencoded", strings.NewReader(""))
	case "POST-form":
		resp, err = http.PostForm("http://"+addr+"/stubs/handler_api.php", params)
	default:
		tb.Fatalf("unknown style %q", style)
	}
	code, _, body, err := answer(resp, err)
	if err != nil {
		tb.Fatal(err)
	}
	if code != http.StatusOK {
		tb.Errorf("%s %v: HTTP %d, want 200 in the sms-activate profile", style, params, code)
	}
	return body
}

func TestBotFlow(t *testing.T) {
	t.Parallel()
	sb, sbURL := serveSandbox(t, sandbox.Config{Keys: map[string]string{"bot": "10.00"}, SMSDelay: 150 * time.Millisecond}, nil)
	p := startShim(t, nil, "SHIM_UPSTREAM_URL="+sbURL, testSecret)
	for _, style := range []string{"GET", "POST-query", "POST-form"} {
		t.Run(style, func(t *testing.T) {
			q := func(kv ...string) url.Values {
				v := url.Values{"api_key": {"bot"}}
				for i := 0; i < len(kv); i += 2 {
					v.Set(kv[i], kv[i+1])
				}
				return v
			}
			bal := do(t, p.Addr, style, q("action", "getBalance"))
			if !strings.HasPrefix(bal, "ACCESS_BALANCE:") || len(bal) != len("ACCESS_BALANCE:")+len("10.00") && !strings.Contains(bal, ".") {
				t.Fatalf("getBalance = %q", bal)
			}
			num := do(t, p.Addr, style, q("action", "getNumber", "service", "wa", "country", "62"))
			parts := strings.Split(num, ":")
			if len(parts) != 3 || parts[0] != "ACCESS_NUMBER" || len(parts[1]) != 9 || !strings.HasPrefix(parts[2], "90") {
				t.Fatalf("getNumber = %q", num)
			}
			id := parts[1]
			deadline := time.Now().Add(10 * time.Second)
			var status string
			for {
				status = do(t, p.Addr, style, q("action", "getStatus", "id", id))
				if strings.HasPrefix(status, "STATUS_OK:") || time.Now().After(deadline) {
					break
				}
				if status != "STATUS_WAIT_CODE" {
					t.Fatalf("getStatus = %q", status)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !strings.HasPrefix(status, "STATUS_OK:") || len(status) != len("STATUS_OK:")+6 {
				t.Fatalf("getStatus never gave the code: %q", status)
			}
			if got := do(t, p.Addr, style, q("action", "setStatus", "id", id, "status", "6")); got != "ACCESS_ACTIVATION" {
				t.Fatalf("setStatus 6 = %q", got)
			}
			if got := do(t, p.Addr, style, q("action", "getStatus", "id", id)); got != status {
				t.Errorf("getStatus after complete = %q, want %q", got, status)
			}
		})
	}
	l := sb.Ledger()
	if n := len(l.Purchases("bot")); n != 3 {
		t.Errorf("ledger has %d purchases, want 3 (one per flow)", n)
	}
	if got := do(t, p.Addr, "GET", url.Values{"api_key": {"bot"}, "action": {"getBalance"}}); got != "ACCESS_BALANCE:"+l.Balance("bot") {
		t.Errorf("getBalance = %q, ledger balance %q", got, l.Balance("bot"))
	}
}

// TestEveryErrorCodeForReal reaches each error code of the product page
// through the shim and a real sandbox backend.
func TestEveryErrorCodeForReal(t *testing.T) {
	t.Parallel()
	sb, sbURL := serveSandbox(t, sandbox.Config{Keys: map[string]string{"bot": "10.00", "broke": "0.00"}}, nil)
	activate := startShim(t, nil, "SHIM_UPSTREAM_URL="+sbURL, testSecret)
	smsbulk := startShim(t, nil, "SHIM_UPSTREAM_URL="+sbURL, testSecret, "SHIM_PROFILE=smsbulk")

	num := do(t, activate.Addr, "GET", url.Values{"api_key": {"bot"}, "action": {"getNumber"}, "service": {"tg"}, "country": {"tr"}})
	if !strings.HasPrefix(num, "ACCESS_NUMBER:") {
		t.Fatalf("getNumber = %q", num)
	}
	id := strings.Split(num, ":")[1]

	tests := []struct {
		code    string
		profile *shimProc
		params  url.Values
		status  int
	}{
		{"BAD_KEY", activate, url.Values{"api_key": {"nobody"}, "action": {"getBalance"}}, 200},
		{"BAD_KEY", smsbulk, url.Values{"action": {"getBalance"}}, 401},
		{"BAD_ACTION", activate, url.Values{"api_key": {"bot"}}, 200},
		{"BAD_ACTION", activate, url.Values{"api_key": {"bot"}, "action": {"getEverything"}}, 200},
		{"WRONG_ACTION", smsbulk, url.Values{"api_key": {"bot"}, "action": {"getEverything"}}, 400},
		{"BAD_SERVICE", activate, url.Values{"api_key": {"bot"}, "action": {"getNumber"}, "service": {"zzz"}, "country": {"62"}}, 200},
		{"BAD_COUNTRY", activate, url.Values{"api_key": {"bot"}, "action": {"getNumber"}, "service": {"wa"}, "country": {"atlantis"}}, 200},
		{"BAD_STATUS", activate, url.Values{"api_key": {"bot"}, "action": {"setStatus"}, "id": {id}, "status": {"2"}}, 200},
		{"BAD_STATUS", activate, url.Values{"api_key": {"bot"}, "action": {"setStatus"}, "id": {id}, "status": {"6"}}, 200}, // no SMS yet: invalid_state
		{"BAD_STATUS", smsbulk, url.Values{"api_key": {"bot"}, "action": {"setStatus"}, "id": {id}, "status": {"0"}}, 400},
		{"NO_BALANCE", activate, url.Values{"api_key": {"broke"}, "action": {"getNumber"}, "service": {"wa"}, "country": {"0"}}, 200},
		{"NO_NUMBERS", smsbulk, url.Values{"api_key": {"bot"}, "action": {"getNumber"}, "service": {"tg"}, "country": {"niue"}}, 404},
		{"NO_ACTIVATION", activate, url.Values{"api_key": {"bot"}, "action": {"getStatus"}, "id": {"123456789"}}, 200},
		{"NO_ACTIVATION", smsbulk, url.Values{"api_key": {"broke"}, "action": {"getStatus"}, "id": {id}}, 404},
	}
	for _, tc := range tests {
		code, _, body := get(t, legacyURL(tc.profile.Addr, tc.params))
		if body != tc.code || code != tc.status {
			t.Errorf("%v: %d %q, want %d %q", tc.params, code, body, tc.status, tc.code)
		}
	}

	// RATE_LIMITED: this sandbox allows 3 requests a minute per key.
	_, limitedURL := serveSandbox(t, sandbox.Config{Keys: map[string]string{"limited": "5.00"}, RateLimit: 3}, nil)
	limited := startShim(t, nil, "SHIM_UPSTREAM_URL="+limitedURL, testSecret)
	var last string
	var hdr string
	for range 5 {
		resp, err := http.Get("http://" + limited.Addr + "/stubs/handler_api.php?api_key=limited&action=getBalance")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last, hdr = string(b), resp.Header.Get("Retry-After")
	}
	if last != "RATE_LIMITED" || hdr == "" {
		t.Errorf("after 5 quick requests: %q Retry-After %q, want RATE_LIMITED with Retry-After", last, hdr)
	}

	// ERROR_SQL: the backend fails.
	sb.InjectFault("balance", "status=500", 1)
	if got := do(t, activate.Addr, "GET", url.Values{"api_key": {"bot"}, "action": {"getBalance"}}); got != "ERROR_SQL" {
		t.Errorf("backend 500: %q, want ERROR_SQL", got)
	}
	if got := do(t, activate.Addr, "GET", url.Values{"api_key": {"bot"}, "action": {"getBalance"}}); !strings.HasPrefix(got, "ACCESS_BALANCE:") {
		t.Errorf("after the fault: %q", got)
	}
}

// TestRestartKeepsIDs buys numbers, stops the shim, starts it again on the
// same SQLite file and finds every legacy ID; another key finds none.
func TestRestartKeepsIDs(t *testing.T) {
	t.Parallel()
	_, sbURL := serveSandbox(t, sandbox.Config{Keys: map[string]string{"bot": "10.00", "other": "10.00"}}, nil)
	dsn := "SHIM_IDMAP_DSN=" + t.TempDir() + "/idmap.db"
	first := startShim(t, nil, "SHIM_UPSTREAM_URL="+sbURL, testSecret, dsn)
	var ids []string
	for _, c := range []string{"0", "62", "187", "us", "Turkey"} {
		got := do(t, first.Addr, "GET", url.Values{"api_key": {"bot"}, "action": {"getNumber"}, "service": {"wa"}, "country": {c}})
		parts := strings.Split(got, ":")
		if len(parts) != 3 || parts[0] != "ACCESS_NUMBER" {
			t.Fatalf("getNumber country %s = %q", c, got)
		}
		ids = append(ids, parts[1])
	}
	first.Stop(t)

	second := startShim(t, nil, "SHIM_UPSTREAM_URL="+sbURL, testSecret, dsn)
	for _, id := range ids {
		if got := do(t, second.Addr, "GET", url.Values{"api_key": {"bot"}, "action": {"getStatus"}, "id": {id}}); got != "STATUS_WAIT_CODE" {
			t.Errorf("after restart getStatus %s = %q, want STATUS_WAIT_CODE", id, got)
		}
		if got := do(t, second.Addr, "GET", url.Values{"api_key": {"other"}, "action": {"getStatus"}, "id": {id}}); got != "NO_ACTIVATION" {
			t.Errorf("other key getStatus %s = %q, want NO_ACTIVATION", id, got)
		}
	}
	got := do(t, second.Addr, "GET", url.Values{"api_key": {"bot"}, "action": {"getNumber"}, "service": {"wa"}, "country": {"0"}})
	parts := strings.Split(got, ":")
	if len(parts) != 3 || parts[1] <= ids[len(ids)-1] {
		t.Errorf("new ID after restart %q does not follow %s", got, ids[len(ids)-1])
	}
}

// TestPassthrough sends non-legacy paths to the backend unchanged, and 404
// when pass-through is off.
func TestPassthrough(t *testing.T) {
	t.Parallel()
	_, sbURL := serveSandbox(t, sandbox.Config{}, nil)
	on := startShim(t, nil, "SHIM_UPSTREAM_URL="+sbURL, testSecret)
	req, _ := http.NewRequest("GET", "http://"+on.Addr+"/api/v1/wallet/balance", nil)
	req.Header.Set("x-api-key", "demo")
	code, _, body, err := answer(http.DefaultClient.Do(req))
	if err != nil {
		t.Fatal(err)
	}
	if code != 200 || body != `{"balance":"100.00","currency":"USD"}` {
		t.Errorf("pass-through balance = %d %q", code, body)
	}
	off := startShim(t, nil, "SHIM_UPSTREAM_URL="+sbURL, testSecret, "SHIM_PASSTHROUGH=false")
	if code, _, _ := get(t, "http://"+off.Addr+"/api/v1/wallet/balance"); code != http.StatusNotFound {
		t.Errorf("pass-through off: %d, want 404", code)
	}
	if code, _, body := get(t, "http://"+off.Addr+"/handler_api.php?api_key=demo&action=getBalance"); code != 200 || body != "ACCESS_BALANCE:100.00" {
		t.Errorf("legacy with pass-through off: %d %q", code, body)
	}
}
