package handlers

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward/db"
)

// Management tokens through the management API: a person's scripts may
// list the person's tokens and revoke them (a script that finds its token
// leaked can end it at once), but never create one. A token that could
// mint tokens would outlive its own revocation and expiry: whoever steals
// it could make a fresh, long-lived one before anyone notices. New tokens
// come only from a person signed in to the dashboard (Account page) or
// from the operator on the host (keyward tokens create).

// APITokenItem is one management token in GET /api/v1/tokens.
type APITokenItem struct {
	APITokenInfo
	Status     string     `json:"status" enum:"active,expired,revoked"`
	LastUsedIP string     `json:"last_used_ip" doc:"The address of the last call made with the token (empty when never used)."`
	RevokedAt  *time.Time `json:"revoked_at" nullable:"true"`
}

// apiTokenItem describes t, its permissions cut to role (what the token
// may do now).
func apiTokenItem(t db.APIToken, role db.Role, now time.Time) APITokenItem {
	allowed := db.RolePermissions(role)
	t.Permissions = slices.DeleteFunc(slices.Clone(t.Permissions), func(p db.Permission) bool { return !slices.Contains(allowed, p) })
	info := apiTokenInfo(t)
	if info.Permissions == nil {
		info.Permissions = []string{}
	}
	return APITokenItem{APITokenInfo: info, Status: t.Status(now), LastUsedIP: t.LastUsedIP, RevokedAt: t.RevokedAt}
}

// TokensListInput is the query of GET /api/v1/tokens.
type TokensListInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"25" doc:"How many tokens to return."`
	Cursor string `query:"cursor" doc:"The next_cursor of the previous page."`
}

// TokensListOutput is a page of the caller's tokens, newest first.
type TokensListOutput struct {
	Body struct {
		Items      []APITokenItem `json:"items"`
		NextCursor *string        `json:"next_cursor" nullable:"true" doc:"Pass as cursor for the next page; null on the last page."`
	}
}

// TokenRevokeInput names the token to revoke.
type TokenRevokeInput struct {
	ID int64 `path:"id" minimum:"1" doc:"The token's id."`
}

// TokenRevokeOutput is the revoked token.
type TokenRevokeOutput struct {
	Body APITokenItem
}

func (h *Handler) registerTokens(api huma.API) {
	list := tokenOp("list-tokens", http.MethodGet, "/api/v1/tokens", "List your management tokens", "", "Tokens")
	list.Description = "The management tokens of the person this token acts for, newest first, revoked and " +
		"expired ones included. Any permission will do.\n\n" +
		"There is no operation that creates a token, by design: a token able to mint tokens would " +
		"outlive its own revocation, since whoever stole it could make a fresh one first. Create tokens " +
		"on the Account page of the dashboard, or on the host with `keyward tokens create`."
	list.Security = []map[string][]string{{SchemeToken: {}}}
	huma.Register(api, list, h.APITokensList)

	rev := tokenOp("revoke-token", http.MethodPost, "/api/v1/tokens/{id}/revoke", "Revoke a management token", "", "Tokens")
	rev.Description = "Ends one of your management tokens at once (this one included). A token carrying " +
		"admin:write may revoke anyone's. Revoking is final."
	rev.Security = []map[string][]string{{SchemeToken: {}}}
	rev.Errors = append(rev.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(api, rev, h.APITokenRevoke)
}

// APITokensList is GET /api/v1/tokens.
func (h *Handler) APITokensList(ctx context.Context, in *TokensListInput) (*TokensListOutput, error) {
	c := callerFrom(ctx)
	after, err := decodeTokenCursor(in.Cursor)
	if err != nil {
		return nil, err
	}
	all, err := h.Store.ListAPITokens(ctx, c.User.ID)
	if err != nil {
		return nil, err
	}
	out := &TokensListOutput{}
	out.Body.Items = []APITokenItem{}
	now := h.now()
	for _, t := range all { // newest (highest id) first
		if after > 0 && t.ID >= after {
			continue
		}
		if len(out.Body.Items) == in.Limit {
			next := encodeTokenCursor(out.Body.Items[len(out.Body.Items)-1].ID)
			out.Body.NextCursor = &next
			break
		}
		out.Body.Items = append(out.Body.Items, apiTokenItem(t, c.User.Role, now))
	}
	return out, nil
}

// APITokenRevoke is POST /api/v1/tokens/{id}/revoke. Another person's token
// is "not found" unless the caller may administer (admin:write).
func (h *Handler) APITokenRevoke(ctx context.Context, in *TokenRevokeInput) (*TokenRevokeOutput, error) {
	c := callerFrom(ctx)
	owner := c.User.ID
	if c.Token.Has(db.PermAdminWrite) {
		owner = 0
	}
	t, err := h.Store.RevokeAPIToken(ctx, owner, in.ID, c.Actor())
	if err != nil {
		return nil, err
	}
	role := c.User.Role
	if t.UserID != c.User.ID {
		u, err := h.Store.GetUser(ctx, t.UserID)
		if err != nil {
			return nil, err
		}
		role = u.Role
	}
	return &TokenRevokeOutput{Body: apiTokenItem(t, role, h.now())}, nil
}

// The token list's cursor is the last id shown, opaque to clients so that
// its form may change.
const tokenCursorPrefix = "t:"

func encodeTokenCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenCursorPrefix + strconv.FormatInt(id, 10)))
}

func decodeTokenCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	bad := &HTTPError{Status: http.StatusBadRequest, Code: "INVALID_CURSOR",
		Message: "The cursor is not one this list gave out. Start again without it."}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) <= len(tokenCursorPrefix) || string(raw[:len(tokenCursorPrefix)]) != tokenCursorPrefix {
		return 0, bad
	}
	id, err := strconv.ParseInt(string(raw[len(tokenCursorPrefix):]), 10, 64)
	if err != nil || id <= 0 {
		return 0, bad
	}
	return id, nil
}
