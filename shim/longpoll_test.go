package shim_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// pollInterval is the long-poll interval of these tests, on a fake clock.
const pollInterval = time.Second

// countingAPI is a native API in front of another that counts the
// activation gets (the long-poll's polls) by native ID and by interval of
// the test's clock since start, and every other call.
type countingAPI struct {
	shim.NativeAPI
	clock *fakeclock.Clock
	start time.Time

	mu    sync.Mutex
	gets  map[string]map[int64]int // native ID -> interval -> gets
	n     atomic.Int64             // gets begun
	done  atomic.Int64             // gets answered: a test that moves the clock waits for these, so that the backend does not read the clock moved
	other atomic.Int64             // every other call
}

func newCountingAPI(api shim.NativeAPI, clock *fakeclock.Clock) *countingAPI {
	return &countingAPI{NativeAPI: api, clock: clock, start: clock.Now(), gets: map[string]map[int64]int{}}
}

func (c *countingAPI) Activation(ctx context.Context, key, id string) (upstream.Activation, error) {
	i := int64(c.clock.Now().Sub(c.start) / pollInterval)
	c.mu.Lock()
	if c.gets[id] == nil {
		c.gets[id] = map[int64]int{}
	}
	c.gets[id][i]++
	c.mu.Unlock()
	c.n.Add(1)
	defer c.done.Add(1)
	return c.NativeAPI.Activation(ctx, key, id)
}

func (c *countingAPI) Balance(ctx context.Context, key string) (upstream.Balance, error) {
	c.other.Add(1)
	return c.NativeAPI.Balance(ctx, key)
}

func (c *countingAPI) Buy(ctx context.Context, key string, req upstream.BuyRequest, idem string) (upstream.Activation, error) {
	c.other.Add(1)
	return c.NativeAPI.Buy(ctx, key, req, idem)
}

// most is the largest number of gets of one activation in one interval.
func (c *countingAPI) most() (n int, id string, interval int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for a, by := range c.gets {
		for i, k := range by {
			if k > n {
				n, id, interval = k, a, i
			}
		}
	}
	return n, id, interval
}

// fakeNative is a native backend of activations that wait until the test
// gives them a code, for every key. Calls the tests do not make panic
// (the nil NativeAPI).
type fakeNative struct {
	shim.NativeAPI
	mu    sync.Mutex
	codes map[string]string
}

func (f *fakeNative) Balance(context.Context, string) (upstream.Balance, error) {
	return upstream.Balance{Balance: "100.00", Currency: "USD"}, nil
}

func (f *fakeNative) Activation(_ context.Context, _, id string) (upstream.Activation, error) {
	f.mu.Lock()
	code, ok := f.codes[id]
	f.mu.Unlock()
	a := upstream.Activation{ID: id, PhoneNumber: "905551234567", Status: upstream.StatusWaiting,
		UserCost: "0.50", ServiceCode: "wa", CountryISO: "TR"}
	if ok {
		a.Status, a.SMSCode = upstream.StatusReceived, &code
	}
	return a, nil
}

func (f *fakeNative) receive(id, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.codes[id] = code
}

// longPollOptions are the shim options of these tests: long-poll on, at
// pollInterval, on clock.
func longPollOptions(clock *fakeclock.Clock) shim.Options {
	return shim.Options{Now: clock.Now, After: clock.After, LongPollMax: 30 * time.Second, LongPollInterval: pollInterval}
}

// endPollers moves clock past the pollers' next tick when the test ends,
// so that none is left: with no waiter, each ends then.
func endPollers(tb testing.TB, clock *fakeclock.Clock, srv *shim.Server) {
	tb.Cleanup(func() {
		for {
			if w, a := srv.LongPollCounts(); w == 0 && a == 0 {
				return
			}
			clock.Advance(pollInterval)
			time.Sleep(time.Millisecond)
		}
	})
}

// waitUntil waits for cond, which the code under test makes true
// concurrently, and fails the test if it never does (a hang guard, not a
// measure of time).
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting until %s", what)
		}
	}
}

// startGet serves one legacy GET in process on ctx, in the background.
func startGet(ctx context.Context, h http.Handler, query string) <-chan *httptest.ResponseRecorder {
	ch := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stubs/handler_api.php?"+query, nil).WithContext(ctx))
		ch <- rec
	}()
	return ch
}

// buyNumber buys one number for key through the shim and returns its legacy
// ID.
func buyNumber(tb testing.TB, h http.Handler, key string) string {
	tb.Helper()
	body := serve(h, "api_key="+key+"&action=getNumber&service=wa&country=0").Body.String()
	parts := strings.Split(body, ":")
	if len(parts) != 3 || parts[0] != "ACCESS_NUMBER" {
		tb.Fatalf("getNumber = %q", body)
	}
	return parts[1]
}

// TestLongPollCodeWithinOneInterval: a waiter on an activation whose SMS
// arrives between two polls gets STATUS_OK:<code> from the next poll, one
// interval later, and the activation was polled once per interval.
func TestLongPollCodeWithinOneInterval(t *testing.T) {
	t.Parallel()
	clock := fakeclock.At(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	var api *countingAPI
	r := newRig(t, rigOptions{
		sandbox: sandbox.Config{Now: clock.Now, SMSDelay: 2500 * time.Millisecond},
		wrapAPI: func(a shim.NativeAPI) shim.NativeAPI { api = newCountingAPI(a, clock); return api },
		shim:    longPollOptions(clock),
	})
	endPollers(t, clock, r.srv)
	for _, action := range []string{"getStatus", "getStatusV2"} {
		t.Run(action, func(t *testing.T) {
			id := buyNumber(t, r.srv, "demo")
			nativeID, err := r.store.Lookup(t.Context(), r.keys.Owner("demo"), mustInt(t, id))
			if err != nil {
				t.Fatal(err)
			}
			gets, timers := api.n.Load(), clock.Timers()
			answer := startGet(t.Context(), r.srv, "api_key=demo&action="+action+"&id="+id+"&wait=30")
			// The first poll at once, then one per interval: the SMS comes
			// at 2.5 s, after the third.
			for i := int64(1); i <= 3; i++ {
				waitUntil(t, fmt.Sprintf("poll %d is made and the poller sleeps", i), func() bool {
					return api.done.Load() == gets+i && clock.Timers() == timers+2 // the wait's and the interval's
				})
				if i < 3 {
					clock.Advance(pollInterval)
				}
			}
			clock.Advance(pollInterval / 2) // the SMS arrives
			select {
			case rec := <-answer:
				t.Fatalf("answered %q before the next poll", rec.Body.String())
			default:
			}
			if n := api.n.Load(); n != gets+3 {
				t.Fatalf("%d polls before the next interval, want 3", n-gets)
			}
			clock.Advance(pollInterval / 2) // the next poll sees it
			rec := <-answer
			if n := api.n.Load(); n != gets+4 {
				t.Errorf("answered after %d polls, want 4: the code within one interval of its arrival", n-gets)
			}
			act, err := r.api.Activation(t.Context(), "demo", nativeID)
			if err != nil || act.SMSCode == nil {
				t.Fatalf("the sandbox's activation: %+v, %v", act, err)
			}
			want := "STATUS_OK:" + *act.SMSCode
			if action == "getStatusV2" {
				want = `{"verificationType":0,"sms":{"code":"` + *act.SMSCode + `","text":"` + *act.SMSText + `"},"call":null}`
			}
			if got := rec.Body.String(); got != want {
				t.Fatalf("answer %q, want %q", got, want)
			}
			if n, id, i := api.most(); n > 1 {
				t.Errorf("%s was polled %d times in interval %d", id, n, i)
			}
			waitUntil(t, "the waiter leaves", func() bool { w, _ := r.srv.LongPollCounts(); return w == 0 })
			clock.Advance(pollInterval)
			waitUntil(t, "the poller ends", func() bool { _, a := r.srv.LongPollCounts(); return a == 0 })
			clock.Advance(10 * pollInterval)
			if n := api.n.Load(); n != gets+4 {
				t.Errorf("%d polls after the answer", n-gets-4)
			}
		})
	}
}

// TestLongPollWaitEnds: when the wait ends the answer is the current one,
// STATUS_WAIT_CODE, and the request made no poll of its own.
func TestLongPollWaitEnds(t *testing.T) {
	t.Parallel()
	clock := fakeclock.At(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	var api *countingAPI
	r := newRig(t, rigOptions{
		sandbox: sandbox.Config{Now: clock.Now, SMSDelay: time.Hour, TTL: 2 * time.Hour},
		wrapAPI: func(a shim.NativeAPI) shim.NativeAPI { api = newCountingAPI(a, clock); return api },
		shim:    longPollOptions(clock),
	})
	endPollers(t, clock, r.srv)
	id := buyNumber(t, r.srv, "demo")
	answer := startGet(t.Context(), r.srv, "api_key=demo&action=getStatus&id="+id+"&wait=3")
	for i := int64(1); i <= 3; i++ {
		waitUntil(t, fmt.Sprintf("poll %d", i), func() bool { return api.done.Load() == i && clock.Timers() == 2 })
		if i < 3 {
			clock.Advance(pollInterval)
		}
	}
	clock.Advance(pollInterval) // 3 s: the wait ends (and the fourth poll starts)
	if got := (<-answer).Body.String(); got != "STATUS_WAIT_CODE" {
		t.Fatalf("answer %q at the end of the wait, want STATUS_WAIT_CODE", got)
	}
}

// TestLongPollClientsLeave: waiters whose clients go away (real HTTP on
// loopback, the connections closed) leave, the poller ends at its next
// tick without polling again, and nothing is left.
func TestLongPollClientsLeave(t *testing.T) {
	t.Parallel()
	clock := fakeclock.At(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	var api *countingAPI
	r := newRig(t, rigOptions{
		sandbox: sandbox.Config{Now: clock.Now, SMSDelay: time.Hour, TTL: 2 * time.Hour},
		wrapAPI: func(a shim.NativeAPI) shim.NativeAPI { api = newCountingAPI(a, clock); return api },
		shim:    longPollOptions(clock),
	})
	endPollers(t, clock, r.srv)
	url := r.listen(t)
	id := buyNumber(t, r.srv, "demo")
	const clients = 20
	ctx, cancel := context.WithCancel(t.Context())
	var done sync.WaitGroup
	for range clients {
		done.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/stubs/handler_api.php?api_key=demo&action=getStatus&id="+id+"&wait=30", nil)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
				t.Errorf("a client that left got an answer: %d", res.StatusCode)
			}
		})
	}
	waitUntil(t, "every client waits", func() bool { w, _ := r.srv.LongPollCounts(); return w == clients })
	waitUntil(t, "the first poll is made", func() bool { return api.done.Load() == 1 && clock.Timers() == clients+1 })
	cancel()
	done.Wait()
	waitUntil(t, "the waiters leave", func() bool { w, _ := r.srv.LongPollCounts(); return w == 0 })
	clock.Advance(pollInterval)
	waitUntil(t, "the poller ends", func() bool { _, a := r.srv.LongPollCounts(); return a == 0 })
	clock.Advance(60 * pollInterval)
	if n := api.n.Load(); n != 1 {
		t.Fatalf("%d polls, want only the first: no poll after the clients left", n)
	}
}

// TestLongPollBounds: a waiter beyond SHIM_LONG_POLL_MAX_PER_KEY, or
// beyond SHIM_LONG_POLL_MAX_WAITERS, is answered at once with a poll of
// its own, as without wait.
func TestLongPollBounds(t *testing.T) {
	t.Parallel()
	clock := fakeclock.At(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	var api *countingAPI
	opt := longPollOptions(clock)
	opt.LongPollMaxPerKey, opt.LongPollMaxWaiters = 2, 3
	r := newRig(t, rigOptions{
		sandbox: sandbox.Config{Now: clock.Now, SMSDelay: time.Hour, TTL: 2 * time.Hour,
			Keys: map[string]string{"k1": "10.00", "k2": "10.00"}},
		wrapAPI: func(a shim.NativeAPI) shim.NativeAPI { api = newCountingAPI(a, clock); return api },
		shim:    opt,
	})
	endPollers(t, clock, r.srv)
	ids := map[string]string{"k1": buyNumber(t, r.srv, "k1"), "k2": buyNumber(t, r.srv, "k2")}
	query := func(key string) string { return "api_key=" + key + "&action=getStatus&id=" + ids[key] + "&wait=30" }
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var held []<-chan *httptest.ResponseRecorder
	for range 2 {
		held = append(held, startGet(ctx, r.srv, query("k1")))
	}
	// k1's two waiters wait on one poller, which has polled once.
	waitUntil(t, "k1's waiters wait", func() bool {
		w, _ := r.srv.LongPollCounts()
		return w == 2 && api.done.Load() == 1 && clock.Timers() == 3
	})
	over := func(name, key string) {
		t.Helper()
		before := api.n.Load()
		if got := serve(r.srv, query(key)).Body.String(); got != "STATUS_WAIT_CODE" {
			t.Errorf("%s: beyond the bound: %q, want STATUS_WAIT_CODE at once", name, got)
		}
		if n := api.n.Load() - before; n != 1 {
			t.Errorf("%s: beyond the bound made %d polls, want its own one", name, n)
		}
		if w, _ := r.srv.LongPollCounts(); w != len(held) {
			t.Errorf("%s: %d waiters, want %d", name, w, len(held))
		}
	}
	over("per key", "k1")
	held = append(held, startGet(ctx, r.srv, query("k2")))
	waitUntil(t, "k2's waiter waits", func() bool {
		w, _ := r.srv.LongPollCounts()
		return w == 3 && api.done.Load() == 3 && clock.Timers() == 5
	})
	over("total", "k2")
	cancel()
	for _, h := range held {
		<-h
	}
}

// TestLongPollBadWait: a malformed wait is BAD_ACTION, by GET (ParseQuery)
// and by POST (ParseRequest), with no native call and no ID map lookup;
// long-poll off checks it too.
func TestLongPollBadWait(t *testing.T) {
	t.Parallel()
	clock := fakeclock.At(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	for _, off := range []bool{false, true} {
		var api *countingAPI
		var lookups atomic.Int64
		opt := longPollOptions(clock)
		if off {
			opt.LongPollMax = 0
		}
		r := newRig(t, rigOptions{
			sandbox:   sandbox.Config{Now: clock.Now},
			wrapAPI:   func(a shim.NativeAPI) shim.NativeAPI { api = newCountingAPI(a, clock); return api },
			wrapStore: func(s idmap.Store) shim.IDStore { return countingStore{s, &lookups} },
			shim:      opt,
		})
		endPollers(t, clock, r.srv)
		id := buyNumber(t, r.srv, "demo") // the key is verified from now on
		for _, action := range []string{"getStatus", "getStatusV2"} {
			for _, wait := range []string{"-1", "%2B5", "%205", "5%20", "1.5", "0x10", "yes", "100000", "%EF%BC%91"} {
				t.Run(fmt.Sprintf("off=%v/%s/%s", off, action, wait), func(t *testing.T) {
					calls, gets, looked := api.other.Load(), api.n.Load(), lookups.Load()
					query := "api_key=demo&action=" + action + "&id=" + id + "&wait=" + wait
					if got := serve(r.srv, query).Body.String(); got != "BAD_ACTION" {
						t.Errorf("GET: %q, want BAD_ACTION", got)
					}
					req := httptest.NewRequest(http.MethodPost, "/stubs/handler_api.php", strings.NewReader(query))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					rec := httptest.NewRecorder()
					r.srv.ServeHTTP(rec, req)
					if got := rec.Body.String(); got != "BAD_ACTION" {
						t.Errorf("POST: %q, want BAD_ACTION", got)
					}
					if api.other.Load() != calls || api.n.Load() != gets || lookups.Load() != looked {
						t.Errorf("a malformed wait made %d native calls, %d polls and %d lookups",
							api.other.Load()-calls, api.n.Load()-gets, lookups.Load()-looked)
					}
				})
			}
		}
	}
}

// countingStore counts the ID map lookups.
type countingStore struct {
	idmap.Store
	lookups *atomic.Int64
}

func (s countingStore) Lookup(ctx context.Context, owner string, id int64) (string, error) {
	s.lookups.Add(1)
	return s.Store.Lookup(ctx, owner, id)
}

// TestLongPollPost: a wait sent in a POST form (ParseRequest's path) is a
// long-poll too: the waiter joins the hub.
func TestLongPollPost(t *testing.T) {
	t.Parallel()
	clock := fakeclock.At(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	r := newRig(t, rigOptions{sandbox: sandbox.Config{Now: clock.Now, SMSDelay: time.Hour, TTL: 2 * time.Hour}, shim: longPollOptions(clock)})
	endPollers(t, clock, r.srv)
	id := buyNumber(t, r.srv, "demo")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan string, 1)
	go func() {
		req := httptest.NewRequest(http.MethodPost, "/stubs/handler_api.php?api_key=demo&action=getStatus",
			strings.NewReader("id="+id+"&wait=30")).WithContext(ctx)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		r.srv.ServeHTTP(rec, req)
		done <- rec.Body.String()
	}()
	waitUntil(t, "the POST waits", func() bool { w, _ := r.srv.LongPollCounts(); return w == 1 })
	cancel()
	<-done
}

// TestLongPollShared is the figure: concurrent wait=30 getStatus
// requests over real HTTP on loopback, ten per activation, make exactly one
// native poll per activation per interval, and every waiter gets its
// activation's code from the poll after it arrives. The full 5,000
// waiters on 500 activations run unless -short or -race (go test -run
// TestLongPollShared ./shim/); those run 500 on 50.
func TestLongPollShared(t *testing.T) {
	keys, perKey := 50, 10 // 500 activations, 100 waiters per key (the default bound)
	if testing.Short() || raceEnabled {
		keys = 5
	}
	testLongPollShared(t, keys, perKey, 10)
}

func testLongPollShared(t *testing.T, keys, actsPerKey, waitersPerAct int) {
	clock := fakeclock.At(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	native := &fakeNative{codes: map[string]string{}}
	api := newCountingAPI(native, clock)
	r := newRig(t, rigOptions{
		wrapAPI: func(shim.NativeAPI) shim.NativeAPI { return api },
		shim:    longPollOptions(clock),
	})
	endPollers(t, clock, r.srv)
	type activation struct{ key, legacyID, nativeID string }
	var acts []activation
	for k := range keys {
		key := fmt.Sprintf("key-%03d", k)
		for a := range actsPerKey {
			nativeID := fmt.Sprintf("native-%03d-%03d", k, a)
			id, err := r.store.Reserve(t.Context(), idmap.Reservation{Owner: r.keys.Owner(key), IdemKey: nativeID})
			if err == nil {
				err = r.store.Commit(t.Context(), id, nativeID)
			}
			if err != nil {
				t.Fatal(err)
			}
			acts = append(acts, activation{key, strconv.FormatInt(id, 10), nativeID})
		}
	}
	url := r.listen(t)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(acts) * waitersPerAct}}
	t.Cleanup(client.CloseIdleConnections)
	baseG, baseRSS := runtime.NumGoroutine(), rss()

	waiters := len(acts) * waitersPerAct
	answers := make(chan string, waiters)
	var mismatch atomic.Int64
	for _, a := range acts {
		for range waitersPerAct {
			go func() {
				res, err := client.Get(url + "/stubs/handler_api.php?api_key=" + a.key + "&action=getStatus&id=" + a.legacyID + "&wait=30")
				if err != nil {
					answers <- err.Error()
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if string(b) != "STATUS_OK:"+code(a.nativeID) {
					mismatch.Add(1)
				}
				answers <- string(b)
			}()
		}
	}
	waitUntil(t, "every waiter waits", func() bool { w, _ := r.srv.LongPollCounts(); return w == waiters })
	goroutines, mem := runtime.NumGoroutine(), rss()
	_, polled := r.srv.LongPollCounts()
	t.Logf("%d waiters on %d activations: %d goroutines (%d before), RSS %d MiB (%d MiB before), client and server in one process",
		waiters, polled, goroutines, baseG, mem>>20, baseRSS>>20)
	by := goroutinesIn("shim.(*longPoll).run", "shim.(*longPoll).wait", "net/http.(*conn).serve", "net/http.(*persistConn)")
	t.Logf("goroutines: %d pollers, %d waiting in the hub (each a server connection's own), %d server connections (net/http also reads each in the background), %d client goroutines (a request, its read and write loops)",
		by[0], by[1], by[2], by[3])
	// The goroutine counts are the process's, other tests' included:
	// what the test asserts is the hub's own count.
	if polled != len(acts) {
		t.Errorf("%d pollers for %d activations, want one each", polled, len(acts))
	}
	const intervals = 4
	for i := 1; i <= intervals; i++ {
		want := int64(i * len(acts))
		waitUntil(t, fmt.Sprintf("interval %d's polls are made", i-1), func() bool {
			return api.done.Load() == want && clock.Timers() == waiters+len(acts)
		})
		if i == intervals {
			for _, a := range acts {
				native.receive(a.nativeID, code(a.nativeID))
			}
		}
		clock.Advance(pollInterval)
	}
	for range waiters {
		if got := <-answers; !strings.HasPrefix(got, "STATUS_OK:") {
			t.Fatalf("a waiter got %q", got)
		}
	}
	if n := mismatch.Load(); n > 0 {
		t.Errorf("%d waiters got another activation's code", n)
	}
	if n, want := api.n.Load(), int64((intervals+1)*len(acts)); n != want {
		t.Errorf("%d native polls in %d intervals, want %d: one per activation per interval", n, intervals+1, want)
	}
	if n, id, i := api.most(); n != 1 {
		t.Errorf("%s was polled %d times in interval %d, want once", id, n, i)
	}
	t.Logf("%d native polls for %d waiters over %d intervals: at most %d per activation per interval",
		api.n.Load(), waiters, intervals+1, 1)
	clock.Advance(pollInterval)
	waitUntil(t, "every poller ends", func() bool { w, a := r.srv.LongPollCounts(); return w == 0 && a == 0 })
}

// goroutinesIn counts the goroutines whose stack has each function.
func goroutinesIn(funcs ...string) []int {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	counts := make([]int, len(funcs))
	// debug=1 groups identical stacks: "N @ pc pc ..." and then the
	// frames, up to a blank line.
	for _, rec := range strings.Split(b.String(), "\n\n") {
		head, _, _ := strings.Cut(rec, " @ ")
		n, err := strconv.Atoi(strings.TrimSpace(head[strings.LastIndexByte(head, '\n')+1:]))
		if err != nil {
			continue
		}
		for i, f := range funcs {
			if strings.Contains(rec, f) {
				counts[i] += n
			}
		}
	}
	return counts
}

// code is the SMS code the test gives an activation.
func code(nativeID string) string { return "c" + strings.ReplaceAll(nativeID, "-", "") }

// rss is the process's resident set size in bytes, 0 where /proc cannot
// tell.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestLongPollEndWaits: at shutdown (EndWaits) a waiter answers at once
// with its last result, and a later wait is answered at once too.
func TestLongPollEndWaits(t *testing.T) {
	t.Parallel()
	clock := fakeclock.At(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	var api *countingAPI
	r := newRig(t, rigOptions{
		sandbox: sandbox.Config{Now: clock.Now, SMSDelay: time.Hour, TTL: 2 * time.Hour},
		wrapAPI: func(a shim.NativeAPI) shim.NativeAPI { api = newCountingAPI(a, clock); return api },
		shim:    longPollOptions(clock),
	})
	endPollers(t, clock, r.srv)
	id := buyNumber(t, r.srv, "demo")
	query := "api_key=demo&action=getStatus&id=" + id + "&wait=30"
	answer := startGet(t.Context(), r.srv, query)
	waitUntil(t, "the waiter has its first result", func() bool {
		w, _ := r.srv.LongPollCounts()
		return w == 1 && api.done.Load() == 1 && clock.Timers() == 2
	})
	r.srv.EndWaits()
	if got := (<-answer).Body.String(); got != "STATUS_WAIT_CODE" {
		t.Fatalf("at shutdown: %q, want STATUS_WAIT_CODE at once", got)
	}
	if got := serve(r.srv, query).Body.String(); got != "STATUS_WAIT_CODE" {
		t.Fatalf("after shutdown: %q, want STATUS_WAIT_CODE at once", got)
	}
	if w, _ := r.srv.LongPollCounts(); w != 0 {
		t.Fatalf("%d waiters after shutdown", w)
	}
}

// TestLongPollAfterSetStatus: a long-poll after the bot's own setStatus 3
// does not take the result read before it (STATUS_OK with the old code,
// still fresh), but waits for the next poll: STATUS_WAIT_RETRY, then the
// new code.
func TestLongPollAfterSetStatus(t *testing.T) {
	t.Parallel()
	clock := fakeclock.At(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	var api *countingAPI
	r := newRig(t, rigOptions{
		sandbox: sandbox.Config{Now: clock.Now, SMSDelay: 2500 * time.Millisecond},
		wrapAPI: func(a shim.NativeAPI) shim.NativeAPI { api = newCountingAPI(a, clock); return api },
		shim:    longPollOptions(clock),
	})
	endPollers(t, clock, r.srv)
	id := buyNumber(t, r.srv, "demo")
	clock.Advance(3 * time.Second) // the SMS came
	query := "api_key=demo&action=getStatus&id=" + id + "&wait=30"
	first := serve(r.srv, query).Body.String()
	if !strings.HasPrefix(first, "STATUS_OK:") || api.n.Load() != 1 {
		t.Fatalf("first long-poll: %q after %d polls, want STATUS_OK at once", first, api.n.Load())
	}
	if got := serve(r.srv, "api_key=demo&action=setStatus&status=3&id="+id).Body.String(); got != "ACCESS_RETRY_GET" {
		t.Fatalf("setStatus 3: %q", got)
	}
	gets, timers := api.n.Load(), clock.Timers() // the lingering poller's tick
	answer := startGet(t.Context(), r.srv, query)
	waitUntil(t, "the waiter waits or answers", func() bool { return clock.Timers() == timers+1 || len(answer) > 0 })
	select {
	case rec := <-answer:
		t.Fatalf("answered %q with the result read before setStatus 3", rec.Body.String())
	default:
	}
	for i := int64(1); i <= 3; i++ {
		clock.Advance(pollInterval)
		if i < 3 {
			waitUntil(t, fmt.Sprintf("poll %d", i), func() bool { return api.done.Load() == gets+i && clock.Timers() == timers+1 })
		}
	}
	rec := <-answer
	if got := rec.Body.String(); !strings.HasPrefix(got, "STATUS_OK:") || api.n.Load() != gets+3 {
		t.Fatalf("answer %q after %d polls, want STATUS_OK from the third poll after setStatus 3 (the SMS at 2.5 s)", got, api.n.Load()-gets)
	}
}

// hangingNative is fakeNative whose activation gets hang until their
// context ends, and count the ones cancelled.
type hangingNative struct {
	fakeNative
	inFlight, cancelled atomic.Int64
}

func (h *hangingNative) Activation(ctx context.Context, _, _ string) (upstream.Activation, error) {
	h.inFlight.Add(1)
	<-ctx.Done()
	h.cancelled.Add(1)
	return upstream.Activation{}, ctx.Err()
}

// TestLongPollLastWaiterCancelsPoll: when the last waiter leaves during a
// poll, the poll is cancelled, its error is answered to no one, and the
// poller ends without polling again.
func TestLongPollLastWaiterCancelsPoll(t *testing.T) {
	t.Parallel()
	clock := fakeclock.At(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	native := &hangingNative{}
	api := newCountingAPI(native, clock)
	r := newRig(t, rigOptions{wrapAPI: func(shim.NativeAPI) shim.NativeAPI { return api }, shim: longPollOptions(clock)})
	endPollers(t, clock, r.srv)
	id, err := r.store.Reserve(t.Context(), idmap.Reservation{Owner: r.keys.Owner("k"), IdemKey: "i"})
	if err == nil {
		err = r.store.Commit(t.Context(), id, "native-1")
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var answers []<-chan *httptest.ResponseRecorder
	for range 3 {
		answers = append(answers, startGet(ctx, r.srv, "api_key=k&action=getStatus&wait=30&id="+strconv.FormatInt(id, 10)))
	}
	waitUntil(t, "three waiters on one poll in flight", func() bool {
		w, _ := r.srv.LongPollCounts()
		return w == 3 && native.inFlight.Load() == 1
	})
	cancel()
	for _, a := range answers {
		<-a
	}
	waitUntil(t, "the poll is cancelled", func() bool { return native.cancelled.Load() == 1 })
	clock.Advance(pollInterval)
	waitUntil(t, "the poller ends", func() bool { w, a := r.srv.LongPollCounts(); return w == 0 && a == 0 })
	clock.Advance(10 * pollInterval)
	if n := api.n.Load(); n != 1 {
		t.Fatalf("%d polls, want the one cancelled", n)
	}
}

// TestLongPollTelemetry: a long-poll's span carries the wait and how it
// ended, the shared polls are "longpoll poll" spans of their own and are
// counted, the access line carries the wait, and the key is nowhere.
func TestLongPollTelemetry(t *testing.T) {
	t.Parallel()
	const key = "long-poll-telemetry-key-0123"
	clock := fakeclock.At(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	spans := tracetest.NewSpanRecorder()
	metrics := sdkmetric.NewManualReader()
	opt := longPollOptions(clock)
	opt.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	opt.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics))
	logs := &logBuffer{}
	var api *countingAPI
	r := newRig(t, rigOptions{
		sandbox: sandbox.Config{Now: clock.Now, SMSDelay: pollInterval / 2, Keys: map[string]string{key: "10.00"}},
		wrapAPI: func(a shim.NativeAPI) shim.NativeAPI { api = newCountingAPI(a, clock); return api },
		shim:    opt,
		log:     logs,
	})
	endPollers(t, clock, r.srv)
	id := buyNumber(t, r.srv, key)
	answer := startGet(t.Context(), r.srv, "api_key="+key+"&action=getStatus&id="+id+"&wait=30")
	waitUntil(t, "the first poll", func() bool { return api.done.Load() == 1 && clock.Timers() == 2 })
	clock.Advance(pollInterval)
	if got := (<-answer).Body.String(); !strings.HasPrefix(got, "STATUS_OK:") {
		t.Fatalf("answer %q", got)
	}

	var status sdktrace.ReadOnlySpan
	polls := 0
	for _, s := range spans.Ended() {
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.String(), key) {
				t.Errorf("span %s has the key in %s", s.Name(), a.Key)
			}
		}
		switch s.Name() {
		case "getStatus":
			status = s
		case "longpoll poll":
			polls++
			if s.Parent().IsValid() {
				t.Errorf("a shared poll is a child of %v: it belongs to no one request", s.Parent())
			}
		}
	}
	if polls != 2 {
		t.Errorf("%d longpoll poll spans, want 2", polls)
	}
	if status == nil {
		t.Fatal("no getStatus span")
	}
	attrs := map[string]string{}
	for _, a := range status.Attributes() {
		attrs[string(a.Key)] = a.Value.String()
	}
	if attrs["smsbulk.longpoll.wait"] != "30" || attrs["smsbulk.longpoll.outcome"] != "answered" {
		t.Errorf("getStatus span: wait %q, outcome %q; want 30, answered", attrs["smsbulk.longpoll.wait"], attrs["smsbulk.longpoll.outcome"])
	}

	var rm metricdata.ResourceMetrics
	if err := metrics.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, p := range d.DataPoints {
					sums[m.Name] += p.Value
				}
			}
		}
	}
	if sums["smsbulk_shim.longpoll.polls"] != 2 || sums["smsbulk_shim.longpoll.waiters"] != 0 || sums["smsbulk_shim.longpoll.activations"] != 1 {
		t.Errorf("polls %d, waiters %d, activations %d; want 2, 0 and 1 (the poller lingers until its tick)",
			sums["smsbulk_shim.longpoll.polls"], sums["smsbulk_shim.longpoll.waiters"], sums["smsbulk_shim.longpoll.activations"])
	}

	var line map[string]any
	for _, l := range logs.records(t) {
		if l["msg"] == "legacy request" && l["action"] == "getStatus" {
			line = l
		}
	}
	if line == nil || line["wait"] != 30.0 {
		t.Errorf("access line %v, want wait 30", line)
	}
	if strings.Contains(logs.String(), key) {
		t.Error("the logs have the key")
	}
}
