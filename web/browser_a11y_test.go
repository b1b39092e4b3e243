package web

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web/notify/smtptest"
)

// axePath is axe-core, installed by npm as a dev dependency (package.json).
const axePath = "../node_modules/axe-core/axe.min.js"

// axeRun runs axe-core's WCAG 2.1 A and AA rules on the whole page and
// returns the violations in a compact form.
const axeRun = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
	.then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help,
		nodes: v.nodes.map(n => n.target.map(String).join(" ") + (n.failureSummary ? " — " + n.failureSummary.replace(/\s+/g, " ") : ""))
	})))`

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// loadAxe reads axe-core, or skips: the rules come from npm, not from Go.
func loadAxe(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(axePath)
	if err != nil {
		if os.Getenv("KEYWARD_BROWSER_TESTS") == "required" {
			t.Fatalf("axe-core is required (run npm ci): %v", err)
		}
		t.Skipf("axe-core not installed (run npm ci): %v", err)
	}
	return string(b)
}

// checkA11y injects axe into the current page through CDP (the page's CSP
// would refuse a <script>) and fails t for each violation.
func (tb *tab) checkA11y(t *testing.T, axe string) {
	t.Helper()
	if !evalJS[bool](tb, `typeof axe !== "undefined"`) {
		if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[chromedp.Void](axe)); err != nil {
			t.Fatalf("inject axe-core: %v", err)
		}
	}
	for _, v := range evalJS[[]axeViolation](tb, axeRun) {
		t.Errorf("%s (%s): %s\n\t%s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n\t"))
	}
}

// tourPage is one kind of page; load brings the tab to it.
type tourPage struct {
	name string
	load func()
}

// seedTour gives the tour a member with keys in use (one without scopes),
// one an admin disabled and one revoked, and a second session, a member
// without keys, and an admin with keys that went stale 100 days ago to
// review and a second admin. It returns the id of the used key.
func seedTour(t *testing.T, a *testApp) int64 {
	t.Helper()
	root := a.createUser("root@example.com", db.RoleAdmin)
	a.createUser("ops@example.com", db.RoleAdmin)
	old := a.createUser("old@example.com", db.RoleMember)
	for _, name := range []string{"Legacy importer", "Old reporting job", "Test key from 2025"} {
		seedUnusedKey(t, a, old.ID, name)
	}
	a.clock.Advance(100 * 24 * time.Hour)
	ada := a.createUser("ada@example.com", db.RoleMember)
	a.createUser("new@example.com", db.RoleMember)
	k, key := seedKey(t, a, ada.ID, "Billing service", "read:invoices", "write:invoices")
	seedKey(t, a, ada.ID, "CI deploy bot")
	ctx, by := context.Background(), db.Actor{UserID: root.ID, Label: root.Email}
	paused, _ := seedKey(t, a, ada.ID, "Paused by an admin")
	if _, err := a.store.SetKeyDisabled(ctx, db.AnyOwner(), paused.ID, true, "Unusual traffic from 203.0.113.9", by); err != nil {
		t.Fatal(err)
	}
	retired, _ := seedKey(t, a, ada.ID, "Retired key")
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), retired.ID, "Leaked in a build log", by); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		serviceVerify(t, a, key)
	}
	a.flush()
	a.browser().login("ada@example.com", testPassword) // another session on /account
	seedNotifications(t, a, root)
	seedAlerts(t, a, "ada@example.com")
	return k.ID
}

// newTourApp is the tour's server: with e-mail (a real SMTP server, so the
// settings page shows the configured state and a test send's answer), no
// delivery worker (the logs stay as seedNotifications leaves them).
func newTourApp(t *testing.T) *testApp {
	t.Helper()
	return newTestApp(t, withMail(t, smtptest.Start(t, smtptest.Options{})), withSSOButton)
}

// withSSOButton configures single sign-on, so the sign-in page shows its
// button; the provider is discovered only when someone presses it (the
// flow itself: TestBrowserSSO).
func withSSOButton(c *Config) {
	c.OIDC = &OIDCConfig{Issuer: "https://login.example.com", ClientID: "keyward", ButtonLabel: "Sign in with Acme", GroupsClaim: "groups"}
}

// tour lists every kind of page in an order that needs one sign-in per
// person: signed out, then a member without keys, then one with keys, then
// the admin, then the invitee opening the admin's link.
func tour(a *testApp, tb *tab, keyID int64) []tourPage {
	tb.allowHTTPError(403)
	tb.allowHTTPError(404)
	tb.allowHTTPError(422)
	var invite string // the invite link the admin created, for the accept page
	// Setting up an authenticator app, then the second-factor page: last
	// of the member's pages, as it leaves them half signed in.
	sec := totpTour(a, tb, "ada@example.com")
	return []tourPage{
		{"login", func() { tb.open("/login") }},
		{"setup", func() { tb.open("/setup?token=" + url.QueryEscape(a.setupToken)) }},
		{"setup 403", func() { tb.open("/setup?token=wrong") }},
		{"login sso refused", func() {
			tb.allowHTTPError(400)
			tb.open("/login/sso/callback?state=forged")
			tb.waitVisible(testID("login-error"))
		}},
		{"keys empty", func() { tb.login("new@example.com", testPassword) }},
		{"alerts empty", func() { tb.open("/alerts") }},
		{"keys", func() {
			tb.clearCookies()
			tb.login("ada@example.com", testPassword)
		}},
		{"alerts", func() { tb.open("/alerts") }},
		{"alerts all", func() { tb.open("/alerts?status=all") }},
		{"keys new", func() { tb.open("/keys/new") }},
		{"key created", func() {
			tb.fill("Name", "Tour key")
			tb.navigates("create", chromedp.Click(button("Create key")))
			tb.waitVisible(testID("key-reveal"))
		}},
		{"key", func() { tb.open(fmt.Sprintf("/keys/%d", keyID)) }},
		{"key disabled by an admin", func() { tb.open(fmt.Sprintf("/keys/%d", tourKeyID(a, "Paused by an admin"))) }},
		{"key revoked", func() { tb.open(fmt.Sprintf("/keys/%d", tourKeyID(a, "Retired key"))) }},
		{"account", func() { tb.open("/account") }},
		{"account notifications saved", func() {
			tb.click(notifyLabel("A key of mine is used from a new address"))
			tb.saveNotifyChoices()
		}},
		{"sudo wrong password", func() {
			tb.open("/sudo?next=%2Faccount")
			tb.fill("Password", "not my password at all")
			tb.navigates("confirm", chromedp.Click(button("Confirm with password")))
			tb.waitVisible(`#sudo-password[aria-invalid="true"]`)
		}},
		{"sudo interrupting a roll", func() {
			a.clock.Advance(11 * time.Minute)
			tb.open(fmt.Sprintf("/keys/%d", keyID))
			tb.navigates("roll", chromedp.Click(button("Roll key")))
			tb.waitVisible(testID("sudo"))
		}},
		{"sudo resume", func() {
			tb.fill("Password", testPassword)
			tb.navigates("confirm", chromedp.Click(button("Confirm with password")))
			tb.waitVisible(testID("sudo-resume-form"))
		}},
		{"sso link", func() { tb.open("/account/security/sso/link") }},
		{"security with a passkey", func() {
			seedPasskey(tb.t, a, "ada@example.com", "Work laptop")
			tb.open("/account/security")
			tb.waitVisible(testID("passkey-row"))
		}},
		{"404", func() { tb.open("/keys/999999") }},
		{"admin 403", func() { tb.open("/admin") }},
		sec[0], sec[1], sec[2], sec[3], sec[4], sec[5],
		{"admin overview", func() {
			tb.clearCookies()
			tb.login("root@example.com", testPassword)
			tb.open("/admin")
		}},
		{"admin users with invite link", func() {
			tb.open("/admin/users")
			tb.fill("Email", "invitee@example.com")
			tb.navigates("create invite", chromedp.Click(button("Create invite link")))
			tb.waitVisible(testID("token-link-panel"))
			invite = strings.TrimPrefix(tb.value("#token-link"), a.http.URL)
		}},
		{"admin reset link asks for the password", func() {
			tb.open("/admin/users")
			tb.navigates("reset link", chromedp.Click(button("Reset link ops@example.com")))
			tb.waitVisible(testID("reset-confirm"))
		}},
		{"admin reset link wrong password", func() {
			tb.fill("Your password", "not my password at all")
			tb.navigates("create reset link", chromedp.Click(button("Create reset link")))
			tb.waitVisible(`#reset-current-password[aria-invalid="true"]`)
		}},
		{"admin reset 2FA confirm", func() {
			ops, err := a.store.GetUserByEmail(context.Background(), "ops@example.com")
			if err != nil {
				a.t.Fatal(err)
			}
			policyTOTP(a.t, a, ops)
			tb.open("/admin/users")
			tb.navigates("reset 2FA", chromedp.Click(button("Reset 2FA ops@example.com")))
			tb.waitVisible(testID("factors-reset-confirm"))
		}},
		{"admin settings sign-in error", func() {
			tb.open("/admin/settings")
			tb.fill("Confirm identity again after (minutes)", "soon")
			tb.navigates("save", chromedp.Click(button("Save sign-in rules")))
			tb.waitVisible(`#s-reauth_minutes[aria-invalid="true"]`)
		}},
		{"admin keys", func() { tb.open("/admin/keys") }},
		{"admin stale review", func() {
			tb.open("/admin/keys?stale=1")
			tb.waitVisible(testID("admin-keys-table"))
		}},
		{"admin bulk confirm", func() {
			tb.checkBox("Select Legacy importer")
			tb.checkBox("Select Old reporting job")
			tb.navigates("revoke selected", chromedp.Click(button("Revoke selected")))
			tb.waitVisible(testID("bulk-confirm-form"))
		}},
		{"admin settings error", func() {
			tb.open("/admin/settings")
			tb.fill("Stale after (days unused)", "ninety")
			tb.navigates("save", chromedp.Click(button("Save settings")))
			tb.waitVisible(`#s-stale_days[aria-invalid="true"]`)
		}},
		{"admin audit", func() { tb.open("/admin/audit") }},
		{"admin settings test e-mail", func() {
			tb.open("/admin/settings")
			tb.fill("Send a test message to", "root@example.com")
			tb.click(button("Send test e-mail"))
			tb.waitVisible(testID("mail-test-answer"))
		}},
		{"admin webhooks", func() { tb.open("/admin/webhooks") }},
		{"admin webhook form error", func() {
			tb.open("/admin/webhooks/new")
			tb.fill("URL", "https://localhost/hook")
			tb.navigates("add endpoint", chromedp.Click(button("Add endpoint")))
			tb.waitVisible(`#webhook-url[aria-invalid="true"]`)
		}},
		{"admin webhook secret", func() {
			tb.fill("URL", "https://93.184.216.34/hook")
			tb.navigates("add endpoint", chromedp.Click(button("Add endpoint")))
			tb.waitVisible(testID("webhook-secret"))
		}},
		{"admin webhook with delivery log", func() {
			tb.open(fmt.Sprintf("/admin/webhooks/%d", tourWebhookID(a, "https://hooks.example.com/keyward/events")))
			tb.waitVisible(testID("delivery-row"))
		}},
		{"invite", func() {
			tb.clearCookies()
			tb.open(invite)
			tb.waitVisible(testID("accept-form"))
		}},
		{"invite invalid", func() {
			tb.open("/invite/not-a-real-token")
			tb.waitVisible(testID("accept-invalid"))
		}},
	}
}

// tourWebhookID is the id of the seeded endpoint with url.
func tourWebhookID(a *testApp, url string) int64 {
	a.t.Helper()
	eps, err := a.store.ListWebhookEndpoints(context.Background())
	if err != nil {
		a.t.Fatalf("ListWebhookEndpoints: %v", err)
	}
	for _, ep := range eps {
		if ep.URL == url {
			return ep.ID
		}
	}
	a.t.Fatalf("no endpoint %s", url)
	return 0
}

// tourKeyID is the id of the seeded key named name.
func tourKeyID(a *testApp, name string) int64 {
	a.t.Helper()
	keys, err := a.store.ListKeys(context.Background(), db.AnyOwner(), db.KeyFilter{Search: name})
	if err != nil || len(keys) != 1 {
		a.t.Fatalf("key %q: got %d keys (%v), want 1", name, len(keys), err)
	}
	return keys[0].ID
}

// TestBrowserAccessibility runs axe-core on every kind of page, in the light
// and the dark colour scheme.
func TestBrowserAccessibility(t *testing.T) {
	axe := loadAxe(t)
	a := newTourApp(t)
	keyID := seedTour(t, a)
	// Eight budgets: the tour grew with the notification pages, and axe
	// runs twice on each page; a loaded machine needs the room.
	tb := newTabTimeout(t, a, 8*browserTimeout)
	for _, p := range tour(a, tb, keyID) {
		p.load()
		for _, scheme := range []string{"light", "dark"} {
			t.Run(p.name+"/"+scheme, func(t *testing.T) {
				tb.colorScheme(scheme)
				// Colour transitions (kw-btn) must finish before contrast
				// is measured: wait until no animation runs (getAnimations
				// applies the pending style change first).
				waitNoAnimations(t, tb)
				tb.checkA11y(t, axe)
			})
		}
		tb.colorScheme("light")
	}
}

// waitNoAnimations waits, within browserTimeout, until the page runs no
// CSS transition or animation.
func waitNoAnimations(t *testing.T, tb *tab) {
	t.Helper()
	deadline := time.Now().Add(browserTimeout)
	for !evalJS[bool](tb, `document.getAnimations().every(a => a.playState !== "running")`) {
		if time.Now().After(deadline) {
			t.Fatalf("animations still running after %v", browserTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrowserPhoneLayout loads every kind of page on a 390 px wide phone
// screen: none may scroll sideways (tables become a card per row).
func TestBrowserPhoneLayout(t *testing.T) {
	a := newTourApp(t)
	keyID := seedTour(t, a)
	tb := newTabTimeout(t, a, 4*browserTimeout) // a deadline, generous for a loaded machine
	tb.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, p := range tour(a, tb, keyID) {
		p.load()
		t.Run(p.name, func(t *testing.T) {
			if w := evalJS[int](tb, `document.documentElement.scrollWidth`); w > 390 {
				t.Errorf("page is %d px wide on a 390 px screen; want no sideways scrolling", w)
			}
			// The show-once key must fit its field: a field cannot wrap.
			cut := evalJS[int](tb, `(() => { const f = document.getElementById("new-key"); return f ? f.scrollWidth - f.clientWidth : 0 })()`)
			if cut > 0 {
				t.Errorf("the new key overflows its field by %d px; want all of it visible", cut)
			}
		})
	}
}
