package web

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/handlers"
)

// problem is an error resolved to what the client sees.
type problem struct {
	status     int
	code       string
	heading    string
	message    string
	retryAfter time.Duration // sent as Retry-After when set
}

// classify maps any error to a status, code and user-safe message. It is
// the only place where errors become HTTP: handlers just return them.
func classify(err error) problem {
	var he *handlers.HTTPError
	var ee *echo.HTTPError
	var de *db.Error
	switch {
	case errors.As(err, &he):
		p := statusProblem(he.Status)
		p.code, p.message, p.retryAfter = he.Code, he.Message, he.RetryAfter
		return p
	case errors.As(err, &ee):
		return statusProblem(ee.Code)
	case errors.Is(err, db.ErrNotFound):
		return statusProblem(http.StatusNotFound)
	case errors.Is(err, db.ErrConflict):
		p := statusProblem(http.StatusConflict)
		if errors.As(err, &de) {
			p.message = de.Message
		}
		return p
	case errors.Is(err, db.ErrInvalid):
		p := statusProblem(http.StatusBadRequest)
		p.code, p.message = "INVALID", "Some fields are invalid."
		if errors.As(err, &de) {
			p.message = de.Message
		} else if fe, ok := errors.AsType[*db.FieldError](err); ok {
			p.message = fe.Message
		} else if fields := db.FieldErrors(err); len(fields) > 0 {
			p.message = firstMessage(fields)
		}
		return p
	case errors.Is(err, db.ErrInvalidCredentials):
		return problem{status: http.StatusUnauthorized, code: "UNAUTHORIZED", heading: "Sign-in failed", message: "Invalid email or password."}
	case errors.Is(err, db.ErrUnavailable):
		// Not the request's fault, nor a bug: the same request may work in
		// a moment. Services should retry it or fail closed, never read
		// it as a refused key.
		return problem{status: http.StatusServiceUnavailable, code: "UNAVAILABLE", heading: "Database unavailable",
			message: "Keyward cannot reach its database right now. Try again in a minute.", retryAfter: handlers.UnavailableRetryAfter}
	default:
		return statusProblem(http.StatusInternalServerError)
	}
}

// statusProblem is the problem of a bare status, from statusText.
func statusProblem(status int) problem {
	code, heading, message := statusTextFor(status)
	return problem{status: status, code: code, heading: heading, message: message}
}

func firstMessage(fe map[string]string) string {
	best := ""
	for k := range fe {
		if best == "" || k < best {
			best = k
		}
	}
	return fe[best]
}

// statusText is what a bare status means to a client: its stable code (for
// JSON), the page heading and the message. Statuses not listed fall back by
// class (statusTextFor).
var statusText = map[int]struct{ code, heading, message string }{
	400: {"BAD_REQUEST", "Bad request", "The request could not be understood."},
	401: {"UNAUTHORIZED", "Sign-in required", "Please sign in to continue."},
	403: {"FORBIDDEN", "Access denied", "You don't have access to this page."},
	404: {"NOT_FOUND", "Page not found", "The page you asked for doesn't exist, or you don't have access to it."},
	405: {"METHOD_NOT_ALLOWED", "Method not allowed", "This address doesn't accept that kind of request."},
	409: {"CONFLICT", "That can't be done", "The request conflicts with the current state."},
	413: {"BODY_TOO_LARGE", "Request too large", "The request body is larger than this server accepts."},
	415: {"UNSUPPORTED_MEDIA_TYPE", "Request refused", "The request was refused."},
	429: {"RATE_LIMITED", "Too many requests", "Too many attempts. Wait a moment and try again."},
	500: {"INTERNAL", "Something went wrong", "An unexpected error happened on our side. It has been logged; please try again."},
	503: {"UNAVAILABLE", "Service unavailable", "An unexpected error happened on our side. It has been logged; please try again."},
}

// statusTextFor returns status's row of statusText, or the row of its class
// (500 for any server error, a generic refusal for any other).
func statusTextFor(status int) (code, heading, message string) {
	if t, ok := statusText[status]; ok {
		return t.code, t.heading, t.message
	}
	if status >= 500 {
		t := statusText[500]
		return t.code, t.heading, t.message
	}
	return "BAD_REQUEST", "Request refused", "The request was refused."
}

// handleError is Echo's HTTPErrorHandler: JSON {"error": {code, message}}
// under /api, /healthz and /metrics, an HTML error page elsewhere. Internal errors are
// logged with the request id and never shown.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := classify(err)
	req := c.Request()
	if p.status >= 500 && !errors.Is(err, context.Canceled) {
		attrs := []slog.Attr{
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("method", req.Method), slog.String("route", c.Path()),
			slog.String("error", err.Error()),
		}
		if errors.Is(err, db.ErrUnavailable) {
			// Every request fails alike while the database is away: one
			// line now and then says so without flooding the log.
			s.unavailableLog.Do(func() {
				s.cfg.Logger.LogAttrs(req.Context(), slog.LevelError,
					"database unavailable: answering 503 (logged at most every 10s)", attrs...)
			})
		} else {
			s.cfg.Logger.LogAttrs(req.Context(), slog.LevelError, "request failed", attrs...)
		}
	}
	if p.retryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(p.retryAfter.Seconds()))))
	}
	if req.Method == http.MethodHead {
		_ = c.NoContent(p.status)
		return
	}
	if isManagementPath(req.URL.Path) {
		// The management API answers in problem details even for
		// routes it does not have.
		_ = handlers.WriteProblem(c, &handlers.Problem{Status: p.status, Title: http.StatusText(p.status),
			Detail: p.message, Code: p.code})
		return
	}
	// The passkey ceremonies' JSON endpoints answer like the API (their
	// script, static/js/passkeys.js, shows the message beside its button).
	if isAPIPath(req.URL.Path) || req.URL.Path == "/metrics" || strings.HasPrefix(req.URL.Path, "/webauthn/") {
		_ = handlers.WriteJSON(c, p.status, map[string]any{"error": map[string]string{"code": p.code, "message": p.message}})
		return
	}
	if rerr := s.h.ErrorPage(c, p.status, p.heading, p.message); rerr != nil {
		s.cfg.Logger.Error("render error page", slog.String("error", rerr.Error()))
	}
}

// isManagementPath: under /api/v1 but not one of the two verification
// routes, whose error shape is the stable {"error": {code, message}}.
func isManagementPath(p string) bool {
	return strings.HasPrefix(p, "/api/v1/") && p != "/api/v1/keys/verify" && p != "/api/v1/auth"
}

func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || p == "/api" || p == "/healthz"
}
