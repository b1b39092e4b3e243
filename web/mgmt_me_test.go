package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

func TestMgmtMe(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	tok := a.token(ann, db.PermKeysRead)

	r := a.mgmt(tok).get("/api/v1/me")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /me: got %d, want 200: %s", r.StatusCode, r.body)
	}
	var me struct {
		User  struct{ Email, Role string }
		Token struct{ Permissions []string }
	}
	r.decode(t, &me)
	if me.User.Email != "ann@example.com" || me.User.Role != "member" || strings.Join(me.Token.Permissions, ",") != "keys:read" {
		t.Errorf("GET /me: got %+v, want ann, member, [keys:read]", me)
	}
}

// TestMgmtRefusesWrongCredentials: only a live management token opens the
// management API, and each refusal says why with its own code.
func TestMgmtRefusesWrongCredentials(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	_, key := a.storeKey(ann.ID, db.KeyInput{Name: "svc"})
	revoked := a.token(ann)
	list, err := a.store.ListAPITokens(context.Background(), ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.RevokeAPIToken(context.Background(), ann.ID, list[0].ID, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	unknown, _ := db.GenerateAPIToken()
	tests := []struct {
		name   string
		header string
		code   string
	}{
		{"no header", "", "MISSING_TOKEN"},
		{"not bearer", "Basic " + revoked, "MISSING_TOKEN"},
		{"an API key", "Bearer " + key, "KEY_NOT_ACCEPTED"},
		{"garbage", "Bearer kwt_nope", "INVALID_TOKEN"},
		{"never issued", "Bearer " + unknown, "INVALID_TOKEN"},
		{"revoked", "Bearer " + revoked, "TOKEN_REVOKED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.header != "" {
				hdr.Set("Authorization", tt.header)
			}
			r := a.mgmt("").call(http.MethodGet, "/api/v1/me", nil, hdr)
			r.wantProblem(t, http.StatusUnauthorized, tt.code)
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate: got %q, want Bearer …", got)
			}
		})
	}
}

// TestManagementTokenRefusedByVerify: a kwt_ token is never a key.
func TestManagementTokenRefusedByVerify(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	tok := a.token(ann)
	if got := a.verify(tok, ""); got.Valid || got.Code != "MALFORMED" {
		t.Errorf("verify with a management token: got %+v, want invalid MALFORMED", got)
	}
	r := a.api(http.MethodGet, "/api/v1/auth", nil, http.Header{"Authorization": {"Bearer " + tok}})
	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("forward auth with a management token: got %d, want 401", r.StatusCode)
	}
}

func TestMgmtUnknownRouteIsProblem(t *testing.T) {
	a := newTestApp(t)
	r := a.api(http.MethodGet, "/api/v1/nothing-here", nil, nil)
	if r.StatusCode != http.StatusNotFound || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("unknown management route: got %d %q, want 404 problem+json", r.StatusCode, r.Header.Get("Content-Type"))
	}
}
