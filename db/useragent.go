package db

import (
	"net/netip"
	"strings"
)

// maxAgentFamily bounds a client family's length (bytes).
const maxAgentFamily = 40

// uaFamily names the client family of a User-Agent header, what the
// new_agent rule compares: the product before the version for tools
// ("curl/8.4.0" → "curl", "python-requests/2.31" → "python-requests",
// "Go-http-client/1.1" → "Go-http-client"), the browser for browsers
// (Chrome, Firefox, Safari, Edge; which all start "Mozilla/5.0"). A
// version change is not a new client; a switch from python-requests to
// curl is. "" for no user agent.
func uaFamily(ua string) string {
	ua = strings.TrimSpace(ua)
	if strings.HasPrefix(ua, "Mozilla/") {
		// Order matters: Edge also says Chrome and Safari, Chrome also
		// says Safari.
		for _, b := range []struct{ family, tokens string }{
			{"Edge", "Edg/ EdgA/ EdgiOS/ Edge/"},
			{"Firefox", "Firefox/ FxiOS/"},
			{"Chrome", "Chrome/ CriOS/ Chromium/"},
			{"Safari", "Safari/"},
		} {
			for _, tok := range strings.Fields(b.tokens) {
				if strings.Contains(ua, tok) {
					return b.family
				}
			}
		}
	}
	end := strings.IndexFunc(ua, func(r rune) bool { return !isTokenChar(r) })
	if end >= 0 {
		ua = ua[:end]
	}
	return truncateUTF8(ua, maxAgentFamily)
}

// isTokenChar reports whether r may appear in an HTTP token (RFC 9110),
// which is what a product name is: anything else ends it.
func isTokenChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

// networkOf is the network the new_network rule compares for an address:
// its IPv4 /24 or IPv6 /48 ("203.0.113.0/24", "2001:db8:1::/48"), an
// IPv4-mapped IPv6 address counting as IPv4. "" for an address that does
// not parse (a caller-supplied value), which is then not compared.
func networkOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.Unmap().WithZone("")
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}
