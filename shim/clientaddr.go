package shim

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr is the address of the client that sent r. It is r's peer
// (RemoteAddr) unless the peer is in trusted: then X-Forwarded-For is read
// from the right, past every trusted hop, and the first address that is not
// trusted is the client (the leftmost one when all are). A forwarding header
// from a peer outside trusted is never believed. It returns the zero Addr
// when RemoteAddr is not an IP address and port (an in-process test
// request). nil or empty trusted trusts nobody. Use it, not the headers,
// for access lines and limits.
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if !inPrefixes(addr, trusted) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A hop that is not an address: nothing left of it can be
			// believed; the last trusted one is the client.
			return addr
		}
		addr = hop.Unmap()
		if !inPrefixes(addr, trusted) {
			return addr
		}
	}
	return addr
}

// clientAddr is ClientAddr with the server's Options.TrustedProxies.
func (s *Server) clientAddr(r *http.Request) netip.Addr { return ClientAddr(r, s.opt.TrustedProxies) }

// fromTrustedProxy reports whether r's peer is one of the trusted proxies,
// whose forwarding headers may be passed on.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && inPrefixes(peer.Addr().Unmap(), s.opt.TrustedProxies)
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
