package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// userAction posts an admin action on a user and returns the flashes of
// kind shown on the users page it redirects to.
func userAction(t *testing.T, b *browser, userID int64, action, kind string) []string {
	t.Helper()
	path, form := "/admin/users/"+itoa(userID)+"/"+action, disableChoice(action)
	if role, ok := strings.CutPrefix(action, "role="); ok {
		path, form = "/admin/users/"+itoa(userID)+"/role", url.Values{"role": {role}}
	}
	wantRedirect(t, b.post(path, form), "/admin/users")
	return flashes(t, b, "/admin/users", kind)
}

// disableChoice is the form of a user action: a disable says what happens
// to the person's keys ("fail": as before teams, they stop working), so
// it does not stop at the page that offers to transfer them.
func disableChoice(action string) url.Values {
	if action == "disable" {
		return url.Values{"keys": {"fail"}}
	}
	return nil
}

func wantFlash(t *testing.T, got []string, want string) {
	t.Helper()
	if len(got) != 1 || !strings.Contains(got[0], want) {
		t.Errorf("flash: got %q, want one containing %q", got, want)
	}
}

func wantRole(t *testing.T, a *testApp, email string, role db.Role, disabled bool) {
	t.Helper()
	u := mustUser(t, a, email)
	if u.Role != role || u.Disabled() != disabled {
		t.Errorf("%s: got role %s disabled %v, want %s disabled %v", email, u.Role, u.Disabled(), role, disabled)
	}
}

func TestAdminLastAdminProtection(t *testing.T) {
	a := newTestApp(t)
	alice, aliceU := a.userBrowser("alice@example.com", db.RoleAdmin)

	// The only admin, acting on herself: refused with a message, unchanged.
	wantFlash(t, userAction(t, alice, aliceU.ID, "disable", "error"), "You can't disable your own account.")
	wantFlash(t, userAction(t, alice, aliceU.ID, "role=member", "error"), "You can't demote yourself.")
	wantRole(t, a, "alice@example.com", db.RoleAdmin, false)
	wantSignedIn(t, alice, "alice@example.com")

	// Nobody else can take the last admin away either (the CLI acts as
	// nobody in particular).
	ctx := context.Background()
	for name, err := range map[string]error{
		"disable": a.store.SetUserDisabled(ctx, aliceU.ID, true, db.CLIActor()),
		"demote":  a.store.SetUserRole(ctx, aliceU.ID, db.RoleMember, db.CLIActor()),
	} {
		if !errors.Is(err, db.ErrConflict) || !strings.Contains(err.Error(), "last active admin") {
			t.Errorf("%s the last admin from the CLI: got %v, want the last-admin conflict", name, err)
		}
	}
	wantRole(t, a, "alice@example.com", db.RoleAdmin, false)

	// The users page offers no way to lock yourself out.
	doc := alice.get("/admin/users").doc(t)
	self := doc.Find(`[data-testid="user-row"][data-user-id="` + itoa(aliceU.ID) + `"]`)
	for _, action := range []string{"disable", "role-member", "role-auditor"} {
		if self.Find(`form[data-action="`+action+`"]`).Length() != 0 {
			t.Errorf("own row: got a %s button, want none", action)
		}
	}

	// With a second admin, still nobody can demote or disable themselves...
	bob, bobU := a.userBrowser("bob@example.com", db.RoleAdmin)
	wantFlash(t, userAction(t, alice, aliceU.ID, "disable", "error"), "You can't disable your own account.")
	wantFlash(t, userAction(t, bob, bobU.ID, "role=member", "error"), "You can't demote yourself.")
	wantRole(t, a, "alice@example.com", db.RoleAdmin, false)
	wantRole(t, a, "bob@example.com", db.RoleAdmin, false)

	// ...but one admin can demote the other, who is then the only admin.
	wantFlash(t, userAction(t, bob, aliceU.ID, "role=member", "success"), "alice@example.com was made a member.")
	wantRole(t, a, "alice@example.com", db.RoleMember, false)
	wantErrorPage(t, alice.post("/admin/users/"+itoa(bobU.ID)+"/role", url.Values{"role": {"member"}}), http.StatusForbidden)
	wantRole(t, a, "bob@example.com", db.RoleAdmin, false)
	if err := a.store.SetUserDisabled(ctx, bobU.ID, true, db.CLIActor()); !errors.Is(err, db.ErrConflict) {
		t.Errorf("disable bob, now the last admin: got %v, want a conflict", err)
	}

	// A disabled admin does not count: promote alice, disable her, and bob is
	// again the last active admin.
	wantFlash(t, userAction(t, bob, aliceU.ID, "role=admin", "success"), "alice@example.com was made an admin.")
	wantFlash(t, userAction(t, bob, aliceU.ID, "disable", "success"), "alice@example.com was disabled.")
	if err := a.store.SetUserRole(ctx, bobU.ID, db.RoleMember, db.CLIActor()); !errors.Is(err, db.ErrConflict) {
		t.Errorf("demote bob with the other admin disabled: got %v, want a conflict", err)
	}
	wantRole(t, a, "bob@example.com", db.RoleAdmin, false)
}

func TestAdminDisableUser(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	laptop, bob := a.userBrowser("bob@example.com", db.RoleMember)
	phone := a.browser()
	phone.login("bob@example.com", testPassword)
	_, secret := a.storeKey(bob.ID, db.KeyInput{Name: "ci"})
	a.wantCode(secret, "") // now cached by the verifier

	wantFlash(t, userAction(t, admin, bob.ID, "disable", "success"), "bob@example.com was disabled.")
	wantSignedOut(t, laptop)
	wantSignedOut(t, phone)
	a.wantCode(secret, "DISABLED")
	if r := a.browser().post("/login", url.Values{"email": {"bob@example.com"}, "password": {testPassword}}); r.StatusCode == http.StatusSeeOther {
		t.Errorf("sign-in of a disabled user: got 303, want refused")
	}
	row := admin.get("/admin/users").doc(t).Find(`[data-testid="user-row"][data-user-id="` + itoa(bob.ID) + `"]`)
	if got := strings.TrimSpace(row.Find(`[data-testid="user-status"]`).Text()); got != "Disabled" {
		t.Errorf("status on the users page: got %q, want Disabled", got)
	}
	// Disabled users get no reset link: it would be a way back in.
	wantFlash(t, userAction(t, admin, bob.ID, "reset-link", "error"), "Enable the account")

	wantFlash(t, userAction(t, admin, bob.ID, "enable", "success"), "bob@example.com was enabled.")
	a.wantCode(secret, "")
	wantSignedOut(t, laptop) // ended sessions stay ended
	laptop.login("bob@example.com", testPassword)
	wantSignedIn(t, laptop, "bob@example.com")

	for _, action := range []string{"user.disable", "user.enable"} {
		rows := auditRows(t, admin.get("/admin/audit?user=bob@example.com&action="+action))
		if len(rows) != 1 || !strings.HasPrefix(strings.SplitN(rows[0], " | ", 3)[1], "admin@example.com") {
			t.Errorf("%s events for bob: got %q, want one by admin@example.com", action, rows)
		}
	}
}

func TestAdminEndUserSessions(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	laptop, bob := a.userBrowser("bob@example.com", db.RoleMember)
	_, secret := a.storeKey(bob.ID, db.KeyInput{Name: "ci"})

	wantFlash(t, userAction(t, admin, bob.ID, "sessions/end", "success"), "bob@example.com was signed out everywhere.")
	wantSignedOut(t, laptop)
	a.wantCode(secret, "") // keys keep working: only the browser sessions end
	wantSignedIn(t, admin, "admin@example.com")

	for _, id := range []string{"999999", "abc", "0"} {
		wantErrorPage(t, admin.post("/admin/users/"+id+"/sessions/end", nil), http.StatusNotFound)
	}
}

// tokenLink reads the one-time link from the panel on the users page and
// returns its path.
func tokenLink(t *testing.T, a *testApp, r response, kind string) string {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("create %s link: got %d, want 200; body %.300s", kind, r.StatusCode, r.body)
	}
	panel := r.doc(t).Find(`[data-testid="token-link-panel"]`)
	if panel.Length() != 1 {
		t.Fatalf("token-link-panel: got %d, want 1", panel.Length())
	}
	link := panel.Find("input#token-link").AttrOr("value", "")
	path, ok := strings.CutPrefix(link, a.http.URL)
	token, ok2 := strings.CutPrefix(path, "/"+kind+"/")
	if !ok || !ok2 || len(token) != 43 {
		t.Fatalf("link: got %q, want %s/%s/ and a 43-character token", link, a.http.URL, kind)
	}
	return path
}

// wantLinkInvalid fails unless r is the clear "link not valid" page.
func wantLinkInvalid(t *testing.T, r response) {
	t.Helper()
	if r.StatusCode != http.StatusNotFound && r.StatusCode != http.StatusConflict {
		t.Fatalf("got %d, want 404 or 409; body %.300s", r.StatusCode, r.body)
	}
	d := r.doc(t)
	if d.Find(`[data-testid="accept-invalid"]`).Length() != 1 || d.Find(`[data-testid="accept-form"]`).Length() != 0 {
		t.Fatalf("want the clear invalid-link page and no form")
	}
}

func acceptForm(password string) url.Values {
	return url.Values{"password": {password}, "password_confirm": {password}}
}

func TestAdminInvite(t *testing.T) {
	a := newTestApp(t)
	d := attackDB(t, a)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)

	path := tokenLink(t, a, admin.post("/admin/invites", url.Values{"email": {"New@Example.com"}, "role": {"member"}}), "invite")
	token := strings.TrimPrefix(path, "/invite/")
	if r := admin.get("/admin/users"); strings.Contains(r.body, token) || strings.Contains(r.body, "token-link-panel") {
		t.Errorf("users page after the invite: shows the link again, want it shown once")
	}

	newcomer := a.browser()
	r := newcomer.get(path)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET invite: got %d, want 200", r.StatusCode)
	}
	if got := r.doc(t).Find(`[data-testid="accept-email"]`).AttrOr("value", ""); got != "new@example.com" {
		t.Errorf("invited email: got %q, want new@example.com", got)
	}

	// Bad passwords are field errors; the link keeps working.
	for field, form := range map[string]url.Values{
		"password":         acceptForm("short"),
		"password_confirm": {"password": {"violet tractor humming seaweed"}, "password_confirm": {"something else entirely"}},
	} {
		r := newcomer.post(path, form)
		if r.StatusCode != http.StatusUnprocessableEntity || r.doc(t).Find(`[data-testid="`+field+`-error"]`).Length() != 1 {
			t.Errorf("accept with a bad %s: got %d, want 422 with a field error", field, r.StatusCode)
		}
	}

	wantRedirect(t, newcomer.post(path, acceptForm("violet tractor humming seaweed")), "/keys")
	wantSignedIn(t, newcomer, "new@example.com")
	wantRole(t, a, "new@example.com", db.RoleMember, false)

	// Single use: the second visit and a second submission change nothing.
	before := adminState(t, d)
	wantLinkInvalid(t, a.browser().get(path))
	wantLinkInvalid(t, a.browser().post(path, acceptForm("another fine passphrase here")))
	if after := adminState(t, d); after != before {
		t.Errorf("a used invite changed the database: %s", snapshotDiff(before, after))
	}
	a.browser().login("new@example.com", "violet tractor humming seaweed")

	rows := auditRows(t, admin.get("/admin/audit?action=invite.accept"))
	if len(rows) != 1 || !strings.Contains(rows[0], "new@example.com") {
		t.Errorf("invite.accept events: got %q, want one for new@example.com", rows)
	}
	if rows := auditRows(t, admin.get("/admin/audit?action=invite.create")); len(rows) != 1 {
		t.Errorf("invite.create events: got %d, want 1", len(rows))
	}
}

func TestAdminInviteAdminRole(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	path := tokenLink(t, a, admin.post("/admin/invites", url.Values{"email": {"boss@example.com"}, "role": {"admin"}}), "invite")
	b := a.browser()
	wantRedirect(t, b.post(path, acceptForm("violet tractor humming seaweed")), "/keys")
	if r := b.get("/admin"); r.StatusCode != http.StatusOK {
		t.Errorf("GET /admin as the invited admin: got %d, want 200", r.StatusCode)
	}
}

func TestAdminInviteInvalid(t *testing.T) {
	a := newTestApp(t)
	d := attackDB(t, a)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)

	t.Run("field errors", func(t *testing.T) {
		tests := []struct {
			name, email, role, field string
		}{
			{"invalid email", "not-an-email", "member", "email"},
			{"empty email", "", "member", "email"},
			{"existing email", "ADMIN@example.com", "member", "email"},
			{"unknown role", "someone@example.com", "owner", "role"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := adminState(t, d)
				r := admin.post("/admin/invites", url.Values{"email": {tt.email}, "role": {tt.role}})
				if r.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("got %d, want 422", r.StatusCode)
				}
				doc := r.doc(t)
				if doc.Find(`[data-testid="`+tt.field+`-error"]`).Length() != 1 {
					t.Errorf("no %s field error", tt.field)
				}
				if doc.Find(`[data-testid="token-link-panel"]`).Length() != 0 {
					t.Errorf("a refused invite shows a link")
				}
				if after := adminState(t, d); after != before {
					t.Errorf("a refused invite changed the database: %s", snapshotDiff(before, after))
				}
			})
		}
	})

	// Links made now; the clock moves later.
	expiring := tokenLink(t, a, admin.post("/admin/invites", url.Values{"email": {"late@example.com"}, "role": {"member"}}), "invite")
	tamperBase := tokenLink(t, a, admin.post("/admin/invites", url.Values{"email": {"tamper@example.com"}, "role": {"member"}}), "invite")
	superseded := tokenLink(t, a, admin.post("/admin/invites", url.Values{"email": {"twice@example.com"}, "role": {"member"}}), "invite")
	tokenLink(t, a, admin.post("/admin/invites", url.Values{"email": {"twice@example.com"}, "role": {"member"}}), "invite")

	tok := strings.TrimPrefix(tamperBase, "/invite/")
	flip := "A"
	if tok[0] == 'A' {
		flip = "B"
	}
	tampered := []string{
		"/invite/" + flip + tok[1:],
		"/invite/" + tok[:42],
		"/invite/" + tok + "A",
		"/invite/" + strings.Repeat("A", 43),
		"/invite/%2e%2e%2fadmin",
		"/reset/" + tok, // an invite token is not a reset token
		superseded,      // replaced by a newer invite to the same address
	}
	for _, p := range tampered {
		t.Run("tampered "+p, func(t *testing.T) {
			before := adminState(t, d)
			wantLinkInvalid(t, a.browser().get(p))
			wantLinkInvalid(t, a.browser().post(p, acceptForm("violet tractor humming seaweed")))
			if after := adminState(t, d); after != before {
				t.Errorf("changed the database: %s", snapshotDiff(before, after))
			}
		})
	}

	t.Run("expires after 7 days", func(t *testing.T) {
		a.clock.Advance(7*day - time.Minute)
		if r := a.browser().get(expiring); r.StatusCode != http.StatusOK {
			t.Fatalf("GET a 7-day invite after 6 days 23:59: got %d, want 200", r.StatusCode)
		}
		a.clock.Advance(time.Minute)
		before := adminState(t, d)
		wantLinkInvalid(t, a.browser().get(expiring))
		wantLinkInvalid(t, a.browser().post(expiring, acceptForm("violet tractor humming seaweed")))
		if after := adminState(t, d); after != before {
			t.Errorf("an expired invite changed the database: %s", snapshotDiff(before, after))
		}
		if _, err := a.store.GetUserByEmail(context.Background(), "late@example.com"); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("user of the expired invite: got %v, want not found", err)
		}
	})
}

func TestAdminResetLink(t *testing.T) {
	const next = "violet tractor humming seaweed"
	a := newTestApp(t)
	d := attackDB(t, a)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	laptop, bob := a.userBrowser("bob@example.com", db.RoleMember)

	first := tokenLink(t, a, admin.post("/admin/users/"+itoa(bob.ID)+"/reset-link", nil), "reset")
	path := tokenLink(t, a, admin.post("/admin/users/"+itoa(bob.ID)+"/reset-link", nil), "reset")
	wantLinkInvalid(t, a.browser().get(first)) // superseded by the newer link

	b := a.browser()
	r := b.get(path)
	if r.StatusCode != http.StatusOK || r.doc(t).Find(`[data-testid="accept-email"]`).AttrOr("value", "") != "bob@example.com" {
		t.Fatalf("GET reset link: got %d, want 200 with bob's email", r.StatusCode)
	}
	wantRedirect(t, b.post(path, acceptForm(next)), "/keys")
	wantSignedIn(t, b, "bob@example.com")
	wantSignedOut(t, laptop) // every earlier session ended

	if r := a.browser().post("/login", url.Values{"email": {"bob@example.com"}, "password": {testPassword}}); r.StatusCode == http.StatusSeeOther {
		t.Errorf("sign-in with the old password: got 303, want refused")
	}
	a.browser().login("bob@example.com", next)

	before := adminState(t, d)
	wantLinkInvalid(t, a.browser().get(path))
	wantLinkInvalid(t, a.browser().post(path, acceptForm("another fine passphrase here")))
	if after := adminState(t, d); after != before {
		t.Errorf("a used reset link changed the database: %s", snapshotDiff(before, after))
	}
	rows := auditRows(t, admin.get("/admin/audit?action=password.reset"))
	if len(rows) != 1 || !strings.Contains(rows[0], "bob@example.com") {
		t.Errorf("password.reset events: got %q, want one for bob", rows)
	}

	t.Run("expires after 1 hour", func(t *testing.T) {
		expiring := tokenLink(t, a, admin.post("/admin/users/"+itoa(bob.ID)+"/reset-link", nil), "reset")
		a.clock.Advance(59 * time.Minute)
		if r := a.browser().get(expiring); r.StatusCode != http.StatusOK {
			t.Fatalf("GET a reset link after 59 minutes: got %d, want 200", r.StatusCode)
		}
		a.clock.Advance(time.Minute)
		before := adminState(t, d)
		wantLinkInvalid(t, a.browser().get(expiring))
		wantLinkInvalid(t, a.browser().post(expiring, acceptForm("yet another fine passphrase")))
		if after := adminState(t, d); after != before {
			t.Errorf("an expired reset link changed the database: %s", snapshotDiff(before, after))
		}
		a.browser().login("bob@example.com", next)
	})
}
