package web

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/handlers"
)

// problem is an error resolved to what the client sees.
type problem struct {
	status  int
	code    string
	heading string
	message string
}

// classify maps any error to a status, code and user-safe message. It is
// the only place where errors become HTTP: handlers just return them.
func classify(err error) problem {
	var he *handlers.HTTPError
	var ee *echo.HTTPError
	var de *db.Error
	switch {
	case errors.As(err, &he):
		return problem{he.Status, he.Code, headingFor(he.Status), he.Message}
	case errors.As(err, &ee):
		p := problem{status: ee.Code, code: codeFor(ee.Code), heading: headingFor(ee.Code), message: messageFor(ee.Code)}
		return p
	case errors.Is(err, db.ErrNotFound):
		return problem{http.StatusNotFound, "NOT_FOUND", headingFor(404), messageFor(404)}
	case errors.As(err, &de) && errors.Is(err, db.ErrConflict):
		return problem{http.StatusConflict, "CONFLICT", "That can't be done", de.Message}
	case errors.Is(err, db.ErrConflict):
		return problem{http.StatusConflict, "CONFLICT", "That can't be done", "The request conflicts with the current state."}
	case errors.As(err, &de) && errors.Is(err, db.ErrInvalid):
		return problem{http.StatusBadRequest, "INVALID", headingFor(400), de.Message}
	case errors.Is(err, db.ErrInvalid):
		msg := "Some fields are invalid."
		if fe := db.FieldErrors(err); len(fe) > 0 {
			msg = firstMessage(fe)
		}
		return problem{http.StatusBadRequest, "INVALID", headingFor(400), msg}
	case errors.Is(err, db.ErrInvalidCredentials):
		return problem{http.StatusUnauthorized, "UNAUTHORIZED", "Sign-in failed", "Invalid email or password."}
	default:
		return problem{http.StatusInternalServerError, "INTERNAL", headingFor(500), messageFor(500)}
	}
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

func codeFor(status int) string {
	switch status {
	case 400:
		return "BAD_REQUEST"
	case 401:
		return "UNAUTHORIZED"
	case 403:
		return "FORBIDDEN"
	case 404:
		return "NOT_FOUND"
	case 405:
		return "METHOD_NOT_ALLOWED"
	case 413:
		return "BODY_TOO_LARGE"
	case 415:
		return "UNSUPPORTED_MEDIA_TYPE"
	case 429:
		return "RATE_LIMITED"
	case 503:
		return "UNAVAILABLE"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "BAD_REQUEST"
}

func headingFor(status int) string {
	switch status {
	case 400:
		return "Bad request"
	case 401:
		return "Sign-in required"
	case 403:
		return "Access denied"
	case 404:
		return "Page not found"
	case 405:
		return "Method not allowed"
	case 409:
		return "That can't be done"
	case 413:
		return "Request too large"
	case 429:
		return "Too many requests"
	case 503:
		return "Service unavailable"
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return "Request refused"
}

func messageFor(status int) string {
	switch status {
	case 400:
		return "The request could not be understood."
	case 401:
		return "Please sign in to continue."
	case 403:
		return "You don't have access to this page."
	case 404:
		return "The page you asked for doesn't exist, or you don't have access to it."
	case 405:
		return "This address doesn't accept that kind of request."
	case 413:
		return "The request body is larger than this server accepts."
	case 429:
		return "Too many attempts. Wait a moment and try again."
	}
	if status >= 500 {
		return "An unexpected error happened on our side. It has been logged; please try again."
	}
	return "The request was refused."
}

// handleError is Echo's HTTPErrorHandler: JSON {"error": {code, message}}
// under /api and /healthz, an HTML error page elsewhere. Internal errors are
// logged with the request id and never shown.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := classify(err)
	req := c.Request()
	if p.status >= 500 && !errors.Is(err, context.Canceled) {
		s.cfg.Logger.LogAttrs(req.Context(), slog.LevelError, "request failed",
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("method", req.Method), slog.String("route", c.Path()),
			slog.String("error", err.Error()))
	}
	var he *handlers.HTTPError
	if errors.As(err, &he) && he.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(he.RetryAfter.Seconds()))))
	}
	if req.Method == http.MethodHead {
		_ = c.NoContent(p.status)
		return
	}
	if isAPIPath(req.URL.Path) {
		_ = c.JSON(p.status, map[string]any{"error": map[string]string{"code": p.code, "message": p.message}})
		return
	}
	if rerr := s.h.ErrorPage(c, p.status, p.heading, p.message); rerr != nil {
		s.cfg.Logger.Error("render error page", slog.String("error", rerr.Error()))
	}
}

func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || p == "/api" || p == "/healthz"
}
