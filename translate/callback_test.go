package translate

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestParseCallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in       string
		ok, okIfPrivOK bool // accepted; accepted with SHIM_CALLBACK_ALLOW_PRIVATE
	}{
		{"none", "", true, true},
		{"https", "https://bot.example.com/hook?order=42", true, true},
		{"http with port", "http://bot.example.com:8443/hook", true, true},
		{"public literal", "https://8.8.8.8/hook", true, true},
		{"public v6 literal", "https://[2606:4700::1111]/hook", true, true},
		{"longest", "https://example.com/" + strings.Repeat("a", MaxCallbackLen-len("https://example.com/")), true, true},
		{"too long", "https://example.com/" + strings.Repeat("a", MaxCallbackLen), false, false},
		{"loopback", "http://127.0.0.1:9000/hook", false, true},
		{"loopback other", "http://127.3.4.5/hook", false, true},
		{"v6 loopback", "http://[::1]:9000/hook", false, true},
		{"mapped loopback", "http://[::ffff:127.0.0.1]/hook", false, true},
		{"localhost", "http://localhost:9000/hook", false, true},
		{"localhost dot", "http://LOCALHOST./hook", false, true},
		{"sub localhost", "http://a.localhost/hook", false, true},
		{"private 10", "http://10.1.2.3/hook", false, true},
		{"private 192.168", "http://192.168.0.10/hook", false, true},
		{"private 172.16", "http://172.16.0.1/hook", false, true},
		{"link-local metadata", "http://169.254.169.254/latest/meta-data", false, true},
		{"v6 link-local", "http://[fe80::1]/hook", false, true},
		{"v6 unique local", "http://[fd00::1]/hook", false, true},
		{"unspecified", "http://0.0.0.0/hook", false, true},
		{"multicast", "http://224.0.0.1/hook", false, true},
		{"cgnat", "http://100.64.0.1/hook", false, true},
		{"decimal ip", "http://2130706433/hook", false, true},
		{"short ip", "http://127.1/hook", false, true},
		{"hex ip", "http://0x7f000001/hook", false, true},
		{"ftp", "ftp://example.com/x", false, false},
		{"no scheme", "example.com/hook", false, false},
		{"relative", "/hook", false, false},
		{"no host", "https:///hook", false, false},
		{"opaque", "https:example.com", false, false},
		{"userinfo", "https://user:pw@example.com/hook", false, false},
		{"user only", "https://user@example.com/hook", false, false},
		{"fragment", "https://example.com/hook#x", false, false},
		{"space", "https://example.com/a b", false, false},
		{"newline", "https://example.com/\n", false, false},
		{"port zero", "https://example.com:0/", false, false},
		{"port long", "https://example.com:123456/", false, false},
		{"bad escape", "https://example.com/%zz", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, allow := range []bool{false, true} {
				want := tc.ok
				if allow {
					want = tc.okIfPrivOK
				}
				got, err := ParseCallback(tc.in, allow)
				if want {
					if err != nil || got != tc.in {
						t.Fatalf("ParseCallback(%q, %v) = %q, %v; want it back", tc.in, allow, got, err)
					}
					continue
				}
				var le *Error
				if !errors.As(err, &le) || le.Code != BadAction || got != "" {
					t.Fatalf("ParseCallback(%q, %v) = %q, %v; want BAD_ACTION", tc.in, allow, got, err)
				}
			}
		})
	}
}

func TestAllowedAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700::1111": true, "93.184.216.34": true,
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.31.255.255": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "0.0.0.0": false, "::": false,
		"224.0.0.251": false, "ff02::1": false, "255.255.255.255": false, "100.100.100.100": false,
		"::ffff:10.0.0.1": false, "::ffff:8.8.8.8": true, "64:ff9b::7f00:1": false, "64:ff9b::808:808": true,
		"2002:7f00:1::": false, "2002:808:808::": true, "198.18.0.1": false, "192.0.2.1": false, "0.1.2.3": false,
	} {
		if got := AllowedAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AllowedAddr(%s) = %v, want %v", addr, got, want)
		}
	}
	if AllowedAddr(netip.Addr{}) {
		t.Error("AllowedAddr(zero) = true")
	}
}

// TestParseQueryReadsCallback checks that both parsers carry callback,
// the GET fast path (ParseQuery) as the form path (ParseRequest).
func TestParseQueryReadsCallback(t *testing.T) {
	t.Parallel()
	const cb = "https://bot.example.com/hook?a=1&b=2"
	raw := "api_key=k&action=getNumber&service=wa&callback=" + url.QueryEscape(cb)
	q, err := ParseQuery(raw, Limits{}.WithDefaults())
	if err != nil || q.Callback != cb {
		t.Fatalf("ParseQuery: Callback = %q, %v; want %q", q.Callback, err, cb)
	}
	r := ParseRequest(url.Values{"action": {"getNumber"}}, url.Values{"callback": {cb}})
	if r.Callback != cb {
		t.Fatalf("ParseRequest: Callback = %q, want %q from the form", r.Callback, cb)
	}
}
