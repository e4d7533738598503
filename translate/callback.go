package translate

import (
	"net/netip"
	"net/url"
	"strings"
)

// MaxCallbackLen is the longest callback URL accepted, in bytes: one
// parameter's default bound (Limits.MaxParamBytes), so that no accepted
// request carries a longer one.
const MaxCallbackLen = 1024

// ParseCallback reads getNumber's and getNumberV2's optional callback, the
// URL that receives the activation's events: "" is none; otherwise an
// absolute http or https URL of at most MaxCallbackLen bytes with a host,
// no user information and no fragment. Unless allowPrivate, a host that
// names this machine or a private network by itself (a literal address
// that AllowedAddr refuses, or localhost and its subdomains) is refused
// too; a name that resolves to one is refused when the shim dials it.
// Anything else is BAD_ACTION, before anything is bought. The URL is
// returned as sent.
func ParseCallback(s string, allowPrivate bool) (string, error) {
	if s == "" {
		return "", nil
	}
	if len(s) > MaxCallbackLen {
		return "", fail(BadAction)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return "", fail(BadAction)
		}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" ||
		u.User != nil || u.Fragment != "" || strings.Contains(s, "#") {
		return "", fail(BadAction)
	}
	host := u.Hostname()
	if host == "" {
		return "", fail(BadAction)
	}
	if port := u.Port(); port != "" && (len(port) > 5 || port == "0" || port[0] == '0' && len(port) > 1) {
		return "", fail(BadAction)
	}
	if allowPrivate {
		return s, nil
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if !AllowedAddr(addr) {
			return "", fail(BadAction)
		}
		return s, nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") || isNumericHost(name) {
		// A host of digits and dots that is not a dotted quad ("2130706433",
		// "127.1") is an address to some resolvers: refuse it outright.
		return "", fail(BadAction)
	}
	return s, nil
}

// isNumericHost reports whether name is made of digits, dots and hex
// prefixes only, the shapes inet_aton reads as an IPv4 address.
func isNumericHost(name string) bool {
	last := name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		last = name[i+1:]
	}
	if last == "" {
		return false
	}
	for i := 0; i < len(last); i++ {
		c := last[i]
		if !(c >= '0' && c <= '9' || c == 'x' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return last[0] >= '0' && last[0] <= '9'
}

// AllowedAddr reports whether a callback may be sent to addr: a global
// unicast address, not loopback, private (RFC 1918, fc00::/7), link-local,
// unspecified, multicast, nor in the other ranges not routed on the
// Internet (CGNAT 100.64.0.0/10, 0.0.0.0/8, 192.0.0.0/24, benchmarking
// 198.18.0.0/15, documentation, 240.0.0.0/4, broadcast, NAT64 and 6to4
// forms of refused IPv4 addresses). An IPv4-mapped IPv6 address is judged
// as its IPv4 address. The shim checks the literal host of a callback with
// it, and the address it actually dials.
func AllowedAddr(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || !addr.IsGlobalUnicast() || addr.IsPrivate() || addr.IsLoopback() ||
		addr.IsLinkLocalUnicast() || addr.IsUnspecified() || addr.IsMulticast() || addr.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range refusedPrefixes {
		if p.Contains(addr) {
			return false
		}
	}
	if addr.Is6() {
		b := addr.As16()
		switch {
		case nat64.Contains(addr):
			return AllowedAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(addr):
			return AllowedAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	return true
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	// refusedPrefixes are the ranges netip's predicates do not cover.
	refusedPrefixes = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("64:ff9b:1::/48"),
		netip.MustParsePrefix("100::/64"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("2001::/32"),
	}
)
