package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"
)

// ipExtractor decides the client IP explicitly. Without trusted proxies the
// TCP peer is the client and X-Forwarded-For is ignored: trusting it blindly
// would let anyone reset login and verify throttling by inventing addresses.
// With trusted proxies, X-Forwarded-For is walked from the right and the
// first address outside those networks wins; an address that does not parse
// ends the walk at the TCP peer, and when every address is trusted the
// leftmost one is taken.
//
// That is echo.ExtractIPFromXFFHeader with only the configured networks
// trusted (ip_test.go compares the two on many inputs), written with
// net/netip: Echo's version splits and joins the header and builds a net.IP
// per hop, which the verify endpoint, behind a proxy, paid on every request.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	nets := make([]netip.Prefix, len(trusted))
	for i, p := range trusted {
		if p.Addr().Is4In6() && p.Bits() >= 96 { // hops are unmapped before the check
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		nets[i] = p.Masked()
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range nets {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		direct := directIP(r)
		xffs := r.Header[echo.HeaderXForwardedFor]
		if len(xffs) == 0 {
			return direct
		}
		a, _, ok := parseHop(direct)
		if !ok {
			return direct
		}
		if !isTrusted(a) {
			return a.String()
		}
		// Walk the hops right to left across every header line: the last
		// line holds the hops nearest to us.
		leftmost := ""
		for i := len(xffs) - 1; i >= 0; i-- {
			line := xffs[i]
			for {
				hop := line
				j := strings.LastIndexByte(line, ',')
				if j >= 0 {
					hop = line[j+1:]
				}
				a, bare, ok := parseHop(hop)
				if !ok {
					return direct
				}
				if !isTrusted(a) {
					return a.String()
				}
				leftmost = bare
				if j < 0 {
					break
				}
				line = line[:j]
			}
		}
		return leftmost
	}
}

// directIP is the TCP peer's address, as echo.ExtractIPDirect gives it.
func directIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		if net.ParseIP(r.RemoteAddr) != nil {
			return r.RemoteAddr
		}
		return ""
	}
	return host
}

// parseHop parses one X-Forwarded-For element: spaces around it and one
// pair of brackets are allowed, zones are not (net.ParseIP refuses them),
// and IPv4-mapped IPv6 addresses count as IPv4, as they do for net.IPNet.
// It also returns the element as written, without the spaces and brackets.
func parseHop(s string) (netip.Addr, string, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "[")
	s = strings.TrimSuffix(s, "]")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, "", false
	}
	return a.Unmap(), s, true
}
