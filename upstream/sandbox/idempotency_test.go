package sandbox_test

import (
	"bytes"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

func TestIdempotency(t *testing.T) {
	t.Parallel()
	const buyTR = `{"serviceCode":"wa","countryIso":"TR"}`
	idem := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
	tests := []struct {
		name string
		// first and second are sent in order; the second must replay the
		// first unless wantSecond is set.
		first, second req
		advance       time.Duration
		wantSecond    int // 0: replay of the first
		wantBuys      int
	}{
		{
			name:     "repeat replays",
			first:    req{method: "POST", path: "/activations", key: "demo", body: buyTR, header: idem("k1")},
			second:   req{method: "POST", path: "/activations", key: "demo", body: buyTR, header: idem("k1")},
			advance:  5 * time.Second,
			wantBuys: 1,
		},
		{
			name:     "error answers replay too",
			first:    req{method: "POST", path: "/activations", key: "broke", body: buyTR, header: idem("k1")},
			second:   req{method: "POST", path: "/activations", key: "broke", body: buyTR, header: idem("k1")},
			wantBuys: 0,
		},
		{
			name:       "different body",
			first:      req{method: "POST", path: "/activations", key: "demo", body: buyTR, header: idem("k1")},
			second:     req{method: "POST", path: "/activations", key: "demo", body: `{"serviceCode":"tg","countryIso":"TR"}`, header: idem("k1")},
			wantSecond: http.StatusBadRequest,
			wantBuys:   1,
		},
		{
			name:       "same key, other API key",
			first:      req{method: "POST", path: "/activations", key: "demo", body: buyTR, header: idem("k1")},
			second:     req{method: "POST", path: "/activations", key: "other", body: buyTR, header: idem("k1")},
			wantSecond: http.StatusCreated,
			wantBuys:   2,
		},
		{
			name:       "after 24 hours",
			first:      req{method: "POST", path: "/activations", key: "demo", body: buyTR, header: idem("k1")},
			second:     req{method: "POST", path: "/activations", key: "demo", body: buyTR, header: idem("k1")},
			advance:    24 * time.Hour,
			wantSecond: http.StatusCreated,
			wantBuys:   2,
		},
		{
			name:       "without a key",
			first:      req{method: "POST", path: "/activations", key: "demo", body: buyTR},
			second:     req{method: "POST", path: "/activations", key: "demo", body: buyTR},
			wantSecond: http.StatusCreated,
			wantBuys:   2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sandbox.Config{})
			first := e.do(t, tc.first)
			e.clock.Advance(tc.advance)
			second := e.do(t, tc.second)
			if tc.wantSecond == 0 {
				if second.status != first.status || !bytes.Equal(second.body, first.body) {
					t.Errorf("repeat got %d %s, want %d %s", second.status, second.body, first.status, first.body)
				}
				if second.header.Get("Idempotent-Replayed") != "true" || first.header.Get("Idempotent-Replayed") != "" {
					t.Errorf("Idempotent-Replayed %q then %q", first.header.Get("Idempotent-Replayed"), second.header.Get("Idempotent-Replayed"))
				}
			} else if second.status != tc.wantSecond {
				t.Errorf("second %d %s, want %d", second.status, second.body, tc.wantSecond)
			}
			l := checkLedger(t, e.sb, testKeys())
			buys := 0
			for _, en := range l.Entries {
				if en.Kind == sandbox.KindPurchase {
					buys++
					if en.IdempotencyKey != tc.first.header["Idempotency-Key"] {
						t.Errorf("entry idempotency key %q", en.IdempotencyKey)
					}
				}
			}
			if buys != tc.wantBuys {
				t.Errorf("%d purchases, want %d", buys, tc.wantBuys)
			}
		})
	}
}

func TestIdempotentCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	a := e.buy(t, "demo", "wa", "TR")
	r := req{method: "POST", path: "/activations/" + a.ID + "/cancel", key: "demo", header: map[string]string{"Idempotency-Key": "c1"}}
	first, second := e.do(t, r), e.do(t, r)
	if first.status != http.StatusOK || second.status != http.StatusOK || !bytes.Equal(first.body, second.body) {
		t.Errorf("cancel twice: %d %s, then %d %s", first.status, first.body, second.status, second.body)
	}
	l := checkLedger(t, e.sb, testKeys())
	if len(l.Refunds("demo")) != 1 || l.Balance("demo") != "100.00" {
		t.Errorf("refunds %+v, balance %s", l.Refunds("demo"), l.Balance("demo"))
	}
	// Without the key the second cancel is refused.
	r.header = nil
	if ans := e.do(t, r); ans.status != http.StatusConflict {
		t.Errorf("cancel without key: %d %s", ans.status, ans.body)
	}
}

func TestIdempotencyConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	const n = 16
	answers := make([]answer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			answers[i], errs[i] = e.try(t, e.client, req{method: "POST", path: "/activations", key: "demo",
				body: `{"serviceCode":"wa","countryIso":"TR"}`, header: map[string]string{"Idempotency-Key": "same"}})
		})
	}
	wg.Wait()
	replays := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if answers[i].status != http.StatusCreated || !bytes.Equal(answers[i].body, answers[0].body) {
			t.Errorf("answer %d: %d %s, want %s", i, answers[i].status, answers[i].body, answers[0].body)
		}
		if answers[i].header.Get("Idempotent-Replayed") == "true" {
			replays++
		}
	}
	if replays != n-1 {
		t.Errorf("%d replays, want %d", replays, n-1)
	}
	l := checkLedger(t, e.sb, testKeys())
	if len(l.Purchases("demo")) != 1 || l.Balance("demo") != "99.50" {
		t.Errorf("purchases %+v, balance %s", l.Purchases("demo"), l.Balance("demo"))
	}
}

func TestIdempotencyKeyTooLong(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Config{})
	long := string(bytes.Repeat([]byte("k"), 256))
	a := e.do(t, req{method: "POST", path: "/activations", key: "demo", body: `{"serviceCode":"wa","countryIso":"TR"}`, header: map[string]string{"Idempotency-Key": long}})
	if a.status != http.StatusBadRequest || errorCode(t, a.body) != upstream.CodeValidation {
		t.Errorf("%d %s", a.status, a.body)
	}
}
