package web

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// TestBrowserSSO signs in through a real OpenID provider in Chromium: a
// new member from the button, a refused callback, an existing account
// linked after its password, and the sign-in page with password sign-in
// off. Each page passes axe in both colour schemes, fits a phone, and is
// photographed when KEYWARD_SCREENSHOTS names a directory.
func TestBrowserSSO(t *testing.T) {
	axe := loadAxe(t)
	a, o := newSSOApp(t)
	root := a.createUser("root@corp.example", db.RoleAdmin)
	a.createUser("bob@corp.example", db.RoleMember)
	o.addUser(opUser{id: "ann", email: "ann@corp.example", verified: true})
	o.addUser(opUser{id: "bob-at-idp", email: "bob@corp.example", verified: true})
	tb := newTabTimeout(t, a, 8*browserTimeout)
	tb.allowHTTPError(400)
	tb.allowHTTPError(403)
	shots := os.Getenv("KEYWARD_SCREENSHOTS")

	check := func(name string) {
		t.Helper()
		for _, scheme := range []string{"light", "dark"} {
			t.Run(name+"/"+scheme, func(t *testing.T) {
				tb.colorScheme(scheme)
				waitNoAnimations(t, tb)
				tb.checkA11y(t, axe)
			})
		}
		tb.colorScheme("light")
		if shots == "" {
			return
		}
		for _, vp := range screenshotViewports {
			opts := []chromedp.EmulateViewportOption{}
			if vp.mobile {
				opts = append(opts, chromedp.EmulateMobile)
			}
			tb.do("viewport "+vp.name, chromedp.EmulateViewport(vp.width, vp.height, opts...))
			tb.colorScheme(vp.scheme)
			if w := evalJS[int](tb, `document.documentElement.scrollWidth`); w > int(vp.width) {
				t.Errorf("%s: page is %d px wide on a %d px screen", name, w, vp.width)
			}
			time.Sleep(150 * time.Millisecond) // fonts and transitions settle, as TestScreenshots
			png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot %s: %v", name, err)
			}
			if err := os.WriteFile(filepath.Join(shots, name+"-"+vp.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tb.do("viewport back", chromedp.EmulateViewport(1280, 800))
		tb.colorScheme("light")
	}

	tb.open("/login")
	check("login-sso")

	o.asUser("ann")
	tb.navigates("single sign-on", chromedp.Click(testID("sso-button")))
	if p := tb.path(); p != "/keys" {
		t.Fatalf("after single sign-on: got %s, want /keys", p)
	}

	tb.clearCookies()
	if st := tb.open(ssoCallback + "?state=forged&code=x"); st != 400 {
		t.Fatalf("forged callback: got %d, want 400", st)
	}
	tb.waitVisible(testID("login-error"))
	check("login-sso-refused")

	tb.clearCookies()
	o.asUser("bob-at-idp")
	tb.open("/login")
	tb.navigates("single sign-on", chromedp.Click(testID("sso-button")))
	if got := tb.text(testID("flash")); !strings.Contains(got, "sign in with your password once to link single sign-on") {
		t.Fatalf("callback for an existing account: got notice %q, want the link notice", got)
	}
	check("login-sso-link-notice")
	tb.fill("Password", testPassword)
	tb.navigates("sign in", chromedp.Click(button("Sign in")))
	if p := tb.path(); p != "/account/security/sso/link" {
		t.Fatalf("after the password: got %s, want %s", p, "/account/security/sso/link")
	}
	check("sso-link")
	tb.navigates("link", chromedp.Click(testID("sso-link-confirm")))
	if p := tb.path(); p != "/account/security" {
		t.Fatalf("after linking: got %s, want /account/security", p)
	}
	if u, err := a.store.UserByOIDCIdentity(context.Background(), o.issuer, "bob-at-idp"); err != nil || u.Email != "bob@corp.example" {
		t.Fatalf("linked identity: got %q, %v; want bob", u.Email, err)
	}

	p := db.DefaultSignInPolicy()
	p.PasswordSignInOff, p.BreakGlassUserID = true, root.ID
	if err := a.store.SetSignInPolicy(context.Background(), p, db.Actor{UserID: root.ID, Label: root.Email}); err != nil {
		t.Fatal(err)
	}
	tb.clearCookies()
	tb.open("/login")
	check("login-password-off")
	tb.click(summary("Sign in with a password (administrators)"))
	check("login-password-off-open")
}
