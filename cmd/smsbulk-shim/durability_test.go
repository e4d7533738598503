//go:build linux

// This file is Linux-only: it kills real shim processes with SIGKILL and
// ties them to the test process with Pdeathsig, so that none outlives a
// test binary that is itself killed.

package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// buildShim builds this command into a temporary directory and returns the
// binary's path. It skips tb when no go tool is on PATH.
func buildShim(tb testing.TB) string {
	tb.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("no go tool on PATH: cannot build the shim binary")
	}
	bin := filepath.Join(tb.TempDir(), "smsbulk-shim")
	out, err := exec.CommandContext(tb.Context(), goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// shimChild is the shim running as a process of its own.
type shimChild struct {
	Addr, AdminAddr string
	cmd             *exec.Cmd
	logs            *logBuffer
	exited          chan struct{}
	err             error // Wait's result, set before exited is closed
}

// startChild runs bin with environ (and nothing of this process's
// environment) and waits until it listens.
func startChild(tb testing.TB, bin string, environ []string) *shimChild {
	tb.Helper()
	logs := &logBuffer{listening: make(chan map[string]any, 1)}
	cmd := exec.Command(bin)
	cmd.Env = environ
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting the shim: %v", err)
	}
	c := &shimChild{cmd: cmd, logs: logs, exited: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.exited) }()
	tb.Cleanup(func() { c.kill() })
	select {
	case m := <-logs.listening:
		c.Addr, _ = m["addr"].(string)
		c.AdminAddr, _ = m["admin_addr"].(string)
	case <-c.exited:
		tb.Fatalf("shim exited before listening: %v\n%s", c.err, strings.Join(logs.Lines(), "\n"))
	case <-time.After(30 * time.Second):
		tb.Fatalf("shim did not listen within 30s:\n%s", strings.Join(logs.Lines(), "\n"))
	}
	return c
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *shimChild) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop sends SIGTERM and fails tb unless the shim shuts down cleanly.
func (c *shimChild) stop(tb testing.TB) {
	tb.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		if c.err != nil {
			tb.Errorf("shim exited with %v after SIGTERM:\n%s", c.err, lastLines(c.logs, 20))
		}
	case <-time.After(30 * time.Second):
		tb.Errorf("shim did not stop within 30s of SIGTERM")
	}
}

func lastLines(b *logBuffer, n int) string {
	l := b.Lines()
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// durabilityFigures is what one variant of TestDurability counts.
type durabilityFigures struct {
	Store         string
	Purchases     int // in the sandbox ledger
	Answered      int // ACCESS_NUMBER answers the bots got
	Requests      int64
	Failed        int64 // getNumber without an answer: killed mid-request or refused while restarting
	ErrorAnswers  int64 // getNumber answered with an error code (ERROR_SQL)
	Kills         int
	Refunded      int // purchases refunded (by the reconciler)
	AnswerLost    int // committed rows whose answer died with the process
	RowsLost      int // legacy IDs a bot got that do not resolve
	Orphans       int // purchases with neither a map row nor a refund
	Duration      time.Duration
	SettleTimeout bool
}

// TestDurability runs the shim as a real process under a bot load and kills
// it with SIGKILL several times, restarting it on the same store each time;
// then it lets the reconciler settle and checks that every legacy ID a bot
// got resolves and that every purchase in the sandbox ledger has a map row
// or a refund. The figures go to the test log and, when
// SHIM_DURABILITY_REPORT names a file, to that file as a Markdown table.
func TestDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the kill -9 durability test")
	}
	bin := buildShim(t)
	var figures []durabilityFigures
	stores := []struct {
		name string
		dsn  func(tb testing.TB) string
	}{
		{"sqlite", func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "idmap.db") }},
		{"postgres", freshPGSchema},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			f := runDurability(t, bin, st.dsn(t))
			f.Store = st.name
			figures = append(figures, f)
			t.Logf("%s: purchases %d, answered %d, getNumber requests %d (no answer %d, error code %d), kills %d, refunded %d, "+
				"answers lost after commit %d, rows lost %d, orphans %d, in %v",
				f.Store, f.Purchases, f.Answered, f.Requests, f.Failed, f.ErrorAnswers, f.Kills, f.Refunded,
				f.AnswerLost, f.RowsLost, f.Orphans, f.Duration.Round(time.Millisecond))
		})
	}
	writeDurabilityReport(t, figures)
}

// runDurability is one variant of TestDurability on the store dsn.
func runDurability(t *testing.T, bin, dsn string) durabilityFigures {
	const (
		target = 500 // answered purchases
		kills  = 4
		bots   = 16
	)
	start := time.Now()
	keys := []string{"durable-key-1-a3f0", "durable-key-2-9b1c", "durable-key-3-47de", "durable-key-4-e82b"}
	initial := map[string]string{}
	for _, k := range keys {
		initial[k] = "10000.00"
	}
	// The backend holds each purchase's answer back for up to 30ms after it
	// is made, so that kills land between the native purchase and the map
	// write.
	sb, origin := serveSandbox(t, waitingSandbox(initial), func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/activations") {
				time.Sleep(rand.N(30 * time.Millisecond))
			}
		})
	})
	environ := []string{
		"SHIM_ADDR=127.0.0.1:0",
		"SHIM_ADMIN_ADDR=127.0.0.1:0",
		"SHIM_UPSTREAM_URL=" + origin,
		"SHIM_KEY_SECRET=" + fleetSecret,
		"SHIM_IDMAP_DSN=" + dsn,
		"SHIM_REQUEST_TIMEOUT=2s",
		"SHIM_RECONCILE_AFTER=3s",
		"SHIM_RECONCILE_EVERY=500ms",
		"SHIM_SHUTDOWN_TIMEOUT=5s",
		"OTEL_TRACES_EXPORTER=none",
		"OTEL_METRICS_EXPORTER=none",
		"OTEL_LOGS_EXPORTER=none",
	}
	child := startChild(t, bin, environ)
	var addr atomic.Pointer[string]
	addr.Store(&child.Addr)

	type answered struct {
		id  int64
		key string
	}
	var (
		mu       sync.Mutex
		got      []answered
		requests atomic.Int64
		failed   atomic.Int64
		errorAns atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	ctx := t.Context()
	c := newLegacyBot()
	for i := range bots {
		key := keys[i%len(keys)]
		// Half the bots buy through getNumberV2, journaled the same way.
		action := [...]string{"getNumber", "getNumberV2"}[i%2]
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				requests.Add(1)
				body, err := c.buy(ctx, *addr.Load(), key, action)
				id, ok := parseNumberID(body)
				if err != nil || !ok {
					// Killed mid-request, refused while restarting, or
					// ERROR_SQL: a bot tries again a moment later.
					if err != nil {
						failed.Add(1)
					} else {
						errorAns.Add(1)
					}
					select {
					case <-ctx.Done():
					case <-time.After(5 * time.Millisecond):
					}
					continue
				}
				mu.Lock()
				got = append(got, answered{id, key})
				mu.Unlock()
				// A bot polls what it bought; a kill may cut this off, and
				// the final check below asks again.
				if s, err := c.getStatus(ctx, *addr.Load(), key, id); err == nil && s != "STATUS_WAIT_CODE" {
					t.Errorf("getStatus %d right after the purchase = %q, want STATUS_WAIT_CODE", id, s)
				}
			}
		})
	}
	answeredCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	waitAnswered := func(n int) {
		deadline := time.Now().Add(60 * time.Second)
		for answeredCount() < n {
			if time.Now().After(deadline) {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("only %d of %d purchases answered within 60s (%d failed); shim logs:\n%s",
					answeredCount(), n, failed.Load(), lastLines(child.logs, 30))
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	for k := 1; k <= kills; k++ {
		waitAnswered(target * k / (kills + 1))
		child.kill()
		child = startChild(t, bin, environ)
		addr.Store(&child.Addr)
	}
	waitAnswered(target)
	stop.Store(true)
	wg.Wait()

	f := durabilityFigures{Kills: kills, Answered: len(got), Requests: requests.Load(), Failed: failed.Load(), ErrorAnswers: errorAns.Load()}

	// Every legacy ID a bot got must resolve to its native activation, in
	// the store and through the shim.
	store, err := idmap.Open(ctx, dsn, idmap.Options{})
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	defer store.Close()
	sk, err := shim.NewKeys([]byte(fleetSecret))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{} // native IDs of the answered legacy IDs
	var maxID int64
	for _, g := range got {
		maxID = max(maxID, g.id)
		nativeID, err := store.Lookup(ctx, sk.Owner(g.key), g.id)
		switch {
		case errors.Is(err, idmap.ErrNotFound):
			f.RowsLost++
			t.Errorf("legacy id %d was answered but has no row", g.id)
		case err != nil:
			t.Fatalf("looking up %d: %v", g.id, err)
		default:
			known[nativeID] = true
		}
	}
	var lostThroughShim atomic.Int64
	sem := make(chan struct{}, 16)
	for _, g := range got {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			s, err := c.getStatus(ctx, child.Addr, g.key, g.id)
			if err != nil || s != "STATUS_WAIT_CODE" {
				lostThroughShim.Add(1)
				t.Errorf("getStatus %d after the kills = %q, %v; want STATUS_WAIT_CODE", g.id, s, err)
			}
		})
	}
	wg.Wait()
	f.RowsLost = max(f.RowsLost, int(lostThroughShim.Load()))

	// Every active row, answered or not: legacy IDs start at 100000001 and
	// each getNumber request reserves at most one (net/http may send a GET
	// twice on a broken keep-alive connection, hence the factor 2).
	const firstID = 100000001
	if maxID < firstID || maxID >= firstID+2*f.Requests+64 {
		t.Fatalf("legacy ids up to %d from %d requests: outside the range the scan covers", maxID, f.Requests)
	}
	active := map[string]bool{}
	for id := int64(firstID); id < firstID+2*f.Requests+64; id++ {
		for _, k := range keys {
			nativeID, err := store.Lookup(ctx, sk.Owner(k), id)
			if errors.Is(err, idmap.ErrNotFound) {
				continue
			}
			if err != nil {
				t.Fatalf("looking up %d: %v", id, err)
			}
			active[nativeID] = true
		}
	}

	// The reconciler in the last process refunds what the kills left
	// pending; wait until every purchase is mapped or refunded.
	classify := func() (purchases, refunded, orphans int, led sandbox.Ledger) {
		led = sb.Ledger()
		refunds := map[string]bool{}
		for _, k := range keys {
			for _, e := range led.Refunds(k) {
				refunds[e.ActivationID] = true
			}
		}
		for _, k := range keys {
			for _, e := range led.Purchases(k) {
				purchases++
				switch {
				case refunds[e.ActivationID]:
					refunded++
				case !active[e.ActivationID]:
					orphans++
				}
			}
		}
		return purchases, refunded, orphans, led
	}
	deadline := time.Now().Add(30 * time.Second)
	var led sandbox.Ledger
	for {
		f.Purchases, f.Refunded, f.Orphans, led = classify()
		if f.Orphans == 0 {
			break
		}
		if time.Now().After(deadline) {
			f.SettleTimeout = true
			t.Errorf("%d purchases neither mapped nor refunded 30s after the load; shim logs:\n%s", f.Orphans, lastLines(child.logs, 30))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for nativeID := range active {
		if !known[nativeID] {
			f.AnswerLost++
		}
	}
	// Only a request in flight at a kill can lose its answer.
	if f.AnswerLost > kills*bots {
		t.Errorf("%d committed purchases were never answered, more than the %d requests the kills cut off", f.AnswerLost, kills*bots)
	}
	for nativeID := range known {
		if !active[nativeID] {
			t.Errorf("answered activation %s not found by the scan", nativeID)
		}
	}
	if err := led.Check(initial); err != nil {
		t.Errorf("ledger: %v", err)
	}
	if f.Purchases != f.Refunded+len(active) {
		t.Errorf("%d purchases, %d refunded, %d mapped: some purchase is counted twice or not at all", f.Purchases, f.Refunded, len(active))
	}
	child.stop(t)
	f.Duration = time.Since(start)
	return f
}

// writeDurabilityReport writes the figures as a Markdown table for the
// lead's note.
func writeDurabilityReport(t *testing.T, figures []durabilityFigures) {
	path := os.Getenv("SHIM_DURABILITY_REPORT")
	if path == "" {
		return // the figures are in the test log
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# kill -9 durability (%s, go test ./cmd/smsbulk-shim -run TestDurability -v)\n\n", time.Now().UTC().Format(time.RFC3339))
	b.WriteString("| store | purchases (ledger) | answered to bots | getNumber requests | no answer (killed/restarting) | error code | kills | refunded by reconciler | answer lost after commit | rows lost | orphans | time |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range figures {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %v |\n", f.Store, f.Purchases, f.Answered,
			f.Requests, f.Failed, f.ErrorAnswers, f.Kills, f.Refunded, f.AnswerLost, f.RowsLost, f.Orphans, f.Duration.Round(time.Millisecond))
	}
	names := make([]string, 0, len(figures))
	for _, f := range figures {
		names = append(names, f.Store)
	}
	for _, s := range []string{"sqlite", "postgres"} {
		if !slices.Contains(names, s) {
			fmt.Fprintf(&b, "| %s | skipped | | | | | | | | | | |\n", s)
		}
	}
	b.WriteString("\nrows lost: legacy IDs a bot got that do not resolve (store lookup or getStatus through the shim).\n" +
		"orphans: ledger purchases with neither an active map row nor a refund.\n" +
		"answer lost after commit: the row was committed but the process died before the bot read ACCESS_NUMBER; " +
		"the activation is mapped and reachable by its legacy ID, the bot never heard of it " +
		"(nobody uses the number, so no SMS comes and the backend refunds it when it expires).\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Errorf("writing %s: %v", path, err)
		return
	}
	t.Logf("figures written to %s", path)
}
