package shim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// TestAccessLine checks the one line a legacy request logs: what was
// asked and answered, the HTTP status, the client address, the owner's
// short hash and the legacy ID, and never the key.
// It runs twice: through the logger, and with Options.AccessLog, the
// writer the line goes to straight.
func TestAccessLine(t *testing.T) {
	t.Parallel()
	for _, direct := range []bool{false, true} {
		t.Run(map[bool]string{false: "logger", true: "AccessLog"}[direct], func(t *testing.T) {
			t.Parallel()
			testAccessLine(t, direct)
		})
	}
}

func testAccessLine(t *testing.T, direct bool) {
	const key = "access-line-key-0123"
	var logs logBuffer
	opt := shim.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	if direct {
		opt.AccessLog = &logs
	}
	r := newRig(t, rigOptions{sandbox: sandbox.Config{Keys: map[string]string{key: "10.00"}}, log: &logs, shim: opt})
	num := serve(r.srv, "api_key="+key+"&action=getNumber&service=wa&country=62").Body.String()
	id, _, ok := strings.Cut(strings.TrimPrefix(num, "ACCESS_NUMBER:"), ":")
	if !ok {
		t.Fatalf("getNumber = %q", num)
	}
	before := len(logs.String())

	req := httptest.NewRequest(http.MethodPost, "/stubs/handler_api.php?api_key="+key+"&action=getStatus&id="+id, nil)
	// From a trusted proxy: the client is the address it forwarded.
	req.RemoteAddr = "192.0.2.7:41234"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	rec := httptest.NewRecorder()
	r.srv.ServeHTTP(rec, req)
	if rec.Body.String() != "STATUS_WAIT_CODE" {
		t.Fatalf("getStatus = %q", rec.Body)
	}
	out := logs.String()[before:]
	if strings.Contains(out, key) {
		t.Fatalf("the key is in the log: %s", out)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "legacy request" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no access line in %s", out)
	}
	want := map[string]any{
		"action": "getStatus", "code": "STATUS_WAIT_CODE", "method": "POST", "path": "/stubs/handler_api.php",
		"status": float64(200), "client": "203.0.113.9", "owner": shim.ShortOwner(r.keys.Owner(key)), "legacy_id": float64(mustInt(t, id)),
		"native_calls": float64(1),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access line %s = %v, want %v", k, line[k], v)
		}
	}
}

// TestAccessLineUntrustedForwarding checks that a forwarded address from a
// peer that is not a trusted proxy is not believed in the access line.
func TestAccessLineUntrustedForwarding(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	r := newRig(t, rigOptions{sandbox: sandbox.Config{Keys: map[string]string{"spoof-key": "1.00"}}, log: &logs,
		shim: shim.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}})
	req := httptest.NewRequest(http.MethodGet, "/stubs/handler_api.php?api_key=spoof-key&action=getBalance", nil)
	req.RemoteAddr = "198.51.100.5:5000"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.srv.ServeHTTP(httptest.NewRecorder(), req)
	if !strings.Contains(logs.String(), `"client":"198.51.100.5"`) || strings.Contains(logs.String(), "203.0.113.9") {
		t.Errorf("access line believes an untrusted X-Forwarded-For: %s", logs.String())
	}
}
