package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// AdminUsers is GET /admin/users.
func (h *Handler) AdminUsers(c echo.Context) error {
	m, err := h.usersPage(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AdminUsersView(m))
}

func (h *Handler) usersPage(c echo.Context) (views.AdminUsersPage, error) {
	users, err := h.Store.ListUsers(ctx(c))
	if err != nil {
		return views.AdminUsersPage{}, err
	}
	invites, err := h.Store.ListPendingInvites(ctx(c))
	if err != nil {
		return views.AdminUsersPage{}, err
	}
	factors, err := h.userFactors(c, users)
	if err != nil {
		return views.AdminUsersPage{}, err
	}
	self := currentUser(c).ID
	m := views.AdminUsersPage{Layout: h.layout(c, "Users", "admin"), Invite: views.InviteForm{Role: string(db.RoleMember)}}
	for _, u := range users {
		m.Users = append(m.Users, views.UserRow{
			ID: u.ID, Email: u.Email, Role: string(u.Role), CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt,
			ActiveKeys: u.ActiveKeys, Disabled: u.Disabled(), IsSelf: u.ID == self, Factors: factors[u.ID],
		})
	}
	for _, p := range invites {
		m.Invites = append(m.Invites, views.InviteRow{
			ID: p.ID, Email: p.Email, Role: string(p.Role), CreatedBy: p.CreatedBy,
			CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt,
		})
	}
	return m, nil
}

// AdminInviteCreate is POST /admin/invites: a one-time link, shown once on
// the answer page, for a new user to set their own password.
func (h *Handler) AdminInviteCreate(c echo.Context) error {
	email := strings.TrimSpace(c.FormValue("email"))
	role := db.Role(c.FormValue("role"))
	token, inv, err := h.Store.CreateInvite(ctx(c), email, role, actor(c))
	m, perr := h.usersPage(c)
	if perr != nil {
		return perr
	}
	if fe := db.FieldErrors(err); fe != nil {
		m.Invite = views.InviteForm{Email: truncate(email, 254), Role: string(role), Errors: fe}
		return render(c, http.StatusUnprocessableEntity, views.AdminUsersView(m))
	}
	if err != nil {
		return err
	}
	m.Link = &views.TokenLink{Kind: "invite", Email: inv.Email, URL: h.absURL("/invite/" + token), ExpiresAt: inv.ExpiresAt, Mailed: h.mailConfigured()}
	return render(c, http.StatusOK, views.AdminUsersView(m))
}

// AdminUserResetLink is POST /admin/users/{id}/reset-link: a one-time
// password-reset link (1 hour), shown once. For another admin it first
// asks for the acting admin's password (field current_password), which
// db checks; the first request, without the field, shows that form.
func (h *Handler) AdminUserResetLink(c echo.Context) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	password := c.FormValue("current_password")
	token, t, err := h.Store.CreatePasswordReset(ctx(c), id, password, actor(c))
	if msg, ok := userMessage(err); ok {
		// A disabled user, or the admin themselves, gets no link; say so on
		// the users page, like the other refusals of this page.
		h.flash(c, "error", msg)
		return redirect(c, "/admin/users")
	}
	if fe := db.FieldErrors(err); fe != nil {
		u, uerr := h.Store.GetUser(ctx(c), id)
		if uerr != nil {
			return uerr
		}
		m, perr := h.usersPage(c)
		if perr != nil {
			return perr
		}
		status := http.StatusUnprocessableEntity
		if _, asked := c.Request().PostForm["current_password"]; !asked {
			// The Reset link button: this is the question, not a mistake.
			status, fe = http.StatusOK, nil
		}
		m.ResetConfirm = &views.ResetConfirm{UserID: id, Email: u.Email, Errors: fe}
		return render(c, status, views.AdminUsersView(m))
	}
	if err != nil {
		return err
	}
	m, err := h.usersPage(c)
	if err != nil {
		return err
	}
	m.Link = &views.TokenLink{Kind: "reset", Email: t.Email, URL: h.absURL("/reset/" + token), ExpiresAt: t.ExpiresAt, Mailed: h.mailConfigured()}
	return render(c, http.StatusOK, views.AdminUsersView(m))
}

// AdminInviteRevoke is POST /admin/invites/{id}/revoke: the pending
// invite's link stops working.
func (h *Handler) AdminInviteRevoke(c echo.Context) error {
	id, err := inviteID(c)
	if err != nil {
		return err
	}
	p, err := h.Store.RevokeInvite(ctx(c), id, actor(c))
	if msg, ok := inviteMessage(err); ok {
		h.flash(c, "error", msg)
		return redirect(c, "/admin/users")
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "The invite for "+p.Email+" was revoked. Its link no longer works.")
	return redirect(c, "/admin/users")
}

// AdminInviteRenew is POST /admin/invites/{id}/renew: a new link for the
// same address and role, shown once; the old link stops working.
func (h *Handler) AdminInviteRenew(c echo.Context) error {
	id, err := inviteID(c)
	if err != nil {
		return err
	}
	token, inv, err := h.Store.RenewInvite(ctx(c), id, actor(c))
	if msg, ok := inviteMessage(err); ok {
		h.flash(c, "error", msg)
		return redirect(c, "/admin/users")
	}
	if err != nil {
		return err
	}
	m, err := h.usersPage(c)
	if err != nil {
		return err
	}
	m.Link = &views.TokenLink{Kind: "invite", Email: inv.Email, URL: h.absURL("/invite/" + token), ExpiresAt: inv.ExpiresAt, Renewed: true, Mailed: h.mailConfigured()}
	return render(c, http.StatusOK, views.AdminUsersView(m))
}

// inviteMessage returns the user-safe message of an invite that is gone
// (used, revoked, replaced, expired) or whose address has an account now.
func inviteMessage(err error) (string, bool) {
	var de *db.Error
	if errors.As(err, &de) && (errors.Is(err, db.ErrNotFound) || errors.Is(err, db.ErrConflict)) {
		return de.Message, true
	}
	return "", false
}

func inviteID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, db.Errorf(db.ErrNotFound, "Invite not found.")
	}
	return id, nil
}

// AdminUserEnable is POST /admin/users/{id}/enable.
func (h *Handler) AdminUserEnable(c echo.Context) error {
	return h.userAction(c, "enabled", func(id int64) error {
		return h.Store.SetUserDisabled(ctx(c), id, false, actor(c))
	})
}

// AdminUserRole is POST /admin/users/{id}/role (field role: admin,
// auditor or member). One route for every role, so a new role needs no
// new route; db keeps the rules (not yourself, not the last admin).
func (h *Handler) AdminUserRole(c echo.Context) error {
	role := db.Role(c.FormValue("role"))
	if !role.Valid() {
		return BadRequest("INVALID_ROLE", "Choose a role: administrator, auditor or member.")
	}
	return h.userAction(c, "made "+roleArticle(role), func(id int64) error {
		return h.Store.SetUserRole(ctx(c), id, role, actor(c))
	})
}

// roleArticle names a role after "was made".
func roleArticle(r db.Role) string {
	switch r {
	case db.RoleAdmin:
		return "an admin"
	case db.RoleAuditor:
		return "an auditor"
	}
	return "a member"
}

// AdminUserEndSessions is POST /admin/users/{id}/sessions/end.
func (h *Handler) AdminUserEndSessions(c echo.Context) error {
	return h.userAction(c, "signed out everywhere", func(id int64) error {
		_, err := h.Store.EndUserSessions(ctx(c), id, actor(c))
		return err
	})
}

// userAction runs fn on the {id} user and reports the outcome as a flash;
// refusals (last admin, yourself) come back as a flash too, not an error page.
func (h *Handler) userAction(c echo.Context, done string, fn func(id int64) error) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	u, err := h.Store.GetUser(ctx(c), id)
	if err != nil {
		return err
	}
	if err := fn(id); err != nil {
		if msg, ok := userMessage(err); ok {
			h.flash(c, "error", msg)
			return redirect(c, "/admin/users")
		}
		return err
	}
	h.flash(c, "success", u.Email+" was "+done+".")
	return redirect(c, "/admin/users")
}

// userMessage returns the user-safe message of a refusal from db.
func userMessage(err error) (string, bool) {
	var de *db.Error
	if errors.As(err, &de) && errors.Is(err, db.ErrConflict) {
		return de.Message, true
	}
	return "", false
}

func userID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, db.Errorf(db.ErrNotFound, "User not found.")
	}
	return id, nil
}

func (h *Handler) absURL(path string) string {
	return strings.TrimRight(h.BaseURL, "/") + path
}
