package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shimProcess is the shim binary running as a child process.
type shimProcess struct {
	Addr, AdminAddr string
	cmd             *exec.Cmd
	stderr          bytes.Buffer
	mu              sync.Mutex
	lines           []string
	exited          chan struct{}
}

// startShimProcess runs bin with only env in its environment (plus
// listeners on 127.0.0.1:0 and an ID map in a temporary directory) and
// waits until it listens. It is killed at the end of the test if it still
// runs.
func startShimProcess(tb testing.TB, bin string, env ...string) *shimProcess {
	tb.Helper()
	env = append([]string{"SHIM_ADDR=127.0.0.1:0", "SHIM_ADMIN_ADDR=127.0.0.1:0", "SHIM_SHUTDOWN_DELAY=0s",
		"SHIM_IDMAP_DSN=" + filepath.Join(tb.TempDir(), "idmap.db")}, env...)
	p := &shimProcess{cmd: exec.Command(bin), exited: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	listening := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "listening" {
				listening <- m
			}
		}
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case m := <-listening:
		p.Addr, _ = m["addr"].(string)
		p.AdminAddr, _ = m["admin_addr"].(string)
	case <-p.exited:
		tb.Fatalf("shim exited before listening: %s\n%s", p.logs(), p.stderr.String())
	case <-time.After(30 * time.Second):
		tb.Fatalf("shim did not listen within 30s: %s", p.logs())
	}
	return p
}

func (p *shimProcess) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// wait waits up to limit for the process to exit and returns its exit code.
func (p *shimProcess) wait(tb testing.TB, limit time.Duration) int {
	tb.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		tb.Fatalf("shim still runs %v after SIGTERM; logs:\n%s", limit, p.logs())
		return -1
	}
}

// holdingBackend holds the native requests named in hold until release is closed,
// telling arrived about each.
type holdingBackend struct {
	next    http.Handler
	hold    map[string]bool
	arrived chan string
	release chan struct{}
}

func (g *holdingBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if call := r.Method + " " + r.URL.Path; g.hold[call] {
		g.arrived <- call
		select {
		case <-g.release:
		case <-r.Context().Done():
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// pollUntil calls f until it reports true, for up to 10s.
func pollUntil(tb testing.TB, what string, f func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// statusOf is the status of a GET of u, 0 when it fails.
func statusOf(u string) int {
	code, _, _, _ := answer(http.Get(u))
	return code
}

// TestGracefulShutdown runs the shim binary, holds a purchase and a balance
// at the backend, and sends SIGTERM: /readyz turns 503 at once while
// /healthz stays 200, new connections are refused, the held requests then
// finish with their normal answers, and the process exits 0. When the
// requests outlast SHIM_SHUTDOWN_TIMEOUT, the process exits non-zero at the
// deadline instead of hanging.
func TestGracefulShutdown(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the shutdown test sends SIGTERM")
	}
	bin := buildShim(t) // durability_test.go
	const key = "shutdown-key-4e1f"

	start := func(t *testing.T, timeout string) (*shimProcess, *holdingBackend) {
		g := &holdingBackend{arrived: make(chan string, 4), release: make(chan struct{}),
			hold: map[string]bool{"POST /api/v1/activations": true, "GET /api/v1/wallet/balance": true}}
		_, origin := serveSandbox(t, waitingSandbox(map[string]string{key: "100.00"}), func(sb http.Handler) http.Handler {
			g.next = sb
			return g
		})
		t.Cleanup(func() {
			select {
			case <-g.release:
			default:
				close(g.release)
			}
		})
		p := startShimProcess(t, bin, "SHIM_UPSTREAM_URL="+origin,
			"SHIM_KEY_SECRET=shutdown-test-secret-0123456789", "SHIM_SHUTDOWN_TIMEOUT="+timeout)
		return p, g
	}
	// send starts a legacy request and returns where its answer (or
	// transport error) will come.
	send := func(p *shimProcess, params url.Values) <-chan string {
		res := make(chan string, 1)
		go func() {
			_, _, body, err := answer(http.Get(legacyURL(p.Addr, params)))
			if err != nil {
				res <- "error: " + err.Error()
				return
			}
			res <- body
		}()
		return res
	}
	waitArrivals := func(t *testing.T, g *holdingBackend, n int) {
		for range n {
			select {
			case <-g.arrived:
			case <-time.After(30 * time.Second):
				t.Fatal("the requests did not reach the backend within 30s")
			}
		}
	}
	balance := url.Values{"api_key": {key}, "action": {"getBalance"}}
	number := url.Values{"api_key": {key}, "action": {"getNumber"}, "service": {"tg"}, "country": {"0"}}

	t.Run("in-flight requests finish", func(t *testing.T) {
		p, g := start(t, "20s")
		if code := statusOf("http://" + p.AdminAddr + "/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz before SIGTERM = %d", code)
		}
		balanceRes, numberRes := send(p, balance), send(p, number)
		waitArrivals(t, g, 2)

		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, "/readyz turns 503", func() bool { return statusOf("http://"+p.AdminAddr+"/readyz") == http.StatusServiceUnavailable })
		if code := statusOf("http://" + p.AdminAddr + "/healthz"); code != http.StatusOK {
			t.Errorf("/healthz during the drain = %d, want 200", code)
		}
		pollUntil(t, "new connections are refused", func() bool {
			c, err := net.DialTimeout("tcp", p.Addr, time.Second)
			if err == nil {
				c.Close()
			}
			return errors.Is(err, syscall.ECONNREFUSED)
		})
		select {
		case <-p.exited:
			t.Fatalf("the shim exited with requests in flight; logs:\n%s", p.logs())
		default:
		}

		close(g.release)
		if got := <-balanceRes; got != "ACCESS_BALANCE:100.00" && got != "ACCESS_BALANCE:99.50" {
			t.Errorf("getBalance in flight = %q", got)
		}
		if got := <-numberRes; !strings.HasPrefix(got, "ACCESS_NUMBER:") {
			t.Errorf("getNumber in flight = %q", got)
		}
		if code := p.wait(t, 20*time.Second); code != 0 {
			t.Errorf("exit code %d, want 0; stderr: %s\nlogs:\n%s", code, p.stderr.String(), p.logs())
		}
		logs := p.logs()
		if !strings.Contains(logs, `"msg":"shutting down"`) || !strings.Contains(logs, `"msg":"stopped"`) {
			t.Errorf("logs lack the shutdown lines:\n%s", logs)
		}
	})

	t.Run("requests outlast the timeout", func(t *testing.T) {
		p, g := start(t, "1s")
		numberRes := send(p, number)
		waitArrivals(t, g, 1)
		sent := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// Generously bounded: the deadline is 1s.
		code := p.wait(t, 15*time.Second)
		if code == 0 {
			t.Errorf("exit code 0 with a request cut off at the deadline; logs:\n%s", p.logs())
		}
		if !strings.Contains(p.stderr.String(), "shutting down: context deadline exceeded") {
			t.Errorf("stderr %q does not say the drain timed out", p.stderr.String())
		}
		if got := <-numberRes; strings.HasPrefix(got, "ACCESS_NUMBER") {
			t.Errorf("getNumber held past the deadline answered %q", got)
		}
		t.Logf("exited %v after SIGTERM with SHIM_SHUTDOWN_TIMEOUT=1s", time.Since(sent).Round(time.Millisecond))
	})
}
