package web

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
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
// look at (docs/screenshots, `make screenshots`): it runs only when
// KEYWARD_SCREENSHOTS names the directory to write the PNGs to.
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
	// E-mail configured: the settings page's E-mail card in use. The
	// deadline is for the whole set, generous for a loaded machine.
	a := newTourApp(t)
	tb := newTabTimeout(t, a, 15*browserTimeout)
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
	// shootPart takes one element alone, for a card that a full page
	// shows too small to judge.
	shootPart := func(vp viewport, name string, sel chromedp.CSS) {
		t.Helper()
		time.Sleep(150 * time.Millisecond) // as shoot
		png, err := chromedp.Run(tb.ctx, chromedp.Screenshot(sel))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+vp.name+".png"), png, 0o644); err != nil {
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

	// First, as on a first run: setup works only while there is no admin.
	for _, vp := range screenshotViewports {
		setViewport(vp)
		tb.open("/setup?token=" + url.QueryEscape(a.setupToken))
		shoot(vp, "setup")
		tb.open("/login")
		shoot(vp, "login")
		tb.fill("Email", "ada@acme.dev")
		tb.fill("Password", "wrong password, twice over")
		tb.allowHTTPError(401)
		tb.navigates("failed sign-in", chromedp.Click(button("Sign in")))
		shoot(vp, "login-failed")
	}

	tm := seedTeam(t, a)
	seedSecondFactor(t, a, "lin@acme.dev")
	billing := seedShowcase(t, a, tm)
	seedRefusals(t, a, billing)
	seedTokens(t, a, "ada@acme.dev")
	hook := seedNotifications(t, a, tm.admin)
	seedAlerts(t, a, "ada@acme.dev")
	for _, vp := range screenshotViewports {
		setViewport(vp)
		tb.clearCookies()
		tb.login("new@acme.dev", testPassword)
		shoot(vp, "keys-empty")
		tb.clearCookies()
		tb.login("ada@acme.dev", testPassword)
		shoot(vp, "keys")
		tb.click(summary("Quick create — without leaving this page"))
		shoot(vp, "keys-quick-create")
		tb.open(fmt.Sprintf("/keys/%d", billing))
		shoot(vp, "key")
		tb.open("/alerts")
		shoot(vp, "alerts")
		tb.open("/alerts?status=all")
		shoot(vp, "alerts-all")
		tb.navigates("open the first alert's key", chromedp.Click(visibleXPath("//a[@data-testid='alert-key-link']")))
		shoot(vp, "key-with-alerts")
		tb.open("/keys/new")
		shoot(vp, "keys-new")
		// Only for this screen: with a passkey, her password alone would
		// no longer sign her in on the next round.
		seedPasskey(t, a, "ada@acme.dev", "Work laptop")
		tb.open("/account/security")
		shoot(vp, "security-passkeys")
		unseedPasskeys(t, a, "ada@acme.dev")
		tb.open("/account")
		shoot(vp, "account")
		tb.click(notifyLabel("A key of mine is used from a new address"))
		tb.saveNotifyChoices()
		shootPart(vp, "account-notifications", testID("notifications-card"))
		tb.click(notifyLabel("A key of mine is used from a new address")) // as it was, for the next screen
		tb.saveNotifyChoices()
		tb.fill("Name", "Nightly key rotation")
		tb.click(visibleXPath(`//input[@type='checkbox' and @value='keys:write']`))
		tb.do("create token", chromedp.Click(button("Create token")))
		tb.waitVisible(testID("token-reveal"))
		shoot(vp, "account-token-created")
		tb.navigates("Done", chromedp.Click(link("Done — I've saved my token")))
		shootSudo(t, a, tb, vp, billing, shoot)
		tb.open("/keys/999999")
		shoot(vp, "error")

		shootAdmin(t, tb, vp, shoot)
		shootNotifications(tb, vp, hook, shoot, shootPart)
		shootActivity(tb, vp, shootPart)
	}
	// Last, as each one adds a key to the list above.
	for _, vp := range screenshotViewports {
		setViewport(vp)
		tb.clearCookies()
		tb.login("ada@acme.dev", testPassword)
		tb.open("/keys/new")
		tb.fill("Name", "Mobile app backend")
		tb.checkScope("read:orders")
		tb.navigates("create", chromedp.Click(button("Create key")))
		tb.waitVisible(testID("key-reveal"))
		shoot(vp, "key-created")
		tb.navigates("Done", chromedp.Click(link("Done — I've saved my key")))
	}
	for _, vp := range screenshotViewports {
		setViewport(vp)
		shootSecurity(t, a, tb, vp, shoot)
	}
	// The admin console as an auditor sees it: everything, read-only.
	a.createUser("iris@acme.dev", db.RoleAuditor)
	for _, vp := range screenshotViewports {
		setViewport(vp)
		shootAuditor(tb, vp, billing, shoot)
	}
}

// shootAuditor takes the admin console as an auditor reads it (no action
// anywhere) and someone else's key page, read-only.
func shootAuditor(tb *tab, vp viewport, key int64, shoot func(viewport, string)) {
	tb.t.Helper()
	tb.clearCookies()
	tb.login("iris@acme.dev", testPassword)
	for _, p := range []struct{ path, name string }{
		{"/admin", "auditor-overview"},
		{"/admin/users", "auditor-users"},
		{"/admin/keys?stale=1", "auditor-stale"},
		{"/admin/audit", "auditor-audit"},
		{"/admin/settings", "auditor-settings"},
		{fmt.Sprintf("/keys/%d", key), "auditor-key"},
	} {
		tb.open(p.path)
		shoot(vp, p.name)
	}
}

// shootAdmin signs in as the admin and takes the admin console's pages,
// then the page an invited person opens. It changes nothing that a later
// screenshot shows: the bulk revoke is shown, not confirmed.
func shootAdmin(t *testing.T, tb *tab, vp viewport, shoot func(viewport, string)) {
	t.Helper()
	tb.clearCookies()
	tb.login("grace@acme.dev", testPassword)
	tb.open("/admin")
	shoot(vp, "admin-overview")
	tb.open("/admin/users")
	shoot(vp, "admin-users")
	tb.navigates("reset 2FA", chromedp.Click(button("Reset 2FA lin@acme.dev")))
	tb.waitVisible(testID("factors-reset-confirm"))
	shoot(vp, "admin-users-reset-2fa")
	tb.open("/admin/users")
	tb.fill("Email", "omar@acme.dev")
	tb.navigates("invite", chromedp.Click(button("Create invite link")))
	tb.waitVisible(testID("token-link-panel"))
	shoot(vp, "admin-invite")
	invite := tb.value("#token-link")
	tb.open("/admin/keys")
	shoot(vp, "admin-keys")
	tb.open("/admin/keys?stale=1")
	shoot(vp, "admin-stale")
	tb.checkBox("Select Old staging token")
	tb.checkBox("Select Hackathon demo (2025)")
	tb.navigates("revoke selected", chromedp.Click(button("Revoke selected")))
	tb.do("type a reason", chromedp.SendKeys(chromedp.ID(tb.fieldFor("Reason")), "Never used; found in the quarterly review"))
	shoot(vp, "admin-bulk-confirm")
	tb.open("/admin/audit")
	shoot(vp, "admin-audit")
	tb.open("/admin/settings")
	shoot(vp, "admin-settings")
	tb.shootSignInCard(vp, shoot)
	tb.clearCookies()
	tb.open(strings.TrimPrefix(invite, tb.app.http.URL))
	shoot(vp, "accept-invite")
}

// shootNotifications takes the admin's notification pages: the settings
// page's E-mail card after a test send, the webhook endpoints, the add form
// and its show-once secret (the endpoint is deleted again, so each viewport
// shows the same list), and an endpoint with its delivery log.
func shootNotifications(tb *tab, vp viewport, hook int64, shoot func(viewport, string), shootPart func(viewport, string, chromedp.CSS)) {
	tb.t.Helper()
	tb.clearCookies()
	tb.login("grace@acme.dev", testPassword)
	tb.open("/admin/settings")
	tb.fill("Send a test message to", "grace@acme.dev")
	tb.click(button("Send test e-mail"))
	tb.waitVisible(testID("mail-test-answer"))
	shootPart(vp, "admin-settings-email", testID("settings-email"))
	tb.open("/admin/webhooks")
	shoot(vp, "admin-webhooks")
	tb.open("/admin/webhooks/new")
	shoot(vp, "admin-webhook-new")
	const url = "https://93.184.216.34/keyward"
	tb.fill("URL", url)
	tb.fill("Description (optional)", "Security team's SIEM")
	tb.navigates("add endpoint", chromedp.Click(button("Add endpoint")))
	tb.waitVisible(testID("webhook-secret"))
	shoot(vp, "admin-webhook-created")
	if err := tb.app.store.DeleteWebhookEndpoint(context.Background(), tourWebhookID(tb.app, url), db.CLIActor()); err != nil {
		tb.t.Fatal(err)
	}
	tb.open(fmt.Sprintf("/admin/webhooks/%d", hook))
	shoot(vp, "admin-webhook")
}

// team is the rest of the showcase's organisation: an admin, and people
// whose keys were last touched long ago.
type team struct {
	admin      db.User
	contractor db.User
	revoke     []int64 // keys the admin revokes on the last day
}

// seedTeam adds the admin and two colleagues with keys that are stale by
// the time the showcase's month begins: 60 days pass here.
func seedTeam(t *testing.T, a *testApp) team {
	t.Helper()
	ctx := context.Background()
	var tm team
	tm.admin = a.createUser("grace@acme.dev", db.RoleAdmin)
	lin := a.createUser("lin@acme.dev", db.RoleMember)
	tm.contractor = a.createUser("sam@initech.example", db.RoleMember)
	create := func(u db.User, name string, scopes ...string) (db.Key, string) {
		k, s, err := a.store.CreateKey(ctx, u.ID, db.KeyInput{Name: name, Scopes: scopes}, db.Actor{UserID: u.ID, Label: u.Email, IP: "192.0.2.20"})
		if err != nil {
			t.Fatalf("seed %q: %v", name, err)
		}
		return k, s
	}
	_, zapier := create(lin, "Zapier integration", "read:orders")
	create(lin, "Old staging token", "read:orders", "write:orders")
	create(lin, "Hackathon demo (2025)")
	contract, used := create(tm.contractor, "Initech data sync", "read:invoices")
	export, _ := create(tm.contractor, "One-off export")
	tm.revoke = []int64{contract.ID, export.ID}
	for range 3 {
		for _, s := range []string{zapier, used} {
			if _, err := a.verifier.Verify(ctx, db.VerifyRequest{Key: s, IP: "198.51.100.7", UserAgent: "Zapier"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.flush()
	a.clock.Advance(60 * 24 * time.Hour)
	return tm
}

// seedShowcase fills the store with a believable month of one person's
// keys in every state, then a last day of hourly traffic during which the
// admin of tm cleans up, and returns the id of the busiest key. The shared
// test clock moves forward while it works, so keys have different ages
// and the usage charts have a shape.
func seedShowcase(t *testing.T, a *testApp, tm team) int64 {
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
	if _, err := a.store.SetKeyDisabled(ctx, db.OwnedBy(ada.ID), analytics.key.ID, true, "", actor); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.RevokeKey(ctx, db.OwnedBy(ada.ID), legacy.key.ID, "The ERP was retired.", actor); err != nil {
		t.Fatal(err)
	}
	// The last 24 hours, hour by hour, for the admin overview's chart: busy
	// in the (UTC) working day, quiet at night.
	load := [24]int{1, 1, 0, 0, 1, 1, 2, 3, 5, 6, 8, 9, 9, 9, 8, 8, 7, 6, 4, 3, 2, 2, 1, 1}
	admin := db.Actor{UserID: tm.admin.ID, Label: tm.admin.Email, IP: "192.0.2.5"}
	for h := range 24 {
		a.clock.Advance(time.Hour)
		hour := a.clock.Now().Hour()
		use(billing, load[hour], "10.0.4.17", "billing-worker/2.3 (go1.26)")
		use(orders, load[hour]/2, "10.0.8.3", "curl/8.5.0")
		a.flush()
		switch h {
		case 14:
			if _, err := a.store.BulkRevokeKeys(ctx, tm.revoke, "Contract with Initech ended; access no longer needed.", admin); err != nil {
				t.Fatal(err)
			}
		case 15:
			if err := a.store.SetUserDisabled(ctx, tm.contractor.ID, true, admin); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.clock.Advance(20 * time.Minute)
	return billing.key.ID
}

// seedTokens gives email's account page management tokens in each state:
// one in use, one never used, one revoked.
func seedTokens(t *testing.T, a *testApp, email string) {
	t.Helper()
	ctx := context.Background()
	u, err := a.store.GetUserByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	_, used := a.namedToken(u, "CI deploy", db.PermKeysRead, db.PermKeysWrite)
	if _, _, err := a.store.AuthenticateAPIToken(ctx, used, "203.0.113.24"); err != nil {
		t.Fatal(err)
	}
	a.namedToken(u, "Grafana usage panel", db.PermKeysRead)
	old, _ := a.namedToken(u, "Old laptop script", db.PermKeysWrite)
	if _, err := a.store.RevokeAPIToken(ctx, u.ID, old, db.Actor{UserID: u.ID, Label: u.Email}); err != nil {
		t.Fatal(err)
	}
}
