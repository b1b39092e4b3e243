package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// inviteRows reads the pending invites on the users page, by email.
func inviteRows(t *testing.T, b *browser) map[string]*goquery.Selection {
	t.Helper()
	r := b.get("/admin/users")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/users: got %d, want 200", r.StatusCode)
	}
	rows := map[string]*goquery.Selection{}
	r.doc(t).Find(`[data-testid="invite-row"]`).Each(func(_ int, s *goquery.Selection) {
		rows[s.Find(`[data-testid="invite-email"]`).Text()] = s
	})
	return rows
}

func squish(s string) string { return strings.Join(strings.Fields(s), " ") }

// invite creates an invite through the users page and returns its path.
func invite(t *testing.T, a *testApp, b *browser, email, role string) string {
	t.Helper()
	return tokenLink(t, a, b.post("/admin/invites", url.Values{"email": {email}, "role": {role}}), "invite")
}

// TestAdminPendingInvites: the users page lists every invite whose link
// still works (address, role, who invited, when it expires); Revoke ends
// the link, New link replaces it; both are audited, and an invite that is
// gone gets a clear message.
func TestAdminPendingInvites(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	second, _ := a.userBrowser("second@example.com", db.RoleAdmin)

	if r := admin.get("/admin/users"); r.doc(t).Find(`[data-testid="no-invites"]`).Length() != 1 {
		t.Errorf("users page without invites: want the no-invites line")
	}
	ann := invite(t, a, admin, "ann@example.com", "member")
	a.clock.Advance(20 * time.Minute) // less than the idle timeout
	boss := invite(t, a, second, "boss@example.com", "admin")
	joined := invite(t, a, admin, "joined@example.com", "member")
	wantRedirect(t, a.browser().post(joined, acceptForm("violet tractor humming seaweed")), "/keys")

	rows := inviteRows(t, admin)
	if len(rows) != 2 || rows["ann@example.com"] == nil || rows["boss@example.com"] == nil {
		t.Fatalf("pending invites: got %v, want ann and boss", rows)
	}
	for email, want := range map[string][2]string{
		"ann@example.com":  {"Member", "Invited by admin@example.com · 20 minutes ago · expires in 7 days"}, // 6 days 23 h 40 min rounds to 7,
		"boss@example.com": {"Administrator", "Invited by second@example.com · just now · expires in 7 days"},
	} {
		row := rows[email]
		if got := squish(row.Find(`[data-testid="invite-role"]`).Text()); got != want[0] {
			t.Errorf("%s role: got %q, want %q", email, got, want[0])
		}
		if got := squish(row.Find(`[data-testid="invite-meta"]`).Text()); got != want[1] {
			t.Errorf("%s: got %q, want %q", email, got, want[1])
		}
	}

	t.Run("revoke", func(t *testing.T) {
		id := rows["boss@example.com"].AttrOr("data-invite-id", "")
		wantRedirect(t, admin.post("/admin/invites/"+id+"/revoke", nil), "/admin/users")
		wantFlash(t, flashes(t, admin, "/admin/users", "success"), "The invite for boss@example.com was revoked.")
		wantLinkInvalid(t, a.browser().get(boss))
		wantLinkInvalid(t, a.browser().post(boss, acceptForm("violet tractor humming seaweed")))
		if _, err := a.store.GetUserByEmail(context.Background(), "boss@example.com"); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("user of the revoked invite: got %v, want none", err)
		}
		if _, ok := inviteRows(t, admin)["boss@example.com"]; ok {
			t.Errorf("revoked invite still listed")
		}
		audit := auditRows(t, admin.get("/admin/audit?action=invite.revoke"))
		if len(audit) != 1 || !strings.Contains(audit[0], "boss@example.com") || !strings.Contains(audit[0], "admin@example.com") {
			t.Errorf("invite.revoke events: got %q, want one by admin@example.com for boss@example.com", audit)
		}
		// Again: gone, said clearly.
		wantRedirect(t, admin.post("/admin/invites/"+id+"/revoke", nil), "/admin/users")
		wantFlash(t, flashes(t, admin, "/admin/users", "error"), "This invite was already accepted, revoked or replaced, or it has expired.")
	})

	t.Run("new link", func(t *testing.T) {
		id := rows["ann@example.com"].AttrOr("data-invite-id", "")
		r := second.post("/admin/invites/"+id+"/renew", nil)
		fresh := tokenLink(t, a, r, "invite")
		if r.doc(t).Find(`[data-testid="token-link-renewed"]`).Length() != 1 {
			t.Errorf("new link panel: want the note that the old link stopped")
		}
		wantLinkInvalid(t, a.browser().get(ann))
		row := inviteRows(t, admin)["ann@example.com"]
		if got := squish(row.Find(`[data-testid="invite-meta"]`).Text()); got != "Invited by second@example.com · just now · expires in 7 days" {
			t.Errorf("renewed invite: got %q, want it from second@example.com, expiring in 7 days", got)
		}
		audit := auditRows(t, admin.get("/admin/audit?action=invite.create"))
		if len(audit) != 4 || !strings.Contains(audit[0], "second@example.com") || !strings.Contains(audit[0], "Invite link created") {
			t.Errorf("invite.create events: got %q, want 4, the newest by second@example.com", audit)
		}
		wantRedirect(t, a.browser().post(fresh, acceptForm("violet tractor humming seaweed")), "/keys")
		wantRole(t, a, "ann@example.com", db.RoleMember, false)
		if len(inviteRows(t, admin)) != 0 {
			t.Errorf("pending invites after every one was used or revoked: want none")
		}
	})

	t.Run("bad ids", func(t *testing.T) {
		for _, id := range []string{"abc", "0", "-3"} {
			for _, action := range []string{"revoke", "renew"} {
				wantErrorPage(t, admin.post("/admin/invites/"+id+"/"+action, nil), http.StatusNotFound)
			}
		}
		wantRedirect(t, admin.post("/admin/invites/99999/renew", nil), "/admin/users")
		wantFlash(t, flashes(t, admin, "/admin/users", "error"), "already accepted, revoked or replaced")
	})
}

// TestAdminLinksDieWithTheirCreator: an admin invites a new admin and makes
// a reset link, then is demoted or disabled. Neither link works any more,
// and neither does again when the account is restored.
func TestAdminLinksDieWithTheirCreator(t *testing.T) {
	for _, change := range []string{"role=member", "disable"} {
		t.Run(change, func(t *testing.T) {
			a := newTestApp(t)
			d := attackDB(t, a)
			admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
			second, secondU := a.userBrowser("second@example.com", db.RoleAdmin)
			_, member := a.userBrowser("member@example.com", db.RoleMember)
			boss := invite(t, a, second, "boss@example.com", "admin")
			reset := tokenLink(t, a, second.post("/admin/users/"+itoa(member.ID)+"/reset-link", nil), "reset")

			userAction(t, admin, secondU.ID, change, "success")
			for _, link := range []string{boss, reset} {
				before := adminState(t, d)
				wantLinkInvalid(t, a.browser().get(link))
				wantLinkInvalid(t, a.browser().post(link, acceptForm("violet tractor humming seaweed")))
				if after := adminState(t, d); after != before {
					t.Errorf("%s changed the database: %s", link, snapshotDiff(before, after))
				}
			}
			if len(inviteRows(t, admin)) != 0 {
				t.Errorf("pending invites: want none after the creator lost the role")
			}
			audit := auditRows(t, admin.get("/admin/audit?action=invite.revoke"))
			if len(audit) != 1 || !strings.Contains(audit[0], "boss@example.com") {
				t.Errorf("invite.revoke events: got %q, want boss@example.com's", audit)
			}

			undo := map[string]string{"role=member": "role=admin", "disable": "enable"}[change]
			userAction(t, admin, secondU.ID, undo, "success")
			wantLinkInvalid(t, a.browser().get(boss))
			wantLinkInvalid(t, a.browser().get(reset))
		})
	}
}

// TestAdminDisableVoidsResetLink: a reset link made before its user was
// disabled does not work again after the user is enabled.
func TestAdminDisableVoidsResetLink(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	_, bob := a.userBrowser("bob@example.com", db.RoleMember)
	reset := tokenLink(t, a, admin.post("/admin/users/"+itoa(bob.ID)+"/reset-link", nil), "reset")
	userAction(t, admin, bob.ID, "disable", "success")
	userAction(t, admin, bob.ID, "enable", "success")
	wantLinkInvalid(t, a.browser().get(reset))
	wantLinkInvalid(t, a.browser().post(reset, acceptForm("violet tractor humming seaweed")))
	a.browser().login("bob@example.com", testPassword)
	audit := auditRows(t, admin.get("/admin/audit?action=password.reset_link_revoke"))
	if len(audit) != 1 || !strings.Contains(audit[0], "the user was disabled") {
		t.Errorf("reset_link_revoke events: got %q, want one saying the user was disabled", audit)
	}
}

// TestAdminResetLinkRules: no reset link for yourself (your own row offers
// none, and a forged request is refused with a message); one for another
// admin asks for your password first, refuses a wrong one beside the field
// and audits it; one for a member needs nothing more.
func TestAdminResetLinkRules(t *testing.T) {
	a := newTestApp(t)
	admin, adminU := a.userBrowser("admin@example.com", db.RoleAdmin)
	_, other := a.userBrowser("other@example.com", db.RoleAdmin)
	_, member := a.userBrowser("member@example.com", db.RoleMember)
	resetPath := func(id int64) string { return "/admin/users/" + itoa(id) + "/reset-link" }

	doc := admin.get("/admin/users").doc(t)
	if doc.Find(`[data-testid="user-row"][data-user-id="`+itoa(adminU.ID)+`"] form[data-action="reset-link"]`).Length() != 0 {
		t.Errorf("own row: got a Reset link button, want none")
	}
	wantFlash(t, userAction(t, admin, adminU.ID, "reset-link", "error"), "You can't make a reset link for yourself. Change your password on your account page.")

	// Another admin: the button asks for the password first.
	r := admin.post(resetPath(other.ID), nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("reset link for an admin: got %d, want 200 (the password form)", r.StatusCode)
	}
	d := r.doc(t)
	if d.Find(`[data-testid="reset-confirm"]`).Length() != 1 || d.Find(`[data-testid="token-link-panel"]`).Length() != 0 {
		t.Fatalf("want the password form and no link")
	}
	if d.Find(`[data-testid="current_password-error"]`).Length() != 0 {
		t.Errorf("first step: got an error beside the password, want none")
	}
	if got := d.Find(`#reset-current-password`).AttrOr("autocomplete", ""); got != "current-password" {
		t.Errorf("password autocomplete: got %q, want current-password", got)
	}
	for name, pw := range map[string]string{"empty": "", "wrong": "not my password at all"} {
		t.Run(name, func(t *testing.T) {
			r := admin.post(resetPath(other.ID), url.Values{"current_password": {pw}})
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422", r.StatusCode)
			}
			d := r.doc(t)
			if d.Find(`[data-testid="current_password-error"]`).Length() != 1 || d.Find(`[data-testid="token-link-panel"]`).Length() != 0 {
				t.Errorf("want an error beside the password and no link")
			}
			if got := d.Find(`#reset-current-password`).AttrOr("aria-invalid", ""); got != "true" {
				t.Errorf("aria-invalid: got %q, want true", got)
			}
		})
	}
	denied := auditRows(t, admin.get("/admin/audit?action=password.reset_link_denied"))
	if len(denied) != 1 || !strings.Contains(denied[0], "other@example.com") || !strings.Contains(denied[0], "admin@example.com") {
		t.Errorf("reset_link_denied events: got %q, want one by admin@example.com on other@example.com", denied)
	}
	if rows := auditRows(t, admin.get("/admin/audit?action=password.reset_link")); len(rows) != 0 {
		t.Errorf("reset links made: got %q, want none yet", rows)
	}
	link := tokenLink(t, a, admin.post(resetPath(other.ID), url.Values{"current_password": {testPassword}}), "reset")
	wantRedirect(t, a.browser().post(link, acceptForm("violet tractor humming seaweed")), "/keys")

	// A member's link needs no password.
	tokenLink(t, a, admin.post(resetPath(member.ID), nil), "reset")
}
