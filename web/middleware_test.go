package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestRequestID(t *testing.T) {
	e := echo.New()
	e.Use(requestID)
	e.GET("/", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	fresh := regexp.MustCompile(`^[0-9a-f]{16}$`)
	seen := map[string]bool{}
	tests := []struct {
		name, sent string
		keep       bool
	}{
		{"none sent", "", false},
		{"none sent again", "", false},
		{"a proxy's", "from-proxy-1", true},
		{"too long", strings.Repeat("a", 65), false},
		{"control character", "id\x01x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.sent != "" {
				req.Header.Set(echo.HeaderXRequestID, tt.sent)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			ids := rec.Result().Header.Values(echo.HeaderXRequestID)
			if len(ids) != 1 {
				t.Fatalf("X-Request-Id: got %q, want one value", ids)
			}
			switch {
			case tt.keep && ids[0] != tt.sent:
				t.Errorf("got id %q, want the proxy's %q", ids[0], tt.sent)
			case !tt.keep && (!fresh.MatchString(ids[0]) || seen[ids[0]]):
				t.Errorf("got id %q, want 16 fresh hex digits", ids[0])
			}
			seen[ids[0]] = true
		})
	}
}
