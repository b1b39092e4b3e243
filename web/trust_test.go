package web

import (
	"net/http"
	"testing"
)

// TestHSTSOnlyOverTrustedHTTPS: the scheme is the connection's unless a
// configured proxy says otherwise. Echo's default believes
// X-Forwarded-Proto from any loopback or private address, which let a
// client on the same network turn on HSTS (or anything else that asks
// c.Scheme()) over plain HTTP. The test server's clients connect from
// 127.0.0.1.
func TestHSTSOnlyOverTrustedHTTPS(t *testing.T) {
	const hsts = "max-age=63072000; includeSubDomains"
	tests := []struct {
		name    string
		proxies []string
		hdr     http.Header
		want    string
	}{
		{"no proxies, plain HTTP", nil, nil, ""},
		{"no proxies: X-Forwarded-Proto ignored", nil, http.Header{"X-Forwarded-Proto": {"https"}}, ""},
		{"no proxies: X-Forwarded-Ssl ignored", nil, http.Header{"X-Forwarded-Ssl": {"on"}}, ""},
		{"no proxies: X-Url-Scheme ignored", nil, http.Header{"X-Url-Scheme": {"https"}}, ""},
		{"peer is not a configured proxy", []string{"10.0.0.0/8"}, http.Header{"X-Forwarded-Proto": {"https"}}, ""},
		{"configured proxy says https", []string{"127.0.0.1/32"}, http.Header{"X-Forwarded-Proto": {"https"}}, hsts},
		{"configured proxy says http", []string{"127.0.0.1/32"}, http.Header{"X-Forwarded-Proto": {"http"}}, ""},
		{"configured proxy, no header", []string{"127.0.0.1/32"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, withTrustedProxies(tt.proxies...))
			for _, path := range []string{"/login", "/api/v1/auth"} {
				r := a.api(http.MethodGet, path, nil, tt.hdr)
				if got := r.Header.Get("Strict-Transport-Security"); got != tt.want {
					t.Errorf("GET %s: Strict-Transport-Security got %q, want %q", path, got, tt.want)
				}
			}
		})
	}
}
