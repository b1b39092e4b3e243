package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/handlers"
)

const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// securityHeaders sets the headers every response carries.
func securityHeaders(hsts bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), clipboard-write=(self)")
			if hsts && (c.Request().TLS != nil || c.Scheme() == "https") {
				h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
			}
			return next(c)
		}
	}
}

// noStore keeps browser pages (keys, sessions, tokens) out of every cache.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// requestID gives every request an id for logs and error pages. An incoming
// X-Request-ID is kept when it looks sane (from a proxy), else replaced.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if len(id) == 0 || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// observe logs and measures each request. It logs the path without its query
// string (a setup or invite token may be there) and no header at all, so no
// key, cookie or token can reach the log. API calls log at debug level: the
// verify path is hot and its outcomes are in /metrics.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	log := s.cfg.Logger
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		req := c.Request()
		status := c.Response().Status
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(route, req.Method, status, d)
		level := slog.LevelInfo
		if strings.HasPrefix(route, "/api/") || route == "/healthz" || route == "/metrics" || strings.HasPrefix(route, "/static") {
			level = slog.LevelDebug
		}
		if status >= 500 {
			level = slog.LevelError
		}
		if !log.Enabled(req.Context(), level) {
			return nil
		}
		path := req.URL.Path
		if strings.Contains(route, ":token") {
			path = route // the path holds a one-time token: never log it
		}
		attrs := []slog.Attr{
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("method", req.Method),
			slog.String("path", path),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Duration("duration", d),
			slog.String("ip", c.RealIP()),
		}
		if a := handlers.CurrentAuth(c); a != nil {
			attrs = append(attrs, slog.Int64("user_id", a.User.ID))
		}
		log.LogAttrs(req.Context(), level, "request", attrs...)
		return nil
	}
}

// recoverPanic turns a panic into a 500 (logged with the request id) instead
// of a dropped connection.
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.cfg.Logger.Error("panic", slog.Any("panic", r), slog.String("route", c.Path()))
				err = errors.New("panic recovered")
			}
		}()
		return next(c)
	}
}

// requireAuth sends visitors to the sign-in page (back here afterwards).
func requireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if handlers.CurrentAuth(c) != nil {
			return next(c)
		}
		target := "/login"
		if c.Request().Method == http.MethodGet {
			target += "?next=" + escapeNext(c.Request().URL.RequestURI())
		}
		if c.Request().Header.Get("HX-Request") == "true" {
			c.Response().Header().Set("HX-Redirect", target)
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.Redirect(http.StatusSeeOther, target)
	}
}

// requireAdmin checks the role on every request: members get 403.
func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		a := handlers.CurrentAuth(c)
		if a == nil || !a.User.IsAdmin() {
			return handlers.Forbidden("This page is for administrators.")
		}
		return next(c)
	}
}
