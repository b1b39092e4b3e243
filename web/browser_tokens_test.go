package web

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserTokenCreateAndCopy: a person creates a management token on
// the Account page, copies it with the button (htmx swaps the card in
// place), and the copied token calls the management API. Without
// JavaScript the same form posts, and the page says how to copy by hand.
func TestBrowserTokenCreateAndCopy(t *testing.T) {
	for _, scripts := range []bool{true, false} {
		name := "scripts off"
		if scripts {
			name = "scripts on"
		}
		t.Run(name, func(t *testing.T) {
			a := newTestApp(t)
			tb, _ := signedInTab(t, a, "ann@example.com")
			if scripts {
				tb.grantClipboard()
			} else {
				tb.disableScripts()
			}
			tb.open("/account")
			tb.fill("Name", "Deploy pipeline")
			tb.click(visibleXPath(`//input[@type='checkbox' and @value='keys:write']`))
			tb.choose("Expiry", "30 days")
			create := chromedp.Click(button("Create token"))
			if scripts {
				tb.do("create", create)
			} else {
				tb.navigates("create", create)
			}
			tb.waitVisible(testID("token-reveal"))
			secret := tb.value(`[data-testid="new-token"]`)
			if !tokenPattern.MatchString(secret) {
				t.Fatalf("revealed token: got %q, want kwt_ and 49 base62 characters", secret)
			}
			if got := tb.count(`[data-testid="token-row"]`); got != 1 {
				t.Errorf("rows beside the panel: got %d, want 1", got)
			}
			if scripts {
				tb.click(button("Copy the management token"))
				tb.waitFor(`"Copied" on the button`,
					`document.querySelector('[data-copy="#new-token"] [data-copy-label]').textContent === "Copied"`)
				secret = tb.clipboard()
			} else if got := tb.visibleCount("[data-copy-hint]"); got != 2 {
				t.Errorf("copy-by-hand hints without scripts: got %d, want 2", got)
			}
			var me struct {
				User  struct{ Email string }
				Token struct{ Permissions []string }
			}
			r := a.mgmt(secret).get("/api/v1/me")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("GET /api/v1/me with the copied token: got %d", r.StatusCode)
			}
			r.decode(t, &me)
			if me.User.Email != "ann@example.com" || len(me.Token.Permissions) != 2 {
				t.Errorf("GET /api/v1/me: got %+v, want ann with keys:read and keys:write", me)
			}
			tb.navigates("Done", chromedp.Click(link("Done — I've saved my token")))
			tb.wantKeyGone(secret, "after Done")
			tb.checkConsole()
		})
	}
}
