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
	self := currentUser(c).ID
	m := views.AdminUsersPage{Layout: h.layout(c, "Users", "admin"), Invite: views.InviteForm{Role: string(db.RoleMember)}}
	for _, u := range users {
		m.Users = append(m.Users, views.UserRow{
			ID: u.ID, Email: u.Email, Role: string(u.Role), CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt,
			ActiveKeys: u.ActiveKeys, Disabled: u.Disabled(), IsSelf: u.ID == self,
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
	m.Link = &views.TokenLink{Kind: "invite", Email: inv.Email, URL: h.absURL("/invite/" + token), ExpiresAt: inv.ExpiresAt}
	return render(c, http.StatusOK, views.AdminUsersView(m))
}

// AdminUserResetLink is POST /admin/users/{id}/reset-link: a one-time
// password-reset link (1 hour), shown once.
func (h *Handler) AdminUserResetLink(c echo.Context) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	token, t, err := h.Store.CreatePasswordReset(ctx(c), id, actor(c))
	if msg, ok := userMessage(err); ok {
		// A disabled user gets no link; say so on the users page, like the
		// other refusals of this page.
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
	m.Link = &views.TokenLink{Kind: "reset", Email: t.Email, URL: h.absURL("/reset/" + token), ExpiresAt: t.ExpiresAt}
	return render(c, http.StatusOK, views.AdminUsersView(m))
}

// AdminUserDisable is POST /admin/users/{id}/disable: sessions end and keys
// stop verifying at once.
func (h *Handler) AdminUserDisable(c echo.Context) error {
	return h.userAction(c, "disabled", func(id int64) error {
		return h.Store.SetUserDisabled(ctx(c), id, true, actor(c))
	})
}

// AdminUserEnable is POST /admin/users/{id}/enable.
func (h *Handler) AdminUserEnable(c echo.Context) error {
	return h.userAction(c, "enabled", func(id int64) error {
		return h.Store.SetUserDisabled(ctx(c), id, false, actor(c))
	})
}

// AdminUserPromote is POST /admin/users/{id}/promote.
func (h *Handler) AdminUserPromote(c echo.Context) error {
	return h.userAction(c, "made an admin", func(id int64) error {
		return h.Store.SetUserRole(ctx(c), id, db.RoleAdmin, actor(c))
	})
}

// AdminUserDemote is POST /admin/users/{id}/demote.
func (h *Handler) AdminUserDemote(c echo.Context) error {
	return h.userAction(c, "made a member", func(id int64) error {
		return h.Store.SetUserRole(ctx(c), id, db.RoleMember, actor(c))
	})
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
