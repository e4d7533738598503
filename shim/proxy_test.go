package shim_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// proxyKey is the sandbox key of the pass-through tests.
const proxyKey = "proxy-test-key-5e0b2d"

// seenBackend is a sandbox on loopback that remembers every request it got
// and can hold the requests to one path until they are cancelled.
type seenBackend struct {
	sb *sandbox.Sandbox
	mu sync.Mutex
	// seen are the requests that arrived, as cloned requests (no body).
	seen []*http.Request
	// holding counts the requests to /hang held now; released when their
	// context ends.
	holding atomic.Int64
	// release ends every held request.
	release chan struct{}
}

func (b *seenBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.seen = append(b.seen, r.Clone(context.Background()))
	b.mu.Unlock()
	switch r.URL.Path {
	case "/hang":
		b.holding.Add(1)
		defer b.holding.Add(-1)
		select {
		case <-r.Context().Done():
		case <-b.release:
		}
		return
	case "/echo":
		w.Header().Set("X-Raw-Query", r.URL.RawQuery)
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "X-Client-Ip"} {
			w.Header()["Echo-"+h] = r.Header.Values(h)
		}
		return
	}
	b.sb.ServeHTTP(w, r)
}

func (b *seenBackend) requests() []*http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*http.Request(nil), b.seen...)
}

// newProxyRig is a shim with pass-through on to a seenBackend.
func newProxyRig(tb testing.TB, opt shim.Options) (*rig, *seenBackend, string) {
	tb.Helper()
	sb, err := sandbox.New(sandbox.Config{Keys: map[string]string{proxyKey: "100.00"}})
	if err != nil {
		tb.Fatal(err)
	}
	b := &seenBackend{sb: sb, release: make(chan struct{})}
	tb.Cleanup(func() { close(b.release) })
	r := newRig(tb, rigOptions{backend: b, origin: true, shim: opt})
	return r, b, r.listen(tb)
}

func send(tb testing.TB, method, target string, hdr map[string]string) *http.Response {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), method, target, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// waitFor polls cond for up to 60s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	tb.Fatalf("gave up waiting for %s", what)
}

// TestPassthroughTimeout checks that a backend path that never answers gets
// the client a 504 after PassthroughTimeout, and that the backend request is
// cancelled then: nothing is held afterwards.
func TestPassthroughTimeout(t *testing.T) {
	t.Parallel()
	_, b, front := newProxyRig(t, shim.Options{PassthroughTimeout: 100 * time.Millisecond})
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Go(func() { codes[i] = send(t, http.MethodGet, front+"/hang", nil).StatusCode })
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusGatewayTimeout {
			t.Errorf("request %d: %d, want 504", i, c)
		}
	}
	waitFor(t, "the backend requests to end", func() bool { return b.holding.Load() == 0 })
}

// TestPassthroughConcurrencyBound checks that past PassthroughMaxConcurrent
// requests in flight, one more is refused at once with 503 and never
// reaches the backend.
func TestPassthroughConcurrencyBound(t *testing.T) {
	t.Parallel()
	_, b, front := newProxyRig(t, shim.Options{PassthroughMaxConcurrent: 3, PassthroughTimeout: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front+"/hang", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	waitFor(t, "3 held requests", func() bool { return b.holding.Load() == 3 })
	resp := send(t, http.MethodGet, front+"/echo", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("request over the bound: %d Retry-After %q, want 503 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, r := range b.requests() {
		if r.URL.Path == "/echo" {
			t.Error("the refused request reached the backend")
		}
	}
	cancel()
	wg.Wait()
	waitFor(t, "the held requests to end", func() bool { return b.holding.Load() == 0 })
	if resp := send(t, http.MethodGet, front+"/echo", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after the held requests ended: %d, want 200", resp.StatusCode)
	}
}

// TestPassthroughRawQuery checks that the query reaches the backend as
// sent, unparsable parameters, order and encoding included.
func TestPassthroughRawQuery(t *testing.T) {
	t.Parallel()
	_, _, front := newProxyRig(t, shim.Options{})
	for _, q := range []string{"b=2&a=1&c=%zz", "x=1;y=2&z", "a=%41&a=B&&=", "q=%E2%82%AC+x%20y"} {
		resp := send(t, http.MethodGet, front+"/echo?"+q, nil)
		if got := resp.Header.Get("X-Raw-Query"); got != q {
			t.Errorf("query %q arrived as %q", q, got)
		}
	}
}

// TestPassthroughForwardingHeaders checks that forwarding headers a client
// sends are dropped unless the client is a trusted proxy, and that
// X-Forwarded-Host is never made up from the client's Host.
func TestPassthroughForwardingHeaders(t *testing.T) {
	t.Parallel()
	spoof := map[string]string{
		"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
		"Forwarded": "for=203.0.113.7", "X-Real-IP": "203.0.113.7", "True-Client-IP": "203.0.113.7",
		"CF-Connecting-IP": "203.0.113.7", "X-Client-IP": "203.0.113.7",
	}
	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		_, _, front := newProxyRig(t, shim.Options{})
		resp := send(t, http.MethodGet, front+"/echo", spoof)
		want := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http"}
		for h := range spoof {
			if got := resp.Header.Get("Echo-" + h); got != want[h] {
				t.Errorf("%s reached the backend as %q, want %q", h, got, want[h])
			}
		}
	})
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		_, _, front := newProxyRig(t, shim.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
		resp := send(t, http.MethodGet, front+"/echo", spoof)
		for h, v := range spoof {
			if h == "X-Forwarded-For" {
				v += ", 127.0.0.1"
			}
			if got := resp.Header.Get("Echo-" + h); got != v {
				t.Errorf("%s from a trusted proxy reached the backend as %q, want %q", h, got, v)
			}
		}
	})
}

// TestPassthroughRefusals checks what is answered locally and never
// reaches the backend: TRACE and CONNECT, and a query carrying an API key.
func TestPassthroughRefusals(t *testing.T) {
	t.Parallel()
	_, b, front := newProxyRig(t, shim.Options{})
	cases := []struct {
		method, target string
		status         int
	}{
		{http.MethodTrace, "/echo", http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/v1/wallet/balance?api_key=" + proxyKey, http.StatusBadRequest},
		{http.MethodGet, "/echo?x=1&API%5FKEY=" + proxyKey, http.StatusBadRequest},
		{http.MethodGet, "/echo?x=1;apikey=" + proxyKey, http.StatusBadRequest},
		{http.MethodPost, "/echo?Api-Key=" + proxyKey, http.StatusBadRequest},
	}
	for _, tc := range cases {
		if got := send(t, tc.method, front+tc.target, nil).StatusCode; got != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.target, got, tc.status)
		}
	}
	if n := len(b.requests()); n != 0 {
		t.Errorf("%d refused requests reached the backend", n)
	}
}

// TestNearMissLegacyPaths checks that no path near the legacy one sends
// the key to the backend: those Apache with PHP would have run the script
// for are the legacy endpoint, the others are answered here.
func TestNearMissLegacyPaths(t *testing.T) {
	t.Parallel()
	_, b, front := newProxyRig(t, shim.Options{})
	q := "?api_key=" + proxyKey + "&action=getBalance"
	served := []string{"/stubs/handler_api.php/", "/stubs/handler_api.php/x/y", "//stubs/handler_api.php",
		"/stubs/handler_api%2ephp", "/stubs/./handler_api.php", "/x/../stubs/handler_api.php", "/stubs/handler_api/", "//handler_api.php"}
	local := []string{"/STUBS/handler_api.php", "/stubs/handler_api.php;x", "/stubs/handler_api.PHP", "/handler_api",
		"/stubs%2Fhandler_api.php", "/stubs/handler_api.php%00"}
	for _, p := range served {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, front+q, nil)
		req.URL.RawPath, req.URL.Path = p, mustUnescape(t, p)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "ACCESS_BALANCE:100.00" {
			t.Errorf("%s: %d %q, want the legacy answer", p, resp.StatusCode, body)
		}
	}
	for _, p := range local {
		if got := send(t, http.MethodGet, front+p+q, nil).StatusCode; got != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", p, got)
		}
	}
	for _, r := range b.requests() {
		if strings.Contains(strings.ToLower(r.URL.RawQuery), "api_key") {
			t.Errorf("%s reached the backend with the key in its query", r.URL.EscapedPath())
		}
	}
}

func mustUnescape(tb testing.TB, p string) string {
	tb.Helper()
	u, err := url.PathUnescape(p)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestTransferEncodingClosesConnection checks that after a request with
// both Content-Length and Transfer-Encoding the connection is closed, so
// that a request pipelined behind it is never served.
func TestTransferEncodingClosesConnection(t *testing.T) {
	t.Parallel()
	_, b, front := newProxyRig(t, shim.Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(front, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	smuggled := "GET /echo?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n"
	first := "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	if _, err := io.WriteString(conn, first+smuggled); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !resp.Close {
		t.Error("the answer to a TE+CL request does not close the connection")
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("more was served after the TE+CL request: %q", rest)
	}
	for _, r := range b.requests() {
		if r.URL.RawQuery == "smuggled=1" {
			t.Error("the pipelined request reached the backend")
		}
	}
}

// TestPassthroughSpanNamesBounded checks that junk methods cannot mint
// span names, and that pass-through requests are measured as http.server
// requests.
func TestPassthroughSpanNamesBounded(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	metrics := sdkmetric.NewManualReader()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics))
	_, _, front := newProxyRig(t, shim.Options{TracerProvider: tp, MeterProvider: mp})
	for _, m := range []string{"FOO", "BAR", "GET", "X-1"} {
		send(t, m, front+"/echo", nil)
	}
	names := map[string]int{}
	for _, s := range spans.Ended() {
		names[s.Name()]++
	}
	if len(names) != 2 || names["passthrough _OTHER"] != 3 || names["passthrough GET"] != 1 {
		t.Errorf("span names %v, want 3 passthrough _OTHER and 1 passthrough GET", names)
	}
	var rm metricdata.ResourceMetrics
	if err := metrics.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "http.server.request.duration" {
				for _, p := range h.DataPoints {
					n += p.Count
				}
			}
		}
	}
	if n != 4 {
		t.Errorf("http.server.request.duration counted %d requests, want 4", n)
	}
}

// TestClientAddr checks whose address a request is from, by the trusted
// proxies.
func TestClientAddr(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name, remote, xff, want string
	}{
		{"direct", "192.0.2.1:5000", "", "192.0.2.1"},
		{"untrusted peer with a header", "192.0.2.1:5000", "203.0.113.7", "192.0.2.1"},
		{"trusted peer", "10.1.2.3:5000", "203.0.113.7", "203.0.113.7"},
		{"trusted chain", "10.1.2.3:5000", "198.51.100.2, 203.0.113.7, 10.9.9.9", "203.0.113.7"},
		{"trusted peer, no header", "10.1.2.3:5000", "", "10.1.2.3"},
		{"trusted peer, junk hop", "10.1.2.3:5000", "203.0.113.7, junk", "10.1.2.3"},
		{"IPv6 trusted peer", "[::1]:5000", "2001:db8::1", "2001:db8::1"},
		{"mapped IPv4", "[::ffff:10.1.2.3]:5000", "203.0.113.7", "203.0.113.7"},
		{"not an address", "pipe", "203.0.113.7", "invalid IP"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := shim.ClientAddr(r, trusted).String(); got != tc.want {
				t.Errorf("ClientAddr = %s, want %s", got, tc.want)
			}
		})
	}
}
