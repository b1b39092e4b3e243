package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestBrowserReloadShowOnce: the show-once page is the answer to the create
// POST, so Chromium posts the form again when it is reloaded, and when
// a person goes Back to it (Chromium's "Confirm Form Resubmission" page)
// and reloads. Both must find the key the first post made, say it was shown
// once, and leave exactly one key: with scripts on (after the leave prompt,
// which the tab accepts) and off. The 409 of the second answer proves the
// form really was posted again.
func TestBrowserReloadShowOnce(t *testing.T) {
	for _, scripts := range []bool{true, false} {
		name := "scripts off"
		if scripts {
			name = "scripts on"
		}
		t.Run(name, func(t *testing.T) {
			a := newTestApp(t)
			tb, _ := signedInTab(t, a, "ada@example.com")
			tb.allowHTTPError(409) // the second answer, on purpose
			if !scripts {
				tb.disableScripts()
			}
			tb.open("/keys/new")
			tb.fill("Name", "Reloaded key")
			if st := tb.navigates("create", chromedp.Click(button("Create key"))); st != 200 {
				t.Fatalf("create: got status %d, want 200", st)
			}
			key := tb.revealedKey()
			id := tb.keyIDFromReveal()

			if st := tb.navigates("reload the show-once page", chromedp.Reload()); st != 409 {
				t.Fatalf("reload: got status %d, want 409 (the form posted again, and refused)", st)
			}
			tb.wantAlreadyCreated(id, key)
			prompted := false
			for _, d := range tb.seenDialogs() {
				prompted = prompted || d.Type == page.DialogTypeBeforeunload
			}
			if prompted != scripts {
				t.Errorf("leave prompt before the reload: got %t, want %t (it needs app.js)", prompted, scripts)
			}
			a.wantKeyCount(t, 1)

			// Back to the POST answer: Chromium shows "Confirm Form
			// Resubmission" (the page was no-store) until it is reloaded.
			tb.navigates("open the key", chromedp.Click(link("Open the key")))
			if p := tb.path(); p != fmt.Sprintf("/keys/%d", id) {
				t.Fatalf("Open the key: got %s, want /keys/%d", p, id)
			}
			if _, err := chromedp.RunResponse(tb.ctx, chromedp.NavigateBack()); err == nil || !strings.Contains(err.Error(), "ERR_CACHE_MISS") {
				t.Fatalf("Back to the answer of a POST: got %v, want Chromium's resubmission page (ERR_CACHE_MISS)", err)
			}
			if st := tb.navigates("resubmit", chromedp.Reload()); st != 409 {
				t.Fatalf("Back and resubmit: got status %d, want 409", st)
			}
			tb.wantAlreadyCreated(id, key)
			a.wantKeyCount(t, 1)

			if scripts {
				// The inline create is an htmx post: the page's own URL is
				// a GET, so a reload only shows the list again.
				tb.open("/keys")
				tb.click(summary("Quick create — without leaving this page"))
				tb.fill("Name", "Inline key")
				tb.click(button("Create key"))
				inline := tb.revealedKey()
				if st := tb.navigates("reload /keys", chromedp.Reload()); st != 200 {
					t.Fatalf("reload /keys: got status %d, want 200", st)
				}
				tb.wantKeyGone(inline, "/keys after a reload")
				a.wantKeyCount(t, 2)
			}
			tb.open("/keys")
			if n, want := tb.count(`[data-testid="key-row"]`), a.countKeys(); n != want {
				t.Errorf("/keys: got %d rows, want %d", n, want)
			}
		})
	}
}

// keyIDFromReveal is the id of the key the show-once panel shows, from its
// Done link.
func (tb *tab) keyIDFromReveal() int64 {
	tb.t.Helper()
	href := tb.attr(testID("reveal-done"), "href")
	return keyIDFromPath(tb.t, strings.TrimPrefix(href, tb.app.http.URL))
}

// wantAlreadyCreated checks the page that answers a form posted again: it
// links to key id and shows neither the key nor a show-once panel.
func (tb *tab) wantAlreadyCreated(id int64, key string) {
	tb.t.Helper()
	tb.waitVisible(testID("key-already-created"))
	if got := tb.text(`[data-testid="key-already-created"] h2`); got != "This key was already created and shown once" {
		tb.t.Errorf("heading: got %q, want This key was already created and shown once", got)
	}
	if got := tb.attr(testID("already-created-link"), "href"); got != fmt.Sprintf("/keys/%d", id) {
		tb.t.Errorf("link: got %q, want /keys/%d", got, id)
	}
	if n := tb.count(`[data-testid="key-reveal"], [data-confirm-leave]`); n != 0 {
		tb.t.Errorf("got %d show-once panels, want none", n)
	}
	tb.wantKeyGone(key, "the already-created page")
}

// wantKeyCount fails unless the database holds n keys.
func (a *testApp) wantKeyCount(t *testing.T, n int) {
	t.Helper()
	if got := a.countKeys(); got != n {
		t.Errorf("keys in the database: got %d, want %d", got, n)
	}
}
