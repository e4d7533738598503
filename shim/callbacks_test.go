package shim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/callback"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

const cbKey = "callback-test-key-4c9e1f7a"

// hookCall is one POST a receiver got.
type hookCall struct {
	body                []byte
	eventID, signature  string
	contentType, status string
}

// hookEvent is an event's JSON.
type hookEvent struct {
	EventID      string `json:"event_id"`
	ActivationID int64  `json:"activation_id"`
	Event        string `json:"event"`
	Status       string `json:"status"`
	Code         string `json:"code"`
	Final        bool   `json:"final"`
	Time         string `json:"time"`
}

// hooks is a receiver on loopback that answers 500 to its first failFirst
// requests and 204 to the rest, and keeps them all.
type hooks struct {
	mu        sync.Mutex
	calls     []hookCall
	failFirst int
	srv       *httptest.Server
}

func newHooks(tb testing.TB, failFirst int) *hooks {
	h := &hooks{failFirst: failFirst}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		status := http.StatusNoContent
		if len(h.calls) < h.failFirst {
			status = http.StatusInternalServerError
		}
		h.calls = append(h.calls, hookCall{body: b, eventID: r.Header.Get("X-Shim-Event-Id"), signature: r.Header.Get("X-Shim-Signature"),
			contentType: r.Header.Get("Content-Type"), status: strconv.Itoa(status)})
		w.WriteHeader(status)
	}))
	tb.Cleanup(h.srv.Close)
	return h
}

// delivered is the events taken (2xx), deduplicated by event ID, in order.
func (h *hooks) delivered(tb testing.TB) []hookEvent {
	tb.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	var out []hookEvent
	for _, c := range h.calls {
		if c.status != "204" || seen[c.eventID] {
			continue
		}
		seen[c.eventID] = true
		if !callback.Verify(c.body, cbKey, c.signature) {
			tb.Errorf("event %s: signature %q does not verify with the key", c.eventID, c.signature)
		}
		if c.contentType != "application/json" {
			tb.Errorf("event %s: Content-Type %q", c.eventID, c.contentType)
		}
		var e hookEvent
		if err := json.Unmarshal(c.body, &e); err != nil {
			tb.Fatalf("event body %q: %v", c.body, err)
		}
		if e.EventID != c.eventID {
			tb.Errorf("event body's ID %q, header's %q", e.EventID, c.eventID)
		}
		out = append(out, e)
	}
	return out
}

func (h *hooks) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.calls)
}

// until runs round until done reports true, failing tb after a generous
// deadline; it asserts an outcome, never a duration.
func until(tb testing.TB, what string, round func(), done func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not reached within 30s", what)
		}
		round()
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCallbackEvents(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		params url.Values
	}{
		{"getNumber", url.Values{"action": {"getNumber"}}},
		{"getNumberV2 with requestId", url.Values{"action": {"getNumberV2"}, "requestId": {"order-1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := fakeclock.Offset()
			var logs logBuffer
			r := newRig(t, rigOptions{
				sandbox: sandbox.Config{Keys: map[string]string{cbKey: "100.00"}, SMSDelay: time.Minute, Now: clk.Now},
				shim:    shim.Options{CallbackAllowPrivate: true},
				log:     &logs,
			})
			h := newHooks(t, 2)
			cbs := r.srv.NewCallbacks(shim.CallbackOptions{
				Poster:   callback.New(callback.Options{AllowPrivate: true, Timeout: 10 * time.Second}),
				RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond, PollEvery: time.Millisecond,
			})
			q := url.Values{"api_key": {cbKey}, "service": {"wa"}, "country": {"0"}, "callback": {h.srv.URL + "/hook?bot=7"}}
			for k, v := range tc.params {
				q[k] = v
			}
			body := serve(r.srv, q.Encode()).Body.String()
			id, ok := parseNumberIDShim(body)
			if !ok {
				t.Fatalf("%s = %q", tc.name, body)
			}
			ctx := t.Context()
			// Nothing happened yet: a poll makes no event.
			if n, err := cbs.WatchRound(ctx); err != nil || n != 1 {
				t.Fatalf("WatchRound = %d, %v; want 1 watch polled", n, err)
			}
			if n, err := cbs.DeliverRound(ctx); err != nil || n != 0 {
				t.Fatalf("DeliverRound = %d, %v; want nothing to deliver", n, err)
			}
			deliver := func() { _, _ = cbs.WatchRound(ctx); _, _ = cbs.DeliverRound(ctx) }

			clk.Advance(2 * time.Minute) // the SMS comes
			until(t, "the code event", deliver, func() bool { return len(h.delivered(t)) == 1 })
			ids := strconv.FormatInt(id, 10)
			if got := serve(r.srv, "api_key="+cbKey+"&action=setStatus&status=6&id="+ids).Body.String(); got != "ACCESS_ACTIVATION" {
				t.Fatalf("setStatus 6 = %q", got)
			}
			until(t, "the finished event", deliver, func() bool { return len(h.delivered(t)) == 2 })

			evs := h.delivered(t)
			code := evs[0].Code
			if code == "" {
				t.Fatalf("first event %+v has no code", evs[0])
			}
			want := []hookEvent{
				{EventID: ids + "-1", ActivationID: id, Event: "code", Status: "STATUS_OK:" + code, Code: code},
				{EventID: ids + "-2", ActivationID: id, Event: "finished", Status: "STATUS_OK:" + code, Code: code, Final: true},
			}
			for i, e := range evs {
				if _, err := time.Parse(time.RFC3339, e.Time); err != nil {
					t.Errorf("event %d time %q: %v", i, e.Time, err)
				}
				e.Time = ""
				if e != want[i] {
					t.Errorf("event %d = %+v, want %+v", i, e, want[i])
				}
			}
			// The status the events carry is getStatus's.
			if got := serve(r.srv, "api_key="+cbKey+"&action=getStatus&id="+ids).Body.String(); got != evs[1].Status {
				t.Errorf("getStatus = %q, event status %q", got, evs[1].Status)
			}
			if h.count() < 4 {
				t.Errorf("the receiver got %d requests; want its 2 failures retried", h.count())
			}
			// The watch has ended: nothing is polled, nothing more is sent.
			n := h.count()
			for range 3 {
				deliver()
			}
			if w, err := cbs.WatchRound(ctx); err != nil || w != 0 || h.count() != n {
				t.Fatalf("after the last event: WatchRound = %d, %v, %d more requests", w, err, h.count()-n)
			}
			// The key was never stored in clear, nor logged, and its
			// sealed copy went with the watch.
			r.store.Close()
			for _, p := range []string{r.dbPath, r.dbPath + "-wal"} {
				b, err := os.ReadFile(p)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte(cbKey)) {
					t.Errorf("%s holds the API key in clear", p)
				}
			}
			if strings.Contains(logs.String(), cbKey) {
				t.Error("a log line holds the API key")
			}
		})
	}
}

// parseNumberIDShim reads the legacy ID of getNumber's or getNumberV2's
// answer.
func parseNumberIDShim(body string) (int64, bool) {
	if rest, ok := strings.CutPrefix(body, "ACCESS_NUMBER:"); ok {
		id, _, _ := strings.Cut(rest, ":")
		n, err := strconv.ParseInt(id, 10, 64)
		return n, err == nil
	}
	var v struct {
		ActivationID json.Number `json:"activationId"`
	}
	if json.Unmarshal([]byte(body), &v) != nil {
		return 0, false
	}
	n, err := v.ActivationID.Int64()
	return n, err == nil
}

func TestCallbackToLoopbackRefused(t *testing.T) {
	t.Parallel()
	h := newHooks(t, 0)
	port := h.srv.URL[strings.LastIndexByte(h.srv.URL, ':')+1:]
	r := newRig(t, rigOptions{sandbox: sandbox.Config{Keys: map[string]string{cbKey: "100.00"}, SMSDelay: time.Millisecond}})
	for _, cb := range []string{h.srv.URL + "/hook", "http://localhost:" + port + "/hook", "http://[::1]:" + port + "/", "http://10.0.0.1/"} {
		for _, action := range []string{"getNumber", "getNumberV2"} {
			q := url.Values{"api_key": {cbKey}, "action": {action}, "service": {"wa"}, "country": {"0"}, "callback": {cb}, "requestId": {"r-" + cb}}
			if got := serve(r.srv, q.Encode()).Body.String(); got != "BAD_ACTION" {
				t.Errorf("%s with callback %s = %q, want BAD_ACTION", action, cb, got)
			}
		}
	}
	if p := r.sb.Ledger().Purchases(cbKey); len(p) != 0 {
		t.Fatalf("refused callbacks bought %d numbers", len(p))
	}
	if row, err := r.store.(*idmap.SQLite).Row(t.Context(), 100000001); !errors.Is(err, idmap.ErrNotFound) {
		t.Fatalf("refused callbacks journaled %+v, %v", row, err)
	}

	// Allowed by the shim but not by the client: a name that resolves to
	// loopback is refused when it is dialled, and never reaches the
	// receiver.
	open := r.with(t, rigOptions{shim: shim.Options{CallbackAllowPrivate: true}})
	q := url.Values{"api_key": {cbKey}, "action": {"getNumber"}, "service": {"wa"}, "country": {"0"}, "callback": {"http://localhost:" + port + "/hook"}}
	if _, ok := parseNumberIDShim(serve(open.srv, q.Encode()).Body.String()); !ok {
		t.Fatal("getNumber with an allowed callback bought nothing")
	}
	// No Poster: the default client, which refuses private addresses.
	cbs := open.srv.NewCallbacks(shim.CallbackOptions{RetryMin: time.Millisecond, RetryMax: time.Millisecond, PollEvery: time.Millisecond})
	attempts := 0
	until(t, "attempts at the refused callback", func() {
		_, _ = cbs.WatchRound(t.Context())
		n, _ := cbs.DeliverRound(t.Context())
		attempts += n
	}, func() bool { return attempts >= 3 })
	if h.count() != 0 {
		t.Fatalf("the receiver on loopback got %d requests", h.count())
	}
}
