package shim_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// benchServer is a shim in front of a sandbox served over loopback HTTP,
// with an SQLite ID map behind the LRU, as -sandbox runs it.
func benchServer(b *testing.B) http.Handler {
	b.Helper()
	return newRig(b, rigOptions{
		sandbox:   sandbox.Config{Keys: map[string]string{"bench": "1000000.00"}},
		wrapStore: func(s idmap.Store) shim.IDStore { return idmap.NewCache(s, 1000) },
		secret:    "bench-secret-0123456789abcdef",
	}).srv
}

// BenchmarkGetStatus is the hot path: every bot polls it every few seconds.
// It includes the native GET over loopback HTTP to the sandbox.
func BenchmarkGetStatus(b *testing.B) {
	h := benchServer(b)
	num := serve(h, "api_key=bench&action=getNumber&service=wa&country=62").Body.String()
	if !strings.HasPrefix(num, "ACCESS_NUMBER:") {
		b.Fatalf("getNumber = %q", num)
	}
	q := "api_key=bench&action=getStatus&id=" + strings.Split(num, ":")[1]
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got := serve(h, q).Body.String(); got != "STATUS_WAIT_CODE" {
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
		if got := serve(h, "api_key=bench&action=getNumber&service=wa&country=62").Body.String(); !strings.HasPrefix(got, "ACCESS_NUMBER:") {
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
		if got := serve(h, "api_key=bench&action=getNumber&service=wa&country=atlantis").Body.String(); got != "BAD_COUNTRY" {
			b.Fatalf("got %q", got)
		}
	}
}
