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

// keyOwnership fills the parts of the key page that depend on who manages
// the key: whether the viewer acts as its owner (their personal key, or a
// key of a team they maintain: they may roll it) and, unless the page is
// read-only (keyReadOnly), where the key may be transferred.
func (h *Handler) keyOwnership(c echo.Context, k db.Key, m *views.KeyPage) error {
	viewer := currentUser(c)
	maintains := false
	if k.TeamID != 0 {
		role, err := h.Store.TeamRoleOf(ctx(c), k.TeamID, viewer.ID)
		if err != nil {
			return err
		}
		maintains = role == db.TeamMaintainer
		m.Key.IsOwner = maintains
	}
	if m.ReadOnly || k.RevokedAt != nil {
		return nil
	}
	teams, err := h.transferTeams(c)
	if err != nil {
		return err
	}
	for _, t := range teams {
		if t.ID != k.TeamID {
			m.Transfer.Teams = append(m.Transfer.Teams, t)
		}
	}
	m.Transfer.ToPerson = viewer.IsAdmin()
	return nil
}

// transferTeams are the teams the viewer may give keys to: the ones they
// maintain, or every team for an admin.
func (h *Handler) transferTeams(c echo.Context) ([]views.TeamRow, error) {
	if !currentUser(c).IsAdmin() {
		return h.maintainedTeams(c)
	}
	teams, err := h.Store.ListTeams(ctx(c))
	if err != nil {
		return nil, err
	}
	out := make([]views.TeamRow, 0, len(teams))
	for _, t := range teams {
		out = append(out, teamRow(t, ""))
	}
	return out, nil
}

// transferTarget reads the team (an id) or person (an email, admins only)
// a form names. A person is looked up only for an admin, so that a member
// cannot probe which emails have accounts.
func (h *Handler) transferTarget(c echo.Context, team, user string) (db.TransferTarget, error) {
	var ve db.ValidationError
	team, user = strings.TrimSpace(team), strings.TrimSpace(user)
	switch {
	case team != "":
		id, err := strconv.ParseInt(team, 10, 64)
		if err != nil || id <= 0 {
			ve.Add("team", "No such team.")
			return db.TransferTarget{}, ve.Err()
		}
		return db.TransferTarget{TeamID: id}, nil
	case user == "":
		ve.Add("team", "Choose a team or a person to transfer to.")
	case !currentUser(c).IsAdmin():
		ve.Add("user", "Only an admin can give a key to another person.")
	default:
		u, err := h.Store.GetUserByEmail(ctx(c), user)
		if errors.Is(err, db.ErrNotFound) {
			ve.Add("user", "No person with this email has an account.")
			return db.TransferTarget{}, ve.Err()
		}
		if err != nil {
			return db.TransferTarget{}, err
		}
		return db.TransferTarget{UserID: u.ID}, nil
	}
	return db.TransferTarget{}, ve.Err()
}

// KeyTransfer is POST /keys/{id}/transfer: give the key to a team the
// viewer maintains (admins: any team, or another active person). A key the
// viewer does not manage is not found.
func (h *Handler) KeyTransfer(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	team, user := c.FormValue("team"), c.FormValue("user")
	to, err := h.transferTarget(c, team, user)
	var k db.Key
	if err == nil {
		k, err = h.Store.TransferKey(ctx(c), keyAccess(c), id, to, actor(c))
	}
	if fe := db.FieldErrors(err); fe != nil {
		// Someone who may not manage the key learns nothing from a form
		// error: the same not-found as any other change.
		if gerr := h.mayManageKey(c, id); gerr != nil {
			return gerr
		}
		m, perr := h.keyPage(c, id)
		if perr != nil {
			return perr
		}
		m.Transfer.Team, m.Transfer.User, m.Transfer.Errors = team, user, fe
		return render(c, http.StatusUnprocessableEntity, views.KeyShow(m))
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "“"+k.Name+"” now belongs to "+k.Owner()+".")
	return redirect(c, keyPath(id))
}

// AdminUserDisable is POST /admin/users/{id}/disable: sessions end and keys
// stop verifying at once. A person who owns working personal keys gets a
// page first (keys unset): transfer the keys to a team ("team") or a
// person ("user"), then disable; or disable and let them fail ("fail").
func (h *Handler) AdminUserDisable(c echo.Context) error {
	choice := c.FormValue("keys")
	if choice == "team" || choice == "user" || choice == "" {
		id, err := userID(c)
		if err != nil {
			return err
		}
		m, err := h.disableUserPage(c, id)
		if err != nil {
			return err
		}
		if choice == "" && len(m.Keys) > 0 {
			return render(c, http.StatusOK, views.DisableUserView(m))
		}
		if choice != "" {
			return h.disableWithTransfer(c, m, choice)
		}
	}
	return h.userAction(c, "disabled", func(id int64) error {
		return h.Store.SetUserDisabled(ctx(c), id, true, actor(c))
	})
}

// disableUserPage lists the person's working personal keys (expired ones
// stop by themselves) and the teams they could go to.
func (h *Handler) disableUserPage(c echo.Context, id int64) (views.DisableUserPage, error) {
	u, err := h.Store.GetUser(ctx(c), id)
	if err != nil {
		return views.DisableUserPage{}, err
	}
	m := views.DisableUserPage{Layout: h.layout(c, "Disable "+u.Email, "admin"), UserID: u.ID, Email: u.Email}
	keys, err := h.Store.PersonalKeys(ctx(c), u.ID)
	if err != nil {
		return m, err
	}
	now := h.now()
	for _, k := range keys {
		if st := k.Status(now); st != db.KeyExpired && st != db.KeyRevoked {
			m.Keys = append(m.Keys, keyRow(k, now))
		}
	}
	m.Teams, err = h.transferTeams(c)
	return m, err
}

// disableWithTransfer moves the person's keys and disables them in one
// transaction; a bad target comes back beside its field, nothing changed.
func (h *Handler) disableWithTransfer(c echo.Context, m views.DisableUserPage, choice string) error {
	team, user := c.FormValue("team"), c.FormValue("user")
	if choice == "team" {
		user = ""
	} else {
		team = ""
	}
	var (
		to    db.TransferTarget
		err   error
		moved int
	)
	if choice == "user" && strings.TrimSpace(user) == "" {
		var ve db.ValidationError
		ve.Add("user", "Enter the email of the person who gets the keys.")
		err = ve.Err()
	} else {
		to, err = h.transferTarget(c, team, user)
	}
	if err == nil {
		moved, err = h.Store.DisableUserTransferringKeys(ctx(c), m.UserID, to, actor(c))
	}
	if fe := db.FieldErrors(err); fe != nil {
		m.Choice, m.Team, m.User, m.Errors = choice, team, user, fe
		return render(c, http.StatusUnprocessableEntity, views.DisableUserView(m))
	}
	if msg, ok := userMessage(err); ok {
		h.flash(c, "error", msg)
		return redirect(c, "/admin/users")
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", m.Email+" was disabled; "+strconv.Itoa(moved)+" key(s) transferred and still working.")
	return redirect(c, "/admin/users")
}
