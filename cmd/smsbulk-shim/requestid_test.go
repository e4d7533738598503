package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// requestIDEnviron is the shims' environment in TestRequestIDAcrossReplicas:
// a 2s request deadline, no native retries, so that a purchase left pending is leased for
// 2s + 10s (the refund's bound) + 5s, and a reconciler that waits longer
// than the whole test before refunding anything.
func requestIDEnviron(origin, dsn string) []string {
	return []string{
		"SHIM_ADDR=127.0.0.1:0",
		"SHIM_ADMIN_ADDR=127.0.0.1:0",
		"SHIM_UPSTREAM_URL=" + origin,
		"SHIM_KEY_SECRET=" + fleetSecret,
		"SHIM_IDMAP_DSN=" + dsn,
		"SHIM_REQUEST_TIMEOUT=2s",
		// One attempt per purchase, so that each injected fault fails a
		// request rather than being retried away.
		"SHIM_UPSTREAM_RETRIES=0",
		"SHIM_RECONCILE_AFTER=10m",
		"SHIM_SHUTDOWN_TIMEOUT=5s",
		"OTEL_TRACES_EXPORTER=none",
		"OTEL_METRICS_EXPORTER=none",
		"OTEL_LOGS_EXPORTER=none",
	}
}

// TestRequestIDAcrossReplicas runs two shim processes on one PostgreSQL
// schema. Bots buy with a requestId on replica A; the backend makes each
// purchase and holds its answer back until A is killed with SIGKILL, so
// that A dies between the purchase and the answer. Each bot then retries
// with the same requestId on replica B until it gets a number (ERROR_SQL
// while A's lease on the purchase runs), and again after a new A has
// started; then faults hit purchases on B (resets after the backend acted,
// a timeout) and the bots retry on A. The ledger must hold exactly one
// purchase per requestId, none refunded, and every answer with a number
// for a requestId must be the same.
func TestRequestIDAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the kill -9 requestId test")
	}
	dsn := freshPGSchema(t)
	bin := buildShim(t)
	const key = "request-id-replica-key-6d2a"
	const killed = 6 // requestIds whose first request dies with replica A
	initial := map[string]string{key: "1000.00"}

	var holdLeft atomic.Int64
	holdLeft.Store(killed)
	held := make(chan struct{}, killed)
	release := make(chan struct{})
	sb, origin := serveSandbox(t, waitingSandbox(initial), func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/activations") || holdLeft.Add(-1) < 0 {
				h.ServeHTTP(w, r)
				return
			}
			// Make the purchase, then hold its answer until A is dead.
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			held <- struct{}{}
			<-release
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = io.Copy(w, rec.Body)
		})
	})
	a := startChild(t, bin, requestIDEnviron(origin, dsn))
	b := startChild(t, bin, requestIDEnviron(origin, dsn))
	bot := newLegacyBot()
	ctx := t.Context()

	buy := func(ctx context.Context, addr, rid string, i int) (string, error) {
		action := [...]string{"getNumber", "getNumberV2"}[i%2]
		return bot.call(ctx, addr, url.Values{"api_key": {key}, "action": {action}, "service": {"wa"}, "country": {"0"}, "requestId": {rid}})
	}
	// Warm both replicas' key check and catalog, so that the held
	// purchases are the first POSTs.
	for _, c := range []*shimChild{a, b} {
		if body, err := bot.call(ctx, c.Addr, url.Values{"api_key": {key}, "action": {"getPrices"}, "service": {"wa"}, "country": {"0"}}); err != nil || !strings.HasPrefix(body, "{") {
			t.Fatalf("getPrices: %q, %v", body, err)
		}
	}

	var mu sync.Mutex
	numbers := map[string][]string{} // requestId -> every answer with a number
	record := func(rid, body string) bool {
		if _, ok := parseNumberID(body); !ok {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		numbers[rid] = append(numbers[rid], normaliseNumber(body))
		return true
	}
	// retry asks addr() with rid until it answers a number, as a bot does.
	retry := func(addr func() string, rid string, i int) (tries int, errorSQL int) {
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			tries++
			body, err := buy(ctx, addr(), rid, i)
			if err == nil && record(rid, body) {
				return tries, errorSQL
			}
			if body == "ERROR_SQL" {
				errorSQL++
			} else if err == nil {
				t.Errorf("requestId %s answered %q", rid, body)
				return tries, errorSQL
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("requestId %s got no number within 60s", rid)
		return tries, errorSQL
	}

	// Phase 1: kill -9 of A between each purchase and its answer.
	var wg sync.WaitGroup
	for i := range killed {
		wg.Go(func() {
			if body, err := buy(ctx, a.Addr, fmt.Sprint("killed-", i), i); err == nil {
				t.Errorf("request to the killed replica answered %q", body)
			}
		})
	}
	for range killed {
		select {
		case <-held:
		case <-time.After(30 * time.Second):
			t.Fatalf("the purchases did not reach the backend; shim A:\n%s", lastLines(a.logs, 20))
		}
	}
	a.kill()
	close(release)
	wg.Wait()
	if n := len(sb.Ledger().Purchases(key)); n != killed {
		t.Fatalf("%d purchases made before the kill, want %d", n, killed)
	}
	start := time.Now()
	var tries, errs atomic.Int64
	for i := range killed {
		wg.Go(func() {
			n, e := retry(func() string { return b.Addr }, fmt.Sprint("killed-", i), i)
			tries.Add(int64(n))
			errs.Add(int64(e))
		})
	}
	wg.Wait()
	t.Logf("after the kill: %d retries on B (%d ERROR_SQL while A's lease ran) in %v",
		tries.Load(), errs.Load(), time.Since(start).Round(time.Millisecond))

	// A new A on the same store answers the same numbers.
	a = startChild(t, bin, requestIDEnviron(origin, dsn))
	for i := range killed {
		for _, c := range []*shimChild{a, b} {
			body, err := buy(ctx, c.Addr, fmt.Sprint("killed-", i), i+1) // the other action
			if err != nil || !record(fmt.Sprint("killed-", i), body) {
				t.Errorf("retry of killed-%d = %q, %v; want its number", i, body, err)
			}
		}
	}

	// Phase 2: faults on B, retries on A.
	faults := []struct {
		rid, spec string
		times     int
	}{
		// As many faults as B's request may make attempts (net/http
		// resends a request with an Idempotency-Key on a reused
		// connection, and the purchase may be replayed): every attempt
		// of B's request fails, and the rest is dropped before the
		// retries.
		{"reset-after-commit", "reset-after-commit", 100}, // the backend acted, the answer was lost
		{"reset", "reset", 100},                           // the request never reached the backend
		{"timeout", "latency=5s", 1},                      // beyond the 2s request deadline
	}
	for i, f := range faults {
		sb.InjectFault(sandbox.RouteBuy, "", 0) // what the last one left
		sb.InjectFault(sandbox.RouteBuy, f.spec, f.times)
		if body, err := buy(ctx, b.Addr, f.rid, i); err != nil || record(f.rid, body) {
			t.Errorf("%s on B = %q, %v; want an error answer", f.rid, body, err)
		}
		sb.InjectFault(sandbox.RouteBuy, "", 0)
	}
	for i, f := range faults {
		wg.Go(func() { retry(func() string { return a.Addr }, f.rid, i) })
	}
	wg.Wait()
	sb.InjectFault(sandbox.RouteBuy, "", 0)

	// The ledger: one purchase per requestId, none refunded, and each
	// requestId's answers all the same number.
	l := sb.Ledger()
	if err := l.Check(initial); err != nil {
		t.Errorf("ledger: %v", err)
	}
	want := killed + len(faults)
	ps, refunds := l.Purchases(key), l.Refunds(key)
	seen := map[string]bool{}
	for rid, bodies := range numbers {
		for _, body := range bodies[1:] {
			if body != bodies[0] {
				t.Errorf("requestId %s answered %q and %q", rid, bodies[0], body)
			}
		}
		if seen[bodies[0]] {
			t.Errorf("two requestIds answered %q", bodies[0])
		}
		seen[bodies[0]] = true
	}
	if len(ps) != want || len(refunds) != 0 || len(numbers) != want {
		t.Errorf("ledger: %d purchases, %d refunds for %d requestIds answered (%d sent); want exactly one purchase each, no refund",
			len(ps), len(refunds), len(numbers), want)
	}
	t.Logf("requestId across replicas: %d requestIds (%d through a kill -9, %d through faults), %d purchases, %d refunds, %d answers with a number, all the same per requestId",
		want, killed, len(faults), len(ps), len(refunds), countAnswers(numbers))
	a.stop(t)
	b.stop(t)
}

// normaliseNumber is a purchase answer as the legacy ID and phone it
// carries, so that getNumber's and getNumberV2's answers compare.
func normaliseNumber(body string) string {
	id, _ := parseNumberID(body)
	phone := ""
	if parts := strings.Split(body, ":"); len(parts) == 3 {
		phone = parts[2]
	} else if i := strings.Index(body, `"phoneNumber":"`); i >= 0 {
		phone, _, _ = strings.Cut(body[i+len(`"phoneNumber":"`):], `"`)
	}
	return fmt.Sprintf("%d:%s", id, phone)
}

func countAnswers(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}
