package web

import (
	"net/http"
	"slices"
	"testing"

	"github.com/keyward/keyward/db"
)

type apiScopeRow struct {
	Name          string  `json:"name"`
	Description   string  `json:"description"`
	AdminOnly     bool    `json:"admin_only"`
	NeedsApproval bool    `json:"needs_approval"`
	RetiredAt     *string `json:"retired_at"`
	Keys          int     `json:"keys"`
}

// scopeRows finds name among rows.
func scopeRow(rows []apiScopeRow, name string) (apiScopeRow, bool) {
	i := slices.IndexFunc(rows, func(r apiScopeRow) bool { return r.Name == name })
	if i < 0 {
		return apiScopeRow{}, false
	}
	return rows[i], true
}

// TestMgmtScopeCatalog: an admin's token runs the catalog's life (add,
// change the rules, rename on the keys carrying it, retire, restore), each
// step audited with the token; members read the catalog they grant from.
func TestMgmtScopeCatalog(t *testing.T) {
	a := newTestApp(t)
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleMember)
	tok, tokID := a.adminToken(admin)
	c := a.mgmt(tok)
	member := a.mgmt(a.token(ann))

	var sc apiScopeRow
	r := c.post("/api/v1/admin/scopes", map[string]any{"name": "billing:read", "description": "Read invoices"})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: got %d, want 201: %s", r.StatusCode, r.body)
	}
	r.decode(t, &sc)
	if sc.Name != "billing:read" || sc.Description != "Read invoices" || sc.AdminOnly || sc.Keys != 0 {
		t.Errorf("create: got %+v", sc)
	}
	a.wantTokenEvent(t, db.ActionScopeCreate, admin, tokID)
	key, _ := a.storeKey(ann.ID, db.KeyInput{Name: "svc", Scopes: []string{"billing:read", "read"}})

	r = c.call(http.MethodPatch, "/api/v1/admin/scopes/billing:read", map[string]any{"admin_only": true}, nil)
	r.decode(t, &sc)
	if r.StatusCode != http.StatusOK || !sc.AdminOnly || sc.Description != "Read invoices" || sc.Keys != 1 {
		t.Errorf("update admin_only: got %d %+v, want admin-only, description kept, 1 key", r.StatusCode, sc)
	}
	a.wantTokenEvent(t, db.ActionScopeUpdate, admin, tokID)

	all := walk[apiScopeRow](t, c, "/api/v1/admin/scopes", nil, 3)
	if row, ok := scopeRow(all, "billing:read"); !ok || row.Keys != 1 || len(all) != len(testCatalog)+1 {
		t.Errorf("admin list: got %d scopes, billing:read %+v, want %d with billing:read on 1 key", len(all), row, len(testCatalog)+1)
	}
	if row, _ := scopeRow(all, "read"); row.Keys != 1 {
		t.Errorf("admin list: read on %d keys, want 1", row.Keys)
	}

	r = c.post("/api/v1/admin/scopes/billing:read/rename", map[string]string{"new_name": "invoices:read"})
	r.decode(t, &sc)
	if r.StatusCode != http.StatusOK || sc.Name != "invoices:read" || sc.Keys != 1 {
		t.Errorf("rename: got %d %+v, want invoices:read on 1 key", r.StatusCode, sc)
	}
	if got := a.getKey(key.ID).Scopes; !slices.Equal(got, []string{"invoices:read", "read"}) {
		t.Errorf("key scopes after the rename: got %v, want [invoices:read read]", got)
	}
	a.wantTokenEvent(t, db.ActionScopeRename, admin, tokID)

	r = c.post("/api/v1/admin/scopes/invoices:read/retire", nil)
	r.decode(t, &sc)
	if r.StatusCode != http.StatusOK || sc.RetiredAt == nil || sc.Keys != 1 {
		t.Errorf("retire: got %d %+v, want retired, still on 1 key", r.StatusCode, sc)
	}
	a.wantTokenEvent(t, db.ActionScopeRetire, admin, tokID)
	catalog := walk[apiScopeRow](t, member, "/api/v1/scopes", nil, 100)
	if _, ok := scopeRow(catalog, "invoices:read"); ok || len(catalog) != len(testCatalog) {
		t.Errorf("member catalog: got %d scopes (retired one listed: %v), want the %d live ones", len(catalog), ok, len(testCatalog))
	}

	r = c.post("/api/v1/admin/scopes/invoices:read/restore", nil)
	r.decode(t, &sc)
	if r.StatusCode != http.StatusOK || sc.RetiredAt != nil {
		t.Errorf("restore: got %d %+v, want not retired", r.StatusCode, sc)
	}
	a.wantTokenEvent(t, db.ActionScopeRestore, admin, tokID)
	catalog = walk[apiScopeRow](t, member, "/api/v1/scopes", nil, 2)
	if row, ok := scopeRow(catalog, "invoices:read"); !ok || !row.AdminOnly {
		t.Errorf("member catalog after the restore: got %+v (listed %v), want invoices:read, admin-only", row, ok)
	}

	refusals := []struct {
		name         string
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"duplicate", http.MethodPost, "/api/v1/admin/scopes", map[string]string{"name": "read"}, http.StatusBadRequest, "INVALID", "body.name"},
		{"bad name", http.MethodPost, "/api/v1/admin/scopes", map[string]string{"name": "Bad Name"}, http.StatusBadRequest, "INVALID", "body.name"},
		{"unknown field", http.MethodPost, "/api/v1/admin/scopes", map[string]any{"name": "x", "grant": "admin"}, http.StatusUnprocessableEntity, "VALIDATION_FAILED", ""},
		{"wrong type", http.MethodPatch, "/api/v1/admin/scopes/read", map[string]any{"admin_only": "yes"}, http.StatusUnprocessableEntity, "VALIDATION_FAILED", ""},
		{"rename onto another", http.MethodPost, "/api/v1/admin/scopes/read/rename", map[string]string{"new_name": "write"}, http.StatusBadRequest, "INVALID", "body.new_name"},
		{"update unknown", http.MethodPatch, "/api/v1/admin/scopes/nope", map[string]any{"admin_only": true}, http.StatusNotFound, "NOT_FOUND", ""},
		{"rename unknown", http.MethodPost, "/api/v1/admin/scopes/nope/rename", map[string]string{"new_name": "nope2"}, http.StatusNotFound, "NOT_FOUND", ""},
		{"retire unknown", http.MethodPost, "/api/v1/admin/scopes/nope/retire", nil, http.StatusNotFound, "NOT_FOUND", ""},
		{"restore unknown", http.MethodPost, "/api/v1/admin/scopes/nope/restore", nil, http.StatusNotFound, "NOT_FOUND", ""},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			before := len(a.auditEvents(""))
			p := c.call(tt.method, tt.path, tt.body, nil).wantProblem(t, tt.status, tt.code)
			if tt.field != "" && !hasField(p.Errors, tt.field) {
				t.Errorf("errors: got %+v, want one at %s", p.Errors, tt.field)
			}
			if after := len(a.auditEvents("")); after != before {
				t.Errorf("audit events: got %d, want %d (nothing written)", after, before)
			}
		})
	}

	t.Run("who may", func(t *testing.T) {
		auditor := a.mgmt(a.token(a.createUser("audrey@example.com", db.RoleAuditor)))
		if r := auditor.get("/api/v1/admin/scopes"); r.StatusCode != http.StatusOK {
			t.Errorf("auditor lists the catalog: got %d, want 200", r.StatusCode)
		}
		auditor.post("/api/v1/admin/scopes", map[string]string{"name": "x"}).wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
		member.get("/api/v1/admin/scopes").wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
		member.post("/api/v1/admin/scopes/read/retire", nil).wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
		member.get("/api/v1/scopes?cursor=nope").wantProblem(t, http.StatusBadRequest, "INVALID_CURSOR")
	})
}
