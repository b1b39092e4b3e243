package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// passkeysCard builds the passkeys card of the security page.
func (h *Handler) passkeysCard(_ echo.Context, f db.SecondFactors) (views.PasskeysCard, error) {
	return views.PasskeysCard{Count: f.Passkeys}, nil
}
