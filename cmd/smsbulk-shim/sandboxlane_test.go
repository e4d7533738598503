package main

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestSandboxKeyPrefix runs the shim as deployed, on a backend that is a
// second sandbox standing for the real one, with
// SHIM_SANDBOX_KEY_PREFIX=sandbox_: a bot with a prefixed key buys,
// polls, cancels and asks the native API through pass-through, and the
// real backend sees no call from it (and no money moves there), while a
// bot with a real key reaches it.
func TestSandboxKeyPrefix(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Get("X-Api-Key")+r.Header.Get("Authorization"))
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	}
	real, realURL := serveSandbox(t, waitingSandbox(map[string]string{"bot": "10.00"}), record)
	p := startShim(t, nil, "SHIM_UPSTREAM_URL="+realURL, testSecret, "SHIM_SANDBOX_KEY_PREFIX=sandbox_",
		"SANDBOX_SMS_DELAY=1h", "SANDBOX_OPEN_BALANCE=25.00")

	legacy := func(key string, params ...string) string {
		v := url.Values{"api_key": {key}}
		for i := 0; i+1 < len(params); i += 2 {
			v.Set(params[i], params[i+1])
		}
		_, _, body := get(t, legacyURL(p.Addr, v))
		return body
	}
	const dev = "sandbox_alice"
	if got := legacy(dev, "action", "getBalance"); got != "ACCESS_BALANCE:25.00" {
		t.Fatalf("getBalance of a sandbox key = %q, want the lane's opening balance", got)
	}
	got := legacy(dev, "action", "getNumber", "service", "wa", "country", "0")
	id, ok := parseNumberID(got)
	if !ok {
		t.Fatalf("getNumber of a sandbox key = %q", got)
	}
	sid := strings.Split(got, ":")[1]
	if got := legacy(dev, "action", "getStatus", "id", sid); got != "STATUS_WAIT_CODE" {
		t.Errorf("getStatus %d = %q", id, got)
	}
	if got := legacy(dev, "action", "getPrices", "service", "wa", "country", "0"); !strings.HasPrefix(got, "{") {
		t.Errorf("getPrices = %q", got)
	}
	if got := legacy(dev, "action", "setStatus", "status", "8", "id", sid); got != "ACCESS_CANCEL" {
		t.Errorf("setStatus 8 = %q", got)
	}
	if got := legacy(dev, "action", "getBalance"); got != "ACCESS_BALANCE:25.00" {
		t.Errorf("getBalance after the refund = %q", got)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.Addr+"/api/v1/wallet/balance", nil)
	req.Header.Set("X-Api-Key", dev)
	code, _, body, err := answer(http.DefaultClient.Do(req))
	if err != nil || code != http.StatusOK || !strings.Contains(body, `"balance":"25.00"`) {
		t.Errorf("pass-through with a sandbox key: %d %q %v", code, body, err)
	}

	mu.Lock()
	calls := len(seen)
	mu.Unlock()
	if calls != 0 {
		t.Errorf("the real backend got %d calls while only a sandbox key was used", calls)
	}
	if n := len(real.Ledger().Entries); n != 0 {
		t.Errorf("the real backend's ledger has %d entries", n)
	}

	if got := legacy("bot", "action", "getNumber", "service", "wa", "country", "0"); !strings.HasPrefix(got, "ACCESS_NUMBER:") {
		t.Fatalf("getNumber of a real key = %q", got)
	}
	if n := len(real.Ledger().Purchases("bot")); n != 1 {
		t.Errorf("real ledger: %d purchases of the real key, want 1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range seen {
		if strings.Contains(k, "sandbox_") {
			t.Errorf("the real backend saw a sandbox key")
		}
	}
	if len(seen) == 0 {
		t.Error("the real key's calls did not reach the real backend")
	}
	if !strings.Contains(strings.Join(p.logs.Lines(), "\n"), `"sandbox":true`) {
		t.Error("no access line is labelled sandbox")
	}
	if strings.Contains(strings.Join(p.logs.Lines(), "\n"), dev) {
		t.Error("a log line holds the sandbox key")
	}
}
