package shim

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"
)

// TestAccessLineClient checks that the access line's client, which reuses
// RemoteAddr's text when it can, is always the client address's String.
func TestAccessLineClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct{ name, remote, xff, want string }{
		{"ipv4", "203.0.113.9:5678", "", "203.0.113.9"},
		{"ipv6", "[2001:db8::1]:443", "", "2001:db8::1"},
		{"ipv6 long form", "[2001:0db8:0:0:0:0:0:1]:443", "", "2001:db8::1"},
		{"ipv4-mapped", "[::ffff:203.0.113.9]:80", "", "203.0.113.9"},
		{"zone", "[fe80::1%eth0]:80", "", "fe80::1%eth0"},
		{"behind a trusted proxy", "10.1.2.3:80", "198.51.100.7", "198.51.100.7"},
		{"not an address", "pipe", "", "pipe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{opt: Options{TrustedProxies: trusted}}
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := s.client(r); got != tc.want {
				t.Fatalf("client(%q) = %q, want %q", tc.remote, got, tc.want)
			}
		})
	}
}

// TestContentLength checks the shared Content-Length values against
// their numbers.
func TestContentLength(t *testing.T) {
	for _, n := range []int{0, 1, 16, 255, 256, 4096} {
		if got := contentLength(n); len(got) != 1 || got[0] != strconv.Itoa(n) {
			t.Fatalf("contentLength(%d) = %q", n, got)
		}
	}
}
