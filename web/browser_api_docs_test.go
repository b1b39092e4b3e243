package web

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// cspViolationsJS collects securitypolicyviolation events from the first
// moment of every document, before any of the page's scripts run.
const cspViolationsJS = `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});`

// TestBrowserAPIDocs loads the API reference page in Chromium, signed out
// and signed in, at each screenshot viewport: Swagger UI (vendored, run by
// a static script) must render the document's operations without a single
// Content Security Policy violation, and fit a phone's width. With
// KEYWARD_SCREENSHOTS set it also writes api-docs-*.png there.
func TestBrowserAPIDocs(t *testing.T) {
	a := newTestApp(t)
	a.createUser("ann@example.com", db.RoleAdmin)
	// Four renderings of the whole document: more than one page's budget.
	tb := newTabTimeout(t, a, 4*browserTimeout)
	if _, err := chromedp.Call(tb.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cspViolationsJS}); err != nil {
		t.Fatalf("listen for CSP violations: %v", err)
	}
	dir := os.Getenv("KEYWARD_SCREENSHOTS")
	outer := t

	for _, signedIn := range []bool{false, true} {
		if signedIn {
			tb.login("ann@example.com", testPassword)
		}
		for _, vp := range screenshotViewports {
			name := vp.name
			if !signedIn {
				// Signed out, the page is the same renderer: once is enough.
				if vp.name != "desktop" {
					continue
				}
				name = "signed-out-" + name
			}
			t.Run(name, func(t *testing.T) {
				tb.t = t
				defer func() { tb.t = outer }()
				opts := []chromedp.EmulateViewportOption{}
				if vp.mobile {
					opts = append(opts, chromedp.EmulateMobile)
				}
				tb.do("viewport", chromedp.EmulateViewport(vp.width, vp.height, opts...))
				tb.colorScheme(vp.scheme)
				if st := tb.open("/docs/api"); st != 200 {
					t.Fatalf("GET /docs/api: got status %d, want 200", st)
				}
				// Swagger UI renders each operation under an id made of its
				// tag and operation id; displayOperationId shows the id.
				tb.waitVisible(`#operations-Account-get-me`)
				if got := tb.text(`#operations-Account-get-me .opblock-summary-path`); !strings.Contains(got, "/api/v1/me") {
					t.Errorf("get-me operation path: got %q, want /api/v1/me", got)
				}
				if got := tb.text(`#operations-Account-get-me .opblock-summary-operation-id`); got != "get-me" {
					t.Errorf("get-me operation id: got %q, want get-me", got)
				}
				if v := evalJS[[]string](tb, `window.__cspViolations`); len(v) > 0 {
					t.Errorf("CSP violations on /docs/api: %v", v)
				}
				if vp.mobile {
					w := evalJS[[]int](tb, `[document.documentElement.scrollWidth, window.innerWidth]`)
					if w[0] > w[1] {
						t.Errorf("page width at %d px: got %d px of content, want it to fit", vp.width, w[0])
					}
				}
				// Opened, the operation lists the answers the document
				// declares, problems included.
				tb.do("open get-me", chromedp.Click(chromedp.CSS(`#operations-Account-get-me .opblock-summary-control`)))
				tb.waitVisible(`#operations-Account-get-me .responses-wrapper tr[data-code="401"]`)
				if dir != "" {
					png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
					if err != nil {
						t.Fatalf("screenshot: %v", err)
					}
					if err := os.WriteFile(filepath.Join(dir, "api-docs-"+name+".png"), png, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}
