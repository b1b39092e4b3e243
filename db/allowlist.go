package db

import (
	"net/netip"
	"strings"
)

// An IP allowlist limits where a key may be presented from: the client
// that presents it (the verify API's "ip", forward auth's client address)
// must be inside one of its networks. It is stored as space-separated
// CIDRs in canonical form and parsed once, when a key is read, so a cached
// verification only compares addresses.

// parseStoredPrefixes reads the stored form. Entries were validated when
// written; one that no longer parses is left out rather than failing the
// key's every read (an allowlist with none left refuses everyone).
func parseStoredPrefixes(s string) []netip.Prefix {
	if s == "" {
		return nil
	}
	fields := strings.Fields(s)
	out := make([]netip.Prefix, 0, len(fields))
	for _, f := range fields {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		// Keep the list non-empty: an allowlist that lost its entries must
		// still refuse, never silently allow everyone.
		out = append(out, netip.Prefix{})
	}
	return out
}

// formatPrefixes is the stored form of an allowlist.
func formatPrefixes(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, " ")
}

// ipAllowed reports whether the client address ip is inside one of the
// networks of allow. An empty allowlist allows any client, known or not; a
// non-empty one refuses an unknown ("") or unparsable address. IPv4
// addresses mapped into IPv6 (::ffff:10.0.0.1) count as IPv4.
func ipAllowed(allow []netip.Prefix, ip string) bool {
	if len(allow) == 0 {
		return true
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range allow {
		if p.IsValid() && p.Contains(addr) {
			return true
		}
	}
	return false
}
