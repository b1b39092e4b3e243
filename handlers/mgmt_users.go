package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward/db"
)

// The admin's user operations of the management API: the same db calls
// as the dashboard's users page (handlers/admin_users.go), so the same
// rules hold (nobody disables or demotes themselves, the last active admin
// stays one); a refusal answers 409 with db's message.

// APIUserSummary is a row of the user list: the person and how many of
// their keys would verify now.
type APIUserSummary struct {
	APIUser
	ActiveKeys int `json:"active_keys" doc:"Keys that would verify now: not revoked, disabled, pending or expired."`
}

// UserListOutput is GET /admin/users.
type UserListOutput struct {
	Body struct {
		Items      []APIUserSummary `json:"items"`
		NextCursor *string          `json:"next_cursor" nullable:"true" doc:"Pass as cursor for the next page; null on the last page."`
	}
}

// UserIDPath is the {id} of a user.
type UserIDPath struct {
	ID int64 `path:"id" minimum:"1" doc:"The user's id."`
}

// UserOutput is a user after a change.
type UserOutput struct {
	Body APIUser
}

// InviteInput is POST /admin/invites.
type InviteInput struct {
	Body struct {
		Email string `json:"email" maxLength:"254" doc:"Who is invited." example:"bea@example.com"`
		Role  string `json:"role" enum:"admin,auditor,member" doc:"The role the account will have."`
	}
}

// APIInvite is a pending invite, never its token.
type APIInvite struct {
	ID        int64     `json:"id" example:"3"`
	Email     string    `json:"email" example:"bea@example.com"`
	Role      string    `json:"role" enum:"admin,auditor,member"`
	ExpiresAt time.Time `json:"expires_at"`
}

// InviteOutput is the invite and its one-time link, which exists only in
// this answer.
type InviteOutput struct {
	Body struct {
		Invite APIInvite `json:"invite"`
		Link   string    `json:"link" doc:"The one-time link the person opens to set their password. Shown only here." example:"https://keys.example.com/invite/…"`
	}
}

// UserRoleInput is POST /admin/users/{id}/role.
type UserRoleInput struct {
	UserIDPath
	Body struct {
		Role string `json:"role" enum:"admin,auditor,member" doc:"The new role."`
	}
}

func (h *Handler) registerUsers(api huma.API) {
	op := tokenOp("list-users", http.MethodGet, "/api/v1/admin/users", "List users", db.PermAdminRead, "Admin")
	op.Description = "Every person with an account, by email, with how many of their keys work now."
	huma.Register(api, op, h.APIUsersList)

	op = tokenOp("create-invite", http.MethodPost, "/api/v1/admin/invites", "Invite a person", db.PermAdminWrite, "Admin")
	op.Description = "A one-time link for a new person to set their own password, valid for a limited time. " +
		"The link is in this answer only; send it to the person. A new invite to the same address replaces the earlier one."
	op.DefaultStatus = http.StatusCreated
	huma.Register(api, op, h.APIInviteCreate)

	op = tokenOp("disable-user", http.MethodPost, "/api/v1/admin/users/{id}/disable", "Disable a user", db.PermAdminWrite, "Admin")
	op.Description = "Ends the person's sessions; their keys and management tokens stop working until they are enabled. " +
		"Refused (409) for yourself and for the last active admin."
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(api, op, h.APIUserDisable)

	op = tokenOp("enable-user", http.MethodPost, "/api/v1/admin/users/{id}/enable", "Enable a user", db.PermAdminWrite, "Admin")
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(api, op, h.APIUserEnable)

	op = tokenOp("set-user-role", http.MethodPost, "/api/v1/admin/users/{id}/role", "Change a user's role", db.PermAdminWrite, "Admin")
	op.Description = "Admins manage everything, auditors read the admin side, members their own keys. " +
		"Refused (409) for demoting yourself or the last active admin."
	op.Errors = append(op.Errors, http.StatusNotFound, http.StatusConflict)
	huma.Register(api, op, h.APIUserRole)
}

// APIUsersList is GET /api/v1/admin/users.
func (h *Handler) APIUsersList(ctx context.Context, in *AdminPageQuery) (*UserListOutput, error) {
	after, err := decodeCursor("user", in.Cursor)
	if err != nil {
		return nil, err
	}
	// One more than the page: whether there is a next page, without a count.
	users, err := h.Store.ListUsersPage(ctx, after, in.Limit+1)
	if err != nil {
		return nil, err
	}
	out := &UserListOutput{}
	if len(users) > in.Limit {
		users = users[:in.Limit]
		out.Body.NextCursor = encodeCursor("user", users[len(users)-1].Email)
	}
	out.Body.Items = make([]APIUserSummary, len(users))
	for i, u := range users {
		out.Body.Items[i] = APIUserSummary{APIUser: apiUser(u.User), ActiveKeys: u.ActiveKeys}
	}
	return out, nil
}

// APIInviteCreate is POST /api/v1/admin/invites.
func (h *Handler) APIInviteCreate(ctx context.Context, in *InviteInput) (*InviteOutput, error) {
	token, inv, err := h.Store.CreateInvite(ctx, in.Body.Email, db.Role(in.Body.Role), callerFrom(ctx).Actor())
	if err != nil {
		return nil, err
	}
	out := &InviteOutput{}
	out.Body.Invite = APIInvite{ID: inv.ID, Email: inv.Email, Role: string(inv.Role), ExpiresAt: inv.ExpiresAt}
	out.Body.Link = h.absURL("/invite/" + token)
	return out, nil
}

// APIUserDisable is POST /api/v1/admin/users/{id}/disable.
func (h *Handler) APIUserDisable(ctx context.Context, in *UserIDPath) (*UserOutput, error) {
	return h.userChange(ctx, in.ID, func(actor db.Actor) error {
		return h.Store.SetUserDisabled(ctx, in.ID, true, actor)
	})
}

// APIUserEnable is POST /api/v1/admin/users/{id}/enable.
func (h *Handler) APIUserEnable(ctx context.Context, in *UserIDPath) (*UserOutput, error) {
	return h.userChange(ctx, in.ID, func(actor db.Actor) error {
		return h.Store.SetUserDisabled(ctx, in.ID, false, actor)
	})
}

// APIUserRole is POST /api/v1/admin/users/{id}/role.
func (h *Handler) APIUserRole(ctx context.Context, in *UserRoleInput) (*UserOutput, error) {
	return h.userChange(ctx, in.ID, func(actor db.Actor) error {
		return h.Store.SetUserRole(ctx, in.ID, db.Role(in.Body.Role), actor)
	})
}

// userChange runs fn as the caller and answers the user as it is after.
func (h *Handler) userChange(ctx context.Context, id int64, fn func(db.Actor) error) (*UserOutput, error) {
	if err := fn(callerFrom(ctx).Actor()); err != nil {
		return nil, err
	}
	u, err := h.Store.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	return &UserOutput{Body: apiUser(u)}, nil
}
