package web

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// securityHeaderValues are the headers every page carries.
var securityHeaderValues = [][2]string{
	{"Content-Security-Policy", contentSecurityPolicy},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"X-Frame-Options", "DENY"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), clipboard-write=(self)"},
}

// apiContentSecurityPolicy is the policy of the JSON API's answers: they are
// never a document, so nothing may load from them and nothing may frame
// them.
const apiContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"

// apiSecurityHeaderValues are the headers of /api responses, the ones
// OWASP's REST Security Cheat Sheet keeps for JSON (with HSTS over TLS),
// and no-store: an answer about a key, or an error about one, must not be
// kept by any cache between the service and Keyward. The document-only
// ones (Referrer-Policy, Permissions-Policy, COOP, X-Frame-Options, which
// the CSP's frame-ancestors supersedes) are left out: they mean nothing to
// an API client, and net/http writes every header of every answer.
var apiSecurityHeaderValues = [][2]string{
	{"Content-Security-Policy", apiContentSecurityPolicy},
	{"X-Content-Type-Options", "nosniff"},
	{"Cache-Control", "no-store"},
}

// securityHeaders sets the headers every response carries: the full set
// for pages, the JSON set for the JSON answers (/api and /healthz, by the
// request's path as the error handler decides, so that an unknown API
// path gets it too), and HSTS
// when the request came over HTTPS (as c.Scheme() decides: see
// schemeExtractor).
func securityHeaders(hsts bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			set := securityHeaderValues
			if isAPIPath(c.Request().URL.Path) {
				set = apiSecurityHeaderValues
			}
			for _, kv := range set {
				h.Set(kv[0], kv[1])
			}
			if hsts && c.Scheme() == "https" {
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
// X-Request-ID is kept when it looks sane (from a proxy), else replaced. The
// id correlates log lines and is no secret, so it comes from math/rand/v2's
// per-thread ChaCha8 generator: unpredictable enough, and no system call
// per request as crypto/rand can need.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if len(id) == 0 || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], rand.Uint64()) // #nosec G404 -- a log correlation id, not a secret (see above)
			var dst [16]byte
			hex.Encode(dst[:], b[:])
			id = string(dst[:])
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
		// A 503 is the database being away (handleError says so at most
		// every 10 s, /metrics counts each): it keeps its route's level,
		// since one error line per verification would flood the log at
		// the verify rate for as long as the outage lasts. Any other 5xx
		// is a fault to look at, each one.
		if status >= 500 && status != http.StatusServiceUnavailable {
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
		if u := db.UserFromContext(req.Context()); u != nil {
			attrs = append(attrs, slog.Int64("user_id", u.ID))
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
