package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/labstack/echo/v4"
)

// The verify path's middleware writes headers straight into the map; these
// tests pin what that must still produce.

func TestSecurityHeaderKeysAreCanonical(t *testing.T) {
	for _, sh := range append(securityHeaderValues, apiSecurityHeaderValues...) {
		if got := http.CanonicalHeaderKey(sh.key); got != sh.key {
			t.Errorf("key %q: canonical form is %q; a direct map write would add a second header", sh.key, got)
		}
		if len(sh.value) != 1 || cap(sh.value) != 1 {
			t.Errorf("%s: len %d cap %d, want 1 and 1 (Add must copy, never write into the shared array)",
				sh.key, len(sh.value), cap(sh.value))
		}
	}
	if got := http.CanonicalHeaderKey(requestIDHeader); got != requestIDHeader {
		t.Errorf("requestIDHeader = %q, want canonical %q", requestIDHeader, got)
	}
}

func TestMiddlewareHeadersOnTheWire(t *testing.T) {
	e := echo.New()
	e.Use(requestID, securityHeaders(true))
	e.GET("/", func(c echo.Context) error {
		c.Response().Header().Add("X-Content-Type-Options", "extra") // must not leak into other responses
		return c.NoContent(http.StatusNoContent)
	})
	idFormat := regexp.MustCompile(`^[0-9a-f]{16}$`)
	seen := map[string]bool{}
	for i := range 3 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if i == 2 {
			req.Header.Set("X-Request-ID", "from-proxy-1")
		}
		e.ServeHTTP(rec, req)
		h := rec.Result().Header
		if got := h.Values("X-Content-Type-Options"); len(got) != 2 || got[0] != "nosniff" {
			t.Errorf("request %d: X-Content-Type-Options = %q, want [nosniff extra]", i, got)
		}
		if got := h.Get("Content-Security-Policy"); got != contentSecurityPolicy {
			t.Errorf("request %d: CSP = %q", i, got)
		}
		ids := h.Values("X-Request-Id")
		if len(ids) != 1 {
			t.Fatalf("request %d: X-Request-Id values = %q, want one", i, ids)
		}
		switch {
		case i == 2 && ids[0] != "from-proxy-1":
			t.Errorf("request %d: id %q, want the proxy's", i, ids[0])
		case i < 2 && (!idFormat.MatchString(ids[0]) || seen[ids[0]]):
			t.Errorf("request %d: id %q, want 16 fresh hex digits", i, ids[0])
		}
		seen[ids[0]] = true
	}
	if got := securityHeaderValues[1].value; len(got) != 1 || got[0] != "nosniff" {
		t.Errorf("shared nosniff value changed to %q", got)
	}
}

func TestIsHTTPSMatchesScheme(t *testing.T) {
	for _, k := range schemeHeaders {
		if got := http.CanonicalHeaderKey(k); got != k {
			t.Errorf("schemeHeaders has %q, want the canonical %q", k, got)
		}
	}
	e := echo.New()
	const proxy, stranger = "127.0.0.1:50000", "203.0.113.9:50000"
	tests := []struct {
		name   string
		remote string
		hdr    map[string]string
		https  bool
	}{
		{"plain", proxy, nil, false},
		{"proto https", proxy, map[string]string{"X-Forwarded-Proto": "https"}, true},
		{"proto http", proxy, map[string]string{"X-Forwarded-Proto": "http"}, false},
		{"protocol", proxy, map[string]string{"X-Forwarded-Protocol": "https"}, true},
		{"ssl on", proxy, map[string]string{"X-Forwarded-Ssl": "on"}, true},
		{"ssl off", proxy, map[string]string{"X-Forwarded-Ssl": "off"}, false},
		{"url scheme", proxy, map[string]string{"X-Url-Scheme": "https"}, true},
		{"lower-case name", proxy, map[string]string{"x-forwarded-proto": "https"}, true},
		{"unrelated", proxy, map[string]string{"X-Forwarded-For": "192.0.2.1"}, false},
		{"untrusted peer", stranger, map[string]string{"X-Forwarded-Proto": "https"}, false},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = tt.remote
		for k, v := range tt.hdr {
			req.Header.Set(k, v)
		}
		c := e.NewContext(req, httptest.NewRecorder())
		if got, want := isHTTPS(c), c.Scheme() == "https"; got != want || got != tt.https {
			t.Errorf("%s: isHTTPS = %v, Scheme() == https is %v, want %v", tt.name, got, want, tt.https)
		}
	}
}
