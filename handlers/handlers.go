// Package handlers holds Keyward's Echo handlers, one file per area. They are
// thin: parse the request, call db, build a view model, render. Errors are
// returned, never written: the one error handler in package web maps them to
// a status and a page (or JSON under /api).
package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// Sessions is what handlers need from the browser-session machinery, which
// package web implements on top of gorilla/sessions and the sessions table.
type Sessions interface {
	// Start signs u in: it ends the request's current session, if any, and
	// creates a new one with a new id (no session fixation).
	Start(c echo.Context, u db.User) error
	// End deletes the current session row and clears the cookie.
	End(c echo.Context) error
	// AddFlash queues a one-time message for the next page of this session.
	AddFlash(c echo.Context, f views.Flash) error
	// PopFlashes returns and clears the queued messages.
	PopFlashes(c echo.Context) []views.Flash
}

// LoginThrottle slows password guessing per client IP and per account.
type LoginThrottle interface {
	// Wait reports how long the caller must wait before another attempt
	// for this IP or email may be checked; 0 means go ahead.
	Wait(ip, email string) time.Duration
	Failure(ip, email string)
	Success(ip, email string)
}

// VerifyThrottle slows key guessing per client IP: only failures count.
type VerifyThrottle interface {
	Wait(ip string) time.Duration
	Failure(ip string)
}

// Metrics records business events for /metrics.
type Metrics interface {
	Login(outcome string)
	Verification(code string, d time.Duration)
}

// Handler carries the dependencies every handler shares.
type Handler struct {
	Store          *db.Store
	Verifier       *db.Verifier
	Sessions       Sessions
	LoginThrottle  LoginThrottle
	VerifyThrottle VerifyThrottle
	Metrics        Metrics
	BaseURL        string
	Version        string
	Now            func() time.Time
	// SetupToken guards /setup while no admin exists.
	SetupToken string
	// SessionIdle and SessionAbsolute are the server's configured session
	// timeouts: what applies while the settings page leaves them empty.
	SessionIdle, SessionAbsolute time.Duration
}

// Auth is the signed-in state of a browser request, put in the Echo
// context by the session middleware.
type Auth struct {
	User      db.User
	SessionID int64
}

const (
	authKey = "keyward.auth"
	csrfKey = "keyward.csrf"
)

// SetAuth stores the request's signed-in user (for package web).
func SetAuth(c echo.Context, a *Auth) { c.Set(authKey, a) }

// CurrentAuth returns the signed-in state, or nil for a visitor.
func CurrentAuth(c echo.Context) *Auth {
	a, _ := c.Get(authKey).(*Auth)
	return a
}

// SetCSRFToken stores the token forms must echo (for package web).
func SetCSRFToken(c echo.Context, token string) { c.Set(csrfKey, token) }

// CSRFToken returns the request's CSRF token.
func CSRFToken(c echo.Context) string {
	t, _ := c.Get(csrfKey).(string)
	return t
}

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now().UTC()
	}
	return h.Now().UTC()
}

// layout builds the shared part of every page.
func (h *Handler) layout(c echo.Context, title, nav string) views.Layout {
	l := views.Layout{
		Title:     title,
		CSRFToken: CSRFToken(c),
		Version:   h.Version,
		Nav:       nav,
		Now:       h.now(),
	}
	if a := CurrentAuth(c); a != nil {
		l.User = &views.CurrentUser{Email: a.User.Email, IsAdmin: a.User.IsAdmin()}
		if h.Sessions != nil {
			l.Flashes = h.Sessions.PopFlashes(c)
		}
	}
	return l
}

// render writes a templ component with the given status.
func render(c echo.Context, status int, comp templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return comp.Render(c.Request().Context(), c.Response().Writer)
}

// isHTMX reports whether the request came from htmx (and wants a partial).
func isHTMX(c echo.Context) bool {
	return c.Request().Header.Get("HX-Request") == "true"
}

// redirect sends the browser to path after a POST (303 See Other, or an
// HX-Redirect for htmx so the whole page changes).
func redirect(c echo.Context, path string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", path)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, path)
}

// flash queues a message; failure to store one must not fail the action.
func (h *Handler) flash(c echo.Context, kind, msg string) {
	if h.Sessions != nil {
		_ = h.Sessions.AddFlash(c, views.Flash{Kind: kind, Message: msg})
	}
}

// actor describes the signed-in user for the audit log.
func actor(c echo.Context) db.Actor {
	a := CurrentAuth(c)
	if a == nil {
		return db.Actor{Label: "anonymous", IP: c.RealIP()}
	}
	return db.Actor{UserID: a.User.ID, Label: a.User.Email, IP: c.RealIP()}
}

// ctx is the request's context.
func ctx(c echo.Context) context.Context { return c.Request().Context() }

// HTTPError is an error with a status, a stable code (for JSON) and a
// message safe to show. The error handler in web renders it.
type HTTPError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // for 429
}

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
