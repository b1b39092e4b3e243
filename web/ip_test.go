package web

import (
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/labstack/echo/v4"
)

// echoExtractor is the reference ipExtractor is held to: Echo's own
// X-Forwarded-For walk with only the configured networks trusted.
func echoExtractor(trusted []netip.Prefix) echo.IPExtractor {
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		p = p.Masked()
		n := &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

func TestIPExtractorMatchesEcho(t *testing.T) {
	trustSets := map[string][]netip.Prefix{
		"loopback v4":  {netip.MustParsePrefix("127.0.0.1/32")},
		"proxy subnet": {netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		"v6 net":       {netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("127.0.0.0/8")},
	}
	remotes := []string{"127.0.0.1:5000", "10.1.2.3:80", "[::1]:443", "[fd00::5]:1", "203.0.113.9:8080",
		"[::ffff:127.0.0.1]:9", "garbage", "", "127.0.0.1"}
	xffs := [][]string{
		nil,
		{"198.51.100.7"},
		{"198.51.100.7, 10.0.0.2"},
		{"  198.51.100.7 ,10.0.0.2 "},
		{"10.0.0.9, 10.0.0.2"},
		{"127.0.0.5"},
		{"not-an-ip, 10.0.0.2"},
		{"198.51.100.7, not-an-ip"},
		{"[2001:db8::1]"},
		{"[2001:db8::1], [fd00::1]"},
		{"fe80::1%eth0"},
		{"::ffff:198.51.100.7"},
		{"::ffff:10.0.0.3, 10.0.0.2"},
		{"198.51.100.7", "10.0.0.2"},
		{"10.0.0.4", "10.0.0.2, 10.0.0.3"},
		{"203.0.113.1,198.51.100.2", "10.0.0.8"},
		{""},
		{","},
		{"010.1.1.1"},
		{"[10.0.0.2]"},
		{"1.2.3.4]"},
	}
	for name, trusted := range trustSets {
		got, want := ipExtractor(trusted), echoExtractor(trusted)
		for _, remote := range remotes {
			for _, xff := range xffs {
				r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
				if xff != nil {
					r.Header[echo.HeaderXForwardedFor] = xff
				}
				if g, w := got(r), want(r); g != w {
					t.Errorf("%s: remote %q, X-Forwarded-For %q: got %q, want %q (Echo's answer)", name, remote, xff, g, w)
				}
			}
		}
	}
}

func FuzzIPExtractor(f *testing.F) {
	f.Add("127.0.0.1:1", "198.51.100.7, 10.0.0.2")
	f.Add("[::1]:1", "[2001:db8::1], ::ffff:10.0.0.1")
	f.Add("10.0.0.1:1", " , ,")
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	got, want := ipExtractor(trusted), echoExtractor(trusted)
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{echo.HeaderXForwardedFor: {xff}}}
		if g, w := got(r), want(r); g != w {
			t.Errorf("remote %q, X-Forwarded-For %q: got %q, want %q (Echo's answer)", remote, xff, g, w)
		}
	})
}
