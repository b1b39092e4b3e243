package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// totpCard builds the authenticator-app card of the security page.
func (h *Handler) totpCard(_ echo.Context, f db.SecondFactors) (views.TOTPCard, error) {
	return views.TOTPCard{Enabled: f.TOTP}, nil
}
