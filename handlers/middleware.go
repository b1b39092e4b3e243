package handlers

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// RequireAuth sends visitors to the sign-in page (back here afterwards).
func RequireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) != nil {
			return next(c)
		}
		target := "/login"
		if c.Request().Method == http.MethodGet {
			target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
		}
		if isHTMX(c) {
			c.Response().Header().Set("HX-Redirect", target)
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.Redirect(http.StatusSeeOther, target)
	}
}

// RequireAdminRead lets admins and auditors read the admin console; the
// role comes from the database on every request (LoadSession), so a
// demoted auditor loses access on the next one. Members get 403.
func RequireAdminRead(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u := currentUser(c); u == nil || !u.CanReadAdmin() {
			return Forbidden("This page is for administrators and auditors.")
		}
		return next(c)
	}
}

// RequireAdmin guards every change in the admin console: auditors and
// members get 403. The role is checked on every request.
func RequireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u := currentUser(c); u == nil || !u.IsAdmin() {
			return Forbidden("This page is for administrators.")
		}
		return next(c)
	}
}
