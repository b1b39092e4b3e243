package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// SecurityShow is GET /account/security: the person's sign-in methods.
// Each card is built by its own file (security_totp.go, …).
func (h *Handler) SecurityShow(c echo.Context) error {
	m, err := h.securityPage(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.Security(m))
}

func (h *Handler) securityPage(c echo.Context) (views.SecurityPage, error) {
	u := currentUser(c)
	f, err := h.Store.SecondFactors(ctx(c), u.ID)
	if err != nil {
		return views.SecurityPage{}, err
	}
	m := views.SecurityPage{
		Layout: h.layout(c, "Sign-in and security", "account"),
		Enrol:  currentSession(c).Stage() == db.StageEnrol,
	}
	if m.TOTP, err = h.totpCard(c, f); err != nil {
		return views.SecurityPage{}, err
	}
	if m.Passkeys, err = h.passkeysCard(c, f); err != nil {
		return views.SecurityPage{}, err
	}
	if m.Recovery, err = h.recoveryCard(c, f); err != nil {
		return views.SecurityPage{}, err
	}
	return m, nil
}
