package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// TestAPIDocsPage: /docs/api is a page (the page CSP, not the JSON one)
// that names the document it renders and loads only same-origin assets,
// every one of which is served; every page's footer links to it.
func TestAPIDocsPage(t *testing.T) {
	a := newTestApp(t)
	r := a.api(http.MethodGet, "/docs/api", nil, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /docs/api: got %d, want 200", r.StatusCode)
	}
	if got := r.Header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
		t.Errorf("CSP: got %q, want the pages' %q", got, contentSecurityPolicy)
	}
	doc := r.doc(t)
	if got := doc.Find(`[data-testid="api-reference"]`).AttrOr("data-openapi-url", ""); got != OpenAPIPath+".json" {
		t.Errorf("data-openapi-url: got %q, want %s.json", got, OpenAPIPath)
	}
	var assets []string
	doc.Find(`script`).Each(func(_ int, s *goquery.Selection) {
		src, ok := s.Attr("src")
		if !ok || strings.TrimSpace(s.Text()) != "" {
			t.Errorf("inline script on /docs/api: %q", s.Text())
		}
		assets = append(assets, src)
	})
	doc.Find(`link[rel="stylesheet"]`).Each(func(_ int, s *goquery.Selection) { assets = append(assets, s.AttrOr("href", "")) })
	for _, want := range []string{"/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/js/api-docs.js",
		"/static/vendor/swagger-ui/swagger-ui.css", "/static/css/api-docs.css"} {
		if !containsPrefix(assets, want+"?v=") {
			t.Errorf("assets of /docs/api: got %v, want %s?v=…", assets, want)
		}
	}
	for _, src := range assets {
		if !strings.HasPrefix(src, "/static/") {
			t.Errorf("asset %q is not served from /static", src)
			continue
		}
		if got := a.api(http.MethodGet, src, nil, nil).StatusCode; got != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200", src, got)
		}
	}
	for _, d := range []string{".json", ".yaml", "-3.0.json"} {
		if doc.Find(`a[href="`+OpenAPIPath+d+`"]`).Length() != 1 {
			t.Errorf("/docs/api does not link %s%s", OpenAPIPath, d)
		}
	}
	// The Account page's tokens card links the reference too.
	ann := a.createUser("ann@example.com", db.RoleMember)
	b := a.browser()
	b.login(ann.Email, testPassword)
	account := b.get("/account").doc(t)
	if got := account.Find(`[data-testid="tokens-api-docs"]`).AttrOr("href", ""); got != "/docs/api" {
		t.Errorf("tokens card's API link: got %q, want /docs/api", got)
	}
	login := a.api(http.MethodGet, "/login", nil, nil).doc(t)
	if got := login.Find(`[data-testid="footer-api-link"]`).AttrOr("href", ""); got != "/docs/api" {
		t.Errorf("footer API link on /login: got %q, want /docs/api", got)
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
