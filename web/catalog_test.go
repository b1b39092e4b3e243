package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// adminOnlyScope can be granted by admins only in the catalogs
// catalogApp makes.
const adminOnlyScope = "payments:refund"

// catalogApp is a test app whose catalog also has adminOnlyScope and
// approvalScope (needs approval).
func catalogApp(t *testing.T) *testApp {
	t.Helper()
	a := newTestApp(t)
	ctx := context.Background()
	for _, in := range []db.ScopeInput{
		{Name: adminOnlyScope, Description: "Refund payments", AdminOnly: true},
		{Name: approvalScope, Description: "Take payments", NeedsApproval: true},
	} {
		if _, err := a.store.CreateScope(ctx, in, db.CLIActor()); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// scopeState is what a refused scope change must leave as it was.
func scopeState(a *testApp, id int64) string {
	k := a.getKey(id)
	return strings.Join(k.Scopes, " ") + "|" + strings.Join(k.PendingScopes, " ")
}

// TestKeyScopesAuthorization: POST /keys/{id}/scopes by role. The owner
// and an admin change the scopes (and the verify cache forgets the key at
// once); another member gets 404 and a visitor the sign-in page, with
// nothing changed.
func TestKeyScopesAuthorization(t *testing.T) {
	a := catalogApp(t)
	owner, ownerUser := a.userBrowser("ann@example.com", db.RoleMember)
	other, _ := a.userBrowser("bob@example.com", db.RoleMember)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	k, secret := a.storeKey(ownerUser.ID, db.KeyInput{Name: "svc", Scopes: []string{"read"}})
	path := "/keys/" + itoa(k.ID) + "/scopes"

	tests := []struct {
		name       string
		b          *browser
		scopes     []string
		wantStatus int
		wantLoc    string
		wantScopes string // after; "" for unchanged
	}{
		{"signed out", a.browser(), []string{"read", "write"}, http.StatusSeeOther, "/login", ""},
		{"other member", other, []string{"read", "write"}, http.StatusNotFound, "", ""},
		{"owner", owner, []string{"read", "write"}, http.StatusSeeOther, "/keys/" + itoa(k.ID), "read write|"},
		{"admin", admin, []string{"write", adminOnlyScope}, http.StatusSeeOther, "/keys/" + itoa(k.ID), "write " + adminOnlyScope + "|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := scopeState(a, k.ID)
			if strings.HasPrefix(before, "read") {
				a.wantScopeCode(secret, "read", "")
			}
			r := tt.b.post(path, url.Values{"scopes": tt.scopes})
			if r.StatusCode != tt.wantStatus || (tt.wantLoc != "" && r.Header.Get("Location") != tt.wantLoc) {
				t.Fatalf("got %d Location %q, want %d %q", r.StatusCode, r.Header.Get("Location"), tt.wantStatus, tt.wantLoc)
			}
			want := tt.wantScopes
			if want == "" {
				want = before
			}
			if got := scopeState(a, k.ID); got != want {
				t.Errorf("got scopes %q, want %q", got, want)
			}
			for _, sc := range strings.Fields(strings.Split(want, "|")[0]) {
				a.wantScopeCode(secret, sc, "")
			}
			if tt.wantScopes != "" && !strings.Contains(tt.wantScopes, "read") {
				a.wantScopeCode(secret, "read", "INSUFFICIENT_SCOPE")
			}
		})
	}
	events, err := a.store.ListAudit(context.Background(), db.AuditFilter{TargetType: "key", TargetID: k.ID, Action: db.ActionKeyScopes})
	if err != nil || len(events) != 2 {
		t.Fatalf("got %d scope events (%v), want 2", len(events), err)
	}
	if d := events[0].Detail; d["old_scopes"] != "read write" || d["scopes"] != "write "+adminOnlyScope {
		t.Errorf("admin's event detail %v, want before and after", d)
	}
}

// wantScopeCode fails unless key asked for scope verifies with code.
func (a *testApp) wantScopeCode(key, scope, code string) {
	a.t.Helper()
	v := a.verify(key, scope)
	if v.Valid != (code == "") || v.Code != code {
		a.t.Fatalf("verify %q: got valid=%v code %q, want code %q", scope, v.Valid, v.Code, code)
	}
}

// TestMemberCannotGrantAdminOnlyScope: through the create form, htmx, a
// crafted POST of the form (the box is disabled, but a request can carry
// anything) and the key page's scopes form, a member's admin-only scope is
// refused beside the field and nothing is written.
func TestMemberCannotGrantAdminOnlyScope(t *testing.T) {
	a := catalogApp(t)
	b, u := a.userBrowser("ann@example.com", db.RoleMember)
	k, _ := a.storeKey(u.ID, db.KeyInput{Name: "svc", Scopes: []string{"read"}})
	wantMsg := `"` + adminOnlyScope + `" can be granted by admins only.`

	t.Run("the form shows it locked", func(t *testing.T) {
		d := b.get("/keys/new").doc(t)
		box := d.Find(`input[name="scopes"][value="` + adminOnlyScope + `"]`)
		if _, disabled := box.Attr("disabled"); box.Length() != 1 || !disabled {
			t.Errorf("got %d boxes, disabled %v, want one disabled box", box.Length(), disabled)
		}
		if got := d.Find(`[data-scope="` + approvalScope + `"] [data-testid="tag-approval"]`).Length(); got != 1 {
			t.Errorf("got %d needs-approval tags on %s, want 1", got, approvalScope)
		}
	})
	tests := []struct {
		name       string
		hdr        http.Header
		wantStatus int
	}{
		{"form", nil, http.StatusUnprocessableEntity},
		{"htmx", http.Header{"HX-Request": {"true"}}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run("create through "+tt.name, func(t *testing.T) {
			before := a.countKeys()
			f := keyForm("refund bot")
			f["scopes"] = []string{"read", adminOnlyScope}
			r := b.postWith("/keys", f, tt.hdr)
			if r.StatusCode != tt.wantStatus {
				t.Fatalf("got %d, want %d", r.StatusCode, tt.wantStatus)
			}
			d := r.doc(t)
			if got := strings.TrimSpace(d.Find(`[data-testid="scopes-error"]`).Text()); got != wantMsg {
				t.Errorf("got message %q, want %q", got, wantMsg)
			}
			if got := checkedScopes(d); got != "read" {
				t.Errorf("got checked %q, want read kept (the locked box cannot be checked)", got)
			}
			if keyInText.MatchString(r.body) || a.countKeys() != before {
				t.Errorf("a key was created")
			}
		})
	}
	t.Run("crafted POST to the key page", func(t *testing.T) {
		before := scopeState(a, k.ID)
		r := b.post("/keys/"+itoa(k.ID)+"/scopes", url.Values{"scopes": {"read", adminOnlyScope}})
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("got %d, want 422", r.StatusCode)
		}
		if got := strings.TrimSpace(r.doc(t).Find(`[data-testid="scopes-error"]`).Text()); got != wantMsg {
			t.Errorf("got message %q, want %q", got, wantMsg)
		}
		if got := scopeState(a, k.ID); got != before {
			t.Errorf("got scopes %q, want %q", got, before)
		}
	})
}

// TestApprovalOverHTTP: a member's key asking for an approval scope is
// shown once, waits (PENDING_APPROVAL, "pending" in the list), is counted
// on the admin overview and listed on /admin/requests; a denial needs a
// reason; an approval makes it verify. A scope added later waits on its
// own while the key keeps working, and its denial is shown on the key page.
func TestApprovalOverHTTP(t *testing.T) {
	a := catalogApp(t)
	member, _ := a.userBrowser("ann@example.com", db.RoleMember)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)

	f := keyForm("payments")
	f["scopes"] = []string{"read", approvalScope}
	id, secret := member.createKey(f)
	a.wantScopeCode(secret, "read", "PENDING_APPROVAL")
	page := member.get("/keys/" + itoa(id)).doc(t)
	if got := strings.Join(strings.Fields(page.Find(`[data-testid="approval-pending"]`).Text()), " "); !strings.Contains(got, "Waiting for approval of "+approvalScope+" since") {
		t.Errorf("key page: got %q, want it to say what waits since when", got)
	}
	if got := member.get("/keys?status=pending").doc(t).Find(`[data-testid="status-badge"][data-status="pending"]`).Length(); got != 1 {
		t.Errorf("pending filter: got %d pending badges, want 1", got)
	}
	if got := strings.TrimSpace(admin.get("/admin").doc(t).Find(`[data-testid="pending-count"]`).Text()); got != "1 key waits for your approval." {
		t.Errorf("overview: got %q, want the pending count", got)
	}
	reqs := admin.get("/admin/requests").doc(t).Find(`[data-testid="request"]`)
	if reqs.Length() != 1 || reqs.AttrOr("data-key-id", "") != itoa(id) || !strings.Contains(reqs.Text(), "ann@example.com") {
		t.Fatalf("requests: got %d (%q), want key %d by ann", reqs.Length(), reqs.Text(), id)
	}
	if r := admin.post("/admin/requests/"+itoa(id)+"/deny", url.Values{"reason": {""}}); r.StatusCode != http.StatusUnprocessableEntity ||
		r.doc(t).Find(`[data-testid="reason-error"]`).Length() != 1 {
		t.Fatalf("deny without a reason: got %d, want 422 with the message beside the field", r.StatusCode)
	}
	wantRedirect(t, admin.post("/admin/requests/"+itoa(id)+"/approve", nil), "/admin/requests")
	a.wantScopeCode(secret, approvalScope, "")
	if got := admin.get("/admin/requests").doc(t).Find(`[data-testid="request"]`).Length(); got != 0 {
		t.Errorf("requests after approval: got %d, want 0", got)
	}

	// A scope addition waits on its own; denying it keeps the key working.
	k2, secret2 := a.storeKey(a.getKey(id).UserID, db.KeyInput{Name: "reader", Scopes: []string{"read"}})
	wantRedirect(t, member.post("/keys/"+itoa(k2.ID)+"/scopes", url.Values{"scopes": {"read", approvalScope}}), "/keys/"+itoa(k2.ID))
	a.wantScopeCode(secret2, "read", "")
	a.wantScopeCode(secret2, approvalScope, "PENDING_APPROVAL")
	wantRedirect(t, admin.post("/admin/requests/"+itoa(k2.ID)+"/deny", url.Values{"reason": {"use payments:read"}}), "/admin/requests")
	a.wantScopeCode(secret2, "read", "")
	a.wantScopeCode(secret2, approvalScope, "INSUFFICIENT_SCOPE")
	if got := member.get("/keys/" + itoa(k2.ID)).doc(t).Find(`[data-testid="denial-reason"]`).Text(); got != "use payments:read" {
		t.Errorf("key page: got denial reason %q, want it shown", got)
	}
	actions := []string{}
	events, _ := a.store.ListAudit(context.Background(), db.AuditFilter{TargetType: "key"})
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{db.ActionKeyApprovalRequest, db.ActionKeyApprove, db.ActionKeyDeny} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit: no %s in %v", want, actions)
		}
	}
}

// TestCatalogPages: the admin adds, edits, renames and retires a scope
// through the pages; bad input comes back beside its field.
func TestCatalogPages(t *testing.T) {
	a := catalogApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	member, u := a.userBrowser("ann@example.com", db.RoleMember)
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "orders", Scopes: []string{"read:orders"}})

	row := admin.get("/admin/scopes").doc(t).Find(`[data-testid="scope-row"][data-scope="read:orders"] [data-testid="scope-keys"]`)
	if got := strings.TrimSpace(row.Text()); got != "1" {
		t.Errorf("keys carrying read:orders: got %q, want 1", got)
	}
	for _, tt := range []struct{ name, field string }{{"Bad Name", "name"}, {"read:orders", "name"}} {
		r := admin.post("/admin/scopes", url.Values{"name": {tt.name}, "grant": {"member"}})
		if r.StatusCode != http.StatusUnprocessableEntity || r.doc(t).Find(`[data-testid="`+tt.field+`-error"]`).Length() != 1 {
			t.Errorf("add %q: got %d, want 422 with a %s error", tt.name, r.StatusCode, tt.field)
		}
	}
	wantRedirect(t, admin.post("/admin/scopes", url.Values{"name": {"reports:read"}, "description": {"Read reports"}, "grant": {"admin"}, "needs_approval": {"1"}}), "/admin/scopes")
	if sc, err := a.store.GetScope(context.Background(), "reports:read"); err != nil || !sc.AdminOnly || !sc.NeedsApproval {
		t.Errorf("added scope: %+v, %v", sc, err)
	}
	page := admin.get("/admin/scopes/read:orders").doc(t)
	if got := page.Find(`[data-testid="scope-carrier-list"] li`).Length(); got != 1 {
		t.Errorf("scope page: got %d keys listed, want 1", got)
	}
	a.wantScopeCode(secret, "read:orders", "")
	wantRedirect(t, admin.post("/admin/scopes/read:orders/rename", url.Values{"new_name": {"orders:read"}}), "/admin/scopes/orders:read")
	a.wantScopeCode(secret, "orders:read", "")
	wantRedirect(t, admin.post("/admin/scopes/orders:read/retire", nil), "/admin/scopes/orders:read")
	if got := member.get("/keys/new").doc(t).Find(`input[value="orders:read"]`).Length(); got != 0 {
		t.Errorf("create form: got %d boxes for a retired scope, want 0", got)
	}
	wantRedirect(t, admin.post("/admin/scope-settings", url.Values{"allow": {"1"}}), "/admin/scopes")
	if got := member.get("/keys/new").doc(t).Find(`input[name="scopes_other"]`).Length(); got != 1 {
		t.Errorf("create form with scopes outside the catalog allowed: got %d other fields, want 1", got)
	}
	if r := admin.get("/admin/scopes/nope"); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown scope page: got %d, want 404", r.StatusCode)
	}
}
