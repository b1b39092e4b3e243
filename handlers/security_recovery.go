package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// recoveryCard builds the recovery-codes card of the security page.
func (h *Handler) recoveryCard(_ echo.Context, f db.SecondFactors) (views.RecoveryCard, error) {
	return views.RecoveryCard{Left: f.RecoveryLeft}, nil
}
