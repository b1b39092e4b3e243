package web

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// viewport is a screen the screenshots are taken at.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
	scheme        string
}

var screenshotViewports = []viewport{
	{name: "desktop", width: 1280, height: 800, scheme: "light"},
	{name: "mobile", width: 390, height: 844, mobile: true, scheme: "light"},
	{name: "desktop-dark", width: 1280, height: 800, scheme: "dark"},
}

// TestScreenshots renders every page with realistic data, for people to
// look at (docs/screenshots): it runs only when KEYWARD_SCREENSHOTS names
// the directory to write the PNGs to.
//
//	KEYWARD_SCREENSHOTS=$PWD/docs/screenshots go test -run TestScreenshots ./web/
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("KEYWARD_SCREENSHOTS")
	if dir == "" {
		t.Skip("set KEYWARD_SCREENSHOTS=<dir> to write screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	a := newTestApp(t)
	billing := seedShowcase(t, a)
	tb := newTabTimeout(t, a, 3*browserTimeout)
	tb.allowHTTPError(404)

	shoot := func(vp viewport, name string) {
		t.Helper()
		time.Sleep(150 * time.Millisecond) // fonts and transitions settle
		png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		file := filepath.Join(dir, name+"-"+vp.name+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setViewport := func(vp viewport) {
		t.Helper()
		opts := []chromedp.EmulateViewportOption{}
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		tb.do("viewport "+vp.name, chromedp.EmulateViewport(vp.width, vp.height, opts...))
		tb.colorScheme(vp.scheme)
	}

	for _, vp := range screenshotViewports {
		setViewport(vp)
		tb.clearCookies()
		tb.open("/login")
		shoot(vp, "login")
		tb.fill("Email", "ada@acme.dev")
		tb.fill("Password", "wrong password, twice over")
		tb.allowHTTPError(401)
		tb.navigates("failed sign-in", chromedp.Click(button("Sign in")))
		shoot(vp, "login-failed")
		tb.open("/setup?token=" + url.QueryEscape(a.setupToken))
		shoot(vp, "setup")

		tb.login("new@acme.dev", testPassword)
		shoot(vp, "keys-empty")
		tb.clearCookies()
		tb.login("ada@acme.dev", testPassword)
		shoot(vp, "keys")
		tb.click(summary("Quick create — without leaving this page"))
		shoot(vp, "keys-quick-create")
		tb.open(fmt.Sprintf("/keys/%d", billing))
		shoot(vp, "key")
		tb.open("/keys/new")
		shoot(vp, "keys-new")
		tb.open("/account")
		shoot(vp, "account")
		tb.open("/keys/999999")
		shoot(vp, "error")
	}
	// Last, as each one adds a key to the list above.
	for _, vp := range screenshotViewports {
		setViewport(vp)
		tb.open("/keys/new")
		tb.fill("Name", "Mobile app backend")
		tb.fill("Scopes (optional)", "read:profile")
		tb.navigates("create", chromedp.Click(button("Create key")))
		tb.waitVisible(testID("key-reveal"))
		shoot(vp, "key-created")
		tb.navigates("Done", chromedp.Click(link("Done — I've saved my key")))
	}
}

// seedShowcase fills the store with a believable month of one person's
// keys in every state, and returns the id of the busiest key. The shared
// test clock moves forward while it works, so keys have different ages
// and the usage chart has a shape.
func seedShowcase(t *testing.T, a *testApp) int64 {
	t.Helper()
	ctx := context.Background()
	ada := a.createUser("ada@acme.dev", db.RoleMember)
	a.createUser("new@acme.dev", db.RoleMember)
	days := func(n int) *time.Time { e := a.clock.Now().Add(time.Duration(n) * 24 * time.Hour); return &e }
	type seeded struct {
		key    db.Key
		secret string
	}
	create := func(in db.KeyInput) seeded {
		k, s, err := a.store.CreateKey(ctx, ada.ID, in, db.Actor{UserID: ada.ID, Label: ada.Email, IP: "192.0.2.10"})
		if err != nil {
			t.Fatalf("seed %q: %v", in.Name, err)
		}
		return seeded{k, s}
	}
	use := func(s seeded, n int, ip, agent string) {
		for range n {
			if _, err := a.verifier.Verify(ctx, db.VerifyRequest{Key: s.secret, IP: ip, UserAgent: agent}); err != nil {
				t.Fatalf("verify %q: %v", s.key.Name, err)
			}
		}
	}

	legacy := create(db.KeyInput{Name: "Legacy importer", Description: "Nightly CSV import from the old ERP.", Scopes: []string{"write:orders"}})
	billing := create(db.KeyInput{Name: "Billing service (production)", Description: "Used by the invoicing workers in eu-west-1.",
		Scopes: []string{"read:invoices", "write:invoices"}, ExpiresAt: days(365)})
	analytics := create(db.KeyInput{Name: "Analytics export", Scopes: []string{"read:orders"}, ExpiresAt: days(90)})
	var orders, partner, ci seeded
	for d := range 36 {
		switch d {
		case 5:
			orders = create(db.KeyInput{Name: "Orders API — staging", Scopes: []string{"read:orders", "write:orders"}, ExpiresAt: days(90)})
			partner = create(db.KeyInput{Name: "Partner webhook (Northwind)", Scopes: []string{"webhooks"}, ExpiresAt: days(7)})
		case 10:
			ci = create(db.KeyInput{Name: "CI deploy bot", Description: "GitHub Actions: deploys on merge to main.", ExpiresAt: days(30)})
		case 20:
			create(db.KeyInput{Name: "Support dashboard", ExpiresAt: days(90)})
		}
		use(billing, 30+(d*37)%45+d, "10.0.4.17", "billing-worker/2.3 (go1.26)")
		if d >= 5 {
			use(orders, (d*13)%9, "10.0.8.3", "curl/8.5.0")
		}
		if d >= 5 && d < 12 {
			use(partner, 3+d%4, "203.0.113.40", "Northwind-Hookshot/1.0")
		}
		if d >= 10 && d%3 == 0 {
			use(ci, 2, "140.82.112.5", "GitHub-Actions")
		}
		if d < 4 {
			use(legacy, 1, "10.0.9.9", "python-requests/2.32")
		}
		if d%6 == 0 {
			use(analytics, 1, "10.0.5.2", "metabase/0.50")
		}
		a.flush()
		a.clock.Advance(24 * time.Hour)
	}
	actor := db.Actor{UserID: ada.ID, Label: ada.Email, IP: "192.0.2.10"}
	if _, err := a.store.SetKeyDisabled(ctx, db.OwnedBy(ada.ID), analytics.key.ID, true, actor); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.RevokeKey(ctx, db.OwnedBy(ada.ID), legacy.key.ID, "The ERP was retired.", actor); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(3 * time.Hour)
	return billing.key.ID
}
