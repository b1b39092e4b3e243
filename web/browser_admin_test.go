package web

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// The admin console's flows, done in Chromium the way an admin does them:
// invite someone and pass the link on, review stale keys and revoke some in
// bulk, lock an account out. Members must not get in at all.

// adminTab is a browser signed in as a new admin.
func adminTab(t *testing.T, a *testApp) (*tab, db.User) {
	t.Helper()
	u := a.createUser("root@example.com", db.RoleAdmin)
	tb := newTab(t, a)
	tb.login(u.Email, testPassword)
	return tb, u
}

// checkBox ticks the visible checkbox whose accessible label is label (its
// aria-label), with the mouse.
func (tb *tab) checkBox(label string) {
	tb.t.Helper()
	tb.click(visibleXPath("//input[@type='checkbox' and @aria-label=" + xpathLiteral(label) + "]"))
}

// texts is the rendered text of every element matching css, in order.
func (tb *tab) texts(css string) []string {
	tb.t.Helper()
	return evalJS[[]string](tb, `[...document.querySelectorAll(`+jsString(css)+`)]
		.map(el => el.innerText.replace(/\s+/g, " ").trim())`)
}

// seedUnusedKey creates a key without expiry for userID, so it can grow
// stale without expiring first.
func seedUnusedKey(t *testing.T, a *testApp, userID int64, name string) db.Key {
	t.Helper()
	k, _, err := a.store.CreateKey(context.Background(), userID, db.KeyInput{Name: name}, db.CLIActor())
	if err != nil {
		t.Fatalf("seed key %q: %v", name, err)
	}
	return k
}

// TestBrowserAdminInvite: the admin creates an invite, copies the link with
// its Copy button, and the invited person opens it in another browser, sets
// a password and is signed in.
func TestBrowserAdminInvite(t *testing.T) {
	a := newTestApp(t)
	tb, _ := adminTab(t, a)
	tb.grantClipboard()

	tb.navigates("open admin", chromedp.Click(link("Admin")))
	tb.navigates("open users", chromedp.Click(link("Users")))
	tb.fill("Email", "grace@example.com")
	tb.choose("Role", "Member")
	if st := tb.navigates("create invite", chromedp.Click(button("Create invite link"))); st != 200 {
		t.Fatalf("create invite: got status %d, want 200", st)
	}
	if got := tb.text(`#token-link-title`); got != "Invite link created — copy it" {
		t.Errorf("panel heading: got %q, want it to say the link is to be copied (no e-mail settings)", got)
	}
	shown := tb.value(`#token-link`)
	if !strings.HasPrefix(shown, a.http.URL+"/invite/") {
		t.Fatalf("invite link: got %q, want %s/invite/…", shown, a.http.URL)
	}
	tb.click(button("Copy"))
	tb.waitFor(`"Copied" on the button`,
		`document.querySelector('[data-copy="#token-link"] [data-copy-label]').textContent === "Copied"`)
	copied := tb.clipboard()
	if copied != shown {
		t.Fatalf("clipboard: got %q, want the link shown %q", copied, shown)
	}

	// The invited person, in a browser of their own.
	guest := newTab(t, a)
	if st := guest.open(strings.TrimPrefix(copied, a.http.URL)); st != 200 {
		t.Fatalf("open invite: got status %d, want 200", st)
	}
	if got := guest.value(`[data-testid="accept-email"]`); got != "grace@example.com" {
		t.Errorf("accept page email: got %q, want grace@example.com", got)
	}
	guest.fill("Password", testPassword)
	guest.fill("Confirm password", testPassword)
	if st := guest.navigates("accept", chromedp.Click(button("Create account"))); st != 200 {
		t.Fatalf("accept invite: got status %d, want 200", st)
	}
	if p := guest.path(); p != "/keys" {
		t.Fatalf("after accepting: got %s, want /keys", p)
	}
	if got := guest.text(testID("user-email")); got != "grace@example.com" {
		t.Errorf("signed in as: got %q, want grace@example.com", got)
	}
	if n := guest.count(`[data-testid="main-nav"] a[href="/admin"]`); n != 0 {
		t.Errorf("member nav: got %d Admin links, want 0", n)
	}

	// The link is spent.
	guest.allowHTTPError(404)
	guest.clearCookies()
	if st := guest.open(strings.TrimPrefix(copied, a.http.URL)); st != 404 {
		t.Errorf("reopened invite: got status %d, want 404", st)
	}
	guest.waitVisible(testID("accept-invalid"))

	// The admin's list has the new member.
	tb.open("/admin/users")
	if emails := tb.texts(`[data-testid="user-row"] [data-testid="user-email"]`); !slices.Contains(emails, "grace@example.com") {
		t.Errorf("users: got %v, want grace@example.com among them", emails)
	}
}

// TestBrowserAdminStaleReview: three keys nobody used for 100 days show up
// in the stale review; the admin revokes two with a reason, and the audit
// log has both revocations with it.
func TestBrowserAdminStaleReview(t *testing.T) {
	a := newTestApp(t)
	owner := a.createUser("ada@example.com", db.RoleMember)
	old := []db.Key{
		seedUnusedKey(t, a, owner.ID, "Legacy importer"),
		seedUnusedKey(t, a, owner.ID, "Old reporting job"),
		seedUnusedKey(t, a, owner.ID, "Test key from 2025"),
	}
	_, used := seedKey(t, a, owner.ID, "Once busy worker")
	wantVerify(t, a, used, "")
	a.flush()
	a.clock.Advance(100 * 24 * time.Hour)
	seedUnusedKey(t, a, owner.ID, "Fresh key") // new: not stale
	tb, _ := adminTab(t, a)

	tb.open("/admin/keys?stale=1")
	// "Once busy worker" expired (90 days) and is no longer stale.
	// Both counts are of stale keys: the fresh key, never used but too new
	// to be stale, is in neither.
	if got := tb.text(testID("stale-counts")); got != "3 stale keys, 3 never used" {
		t.Errorf("stale counts: got %q, want 3 stale keys, 3 never used", got)
	}
	names := tb.texts(`[data-testid="admin-key-row"] [data-testid="key-link"]`)
	slices.Sort(names)
	if want := []string{"Legacy importer", "Old reporting job", "Test key from 2025"}; !slices.Equal(names, want) {
		t.Fatalf("stale review: got %v, want %v", names, want)
	}
	if n := tb.count(`[data-testid="admin-key-row"] [data-testid="status-badge"][data-status="stale"]`); n != 3 {
		t.Errorf("stale badges: got %d, want 3", n)
	}

	tb.checkBox("Select Legacy importer")
	tb.checkBox("Select Test key from 2025")
	if st := tb.navigates("revoke selected", chromedp.Click(button("Revoke selected"))); st != 200 {
		t.Fatalf("revoke selected: got status %d, want 200", st)
	}
	if got := tb.text(`h1`); got != "Revoke 2 keys?" {
		t.Errorf("confirmation heading: got %q, want Revoke 2 keys?", got)
	}
	listed := tb.texts(`[data-testid="bulk-key-row"]`)
	if len(listed) != 2 || !strings.Contains(listed[0]+listed[1], "Legacy importer") || !strings.Contains(listed[0]+listed[1], "Test key from 2025") {
		t.Errorf("confirmation lists %q, want exactly the two selected keys", listed)
	}
	const reason = "Unused for 100 days, found in the quarterly review"
	// Typed into the empty textarea (chromedp.Clear needs a text node).
	tb.do("type the reason", chromedp.SendKeys(chromedp.ID(tb.fieldFor("Reason")), reason))
	if st := tb.navigates("confirm", chromedp.Click(button("Revoke 2 keys"))); st != 200 {
		t.Fatalf("confirm: got status %d, want 200", st)
	}
	if p := tb.path(); p != "/admin/keys?stale=1" {
		t.Errorf("after confirming: got %s, want back to the stale review", p)
	}
	if got := tb.text(testID("flash")); !strings.Contains(got, "Revoked 2 keys: “Test key from 2025” and “Legacy importer”.") {
		t.Errorf("flash: got %q, want Revoked 2 keys: “Test key from 2025” and “Legacy importer”.", got)
	}
	if names := tb.texts(`[data-testid="admin-key-row"] [data-testid="key-link"]`); !slices.Equal(names, []string{"Old reporting job"}) {
		t.Errorf("stale review after: got %v, want only Old reporting job", names)
	}
	for _, k := range []db.Key{old[0], old[2]} {
		got, err := a.store.GetKey(context.Background(), db.AnyOwner(), k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RevokedAt == nil || got.RevokeReason != reason {
			t.Errorf("key %q: got revoked %v reason %q, want revoked with the reason", k.Name, got.RevokedAt, got.RevokeReason)
		}
	}

	tb.navigates("open audit", chromedp.Click(link("Audit log")))
	var revoked []string
	for _, row := range tb.texts(`[data-testid="audit-row"]`) {
		if strings.Contains(row, "Key revoked") {
			revoked = append(revoked, row)
		}
	}
	if len(revoked) != 2 {
		t.Fatalf("audit: got %d Key revoked events %q, want 2", len(revoked), revoked)
	}
	// Both happened in the same millisecond, so their order is not asserted.
	for _, name := range []string{"Legacy importer", "Test key from 2025"} {
		i := slices.IndexFunc(revoked, func(row string) bool { return strings.Contains(row, "Key revoked "+name) })
		if i < 0 {
			t.Errorf("audit: got %q, want an event revoking %s", revoked, name)
			continue
		}
		if !strings.Contains(revoked[i], "reason: "+reason) || !strings.Contains(revoked[i], "root@example.com") {
			t.Errorf("audit event: got %q, want root@example.com revoking %s with the reason", revoked[i], name)
		}
	}
}

// TestBrowserAdminForbidden: a member sees no Admin link and gets the 403
// page at every admin URL.
func TestBrowserAdminForbidden(t *testing.T) {
	a := newTestApp(t)
	tb, _ := signedInTab(t, a, "ada@example.com")
	tb.allowHTTPError(403)
	if n := tb.count(`[data-testid="main-nav"] a`); n != 4 {
		t.Errorf("member nav: got %d links, want 4 (Keys, Teams, Alerts, Account)", n)
	}
	if n := tb.count(`a[href^="/admin"]`); n != 0 {
		t.Errorf("member page: got %d links to /admin, want 0", n)
	}
	for _, p := range []string{"/admin", "/admin/users", "/admin/keys?stale=1", "/admin/audit", "/admin/settings"} {
		if st := tb.open(p); st != 403 {
			t.Errorf("GET %s: got status %d, want 403", p, st)
			continue
		}
		if got := tb.text(testID("error-status")); got != "403" {
			t.Errorf("GET %s: got error page status %q, want 403", p, got)
		}
		if n := tb.count(`[data-testid="main-nav"] a[href="/admin"]`); n != 0 {
			t.Errorf("GET %s: the 403 page offers an Admin link", p)
		}
	}
}

// TestBrowserAdminDisableUser: the admin disables a member whose browser is
// open; that browser is signed out on its next click.
func TestBrowserAdminDisableUser(t *testing.T) {
	a := newTestApp(t)
	member, u := signedInTab(t, a, "bob@example.com")
	_, key := seedKey(t, a, u.ID, "Bob's service")
	member.open("/keys")
	tb, _ := adminTab(t, a)

	tb.open("/admin/users")
	tb.navigates("disable", chromedp.Click(button("Disable bob@example.com")))
	if d := tb.seenDialogs(); len(d) != 1 || !strings.Contains(d[0].Message, "Disable bob@example.com?") {
		t.Errorf("disable: got dialogs %v, want one confirmation", d)
	}
	// Bob owns a working key: the page offers to transfer it first.
	tb.waitVisible(testID("disable-choice"))
	tb.do("let the keys fail", chromedp.Click(chromedp.CSS("#choice-fail")))
	tb.navigates("confirm the disable", chromedp.Click(button("Disable bob@example.com")))
	if got := tb.text(testID("flash")); got != "bob@example.com was disabled." {
		t.Errorf("flash: got %q, want bob@example.com was disabled.", got)
	}
	status := tb.text(chromedp.CSS(fmt.Sprintf(`[data-user-id="%d"] [data-testid="user-status"]`, u.ID)))
	if status != "Disabled" {
		t.Errorf("user status: got %q, want Disabled", status)
	}
	wantVerify(t, a, key, "DISABLED")

	member.navigates("next click", chromedp.Click(link("Account")))
	if p := member.path(); !strings.HasPrefix(p, "/login") {
		t.Fatalf("disabled member's next click: got %s, want the sign-in page", p)
	}
	member.open("/keys")
	if p := member.path(); !strings.HasPrefix(p, "/login") {
		t.Errorf("disabled member on /keys: got %s, want the sign-in page", p)
	}
}
