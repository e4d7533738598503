package shim_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// benchServer is a shim in front of a sandbox served over loopback HTTP,
// with an SQLite ID map behind the LRU, as -sandbox runs it.
func benchServer(b *testing.B) http.Handler {
	b.Helper()
	sb, err := sandbox.New(sandbox.Config{Keys: map[string]string{"bench": "1000000.00"}})
	if err != nil {
		b.Fatal(err)
	}
	backend := httptest.NewServer(sb)
	b.Cleanup(backend.Close)
	client, err := upstream.New(backend.URL+"/api/v1", upstream.Options{})
	if err != nil {
		b.Fatal(err)
	}
	store, err := idmap.Open(b.Context(), filepath.Join(b.TempDir(), "idmap.db"), idmap.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	keys, err := shim.NewKeys([]byte("bench-secret-0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	cc, err := countries.NewResolver(countries.Builtin(), 0)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := shim.NewServer(slog.New(slog.NewJSONHandler(io.Discard, nil)), client, idmap.NewCache(store, 1000, nil), cc,
		shim.Options{Keys: keys, Services: translate.BuiltinServices()})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

func serve(b *testing.B, h http.Handler, query string) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stubs/handler_api.php?"+query, nil))
	return rec.Body.String()
}

// BenchmarkGetStatus is the hot path: every bot polls it every few seconds.
// It includes the native GET over loopback HTTP to the sandbox.
func BenchmarkGetStatus(b *testing.B) {
	h := benchServer(b)
	num := serve(b, h, "api_key=bench&action=getNumber&service=wa&country=62")
	if !strings.HasPrefix(num, "ACCESS_NUMBER:") {
		b.Fatalf("getNumber = %q", num)
	}
	q := "api_key=bench&action=getStatus&id=" + strings.Split(num, ":")[1]
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got := serve(b, h, q); got != "STATUS_WAIT_CODE" {
			b.Fatalf("getStatus = %q", got)
		}
	}
}

// BenchmarkGetNumber is one purchase: catalog (cached), journal, native buy,
// commit to SQLite.
func BenchmarkGetNumber(b *testing.B) {
	h := benchServer(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got := serve(b, h, "api_key=bench&action=getNumber&service=wa&country=62"); !strings.HasPrefix(got, "ACCESS_NUMBER:") {
			b.Fatalf("getNumber = %q", got)
		}
	}
}

// BenchmarkBadCountry is the cost of junk that is answered without a
// native call.
func BenchmarkBadCountry(b *testing.B) {
	h := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		if got := serve(b, h, "api_key=bench&action=getNumber&service=wa&country=atlantis"); got != "BAD_COUNTRY" {
			b.Fatalf("got %q", got)
		}
	}
}
