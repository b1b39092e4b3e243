package handlers

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/views"
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

// RequireAdmin checks the role on every request: members get 403.
func RequireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u := currentUser(c); u == nil || !u.IsAdmin() {
			return Forbidden("This page is for administrators.")
		}
		return next(c)
	}
}

// ErrorPage renders the HTML error page for a request that failed: the
// error handler in package web decides status, heading and message, this
// draws them inside the usual layout (signed in or not).
func (h *Handler) ErrorPage(c echo.Context, status int, heading, message string) error {
	l := views.Layout{Title: heading, CSRFToken: csrfToken(c), Version: h.Version, Now: h.now()}
	if u := currentUser(c); u != nil {
		// No flashes: they wait for the next ordinary page.
		l.User = &views.CurrentUser{Email: u.Email, IsAdmin: u.IsAdmin()}
	}
	page := views.ErrorPage{
		Layout:  l,
		Status:  status,
		Heading: heading,
		Message: message,
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, status, views.ErrorView(page))
}
