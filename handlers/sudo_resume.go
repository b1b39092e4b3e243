package handlers

import (
	"github.com/labstack/echo/v4"
)

// askReauth answers a dangerous request whose person must re-authenticate
// first.
func (h *Handler) askReauth(_ echo.Context) error {
	return Forbidden("Confirm your identity first: sign out and sign in again.")
}
