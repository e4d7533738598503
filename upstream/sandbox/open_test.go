package sandbox_test

import (
	"net/http"
	"testing"

	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// TestOpenPrefix: a key with Config.OpenPrefix gets an account with
// OpenBalance on its first call, keeps it, is checked by the ledger like
// the configured keys, and past MaxOpenKeys a new key is refused; a key
// without the prefix, or the bare prefix, stays unknown.
func TestOpenPrefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{OpenPrefix: "sandbox_", OpenBalance: "7.50", MaxOpenKeys: 2})
	if got := e.balance(t, "sandbox_alice"); got != "7.50" {
		t.Fatalf("first balance of an opened key: %s, want 7.50", got)
	}
	a := e.buy(t, "sandbox_alice", "wa", "TR")
	if got := e.balance(t, "sandbox_alice"); got == "7.50" {
		t.Errorf("balance after buying %s: still %s", a.ID, got)
	}
	e.activation(t, "POST", "sandbox_alice", a.ID, "cancel")
	if got := e.balance(t, "sandbox_alice"); got != "7.50" {
		t.Errorf("balance after the refund: %s, want 7.50", got)
	}
	if got := e.balance(t, "sandbox_bob"); got != "7.50" {
		t.Errorf("second opened key: %s, want 7.50", got)
	}
	for _, key := range []string{"sandbox_carol", "sandbox_", "stranger", "sandbox_with space"} {
		if got := e.do(t, req{method: "GET", path: "/wallet/balance", key: key}); got.status != http.StatusUnauthorized {
			t.Errorf("key %q: %d %s, want 401", key, got.status, got.body)
		}
	}
	if got := e.balance(t, "demo"); got != "100.00" {
		t.Errorf("configured key: %s, want 100.00", got)
	}
	l := e.sb.Ledger()
	if len(l.Opened) != 2 || l.Opened["sandbox_alice"] != "7.50" {
		t.Errorf("ledger's opened accounts: %v", l.Opened)
	}
	if len(l.Purchases("sandbox_alice")) != 1 || len(l.Refunds("sandbox_alice")) != 1 {
		t.Errorf("ledger of the opened key: %+v", l.Entries)
	}
	if err := l.Check(testKeys()); err != nil {
		t.Errorf("ledger check with opened accounts: %v", err)
	}
}

// TestOpenPrefixOff: without OpenPrefix a key that would carry one is
// unknown.
func TestOpenPrefixOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	if got := e.do(t, req{method: "GET", path: "/wallet/balance", key: "sandbox_alice"}); got.status != http.StatusUnauthorized {
		t.Errorf("%d %s, want 401", got.status, got.body)
	}
}

func TestOpenPrefixRejects(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]sandbox.Config{
		"bad balance":   {OpenPrefix: "sandbox_", OpenBalance: "lots"},
		"negative max":  {OpenPrefix: "sandbox_", MaxOpenKeys: -1},
		"spaced prefix": {OpenPrefix: "sand box"},
	} {
		if _, err := sandbox.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}
