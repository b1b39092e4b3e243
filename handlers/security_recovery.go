package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// recoveryCard builds the recovery-codes card of the security page.
func (h *Handler) recoveryCard(_ echo.Context, f db.SecondFactors) (views.RecoveryCard, error) {
	return views.RecoveryCard{Left: f.RecoveryLeft, HasFactor: f.Any()}, nil
}

// SecurityRecoveryGenerate is POST /account/security/recovery-codes: a new
// set of recovery codes, voiding the old, shown on this response only (no
// URL serves them again; the download is a data: link of this page).
func (h *Handler) SecurityRecoveryGenerate(c echo.Context) error {
	m, err := h.securityPage(c)
	if err != nil {
		return err
	}
	if !m.Recovery.HasFactor {
		h.flash(c, "error", "Set up an authenticator app or a passkey first: recovery codes stand in for them.")
		return redirect(c, EnrolmentPath)
	}
	if err := h.showNewRecoveryCodes(c, &m); err != nil {
		return err
	}
	return render(c, http.StatusOK, views.Security(m))
}

// showNewRecoveryCodes generates a set of codes and puts them on m's
// recovery card, to be shown this once.
func (h *Handler) showNewRecoveryCodes(c echo.Context, m *views.SecurityPage) error {
	u := currentUser(c)
	codes, err := h.Store.GenerateRecoveryCodes(ctx(c), u.ID, actor(c))
	if err != nil {
		return err
	}
	m.Recovery.Replaced = m.Recovery.Left > 0
	m.Recovery.Codes, m.Recovery.Left = codes, len(codes)
	m.Recovery.Account, m.Recovery.Made = u.Email, h.now()
	return nil
}
