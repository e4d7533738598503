package shim_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// cannedTransport answers native requests in process with the bodies
// recorded by path, and 404 elsewhere: the in-process benchmarks measure
// the shim's own work (parse, lookup, translate, write) with the native
// answer given.
type cannedTransport map[string][]byte

func (t cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, ok := t[r.URL.Path]
	status := http.StatusOK
	if !ok {
		status, body = http.StatusNotFound, []byte(`{"code":"NOT_FOUND","message":"not recorded"}`)
	}
	return &http.Response{
		StatusCode:    status,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}, nil
}

// record asks the sandbox for path with key and keeps its 200 answer.
func (t cannedTransport) record(tb testing.TB, sb http.Handler, key, path string) {
	tb.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("X-Api-Key", key)
	sb.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		tb.Fatalf("sandbox %s: %d %s", path, rec.Code, rec.Body)
	}
	t[path] = rec.Body.Bytes()
}

// discardWriter is a ResponseWriter that keeps nothing but the last body,
// so that the benchmark loop measures the shim and not a recorder.
type discardWriter struct {
	h    http.Header
	body []byte
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(b []byte) (int, error) { w.body = b; return len(b), nil }

// soldOne is a rig on the loopback sandbox, as -sandbox runs it, that has
// sold one number to the key "bench", and that number's legacy and native
// IDs.
func soldOne(b *testing.B) (*rig, string, string) {
	b.Helper()
	r := newRig(b, rigOptions{
		sandbox:   sandbox.Config{Keys: map[string]string{"bench": "1000000.00"}},
		wrapStore: func(s idmap.Store) shim.IDStore { return idmap.NewCache(s, 1000) },
		secret:    "bench-secret-0123456789abcdef",
	})
	num := serve(r.srv, "api_key=bench&action=getNumber&service=wa&country=62").Body.String()
	if !strings.HasPrefix(num, "ACCESS_NUMBER:") {
		b.Fatalf("getNumber = %q", num)
	}
	legacyID := strings.Split(num, ":")[1]
	nativeID, err := r.ids.Lookup(b.Context(), r.keys.Owner("bench"), mustInt(b, legacyID))
	if err != nil {
		b.Fatal(err)
	}
	return r, legacyID, nativeID
}

// benchStatus polls query on h in a loop, checking the first and the last
// answer.
func benchStatus(b *testing.B, h http.Handler, query string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, "/stubs/handler_api.php?"+query, nil)
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	if string(w.body) != "STATUS_WAIT_CODE" {
		b.Fatalf("getStatus = %q", w.body)
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
	if string(w.body) != "STATUS_WAIT_CODE" {
		b.Fatalf("getStatus = %q", w.body)
	}
}

// inProcessStatus buys one number through a shim on the loopback sandbox,
// then returns a second shim on the same ID map and keys whose native
// client gets, in process, the activation as the sandbox answers it, and
// the getStatus query of that number.
func inProcessStatus(b *testing.B) (http.Handler, string) {
	b.Helper()
	r, legacyID, nativeID := soldOne(b)
	t := cannedTransport{}
	t.record(b, r.sb, "bench", "/api/v1/wallet/balance")
	t.record(b, r.sb, "bench", "/api/v1/activations/"+nativeID)
	canned := r.with(b, rigOptions{upstream: upstream.Options{Transport: t}, shim: shim.Options{AccessLog: io.Discard}})
	return canned.srv, "api_key=bench&action=getStatus&id=" + legacyID
}

// BenchmarkGetStatusInProcess is the shim's own share of a poll: parse,
// key check, ID map lookup (cached), native client, translate and write,
// with telemetry at its defaults (no providers) and the access line
// written as JSON to io.Discard. The native answer comes from memory.
func BenchmarkGetStatusInProcess(b *testing.B) {
	h, q := inProcessStatus(b)
	benchStatus(b, h, q)
}

func mustInt(tb testing.TB, s string) int64 {
	tb.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// givenAPI is the native API with the answers of the hot path given: the
// balance of the key check and one activation. Other calls go to the
// embedded client.
type givenAPI struct {
	shim.NativeAPI
	act upstream.Activation
}

func (a givenAPI) Balance(context.Context, string) (upstream.Balance, error) {
	return upstream.Balance{Balance: "1000000.00", Currency: "USD"}, nil
}

func (a givenAPI) Activation(context.Context, string, string) (upstream.Activation, error) {
	return a.act, nil
}

// BenchmarkGetStatusCore is the in-process part of a poll with the native
// answer given (decoded): parse, key check, ID map lookup (cached),
// translate, write, with telemetry at its defaults and the access line
// written as JSON to io.Discard, as deployed (Options.AccessLog). The
// target is 2 µs and 10 allocations.
func BenchmarkGetStatusCore(b *testing.B) { benchStatusCore(b, true) }

// BenchmarkGetStatusCoreSlog is BenchmarkGetStatusCore with the access
// line written through slog's JSON handler instead.
func BenchmarkGetStatusCoreSlog(b *testing.B) { benchStatusCore(b, false) }

func benchStatusCore(b *testing.B, direct bool) {
	r, legacyID, nativeID := soldOne(b)
	act, err := r.api.Activation(b.Context(), "bench", nativeID)
	if err != nil {
		b.Fatal(err)
	}
	cc, err := countries.NewResolver(countries.Builtin(), 0)
	if err != nil {
		b.Fatal(err)
	}
	opt := shim.Options{Keys: r.keys, Services: translate.BuiltinServices()}
	if direct {
		opt.AccessLog = io.Discard
	}
	h, err := shim.NewServer(slog.New(slog.NewJSONHandler(io.Discard, nil)), givenAPI{r.api, act}, r.ids, cc, opt)
	if err != nil {
		b.Fatal(err)
	}
	benchStatus(b, h, "api_key=bench&action=getStatus&id="+legacyID)
}
