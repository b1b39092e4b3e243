package web

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// The client address is Echo's extractor; these tests hold its
// configuration: only --trusted-proxies are believed, never Echo's default
// trust in loopback and private networks.

func TestIPExtractorConfig(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		want    string
	}{
		{"no proxies: the peer", nil, "203.0.113.9:5000", nil, "203.0.113.9"},
		{"no proxies: X-Forwarded-For ignored", nil, "203.0.113.9:5000", []string{"198.51.100.7"}, "203.0.113.9"},
		{"no proxies: loopback peer's X-Forwarded-For ignored", nil, "127.0.0.1:5000", []string{"198.51.100.7"}, "127.0.0.1"},
		{"trusted proxy: the hop before it", proxies, "10.1.2.3:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"trusted proxies: rightmost untrusted hop", proxies, "10.1.2.3:80", []string{"192.0.2.1, 198.51.100.7, 10.0.0.2"}, "198.51.100.7"},
		{"trusted proxies: across header lines", proxies, "[::1]:443", []string{"192.0.2.1", "198.51.100.7, 10.0.0.2"}, "198.51.100.7"},
		{"untrusted peer: its X-Forwarded-For ignored", proxies, "203.0.113.9:1", []string{"198.51.100.7"}, "203.0.113.9"},
		{"loopback not trusted unless listed", proxies, "127.0.0.1:1", []string{"198.51.100.7"}, "127.0.0.1"},
		{"private network not trusted unless listed", proxies, "192.168.1.5:1", []string{"198.51.100.7"}, "192.168.1.5"},
		{"private hop not skipped unless listed", proxies, "10.1.2.3:80", []string{"198.51.100.7, 192.168.1.5"}, "192.168.1.5"},
		{"every hop trusted: the leftmost", proxies, "10.1.2.3:80", []string{"10.0.0.9, 10.0.0.2"}, "10.0.0.9"},
		{"bad hop: the peer", proxies, "10.1.2.3:80", []string{"198.51.100.7, not-an-ip"}, "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			if tt.xff != nil {
				r.Header[echo.HeaderXForwardedFor] = tt.xff
			}
			if got := ipExtractor(tt.trusted)(r); got != tt.want {
				t.Errorf("remote %q, X-Forwarded-For %q: got %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

// FuzzIPExtractor: whatever X-Forwarded-For says, the client address is the
// TCP peer unless the peer is a configured proxy; otherwise it is a hop of
// the header with only configured proxies to its right, and an untrusted
// one unless every hop is trusted. A client can never get an address of
// its choosing past an untrusted hop.
func FuzzIPExtractor(f *testing.F) {
	f.Add("10.0.0.1:1", "198.51.100.7, 10.0.0.2")
	f.Add("[::1]:1", "[2001:db8::1], ::ffff:10.0.0.1")
	f.Add("127.0.0.1:1", "198.51.100.7")
	f.Add("10.0.0.1:1", " , ,")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	extract := ipExtractor(trusted)
	isTrusted := func(s string) bool {
		ip := net.ParseIP(strings.Trim(strings.TrimSpace(s), "[]"))
		if ip == nil {
			return false
		}
		for _, p := range trusted {
			n := net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
			if n.Contains(ip) {
				return true
			}
		}
		return false
	}
	// same compares addresses, not spellings: Echo writes some as net.IP
	// prints them ("::" for "::0").
	same := func(a, b string) bool {
		a, b = strings.Trim(strings.TrimSpace(a), "[]"), strings.Trim(strings.TrimSpace(b), "[]")
		x, y := net.ParseIP(a), net.ParseIP(b)
		if x == nil || y == nil {
			return a == b
		}
		return x.Equal(y)
	}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{echo.HeaderXForwardedFor: {xff}}}
		got, peer := extract(r), echo.ExtractIPDirect()(r)
		if !isTrusted(peer) && !same(got, peer) {
			t.Fatalf("remote %q (untrusted), X-Forwarded-For %q: got %q, want the peer %q", remote, xff, got, peer)
		}
		if same(got, peer) {
			return
		}
		hops := strings.Split(xff, ",")
		i := slices.IndexFunc(hops, func(h string) bool { return same(h, got) })
		if i < 0 {
			t.Fatalf("remote %q, X-Forwarded-For %q: got %q, which is neither the peer nor a hop", remote, xff, got)
		}
		j := len(hops) - 1
		for ; j >= 0 && !same(hops[j], got); j-- {
			if !isTrusted(hops[j]) {
				t.Fatalf("remote %q, X-Forwarded-For %q: got %q past the untrusted hop %q", remote, xff, got, hops[j])
			}
		}
		if isTrusted(got) && j != 0 {
			t.Fatalf("remote %q, X-Forwarded-For %q: got the trusted hop %q, want an untrusted one or the leftmost", remote, xff, got)
		}
	})
}
