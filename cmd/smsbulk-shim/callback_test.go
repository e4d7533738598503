package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smsbulk/smsbulk-shim/callback"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// callbackEnviron is the replicas' environment in
// TestCallbacksAcrossReplicas: callbacks to loopback allowed, quick polls
// and retries, a 5s attempt (so an event leased by a killed replica is
// free again 3 x (5s + 5s) later) and a 2s native call (a watch, 3 x 7s).
func callbackEnviron(origin, dsn string) []string {
	return []string{
		"SHIM_ADDR=127.0.0.1:0",
		"SHIM_ADMIN_ADDR=127.0.0.1:0",
		"SHIM_UPSTREAM_URL=" + origin,
		"SHIM_KEY_SECRET=" + fleetSecret,
		"SHIM_IDMAP_DSN=" + dsn,
		"SHIM_UPSTREAM_TIMEOUT=2s",
		"SHIM_CALLBACK_ALLOW_PRIVATE=true",
		"SHIM_CALLBACK_TIMEOUT=5s",
		"SHIM_CALLBACK_POLL_EVERY=200ms",
		"SHIM_CALLBACK_RETRY_MIN=200ms",
		"SHIM_CALLBACK_RETRY_MAX=1s",
		"SHIM_LOG_LEVEL=debug",
		"SHIM_SHUTDOWN_TIMEOUT=5s",
		"OTEL_TRACES_EXPORTER=none",
		"OTEL_METRICS_EXPORTER=none",
		"OTEL_LOGS_EXPORTER=none",
	}
}

// hookPost is one POST the receiver got, and what it answered.
type hookPost struct {
	eventID, signature string
	body               []byte
	status             int
}

// flakyReceiver is a callback receiver on a fixed loopback port that a
// test can fail, hang and take down and up again.
type flakyReceiver struct {
	addr string
	mu   sync.Mutex
	// failLeft is how many more requests get a 500.
	failLeft int
	// hangAt is the index of the request that waits until its client
	// goes away, after sending its client's port on hung; -1 for none.
	hangAt int
	hung   chan int
	posts  []hookPost
	srv    *http.Server
}

// newFlakyReceiver fails the first failFirst requests with 500 and hangs
// the next one.
func newFlakyReceiver(tb testing.TB, failFirst int) *flakyReceiver {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &flakyReceiver{addr: ln.Addr().String(), failLeft: failFirst, hangAt: failFirst, hung: make(chan int, 1)}
	r.serve(ln)
	tb.Cleanup(r.down)
	return r
}

func (r *flakyReceiver) serve(ln net.Listener) {
	r.srv = &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
}

func (r *flakyReceiver) handle(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	p := hookPost{eventID: req.Header.Get("X-Shim-Event-Id"), signature: req.Header.Get("X-Shim-Signature"), body: body}
	r.mu.Lock()
	hang := len(r.posts) == r.hangAt
	switch {
	case hang:
		p.status = 0 // never answered
	case r.failLeft > 0:
		r.failLeft--
		p.status = http.StatusInternalServerError
	default:
		p.status = http.StatusNoContent
	}
	r.posts = append(r.posts, p)
	r.mu.Unlock()
	if hang {
		_, port, _ := net.SplitHostPort(req.RemoteAddr)
		n, _ := strconv.Atoi(port)
		r.hung <- n
		<-req.Context().Done() // its sender is killed
		return
	}
	w.WriteHeader(p.status)
}

// down closes the receiver: connections are refused until up.
func (r *flakyReceiver) down() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
	_ = r.srv.Close()
}

// up listens again on the same address.
func (r *flakyReceiver) up(tb testing.TB) {
	tb.Helper()
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		tb.Fatalf("listening again on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

func (r *flakyReceiver) snapshot() []hookPost {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookPost(nil), r.posts...)
}

// delivered is the events the receiver took (answered 2xx) by event ID.
// It fails tb if one ID came with two bodies, or a signature does not
// verify with key.
func (r *flakyReceiver) delivered(tb testing.TB, key string) map[string]map[string]any {
	tb.Helper()
	bodies := map[string][]byte{}
	out := map[string]map[string]any{}
	for _, p := range r.snapshot() {
		if old, ok := bodies[p.eventID]; ok && !bytes.Equal(old, p.body) {
			tb.Errorf("event %s sent with two bodies: %q and %q", p.eventID, old, p.body)
		}
		bodies[p.eventID] = p.body
		if !callback.Verify(p.body, key, p.signature) {
			tb.Errorf("event %s: signature does not verify with the key", p.eventID)
		}
		if p.status/100 != 2 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(p.body, &m); err != nil {
			tb.Fatalf("event %s body %q: %v", p.eventID, p.body, err)
		}
		out[p.eventID] = m
	}
	return out
}

// connOwner is which of pids holds the TCP connection whose local end is
// 127.0.0.1:port, read from /proc (Linux).
func connOwner(tb testing.TB, port int, pids ...int) int {
	tb.Helper()
	tcp, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		tb.Skipf("no /proc/net/tcp: %v", err)
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	inode := ""
	for line := range strings.Lines(string(tcp)) {
		f := strings.Fields(line)
		// A closed connection that once had the same port lingers in
		// TIME_WAIT with inode 0: only a live socket names its owner.
		if len(f) > 9 && f[1] == local && f[9] != "0" {
			inode = f[9]
		}
	}
	if inode == "" {
		tb.Fatalf("no socket on 127.0.0.1:%d in /proc/net/tcp", port)
	}
	for _, pid := range pids {
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
		for _, fd := range fds {
			if l, err := os.Readlink(fd); err == nil && l == "socket:["+inode+"]" {
				return pid
			}
		}
	}
	tb.Fatalf("no replica holds the socket of 127.0.0.1:%d", port)
	return 0
}

// callbackStore is the replicas' shared store: a fresh PostgreSQL schema
// when SHIM_TEST_POSTGRES_DSN is set, else one SQLite file.
func callbackStore(tb testing.TB) (dsn string, kind string) {
	tb.Helper()
	if os.Getenv("SHIM_TEST_POSTGRES_DSN") != "" {
		return freshPGSchema(tb), "postgres"
	}
	return filepath.Join(tb.TempDir(), "idmap.db"), "sqlite"
}

// storeHolds reports whether the store's callback tables, or its file,
// hold needle in clear.
func storeHolds(tb testing.TB, dsn, kind, needle string) bool {
	tb.Helper()
	if kind == "sqlite" {
		for _, p := range []string{dsn, dsn + "-wal"} {
			b, err := os.ReadFile(p)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				tb.Fatal(err)
			}
			if bytes.Contains(b, []byte(needle)) {
				return true
			}
		}
		return false
	}
	conn, err := pgx.Connect(tb.Context(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(tb.Context())
	var n int
	err = conn.QueryRow(tb.Context(), `SELECT
		(SELECT count(*) FROM callback_watches WHERE position(convert_to($1, 'UTF8') in sealed_key) > 0 OR url LIKE '%' || $1 || '%')
		+ (SELECT count(*) FROM callback_outbox WHERE position(convert_to($1, 'UTF8') in body) > 0 OR signature LIKE '%' || $1 || '%')
		+ (SELECT count(*) FROM id_map WHERE position(convert_to($1, 'UTF8') in coalesce(intent, ''::bytea)) > 0 OR owner = $1)`,
		needle).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n > 0
}

// TestCallbacksAcrossReplicas runs two shim processes on one store (PostgreSQL
// when SHIM_TEST_POSTGRES_DSN is set, else one SQLite file) and the sandbox.
// Two bots buy with a callback, one on each replica. The receiver fails its
// first two requests, then holds the third open; the replica that sent it
// (found through /proc) is killed with SIGKILL while the delivery is
// leased to it, and the receiver goes down. The other replica's attempts
// at that event are refused until the receiver comes back; then every
// event is delivered, and a new replica joins. After the bots finish
// their activations, the receiver must hold, after dedup by event ID,
// exactly each activation's code event and its final event, each with one
// body and a signature that verifies with the key, and the key must never
// be in the store in clear nor in a log line.
func TestCallbacksAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the kill -9 callback test")
	}
	dsn, kind := callbackStore(t)
	bin := buildShim(t)
	const key = "callback-replica-key-8b3e5d"
	_, origin := serveSandbox(t, sandbox.Config{Keys: map[string]string{key: "1000.00"}, SMSDelay: 2 * time.Second, TTL: time.Hour}, nil)
	rcv := newFlakyReceiver(t, 2)
	a := startChild(t, bin, callbackEnviron(origin, dsn))
	b := startChild(t, bin, callbackEnviron(origin, dsn))
	replicas := map[int]*shimChild{a.cmd.Process.Pid: a, b.cmd.Process.Pid: b}
	bot := newLegacyBot()
	ctx := t.Context()
	hook := "http://" + rcv.addr + "/hooks/sms?order=42&token=bot-secret"

	var ids []int64
	for i, on := range []*shimChild{a, b} {
		params := url.Values{"api_key": {key}, "action": {[...]string{"getNumber", "getNumberV2"}[i]}, "service": {"wa"}, "country": {"0"}, "callback": {hook}}
		if i == 1 {
			params.Set("requestId", "callback-order-2")
		}
		body, err := bot.call(ctx, on.Addr, params)
		id, ok := parseNumberID(body)
		if err != nil || !ok {
			t.Fatalf("purchase %d: %q, %v", i, body, err)
		}
		ids = append(ids, id)
	}

	// The third POST hangs; kill its sender, which holds that event's lease.
	var port int
	select {
	case port = <-rcv.hung:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the receiver got no third request; it got %d", len(rcv.snapshot()))
	}
	owner := connOwner(t, port, a.cmd.Process.Pid, b.cmd.Process.Pid)
	killed := replicas[owner]
	leased := rcv.snapshot()[rcv.hangAt].eventID
	survivor := a
	if killed == a {
		survivor = b
	}
	logsBefore := len(survivor.logs.Lines())
	killed.kill()
	rcv.down()
	t.Logf("killed replica %d while it delivered event %s (%s store)", owner, leased, kind)

	// Down for a while: until the survivor has taken the dead replica's
	// lease over and had an attempt at that event refused.
	deadline := time.Now().Add(2 * time.Minute)
	for !survivorTried(survivor, logsBefore, leased) {
		if time.Now().After(deadline) {
			t.Fatalf("the survivor never retried event %s:\n%s", leased, lastLines(survivor.logs, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	rcv.up(t)
	c := startChild(t, bin, callbackEnviron(origin, dsn)) // a new replica joins

	// The codes came (2s after each purchase); wait for both code events.
	waitFor(t, "both code events", func() bool {
		d := rcv.delivered(t, key)
		return d[fmt.Sprintf("%d-1", ids[0])] != nil && d[fmt.Sprintf("%d-1", ids[1])] != nil
	})
	if !storeHolds(t, dsn, kind, rcv.addr) {
		t.Errorf("the %s store's check does not find even the callback URL: it is blind", kind)
	}
	if storeHolds(t, dsn, kind, key) {
		t.Errorf("the %s store holds the API key in clear while watches are live", kind)
	}
	// The bots finish their activations, on the surviving and the new replica.
	for i, on := range []*shimChild{survivor, c} {
		if got, err := bot.setStatus(ctx, on.Addr, key, ids[i], "6"); err != nil || got != "ACCESS_ACTIVATION" {
			t.Fatalf("setStatus 6 of %d: %q, %v", ids[i], got, err)
		}
	}
	waitFor(t, "both final events", func() bool {
		d := rcv.delivered(t, key)
		return d[fmt.Sprintf("%d-2", ids[0])] != nil && d[fmt.Sprintf("%d-2", ids[1])] != nil
	})
	// Let the replicas poll a few more rounds: nothing more may come.
	time.Sleep(2 * time.Second)

	got := rcv.delivered(t, key)
	want := map[string]string{}
	for _, id := range ids {
		want[fmt.Sprintf("%d-1", id)] = "code"
		want[fmt.Sprintf("%d-2", id)] = "finished"
	}
	if len(got) != len(want) {
		t.Errorf("delivered events %v, want exactly %v", keys(got), want)
	}
	for eid, kindWant := range want {
		e := got[eid]
		if e == nil {
			t.Errorf("event %s never delivered", eid)
			continue
		}
		if e["event"] != kindWant || (kindWant == "finished") != (e["final"] == true) {
			t.Errorf("event %s = %v, want %s", eid, e, kindWant)
		}
		status, _ := e["status"].(string)
		code, _ := e["code"].(string)
		if code == "" || status != "STATUS_OK:"+code {
			t.Errorf("event %s: status %q code %q, want STATUS_OK:<code>", eid, status, code)
		}
	}
	attempts := map[string]int{}
	for _, p := range rcv.snapshot() {
		attempts[p.eventID]++
	}
	if attempts[leased] < 2 {
		t.Errorf("the leased event %s was sent %d times, want its hung attempt and a later one", leased, attempts[leased])
	}
	if storeHolds(t, dsn, kind, key) {
		t.Errorf("the %s store holds the API key in clear", kind)
	}
	for _, ch := range []*shimChild{a, b, c} {
		for _, l := range ch.logs.Lines() {
			if strings.Contains(l, key) || strings.Contains(l, "bot-secret") {
				t.Errorf("a log line holds the key or the callback's query: %s", l)
			}
		}
	}
	t.Logf("%d events delivered once each after dedup; %d POSTs in all (%v)", len(got), len(rcv.snapshot()), attempts)
}

// survivorTried reports whether c logged a failed attempt at event id
// after its first from log lines.
func survivorTried(c *shimChild, from int, id string) bool {
	for _, l := range c.logs.Lines()[from:] {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "callback attempt failed; will retry" && m["event_id"] == id {
			return true
		}
	}
	return false
}

// waitFor polls done until it holds, failing tb after two minutes.
func waitFor(tb testing.TB, what string, done func() bool) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within 2 minutes", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
