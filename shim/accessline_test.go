package shim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// TestAccessLine checks the one line a legacy request logs: what was
// asked and answered, the HTTP status, the client address, the owner's
// short hash and the legacy ID, and never the key.
func TestAccessLine(t *testing.T) {
	t.Parallel()
	const key = "access-line-key-0123"
	var logs logBuffer
	r := newRig(t, rigOptions{sandbox: sandbox.Config{Keys: map[string]string{key: "10.00"}}, log: &logs})
	num := serve(r.srv, "api_key="+key+"&action=getNumber&service=wa&country=62").Body.String()
	id, _, ok := strings.Cut(strings.TrimPrefix(num, "ACCESS_NUMBER:"), ":")
	if !ok {
		t.Fatalf("getNumber = %q", num)
	}
	before := len(logs.String())

	req := httptest.NewRequest(http.MethodPost, "/stubs/handler_api.php?api_key="+key+"&action=getStatus&id="+id, nil)
	req.RemoteAddr = "192.0.2.7:41234"
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
		"status": float64(200), "client": "192.0.2.7:41234", "owner": shim.ShortOwner(r.keys.Owner(key)), "legacy_id": float64(mustInt(t, id)),
		"native_calls": float64(1),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access line %s = %v, want %v", k, line[k], v)
		}
	}
}
