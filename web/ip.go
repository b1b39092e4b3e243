package web

import (
	"net"
	"net/netip"

	"github.com/labstack/echo/v4"
)

// ipExtractor decides the client IP explicitly. Without trusted proxies the
// TCP peer is the client and X-Forwarded-For is ignored: trusting it blindly
// would let anyone reset login and verify throttling by inventing addresses.
// With trusted proxies, X-Forwarded-For is walked from the right and the
// first address outside those networks wins. Echo's own defaults (trust
// loopback and private ranges) are switched off so only configuration counts.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		p = p.Masked()
		n := &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
