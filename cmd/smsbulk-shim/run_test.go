package main

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// shimProc is one run() of the shim inside the test process.
type shimProc struct {
	Addr, AdminAddr string
	cancel          context.CancelFunc
	done            chan error
	logs            *logBuffer
}

// logBuffer collects the shim's log lines and tells when "listening" is
// written.
type logBuffer struct {
	mu        sync.Mutex
	lines     []string
	partial   []byte
	listening chan map[string]any
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.partial = append(b.partial, p...)
	for {
		i := strings.IndexByte(string(b.partial), '\n')
		if i < 0 {
			break
		}
		line := string(b.partial[:i])
		b.partial = b.partial[i+1:]
		b.lines = append(b.lines, line)
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "listening" {
			select {
			case b.listening <- m:
			default:
			}
		}
	}
	return len(p), nil
}

// Lines returns the log lines written so far.
func (b *logBuffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

// startShim runs the shim with args and environ (SHIM_ADDR and
// SHIM_ADMIN_ADDR default to 127.0.0.1:0, SHIM_IDMAP_DSN to a file in a
// temporary directory) and waits until it listens. It is stopped at the end
// of the test.
func startShim(tb testing.TB, args []string, environ ...string) *shimProc {
	tb.Helper()
	has := func(name string) bool {
		for _, kv := range environ {
			if strings.HasPrefix(kv, name+"=") {
				return true
			}
		}
		return false
	}
	if !has("SHIM_ADDR") {
		environ = append(environ, "SHIM_ADDR=127.0.0.1:0")
	}
	if !has("SHIM_ADMIN_ADDR") {
		environ = append(environ, "SHIM_ADMIN_ADDR=127.0.0.1:0")
	}
	if !has("SHIM_SHUTDOWN_DELAY") {
		environ = append(environ, "SHIM_SHUTDOWN_DELAY=0s")
	}
	if !has("SHIM_IDMAP_DSN") {
		environ = append(environ, "SHIM_IDMAP_DSN="+tb.TempDir()+"/idmap.db")
	}
	logs := &logBuffer{listening: make(chan map[string]any, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	p := &shimProc{cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { p.done <- run(ctx, args, environ, strings.NewReader(""), logs, io.Discard) }()
	select {
	case m := <-logs.listening:
		p.Addr, _ = m["addr"].(string)
		p.AdminAddr, _ = m["admin_addr"].(string)
	case err := <-p.done:
		cancel()
		tb.Fatalf("shim exited before listening: %v\nlogs:\n%s", err, strings.Join(logs.Lines(), "\n"))
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatalf("shim did not listen within 30s; logs:\n%s", strings.Join(logs.Lines(), "\n"))
	}
	tb.Cleanup(func() { p.Stop(tb) })
	return p
}

// Stop cancels the shim's context (as SIGTERM does) and waits for run to
// return; it fails the test if run returned an error. Stopping twice is
// harmless.
func (p *shimProc) Stop(tb testing.TB) {
	tb.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil {
			tb.Errorf("run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		tb.Errorf("run did not return within 30s of shutdown")
	}
}

// legacy sends one GET to the legacy endpoint and returns status, content
// type and body.
func (p *shimProc) legacy(tb testing.TB, params url.Values) (int, string, string) {
	tb.Helper()
	return get(tb, legacyURL(p.Addr, params))
}

func TestRunRefusesWithoutUpstream(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), nil, []string{"SHIM_ADDR=127.0.0.1:0"}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SHIM_UPSTREAM_URL is not set") || !strings.Contains(err.Error(), "-sandbox") {
		t.Fatalf("run without upstream: %v", err)
	}
}

func TestRunHelpListsVariables(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	if err := run(t.Context(), []string{"-h"}, nil, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-sandbox", "SHIM_ADDR", ":8080", "SHIM_UPSTREAM_URL", "SHIM_IDMAP_DSN", "SHIM_PROFILE", "SHIM_KEY_SECRET", "SANDBOX_KEYS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h output lacks %q", want)
		}
	}
}

func TestRunSandboxWarnsAndServes(t *testing.T) {
	t.Parallel()
	p := startShim(t, []string{"-sandbox"})
	code, ct, body := p.legacy(t, url.Values{"api_key": {"demo"}, "action": {"getBalance"}})
	if code != 200 || ct != "text/plain; charset=utf-8" || body != "ACCESS_BALANCE:100.00" {
		t.Errorf("getBalance = %d %q %q", code, ct, body)
	}
	warned := false
	for _, l := range p.logs.Lines() {
		if strings.Contains(l, "SANDBOX MODE") && strings.Contains(l, "no real numbers are sold") {
			warned = true
		}
	}
	if !warned {
		t.Error("no loud sandbox warning in the logs")
	}
	if code, _, body := get(t, "http://"+p.AdminAddr+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := waitReady(t, p, 200); code != 200 {
		t.Errorf("/readyz = %d %q", code, body)
	}
}

// waitReady polls /readyz until it answers want (or 10s pass) and returns
// the last answer.
func waitReady(tb testing.TB, p *shimProc, want int) (int, string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, body := get(tb, "http://"+p.AdminAddr+"/readyz")
		if code == want || time.Now().After(deadline) {
			return code, body
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunSandboxFaults: -sandbox takes the sandbox's rate limit and fault
// variables, so that RATE_LIMITED and ERROR_SQL can be seen by hand.
func TestRunSandboxFaults(t *testing.T) {
	t.Parallel()
	limited := startShim(t, []string{"-sandbox"}, "SANDBOX_KEYS=a-probe=1.00,bot=1.00", "SANDBOX_RATE_LIMIT=2")
	var got []string
	for range 3 {
		_, _, body := limited.legacy(t, url.Values{"api_key": {"bot"}, "action": {"getBalance"}})
		got = append(got, body)
	}
	if got[0] != "ACCESS_BALANCE:1.00" || got[2] != "RATE_LIMITED" {
		t.Errorf("three getBalance with a limit of 2: %q", got)
	}
	failing := startShim(t, []string{"-sandbox"}, "SANDBOX_FAULT=status=503", "SANDBOX_FAULT_RATE=1", "SHIM_UPSTREAM_RETRIES=0")
	if _, _, body := failing.legacy(t, url.Values{"api_key": {"demo"}, "action": {"getBalance"}}); body != "ERROR_SQL" {
		t.Errorf("getBalance with every native call failing: %q, want ERROR_SQL", body)
	}
}
