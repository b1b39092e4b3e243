package web

import (
	"context"
	"database/sql"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// wantAuditorReadOnly is TestAdminAuthorization's auditor row: every admin
// page opens (200) with no form that changes anything (the only POST form
// left is sign-out), and every admin POST is refused with 403, nothing
// written. routes is the table checked against the router, so a new admin
// route is covered here too.
func wantAuditorReadOnly(t *testing.T, d *sql.DB, auditor *browser, routes []adminRoute) {
	t.Helper()
	before := adminState(t, d)
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.pattern, func(t *testing.T) {
			if rt.method == http.MethodPost {
				wantErrorPage(t, auditor.post(rt.path, maps.Clone(rt.form)), http.StatusForbidden)
				return
			}
			r := auditor.get(rt.path)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("got %d, want 200; body %.300s", r.StatusCode, r.body)
			}
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
				return // the CSV export
			}
			wantNoChangeForms(t, r.doc(t))
			if r.doc(t).Find(`[data-testid="read-only-note"]`).Length() != 1 {
				t.Errorf("got no read-only note, want one saying why there are no actions")
			}
		})
	}
	if after := adminState(t, d); after != before {
		t.Errorf("auditor requests changed the database: %s", snapshotDiff(before, after))
	}
}

// wantNoChangeForms fails when the page offers a change: a POST form other
// than sign-out, or a submit button outside a GET form.
func wantNoChangeForms(t *testing.T, doc *goquery.Document) {
	t.Helper()
	doc.Find("form").Each(func(_ int, f *goquery.Selection) {
		method, _ := f.Attr("method")
		action, _ := f.Attr("action")
		if strings.EqualFold(method, "post") && action != "/logout" {
			t.Errorf("got a POST form to %s, want none for a read-only viewer", action)
		}
	})
	doc.Find(`button, input[type="submit"]`).Each(func(_ int, b *goquery.Selection) {
		if f := b.Closest("form"); f.Length() == 0 {
			t.Errorf("got a button %q outside any form, want none", strings.TrimSpace(b.Text()))
		}
	})
}

// TestAuditorRoleIsCheckedOnEveryRequest: an auditor made a member loses
// the admin console on the next request, and one made an admin gains the
// changes on the next request.
func TestAuditorRoleIsCheckedOnEveryRequest(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	auditor, u := a.userBrowser("auditor@example.com", db.RoleAuditor)
	target := a.createUser("target@example.com", db.RoleMember)
	disable := "/admin/users/" + itoa(target.ID) + "/disable"

	if r := auditor.get("/admin/keys"); r.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/keys as auditor: got %d, want 200", r.StatusCode)
	}
	if got := auditor.get("/keys").doc(t).Find(`[data-testid="main-nav"] a[href="/admin"]`).Length(); got != 1 {
		t.Errorf("auditor's navigation: got %d Admin links, want 1", got)
	}
	wantErrorPage(t, auditor.post(disable, nil), http.StatusForbidden)

	wantRedirect(t, admin.post("/admin/users/"+itoa(u.ID)+"/role", url.Values{"role": {"admin"}}), "/admin/users")
	wantRedirect(t, auditor.post(disable, nil), "/admin/users")
	wantRole(t, a, "target@example.com", db.RoleMember, true)

	wantRedirect(t, admin.post("/admin/users/"+itoa(u.ID)+"/role", url.Values{"role": {"member"}}), "/admin/users")
	wantErrorPage(t, auditor.get("/admin"), http.StatusForbidden)
	if got := auditor.get("/keys").doc(t).Find(`[data-testid="main-nav"] a[href="/admin"]`).Length(); got != 0 {
		t.Errorf("member's navigation: got %d Admin links, want none", got)
	}
}

// TestAdminUserRoleForm: the role route takes admin, auditor or member;
// anything else is a 400 that changes nothing; the role change is
// audited with the old and new role.
func TestAdminUserRoleForm(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	target := a.createUser("target@example.com", db.RoleMember)
	path := "/admin/users/" + itoa(target.ID) + "/role"
	tests := []struct {
		name       string
		role       string
		wantStatus int
		wantRole   db.Role
		wantFlash  string
	}{
		{"to auditor", "auditor", http.StatusSeeOther, db.RoleAuditor, "target@example.com was made an auditor."},
		{"to admin", "admin", http.StatusSeeOther, db.RoleAdmin, "target@example.com was made an admin."},
		{"to member", "member", http.StatusSeeOther, db.RoleMember, "target@example.com was made a member."},
		{"unknown role", "owner", http.StatusBadRequest, db.RoleMember, ""},
		{"no role", "", http.StatusBadRequest, db.RoleMember, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.post(path, url.Values{"role": {tt.role}})
			if r.StatusCode != tt.wantStatus {
				t.Fatalf("got %d, want %d; body %.300s", r.StatusCode, tt.wantStatus, r.body)
			}
			wantRole(t, a, "target@example.com", tt.wantRole, false)
			if tt.wantFlash != "" {
				wantFlash(t, flashes(t, admin, "/admin/users", "success"), tt.wantFlash)
			}
		})
	}
	var changes []string
	for _, row := range auditRows(t, admin.get("/admin/audit?user=target%40example.com")) {
		if strings.Contains(row, "Role raised") || strings.Contains(row, "Role lowered") {
			changes = append(changes, row)
		}
	}
	if len(changes) != 3 {
		t.Errorf("role change events for target: got %q, want 3", changes)
	}
}

// TestAuditorKeyPages: an auditor opens anyone's key page read-only and
// cannot change a key they do not own (404, as for any member: keyAccess
// decides writes), while their own keys work like a member's.
func TestAuditorKeyPages(t *testing.T) {
	a := newTestApp(t)
	auditor, au := a.userBrowser("auditor@example.com", db.RoleAuditor)
	owner := a.createUser("owner@example.com", db.RoleMember)
	k, secret := a.storeKey(owner.ID, db.KeyInput{Name: "owned"})
	path := "/keys/" + itoa(k.ID)

	r := auditor.get(path)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s as auditor: got %d, want 200", path, r.StatusCode)
	}
	doc := r.doc(t)
	wantNoChangeForms(t, doc)
	if got := doc.Find(`[data-testid="key-owner"]`).Text(); got != "owner@example.com" {
		t.Errorf("owner: got %q, want owner@example.com", got)
	}
	if doc.Find(`[data-testid="read-only-note"]`).Length() != 1 {
		t.Errorf("got no read-only note on someone else's key, want one")
	}

	for _, post := range []struct {
		name string
		path string
		form url.Values
	}{
		{"edit", "/edit", url.Values{"name": {"taken"}, "description": {""}, "expires_on": {""}}},
		{"disable", "/disable", nil},
		{"enable", "/enable", nil},
		{"roll", "/roll", url.Values{"grace": {"1h"}}},
		{"revoke", "/revoke", url.Values{"reason": {"x"}}},
	} {
		t.Run(post.name+" someone else's key", func(t *testing.T) {
			before := a.getKey(k.ID)
			if r := auditor.post(path+post.path, post.form); r.StatusCode != http.StatusNotFound {
				t.Errorf("got %d, want 404", r.StatusCode)
			}
			if after := a.getKey(k.ID); !reflect.DeepEqual(after, before) {
				t.Errorf("key changed:\n got %+v\nwant %+v", after, before)
			}
		})
	}
	a.wantCode(secret, "")

	t.Run("own key", func(t *testing.T) {
		own, _ := a.storeKey(au.ID, db.KeyInput{Name: "mine"})
		doc := auditor.get("/keys/" + itoa(own.ID)).doc(t)
		if doc.Find(`[data-testid="edit-form"]`).Length() != 1 || doc.Find(`[data-testid="read-only-note"]`).Length() != 0 {
			t.Errorf("own key page: want the edit form and no read-only note")
		}
		wantRedirect(t, auditor.post("/keys/"+itoa(own.ID)+"/edit", url.Values{"name": {"renamed"}, "description": {""}, "expires_on": {""}}),
			"/keys/"+itoa(own.ID))
		if got := a.getKey(own.ID).Name; got != "renamed" {
			t.Errorf("own key name: got %q, want renamed", got)
		}
	})
}

// TestAuditorUsersPage: the auditor sees users and pending invites (with
// their roles, an auditor invite included) but no invite form, no row
// action and no invite action.
func TestAuditorUsersPage(t *testing.T) {
	a := newTestApp(t)
	auditor, _ := a.userBrowser("auditor@example.com", db.RoleAuditor)
	a.createUser("ann@example.com", db.RoleMember)
	if _, _, err := a.store.CreateInvite(context.Background(), "iris@example.com", db.RoleAuditor, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	doc := auditor.get("/admin/users").doc(t)
	wantNoChangeForms(t, doc)
	if got := strings.TrimSpace(doc.Find(`[data-testid="invite-row"] [data-testid="invite-role"]`).Text()); got != "Auditor" {
		t.Errorf("invite role: got %q, want Auditor", got)
	}
	for _, sel := range []string{`[data-testid="invite-card"]`, `[data-testid="invite-link"]`, `[data-testid="user-actions"]`, `[data-testid="invite-actions"]`} {
		if n := doc.Find(sel).Length(); n != 0 {
			t.Errorf("%s: got %d, want none for an auditor", sel, n)
		}
	}
	if got := doc.Find(`[data-testid="user-row"]`).Length(); got != 2 {
		t.Errorf("user rows: got %d, want 2", got)
	}
}
