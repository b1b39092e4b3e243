package web

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/handlers"
)

type apiUserRow struct {
	ID         int64   `json:"id"`
	Email      string  `json:"email"`
	Role       string  `json:"role"`
	DisabledAt *string `json:"disabled_at"`
	ActiveKeys int     `json:"active_keys"`
}

// TestMgmtUsersList pages through every user, by email, with their working
// keys counted; an auditor's token reads it, a member's is refused.
func TestMgmtUsersList(t *testing.T) {
	a := newTestApp(t)
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	auditor := a.createUser("audrey@example.com", db.RoleAuditor)
	ann := a.createUser("ann@example.com", db.RoleMember)
	for _, e := range []string{"dora@example.com", "carl@example.com", "bea@example.com"} {
		a.createUser(e, db.RoleMember)
	}
	a.storeKey(ann.ID, db.KeyInput{Name: "one"})
	a.storeKey(ann.ID, db.KeyInput{Name: "two"})
	tok := a.token(admin, db.PermAdminRead)

	got := walk[apiUserRow](t, a.mgmt(tok), "/api/v1/admin/users", nil, 2)
	var emails []string
	for _, u := range got {
		emails = append(emails, u.Email)
		if want := map[string]int{"ann@example.com": 2}[u.Email]; u.ActiveKeys != want {
			t.Errorf("%s: got %d active keys, want %d", u.Email, u.ActiveKeys, want)
		}
	}
	want := []string{"admin@example.com", "ann@example.com", "audrey@example.com", "bea@example.com", "carl@example.com", "dora@example.com"}
	if !slices.Equal(emails, want) {
		t.Errorf("users: got %v, want %v", emails, want)
	}

	t.Run("auditor reads", func(t *testing.T) {
		if r := a.mgmt(a.token(auditor)).get("/api/v1/admin/users"); r.StatusCode != http.StatusOK {
			t.Errorf("auditor: got %d, want 200: %s", r.StatusCode, r.body)
		}
	})
	t.Run("member refused", func(t *testing.T) {
		a.mgmt(a.token(ann)).get("/api/v1/admin/users").wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
	})
	bad := []struct {
		name, query string
		status      int
		code        string
	}{
		{"garbage cursor", "cursor=%21%21", http.StatusBadRequest, "INVALID_CURSOR"},
		{"another list's cursor", "cursor=" + *encodeTestCursor("audit", "5"), http.StatusBadRequest, "INVALID_CURSOR"},
		{"limit 0", "limit=0", http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
		{"limit 101", "limit=101", http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
		{"unknown filter", "rol=admin", http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			a.mgmt(tok).get("/api/v1/admin/users?"+tt.query).wantProblem(t, tt.status, tt.code)
		})
	}
}

// TestMgmtInvite: an invite answers its one-time link, which opens the
// accept page; bad input is refused field by field and writes nothing.
func TestMgmtInvite(t *testing.T) {
	a := newTestApp(t)
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	a.createUser("ann@example.com", db.RoleMember)
	tok, tokID := a.adminToken(admin)

	r := a.mgmt(tok).post("/api/v1/admin/invites", map[string]string{"email": "Bea@Example.com", "role": "auditor"})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("invite: got %d, want 201: %s", r.StatusCode, r.body)
	}
	var inv struct {
		Invite struct {
			ID          int64
			Email, Role string
		}
		Link string
	}
	r.decode(t, &inv)
	if inv.Invite.Email != "bea@example.com" || inv.Invite.Role != "auditor" || !strings.HasPrefix(inv.Link, a.http.URL+"/invite/") {
		t.Errorf("invite: got %+v, want bea as auditor with a link under %s/invite/", inv, a.http.URL)
	}
	if page := a.browser().get(strings.TrimPrefix(inv.Link, a.http.URL)); page.StatusCode != http.StatusOK {
		t.Errorf("the invite link: got %d, want 200", page.StatusCode)
	}
	a.wantTokenEvent(t, db.ActionInviteCreate, admin, tokID)
	if e := a.lastAudit(db.ActionInviteCreate); strings.Contains(e.Detail["token"], strings.TrimPrefix(inv.Link, a.http.URL+"/invite/")) {
		t.Errorf("the audit log holds the invite's secret: %+v", e.Detail)
	}

	bad := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"bad role", map[string]string{"email": "cy@example.com", "role": "owner"}, http.StatusUnprocessableEntity, "VALIDATION_FAILED", "body.role"},
		{"unknown field", map[string]string{"email": "cy@example.com", "role": "member", "admin": "yes"}, http.StatusUnprocessableEntity, "VALIDATION_FAILED", ""},
		{"no email", map[string]string{"role": "member"}, http.StatusUnprocessableEntity, "VALIDATION_FAILED", ""},
		{"bad email", map[string]string{"email": "not-an-address", "role": "member"}, http.StatusBadRequest, "INVALID", "body.email"},
		{"has an account", map[string]string{"email": "ann@example.com", "role": "member"}, http.StatusBadRequest, "INVALID", "body.email"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			before := len(a.auditEvents(db.ActionInviteCreate))
			p := a.mgmt(tok).post("/api/v1/admin/invites", tt.body).wantProblem(t, tt.status, tt.code)
			if tt.field != "" && !hasField(p.Errors, tt.field) {
				t.Errorf("errors: got %+v, want one at %s", p.Errors, tt.field)
			}
			if after := len(a.auditEvents(db.ActionInviteCreate)); after != before {
				t.Errorf("invites made: got %d, want %d", after, before)
			}
		})
	}
	t.Run("auditor refused", func(t *testing.T) {
		auditor := a.createUser("audrey@example.com", db.RoleAuditor)
		a.mgmt(a.token(auditor)).post("/api/v1/admin/invites", map[string]string{"email": "dee@example.com", "role": "member"}).
			wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
	})
}

// TestMgmtUserChanges: disable, enable and role through an admin's token
// follow the users page's rules, answer the user as changed, and are
// audited with the token.
func TestMgmtUserChanges(t *testing.T) {
	a := newTestApp(t)
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleMember)
	annTok := a.token(ann)
	tok, tokID := a.adminToken(admin)
	c := a.mgmt(tok)
	path := func(id int64, action string) string { return "/api/v1/admin/users/" + itoa(id) + "/" + action }

	var u apiUserRow
	r := c.post(path(ann.ID, "disable"), nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("disable: got %d, want 200: %s", r.StatusCode, r.body)
	}
	r.decode(t, &u)
	if u.Email != ann.Email || u.DisabledAt == nil {
		t.Errorf("disable: got %+v, want ann disabled", u)
	}
	a.wantTokenEvent(t, db.ActionUserDisable, admin, tokID)
	a.mgmt(annTok).get("/api/v1/me").wantProblem(t, http.StatusUnauthorized, "OWNER_DISABLED")

	r = c.post(path(ann.ID, "enable"), nil)
	r.decode(t, &u)
	if r.StatusCode != http.StatusOK || u.DisabledAt != nil {
		t.Errorf("enable: got %d %+v, want 200, not disabled", r.StatusCode, u)
	}
	a.wantTokenEvent(t, db.ActionUserEnable, admin, tokID)

	r = c.post(path(ann.ID, "role"), map[string]string{"role": "auditor"})
	r.decode(t, &u)
	if r.StatusCode != http.StatusOK || u.Role != "auditor" {
		t.Errorf("role: got %d %+v, want 200, auditor", r.StatusCode, u)
	}
	a.wantTokenEvent(t, db.ActionUserPromote, admin, tokID)

	refusals := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
	}{
		{"disable yourself", path(admin.ID, "disable"), nil, http.StatusConflict, "CONFLICT"},
		{"demote yourself, the last admin", path(admin.ID, "role"), map[string]string{"role": "member"}, http.StatusConflict, "CONFLICT"},
		{"unknown user disable", path(9999, "disable"), nil, http.StatusNotFound, "NOT_FOUND"},
		{"unknown user enable", path(9999, "enable"), nil, http.StatusNotFound, "NOT_FOUND"},
		{"unknown user role", path(9999, "role"), map[string]string{"role": "member"}, http.StatusNotFound, "NOT_FOUND"},
		{"id not a number", "/api/v1/admin/users/x/disable", nil, http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
		{"bad role", path(ann.ID, "role"), map[string]string{"role": "owner"}, http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
		{"unknown field", path(ann.ID, "role"), map[string]string{"role": "member", "why": "x"}, http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			before := len(a.auditEvents(""))
			c.post(tt.path, tt.body).wantProblem(t, tt.status, tt.code)
			if after := len(a.auditEvents("")); after != before {
				t.Errorf("audit events: got %d, want %d (nothing written)", after, before)
			}
		})
	}
	if got, _ := a.store.GetUser(t.Context(), admin.ID); got.Role != db.RoleAdmin || got.Disabled() {
		t.Errorf("admin after the refusals: got %s disabled=%v, want an active admin", got.Role, got.Disabled())
	}

	t.Run("the last active admin", func(t *testing.T) {
		// A second admin may demote the first while both are active; the
		// one left then is the last and stays one.
		bo := a.createUser("bo@example.com", db.RoleAdmin)
		boTok := a.token(bo)
		if r := a.mgmt(boTok).post(path(admin.ID, "role"), map[string]string{"role": "member"}); r.StatusCode != http.StatusOK {
			t.Fatalf("demote one of two admins: got %d: %s", r.StatusCode, r.body)
		}
		for _, tt := range []struct{ action, body string }{{"disable", ""}, {"role", "member"}} {
			var body any
			if tt.body != "" {
				body = map[string]string{"role": tt.body}
			}
			if p := a.mgmt(boTok).post(path(bo.ID, tt.action), body).wantProblem(t, http.StatusConflict, "CONFLICT"); p.Detail == "" {
				t.Errorf("%s the last admin: a refusal without a detail", tt.action)
			}
		}
		// The demoted admin's token lost admin:write with the role.
		c.post(path(bo.ID, "disable"), nil).wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
	})
	t.Run("member refused", func(t *testing.T) {
		a.mgmt(a.token(a.createUser("cy@example.com", db.RoleMember))).post(path(ann.ID, "disable"), nil).
			wantProblem(t, http.StatusForbidden, "MISSING_PERMISSION")
	})
}

// auditEvents lists up to 500 events, of action when not "".
func (a *testApp) auditEvents(action string) []db.AuditEvent {
	a.t.Helper()
	events, err := a.store.ListAudit(a.t.Context(), db.AuditFilter{Action: action, Limit: 500})
	if err != nil {
		a.t.Fatalf("audit: %v", err)
	}
	return events
}

func hasField(errs []handlers.ProblemField, location string) bool {
	for _, e := range errs {
		if e.Location == location {
			return true
		}
	}
	return false
}

// encodeTestCursor builds a cursor as the server does, for a test that
// hands one list's cursor to another.
func encodeTestCursor(kind, pos string) *string {
	s := url.QueryEscape(base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + pos)))
	return &s
}
