package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward/db"
)

// APIUser is a person as the management API shows them.
type APIUser struct {
	ID          int64      `json:"id" example:"7"`
	Email       string     `json:"email" format:"email" example:"ann@example.com"`
	Role        string     `json:"role" enum:"admin,auditor,member"`
	CreatedAt   time.Time  `json:"created_at"`
	DisabledAt  *time.Time `json:"disabled_at" nullable:"true"`
	LastLoginAt *time.Time `json:"last_login_at" nullable:"true"`
}

func apiUser(u db.User) APIUser {
	return APIUser{ID: u.ID, Email: u.Email, Role: string(u.Role), CreatedAt: u.CreatedAt,
		DisabledAt: u.DisabledAt, LastLoginAt: u.LastLoginAt}
}

// APITokenInfo describes a management token, never its secret.
type APITokenInfo struct {
	ID          int64      `json:"id" example:"12"`
	Name        string     `json:"name" example:"deploy script"`
	Hint        string     `json:"hint" example:"kwt_…x9Qa"`
	Permissions []string   `json:"permissions" doc:"What the token may do now: the permissions it was given, cut to its owner's current role."`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at" nullable:"true"`
	LastUsedAt  *time.Time `json:"last_used_at" nullable:"true"`
}

func apiTokenInfo(t db.APIToken) APITokenInfo {
	perms := make([]string, len(t.Permissions))
	for i, p := range t.Permissions {
		perms[i] = string(p)
	}
	return APITokenInfo{ID: t.ID, Name: t.Name, Hint: t.Hint, Permissions: perms, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt}
}

// MeOutput is GET /me: who the token acts for, and the token itself.
type MeOutput struct {
	Body struct {
		User  APIUser      `json:"user"`
		Token APITokenInfo `json:"token"`
	}
}

func (h *Handler) registerMe(api huma.API) {
	op := tokenOp("get-me", http.MethodGet, "/api/v1/me", "Who this token acts for", db.PermKeysRead, "Account")
	op.Description = "The person the token acts for and the token's own details. Any permission will do: " +
		"a script can call this first to check its token."
	op.Security = []map[string][]string{{SchemeToken: {}}}
	huma.Register(api, op, h.APIMe)
}

// APIMe is GET /api/v1/me.
func (h *Handler) APIMe(ctx context.Context, _ *struct{}) (*MeOutput, error) {
	c := callerFrom(ctx)
	out := &MeOutput{}
	out.Body.User = apiUser(c.User)
	out.Body.Token = apiTokenInfo(c.Token)
	return out, nil
}
