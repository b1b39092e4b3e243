package handlers

import (
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// sudoAction is what the resume page says about a kept form: the label of
// its Continue button ("Roll key “deploy”") and where Cancel leads.
type sudoAction struct{ label, back string }

// describeSudoAction names the guarded request c (by its route and, where
// that helps the person recognise it, the row it acts on). Only visible
// rows are named: the lookups go through the same scoping as the action,
// and a failed lookup just leaves the generic wording.
func (h *Handler) describeSudoAction(c echo.Context) sudoAction {
	id, _ := strconv.ParseInt(c.Param("id"), 10, 64)
	switch c.Path() {
	case "/keys":
		return sudoAction{quoted("Create key", c.FormValue("name")), "/keys/new"}
	case "/keys/:id/roll":
		back := keyPath(id)
		if k, err := h.Store.GetKey(ctx(c), db.ManagedBy(currentUser(c).ID), id); err == nil {
			return sudoAction{quoted("Roll key", k.Name), back}
		}
		return sudoAction{"Roll key", back}
	case "/account/tokens":
		return sudoAction{quoted("Create management token", c.FormValue("name")), "/account"}
	case "/admin/users/:id/role":
		return sudoAction{h.userLabel(c, id, "Change the role of"), "/admin/users"}
	case "/admin/users/:id/disable":
		return sudoAction{h.userLabel(c, id, "Disable"), "/admin/users"}
	case "/admin/keys/bulk":
		verb := "Disable"
		if c.FormValue("action") == "revoke" {
			verb = "Revoke"
		}
		if c.FormValue("all") == "1" {
			return sudoAction{verb + " every matching key", "/admin/keys"}
		}
		n := 0
		if form, err := c.FormParams(); err == nil {
			n = len(form["id"])
		}
		return sudoAction{verb + " " + plural(n, "key"), "/admin/keys"}
	}
	if strings.HasPrefix(c.Path(), EnrolmentPath) || strings.HasPrefix(c.Path(), "/webauthn/") {
		return sudoAction{"Change your sign-in methods", EnrolmentPath}
	}
	if strings.HasPrefix(c.Path(), "/admin/") {
		return sudoAction{"Continue", "/admin"}
	}
	return sudoAction{"Continue", "/keys"}
}

// userLabel is verb followed by the email of user id, or verb + "this
// person" when it cannot be read.
func (h *Handler) userLabel(c echo.Context, id int64, verb string) string {
	if u, err := h.Store.GetUser(ctx(c), id); err == nil {
		return verb + " " + u.Email
	}
	return verb + " this person"
}

// quoted is verb “name”, or verb alone for an empty name; a long name is
// shortened, since it is a button's label.
func quoted(verb, name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return verb
	}
	if n := truncate(name, 60); n != name {
		name = n + "…"
	}
	return verb + " “" + name + "”"
}
