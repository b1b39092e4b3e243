package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// RequireRecentAuth guards dangerous actions (creating or rolling a key,
// creating a management token, changing sign-in methods, admin changes to
// roles, people and keys in bulk): a person who last proved who they are
// longer ago than the policy's window is asked to do so again first, and
// what they were submitting resumes afterwards (askReauth).
//
// A session in the enrolment stage passes: it reaches nothing but the
// security page, and asking someone who cannot yet sign in fully to prove
// themselves again before adding the factor policy demands would be a
// loop, not a check.
func (h *Handler) RequireRecentAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentSession(c).Stage() == db.StageEnrol {
			return next(c)
		}
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
