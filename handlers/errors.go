package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/views"
)

// HTTPError is an error with a status, a stable code (for JSON) and a
// message safe to show. The error handler in web renders it.
type HTTPError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // for 429 and 503
}

// UnavailableRetryAfter is the Retry-After of a 503 given because the
// database is unreachable: long enough for a restart or a failover, short
// enough that a service retrying it loses little.
const UnavailableRetryAfter = 30 * time.Second

func (e *HTTPError) Error() string { return e.Message }

// Forbidden is a 403 with a message.
func Forbidden(msg string) error {
	return &HTTPError{Status: http.StatusForbidden, Code: "FORBIDDEN", Message: msg}
}

// BadRequest is a 400 with a code and a message.
func BadRequest(code, msg string) error {
	return &HTTPError{Status: http.StatusBadRequest, Code: code, Message: msg}
}

// TooManyRequests is a 429 that tells the client when to come back.
func TooManyRequests(wait time.Duration, msg string) error {
	return &HTTPError{Status: http.StatusTooManyRequests, Code: "RATE_LIMITED", Message: msg, RetryAfter: wait}
}

// ErrorPage renders the HTML error page for a request that failed: the
// error handler in package web decides status, heading and message, this
// draws them inside the usual layout (signed in or not).
func (h *Handler) ErrorPage(c echo.Context, status int, heading, message string) error {
	l := views.Layout{Title: heading, CSRFToken: csrfToken(c), Version: h.Version, Now: h.now()}
	if u := currentUser(c); u != nil {
		// No flashes: they wait for the next ordinary page.
		l.User = &views.CurrentUser{Email: u.Email, IsAdmin: u.IsAdmin(), CanReadAdmin: u.CanReadAdmin()}
	}
	page := views.ErrorPage{
		Layout:  l,
		Status:  status,
		Heading: heading,
		Message: message,
	}
	// A page that failed because something was away can simply be asked
	// for again; a form that failed is sent again from its page.
	if r := c.Request(); status == http.StatusServiceUnavailable && r.Method == http.MethodGet && localPath(r.URL.RequestURI()) {
		page.RetryURL = r.URL.RequestURI()
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, status, views.ErrorView(page))
}
