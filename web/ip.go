package web

import (
	"net"
	"net/netip"

	"github.com/labstack/echo/v4"
)

// ipExtractor decides the client IP explicitly. Without trusted proxies the
// TCP peer is the client and X-Forwarded-For is ignored: trusting it blindly
// would let anyone reset login and verify throttling by inventing addresses.
// With trusted proxies, Echo walks X-Forwarded-For from the right and the
// first address outside those networks wins. Echo's own defaults also trust
// loopback, link-local and private networks; here only the configured
// networks are trusted, since a private address is as likely a client on
// the same network as a proxy.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	return echo.ExtractIPFromXFFHeader(trustOnly(trusted)...)
}

// schemeExtractor decides whether a request came over HTTPS, for HSTS.
// Without trusted proxies only the connection's own TLS counts; with them,
// X-Forwarded-Proto (and its variants) counts only from those proxies.
// Echo's default believes the headers from any loopback or private
// address, so a client on the same network could ask for HSTS over plain
// HTTP or pass itself off as HTTPS to anything that asks c.Scheme().
func schemeExtractor(trusted []netip.Prefix) echo.SchemeExtractor {
	if len(trusted) == 0 {
		return echo.ExtractSchemeDirect()
	}
	return echo.ExtractSchemeFromHeaders(trustOnly(trusted)...)
}

// trustOnly is the Echo trust options that believe exactly the networks
// given, and none of Echo's defaults.
func trustOnly(trusted []netip.Prefix) []echo.TrustOption {
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		p = p.Masked()
		opts = append(opts, echo.TrustIPRange(&net.IPNet{
			IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}))
	}
	return opts
}
