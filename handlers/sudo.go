package handlers

import (
	"github.com/labstack/echo/v4"
)

// RequireRecentAuth guards dangerous actions (creating or rolling a key,
// creating a management token, changing sign-in methods, admin changes to
// roles, people and keys in bulk): a person who last proved who they are
// longer ago than the policy's window is asked to do so again first, and
// what they were submitting resumes afterwards (askReauth).
func (h *Handler) RequireRecentAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ok, err := h.recentlyAuthenticated(c)
		if err != nil {
			return err
		}
		if ok {
			return next(c)
		}
		return h.askReauth(c)
	}
}
