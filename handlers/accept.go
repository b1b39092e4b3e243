package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// InviteShow is GET /invite/{token}; ResetShow is GET /reset/{token}. An
// unknown, expired or used link gets a clear page and changes nothing.
func (h *Handler) InviteShow(c echo.Context) error { return h.acceptShow(c, "invite") }

// ResetShow is GET /reset/{token}.
func (h *Handler) ResetShow(c echo.Context) error { return h.acceptShow(c, "reset") }

// InviteAccept is POST /invite/{token}: the invited person sets a password,
// the account is created and signed in.
func (h *Handler) InviteAccept(c echo.Context) error { return h.acceptSubmit(c, "invite") }

// ResetSubmit is POST /reset/{token}: a new password; every session of the
// user ends, and this browser is signed in afresh.
func (h *Handler) ResetSubmit(c echo.Context) error { return h.acceptSubmit(c, "reset") }

func acceptTitle(kind string) string {
	if kind == "invite" {
		return "Join Keyward"
	}
	return "Reset your password"
}

// acceptLink reads the link in the URL into the page's model; ok is false
// when the link is unknown, used or expired, and m then says so.
func (h *Handler) acceptLink(c echo.Context, kind string) (m views.AcceptPage, ok bool, err error) {
	m = views.AcceptPage{Layout: h.layout(c, acceptTitle(kind), ""), Kind: kind, Token: c.Param("token")}
	t, err := h.Store.LookupToken(ctx(c), kind, m.Token)
	if errors.Is(err, db.ErrNotFound) {
		m.Invalid, m.Token = true, ""
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	m.Email = t.Email
	return m, true, nil
}

func (h *Handler) acceptShow(c echo.Context, kind string) error {
	m, ok, err := h.acceptLink(c, kind)
	if err != nil {
		return err
	}
	if !ok {
		return render(c, http.StatusNotFound, views.AcceptView(m))
	}
	return render(c, http.StatusOK, views.AcceptView(m))
}

func (h *Handler) acceptSubmit(c echo.Context, kind string) error {
	m, ok, err := h.acceptLink(c, kind)
	if err != nil {
		return err
	}
	if !ok {
		return render(c, http.StatusNotFound, views.AcceptView(m))
	}
	password := c.FormValue("password")
	if password != c.FormValue("password_confirm") {
		m.Errors = views.FieldErrors{"password_confirm": "The passwords don't match."}
		return render(c, http.StatusUnprocessableEntity, views.AcceptView(m))
	}
	var u db.User
	if kind == "invite" {
		u, err = h.Store.AcceptInvite(ctx(c), m.Token, password, c.RealIP())
	} else {
		u, err = h.Store.ResetPassword(ctx(c), m.Token, password, c.RealIP())
	}
	if fe := db.FieldErrors(err); fe != nil {
		m.Errors = fe
		return render(c, http.StatusUnprocessableEntity, views.AcceptView(m))
	}
	if errors.Is(err, db.ErrNotFound) || errors.Is(err, db.ErrConflict) {
		m.Invalid, m.Token = true, ""
		return render(c, http.StatusConflict, views.AcceptView(m))
	}
	if err != nil {
		return err
	}
	to, err := h.completeSignIn(c, u, db.AuthPassword, "", "/keys")
	if err != nil {
		return err
	}
	if to != "/keys" {
		// A second factor is still due (or must be set up first): the
		// password alone does not sign anyone in where two are needed.
		return c.Redirect(http.StatusSeeOther, to)
	}
	if kind == "invite" {
		h.flash(c, "success", "Welcome to Keyward. Create your first API key to get started.")
	} else {
		h.flash(c, "success", "Your password was changed and your other sessions were signed out.")
	}
	return c.Redirect(http.StatusSeeOther, "/keys")
}
