package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// keyAccess is what the signed-in person may change: their own keys and
// their teams' keys where they are a maintainer, or any key for an admin.
// Every key write uses it.
func keyAccess(c echo.Context) db.KeyAccess {
	a := currentUser(c)
	if a.IsAdmin() {
		return db.AnyOwner()
	}
	return db.ManagedBy(a.ID)
}

// mayManageKey is nil when the signed-in person may change key id, and
// the key's not-found error otherwise. Handlers call it before answering
// with a form error: a reader (an auditor, a team's member) must not get a
// form to retry for a change they may not make, nor an outsider a hint
// that the key exists; both get the 404 a valid form gets.
func (h *Handler) mayManageKey(c echo.Context, id int64) error {
	_, err := h.Store.GetKey(ctx(c), keyAccess(c), id)
	return err
}

// keyViewAccess is what the signed-in person may see: their own keys and
// the keys of every team they belong to, or any key for an admin and an
// auditor (who review keys, read-only: writes always use keyAccess). Read
// handlers (the key list, the key page, usage) use it.
func keyViewAccess(c echo.Context) db.KeyAccess {
	a := currentUser(c)
	if a.CanReadAdmin() {
		return db.AnyOwner()
	}
	return db.VisibleTo(a.ID)
}

// maintainedTeams are the teams the signed-in person maintains: the owners
// they may give a key to on the create form and the key page.
func (h *Handler) maintainedTeams(c echo.Context) ([]views.TeamRow, error) {
	teams, err := h.Store.UserTeams(ctx(c), currentUser(c).ID)
	if err != nil {
		return nil, err
	}
	var out []views.TeamRow
	for _, t := range teams {
		if t.MyRole == db.TeamMaintainer {
			out = append(out, teamRow(t, t.MyRole))
		}
	}
	return out, nil
}
