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
