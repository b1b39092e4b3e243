package web

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// visibleCount is the number of elements matching css that are rendered.
func (tb *tab) visibleCount(css string) int {
	tb.t.Helper()
	return evalJS[int](tb, `[...document.querySelectorAll(`+jsString(css)+`)]
		.filter(el => el.getClientRects().length > 0).length`)
}

// copyPage is a page with Copy buttons; load brings the tab to it.
type copyPage struct {
	name    string
	load    func()
	buttons int // copy buttons (and hints) on the page
}

// TestBrowserCopyButtons: a Copy button needs JavaScript, so without it
// none shows and a hint says how to copy by hand; with it every button
// shows (also in the panel htmx swaps in) and no hint does. Each page is
// one that shows a secret once: the new key with its curl example, the
// inline create, and an invite link.
func TestBrowserCopyButtons(t *testing.T) {
	for _, scripts := range []bool{true, false} {
		name := "scripts off"
		if scripts {
			name = "scripts on"
		}
		t.Run(name, func(t *testing.T) {
			a := newTestApp(t)
			tb, u := adminTab(t, a)
			seedKey(t, a, u.ID, "Existing key")
			if scripts {
				tb.grantClipboard()
			} else {
				tb.disableScripts()
			}
			pages := []copyPage{
				{"key created", func() {
					tb.open("/keys/new")
					tb.fill("Name", "Copy test")
					tb.navigates("create", chromedp.Click(button("Create key")))
					tb.waitVisible(testID("key-reveal"))
				}, 2},
				{"invite link", func() {
					tb.open("/admin/users")
					tb.fill("Email", "invitee@example.com")
					tb.navigates("invite", chromedp.Click(button("Create invite link")))
					tb.waitVisible(testID("token-link-panel"))
				}, 1},
			}
			if scripts {
				pages = append(pages, copyPage{"inline create (htmx)", func() {
					tb.open("/keys")
					tb.click(summary("Quick create — without leaving this page"))
					tb.fill("Name", "Inline copy test")
					tb.click(button("Create key"))
					tb.waitVisible(testID("key-reveal"))
				}, 2})
			}
			for _, p := range pages {
				p.load()
				if got := tb.count("[data-copy]"); got != p.buttons {
					t.Fatalf("%s: got %d copy buttons in the page, want %d", p.name, got, p.buttons)
				}
				wantButtons, wantHints := 0, p.buttons
				if scripts {
					wantButtons, wantHints = p.buttons, 0
				}
				if got := tb.visibleCount("[data-copy]"); got != wantButtons {
					t.Errorf("%s: got %d visible copy buttons, want %d", p.name, got, wantButtons)
				}
				if got := tb.visibleCount("[data-copy-hint]"); got != wantHints {
					t.Errorf("%s: got %d visible copy-by-hand hints, want %d", p.name, got, wantHints)
				}
				if scripts && p.name != "invite link" {
					tb.copyAndCheck(tb.revealedKey())
				}
				if !scripts && p.name == "key created" {
					if got := tb.text(testID("copy-hint")); got != "Select the key and press Ctrl+C (⌘C on a Mac) to copy it." {
						t.Errorf("%s: got hint %q, want how to copy the key by hand", p.name, got)
					}
				}
			}
		})
	}
}
