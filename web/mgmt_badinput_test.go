package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// badCase is one row of the bad-input table of issue 16: a request the
// management API must refuse with a problem of the right status and code,
// writing nothing.
type badCase struct {
	name   string
	role   db.Role // whose token ("" for none)
	perms  []db.Permission
	bearer func(f *authzFixture) string // overrides the token
	method string
	path   func(f *authzFixture) string
	body   any
	hdr    http.Header
	status int
	code   string
}

// demotedAdmin is a token made with every permission by a person who was
// an admin and is a member now: it holds what a member holds.
func (f *authzFixture) demotedAdmin() string {
	f.a.t.Helper()
	u := f.a.createUser(fmt.Sprintf("demoted-%d@example.com", f.next()), db.RoleAdmin)
	tok := f.tokenWith(u, nil)
	if err := f.a.store.SetUserRole(context.Background(), u.ID, db.RoleMember, db.CLIActor()); err != nil {
		f.a.t.Fatal(err)
	}
	return tok
}

// badIdem is an Idempotency-Key no row shares with a success.
var badIdem = http.Header{"Idempotency-Key": {"bad-input"}}

func fixed(p string) func(*authzFixture) string { return func(*authzFixture) string { return p } }

// badCases is the table. Each row runs on one shared fixture, in order,
// with the database compared before and after.
var badCases = []badCase{
	{name: "an API key on a management route", bearer: func(f *authzFixture) string { return f.annKey },
		method: http.MethodGet, path: fixed("/api/v1/me"), status: http.StatusUnauthorized, code: "KEY_NOT_ACCEPTED"},
	{name: "a malformed token", bearer: fixed("kwt_not-a-token"),
		method: http.MethodGet, path: fixed("/api/v1/me"), status: http.StatusUnauthorized, code: "INVALID_TOKEN"},
	{name: "unknown query parameter", role: db.RoleMember,
		method: http.MethodGet, path: fixed("/api/v1/me?admin=true"), status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},

	// Tokens.
	{name: "token list: limit 0", role: db.RoleMember, method: http.MethodGet, path: fixed("/api/v1/tokens?limit=0"),
		status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "token list: limit 101", role: db.RoleMember, method: http.MethodGet, path: fixed("/api/v1/tokens?limit=101"),
		status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "token list: limit not a number", role: db.RoleMember, method: http.MethodGet, path: fixed("/api/v1/tokens?limit=ten"),
		status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "token list: forged cursor", role: db.RoleMember, method: http.MethodGet, path: fixed("/api/v1/tokens?cursor=MTIz"),
		status: http.StatusBadRequest, code: "INVALID_CURSOR"},
	{name: "revoke token: id not a number", role: db.RoleMember, method: http.MethodPost, path: fixed("/api/v1/tokens/abc/revoke"),
		status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "revoke token: id 0", role: db.RoleMember, method: http.MethodPost, path: fixed("/api/v1/tokens/0/revoke"),
		status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "revoke token: unknown id", role: db.RoleMember, method: http.MethodPost, path: fixed("/api/v1/tokens/999999/revoke"),
		status: http.StatusNotFound, code: "NOT_FOUND"},
	{name: "revoke token: another person's", role: db.RoleMember, method: http.MethodPost,
		path:   func(f *authzFixture) string { return "/api/v1/tokens/" + itoa(f.newToken(f.bob)) + "/revoke" },
		status: http.StatusNotFound, code: "NOT_FOUND"},
	{name: "revoke token: another person's, by an auditor", role: db.RoleAuditor, method: http.MethodPost,
		path:   func(f *authzFixture) string { return "/api/v1/tokens/" + itoa(f.newToken(f.bob)) + "/revoke" },
		status: http.StatusNotFound, code: "NOT_FOUND"},
	{name: "revoke token: already revoked", role: db.RoleMember, method: http.MethodPost,
		path: func(f *authzFixture) string {
			id := f.newToken(f.ann)
			if _, err := f.a.store.RevokeAPIToken(context.Background(), f.ann.ID, id, db.CLIActor()); err != nil {
				f.a.t.Fatal(err)
			}
			return "/api/v1/tokens/" + itoa(id) + "/revoke"
		},
		status: http.StatusConflict, code: "CONFLICT"},
	// Keys: the input rules are tested in mgmt_keys_test.go; here, the
	// kinds of bad input across the routes, each writing nothing.
	{name: "create key: unknown field", role: db.RoleMember, method: http.MethodPost, path: fixed("/api/v1/keys"),
		body: `{"name":"x","user_id":1}`, hdr: badIdem, status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "create key: wrong type", role: db.RoleMember, method: http.MethodPost, path: fixed("/api/v1/keys"),
		body: `{"name":["x"]}`, hdr: badIdem, status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "create key: name over 100 characters", role: db.RoleMember, method: http.MethodPost, path: fixed("/api/v1/keys"),
		body: map[string]any{"name": strings.Repeat("n", 101)}, hdr: badIdem, status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "create key: blank name", role: db.RoleMember, method: http.MethodPost, path: fixed("/api/v1/keys"),
		body: map[string]any{"name": "  "}, hdr: badIdem, status: http.StatusBadRequest, code: "INVALID"},
	{name: "create key: a read-only token", role: db.RoleMember, perms: []db.Permission{db.PermKeysRead}, method: http.MethodPost,
		path: fixed("/api/v1/keys"), body: map[string]any{"name": "x"}, hdr: badIdem, status: http.StatusForbidden, code: "MISSING_PERMISSION"},
	{name: "create key: an API key", bearer: func(f *authzFixture) string { return f.annKey }, method: http.MethodPost,
		path: fixed("/api/v1/keys"), body: map[string]any{"name": "x"}, hdr: badIdem, status: http.StatusUnauthorized, code: "KEY_NOT_ACCEPTED"},
	{name: "list keys: limit 101", role: db.RoleMember, method: http.MethodGet, path: fixed("/api/v1/keys?limit=101"),
		status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "list keys: unknown filter", role: db.RoleMember, method: http.MethodGet, path: fixed("/api/v1/keys?owner=bob@example.com"),
		status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "list every key: a member", role: db.RoleMember, method: http.MethodGet, path: fixed("/api/v1/admin/keys"),
		status: http.StatusForbidden, code: "MISSING_PERMISSION"},
	{name: "get key: id not a number", role: db.RoleMember, method: http.MethodGet, path: fixed("/api/v1/keys/one"),
		status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "update key: another person's", role: db.RoleMember, method: http.MethodPatch,
		path: func(f *authzFixture) string { return "/api/v1/keys/" + itoa(f.newKey(f.bob).ID) },
		body: map[string]any{"name": "mine now"}, status: http.StatusNotFound, code: "NOT_FOUND"},
	{name: "update key: another person's, by an auditor", role: db.RoleAuditor, method: http.MethodPatch,
		path: func(f *authzFixture) string { return "/api/v1/keys/" + itoa(f.newKey(f.bob).ID) },
		body: map[string]any{"name": "mine now"}, status: http.StatusNotFound, code: "NOT_FOUND"},
	{name: "revoke key: another person's, with a bad body", role: db.RoleMember, method: http.MethodPost,
		path: func(f *authzFixture) string { return "/api/v1/keys/" + itoa(f.newKey(f.bob).ID) + "/revoke" },
		body: map[string]any{"reason": "x"}, status: http.StatusNotFound, code: "NOT_FOUND"},
	{name: "revoke key: unknown id", role: db.RoleAdmin, method: http.MethodPost, path: fixed("/api/v1/keys/999999/revoke"),
		body: map[string]any{"reason": "x"}, status: http.StatusNotFound, code: "NOT_FOUND"},
	{name: "roll key: another person's", role: db.RoleMember, method: http.MethodPost,
		path: func(f *authzFixture) string { return "/api/v1/keys/" + itoa(f.newKey(f.bob).ID) + "/roll" },
		body: map[string]any{"grace": "1h"}, hdr: badIdem, status: http.StatusNotFound, code: "NOT_FOUND"},
	{name: "roll self: a management token", role: db.RoleMember, method: http.MethodPost, path: fixed("/api/v1/keys/self/roll"),
		body: map[string]any{"grace": "1h"}, hdr: badIdem, status: http.StatusUnauthorized, code: "TOKEN_NOT_ACCEPTED"},

	// Admin operations.
	{name: "disable user: an auditor", role: db.RoleAuditor, method: http.MethodPost,
		path:   func(f *authzFixture) string { return "/api/v1/admin/users/" + itoa(f.bob.ID) + "/disable" },
		status: http.StatusForbidden, code: "MISSING_PERMISSION"},
	{name: "set role: unknown role", role: db.RoleAdmin, method: http.MethodPost,
		path: func(f *authzFixture) string { return "/api/v1/admin/users/" + itoa(f.bob.ID) + "/role" },
		body: map[string]any{"role": "owner"}, status: http.StatusUnprocessableEntity, code: "VALIDATION_FAILED"},
	{name: "set role: unknown user", role: db.RoleAdmin, method: http.MethodPost, path: fixed("/api/v1/admin/users/999999/role"),
		body: map[string]any{"role": "member"}, status: http.StatusNotFound, code: "NOT_FOUND"},
	{name: "invite: a member", role: db.RoleMember, method: http.MethodPost, path: fixed("/api/v1/admin/invites"),
		body: map[string]any{"email": "x@example.com", "role": "admin"}, status: http.StatusForbidden, code: "MISSING_PERMISSION"},
	{name: "add team member: a team the caller is not in", role: db.RoleMember, method: http.MethodPost,
		path:   func(f *authzFixture) string { return "/api/v1/teams/" + itoa(f.newTeam(f.bob).ID) + "/members" },
		body:   func() any { return map[string]any{"email": "ann@example.com", "role": "maintainer"} }(),
		status: http.StatusNotFound, code: "NOT_FOUND"},
	{name: "create scope: a member", role: db.RoleMember, method: http.MethodPost, path: fixed("/api/v1/admin/scopes"),
		body: map[string]any{"name": "sneaky"}, status: http.StatusForbidden, code: "MISSING_PERMISSION"},

	{name: "revoke token: another person's, by a demoted admin", method: http.MethodPost,
		bearer: func(f *authzFixture) string { return f.demotedAdmin() },
		path:   func(f *authzFixture) string { return "/api/v1/tokens/" + itoa(f.newToken(f.bob)) + "/revoke" },
		status: http.StatusNotFound, code: "NOT_FOUND"},
}

func TestMgmtBadInput(t *testing.T) {
	f := newAuthzFixture(t)
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			bearer := ""
			switch {
			case tc.bearer != nil:
				bearer = tc.bearer(f)
			case tc.role != "":
				bearer = f.tokenWith(f.user(tc.role), tc.perms)
			}
			path := tc.path(f)
			before := f.state()
			r := f.a.mgmt(bearer).call(tc.method, path, tc.body, tc.hdr)
			r.wantProblem(t, tc.status, tc.code)
			if after := f.state(); after != before {
				t.Errorf("%s %s: a refused request changed the database: %s", tc.method, path, snapshotDiff(before, after))
			}
		})
	}
}

// TestManagementTokenRefusedByKeyRoutes: a live kwt_ token is not a key,
// whichever way it is presented to verify and forward auth, and the
// refusal writes nothing (no usage, no last use, no audit event).
func TestManagementTokenRefusedByKeyRoutes(t *testing.T) {
	f := newAuthzFixture(t)
	tok := f.tokenWith(f.ann, nil)
	verifyBody, _ := json.Marshal(map[string]string{"key": tok})
	cases := []struct {
		name, method, path, body string
		hdr                      http.Header
		status                   int
		wantBody                 string
	}{
		{"verify", http.MethodPost, "/api/v1/keys/verify", string(verifyBody),
			http.Header{"Content-Type": {"application/json"}}, http.StatusOK, `"code":"MALFORMED"`},
		{"forward auth, Authorization", http.MethodGet, "/api/v1/auth", "",
			http.Header{"Authorization": {"Bearer " + tok}}, http.StatusUnauthorized, ""},
		{"forward auth, X-API-Key", http.MethodGet, "/api/v1/auth", "",
			http.Header{"X-Api-Key": {tok}}, http.StatusUnauthorized, ""},
		{"forward auth with a scope, X-API-Key", http.MethodGet, "/api/v1/auth?scope=" + testCatalog[0], "",
			http.Header{"X-Api-Key": {tok}}, http.StatusUnauthorized, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.state()
			r := f.a.api(tc.method, tc.path, strings.NewReader(tc.body), tc.hdr)
			f.a.flush()
			if r.StatusCode != tc.status || !strings.Contains(r.body, tc.wantBody) {
				t.Errorf("%s %s with a management token: got %d %s, want %d %s", tc.method, tc.path, r.StatusCode, r.body, tc.status, tc.wantBody)
			}
			if tc.status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate: got %q, want Bearer …", r.Header.Get("WWW-Authenticate"))
			}
			if tc.status == http.StatusOK && strings.Contains(r.body, `"valid":true`) {
				t.Errorf("verify accepted a management token: %s", r.body)
			}
			if after := f.state(); after != before {
				t.Errorf("refusing a management token changed the database: %s", snapshotDiff(before, after))
			}
		})
	}
	// The token itself still works where it belongs.
	if r := f.a.mgmt(tok).get("/api/v1/me"); r.StatusCode != http.StatusOK {
		t.Errorf("GET /me with the token after the refusals: got %d, want 200", r.StatusCode)
	}
}
