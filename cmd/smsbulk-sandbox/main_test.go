package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// logSink collects log lines and hands over the address of the first
// "listening" line.
type logSink struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	addr  chan string
	found bool
}

func newLogSink() *logSink { return &logSink{addr: make(chan string, 1)} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.found {
		sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				l.found = true
				l.addr <- line.Addr
				break
			}
		}
	}
	return len(p), nil
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// start runs the binary's run on a free loopback port and returns its base
// URL and the log; the test's end stops it and checks it exited cleanly.
func start(tb testing.TB, environ ...string) (string, *logSink) {
	tb.Helper()
	ctx, cancel := context.WithCancel(tb.Context())
	logs := newLogSink()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, append([]string{"SANDBOX_ADDR=127.0.0.1:0"}, environ...), io.Discard, logs)
	}()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("run: %v", err)
		}
	})
	select {
	case addr := <-logs.addr:
		return "http://" + addr, logs
	case err := <-done:
		tb.Fatalf("run ended early: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		tb.Fatalf("no listening line:\n%s", logs)
	}
	return "", nil
}

func get(tb testing.TB, url, key string) (int, string) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), "GET", url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestRunServesBalance(t *testing.T) {
	t.Parallel()
	base, logs := start(t)
	if status, body := get(t, base+"/healthz", ""); status != 200 || body != `{"status":"ok"}` {
		t.Errorf("healthz: %d %q", status, body)
	}
	status, body := get(t, base+"/api/v1/wallet/balance", "demo")
	if want := `{"balance":"100.00","currency":"USD"}`; status != 200 || body != want {
		t.Errorf("balance: %d %q, want 200 %q", status, body, want)
	}
	if status, _ := get(t, base+"/api/v1/wallet/balance", "wrong-key-value"); status != http.StatusUnauthorized {
		t.Errorf("unknown key: %d", status)
	}
	out := logs.String()
	if !strings.Contains(out, `"path":"/api/v1/wallet/balance"`) || !strings.Contains(out, `"key_hash":`) {
		t.Errorf("no request log line:\n%s", out)
	}
	if strings.Contains(out, "demo") || strings.Contains(out, "wrong-key-value") {
		t.Errorf("the log reveals an API key:\n%s", out)
	}
}

func TestRunEnvironment(t *testing.T) {
	t.Parallel()
	base, _ := start(t, "SANDBOX_KEYS=alpha=5,beta=0.25", "SANDBOX_RATE_LIMIT=1")
	tests := []struct {
		key    string
		status int
		body   string
	}{
		{"alpha", 200, `{"balance":"5.00","currency":"USD"}`},
		{"beta", 200, `{"balance":"0.25","currency":"USD"}`},
		{"alpha", 429, ""},
		{"demo", 401, ""},
	}
	for _, tc := range tests {
		status, body := get(t, base+"/api/v1/wallet/balance", tc.key)
		if status != tc.status || (tc.body != "" && body != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.key, status, body, tc.status, tc.body)
		}
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-h"}, nil, &out, io.Discard); err != nil {
		t.Fatalf("run -h: %v", err)
	}
	for _, v := range []string{"SANDBOX_ADDR", "SANDBOX_KEYS", "SANDBOX_SMS_DELAY", "SANDBOX_TTL", "SANDBOX_RATE_LIMIT", "SANDBOX_RATE_WINDOW",
		"SANDBOX_FAULT", "SANDBOX_FAULT_RATE", "SANDBOX_SEED"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("help lacks %s:\n%s", v, out.String())
		}
	}
}

func TestRunRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		environ []string
	}{
		{"bad keys", nil, []string{"SANDBOX_KEYS=topsecret"}},
		{"bad balance", nil, []string{"SANDBOX_KEYS=topsecret=lots"}},
		{"bad delay", nil, []string{"SANDBOX_SMS_DELAY=soon"}},
		{"bad fault", nil, []string{"SANDBOX_FAULT=explode", "SANDBOX_FAULT_RATE=0.5"}},
		{"unknown flag", []string{"-nope"}, nil},
		{"bad address", nil, []string{"SANDBOX_ADDR=256.0.0.1:99999"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := run(t.Context(), tc.args, tc.environ, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error %q reveals the key", err)
			}
		})
	}
}
