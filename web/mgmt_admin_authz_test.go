package web

import (
	"net/http"
	"testing"

	"github.com/keyward/keyward/db"
)

// TestMgmtAdminAuthz is the admin area's authorization table: each
// operation against tokens of each kind. A token without the operation's
// permission is refused with 403 MISSING_PERMISSION before anything runs;
// one with it gets past the check (to the operation's own answer, a
// success or, for these unknown ids, 404). Auditors' tokens read the admin
// side and change nothing; an admin's token carries only what it was given.
func TestMgmtAdminAuthz(t *testing.T) {
	a := newTestApp(t)
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	auditor := a.createUser("audrey@example.com", db.RoleAuditor)
	member := a.createUser("ann@example.com", db.RoleMember)
	tokens := []struct {
		name string
		tok  string
		has  []db.Permission
	}{
		{"member", a.token(member), db.RolePermissions(db.RoleMember)},
		{"auditor", a.token(auditor), db.RolePermissions(db.RoleAuditor)},
		{"admin keys only", a.token(admin, db.PermKeysRead, db.PermKeysWrite), []db.Permission{db.PermKeysRead, db.PermKeysWrite}},
		{"admin read only", a.token(admin, db.PermAdminRead), []db.Permission{db.PermAdminRead}},
		{"admin", a.token(admin), db.AllPermissions},
	}
	routes := []struct {
		method, path string
		body         any
		perm         db.Permission
	}{
		{http.MethodGet, "/api/v1/admin/users", nil, db.PermAdminRead},
		{http.MethodPost, "/api/v1/admin/invites", map[string]string{"email": "x@example.com", "role": "member"}, db.PermAdminWrite},
		{http.MethodPost, "/api/v1/admin/users/9999/disable", nil, db.PermAdminWrite},
		{http.MethodPost, "/api/v1/admin/users/9999/enable", nil, db.PermAdminWrite},
		{http.MethodPost, "/api/v1/admin/users/9999/role", map[string]string{"role": "member"}, db.PermAdminWrite},
		{http.MethodGet, "/api/v1/admin/audit", nil, db.PermAdminRead},
		{http.MethodGet, "/api/v1/admin/audit.jsonl", nil, db.PermAdminRead},
		{http.MethodGet, "/api/v1/scopes", nil, db.PermKeysRead},
		{http.MethodGet, "/api/v1/admin/scopes", nil, db.PermAdminRead},
		{http.MethodPost, "/api/v1/admin/scopes", map[string]string{"name": "authz:test"}, db.PermAdminWrite},
		{http.MethodPatch, "/api/v1/admin/scopes/nope", map[string]any{"admin_only": true}, db.PermAdminWrite},
		{http.MethodPost, "/api/v1/admin/scopes/nope/rename", map[string]string{"new_name": "nope2"}, db.PermAdminWrite},
		{http.MethodPost, "/api/v1/admin/scopes/nope/retire", nil, db.PermAdminWrite},
		{http.MethodPost, "/api/v1/admin/scopes/nope/restore", nil, db.PermAdminWrite},
		{http.MethodGet, "/api/v1/teams", nil, db.PermKeysRead},
		{http.MethodPost, "/api/v1/teams", map[string]string{"name": "authz"}, db.PermAdminWrite},
		{http.MethodGet, "/api/v1/teams/9999", nil, db.PermKeysRead},
		{http.MethodPost, "/api/v1/teams/9999/members", map[string]string{"email": "ann@example.com", "role": "member"}, db.PermKeysWrite},
		{http.MethodPost, "/api/v1/teams/9999/members/1/role", map[string]string{"role": "member"}, db.PermKeysWrite},
		{http.MethodPost, "/api/v1/teams/9999/members/1/remove", nil, db.PermKeysWrite},
	}
	for _, tk := range tokens {
		for _, rt := range routes {
			t.Run(tk.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				r := a.mgmt(tk.tok).call(rt.method, rt.path, rt.body, nil)
				allowed := false
				for _, p := range tk.has {
					allowed = allowed || p == rt.perm
				}
				switch {
				case !allowed:
					r.wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
				case r.StatusCode == http.StatusForbidden || r.StatusCode == http.StatusUnauthorized || r.StatusCode >= 500:
					t.Errorf("with %s: got %d, want past the permission check: %s", rt.perm, r.StatusCode, truncate(string(r.body), 300))
				}
			})
		}
	}
}
