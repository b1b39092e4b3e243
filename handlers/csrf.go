package handlers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

var randRead = rand.Read

const csrfName = "kw_csrf"

// cookieName adds the __Host- prefix where the cookie can be Secure: the
// browser then refuses it from a subdomain or over plain HTTP, so nobody can
// plant a session or CSRF cookie.
func cookieName(r *http.Request, base string) string {
	if secureRequest(r) {
		return "__Host-" + base
	}
	return base
}

// secureRequest reports whether the browser will keep a Secure cookie for
// this request: over TLS, or on localhost, which browsers treat as secure.
func secureRequest(r *http.Request) bool {
	if r.TLS != nil || r.Context().Value(httpsBaseKey{}) != nil {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// httpsBaseKey marks requests served for an https:// base URL: behind a
// TLS-terminating proxy the request itself is plain HTTP, yet the browser
// speaks HTTPS and keeps Secure cookies.
type httpsBaseKey struct{}

// MarkHTTPS is the first middleware of browser routes: it applies
// httpsBaseKey when the configured base URL is HTTPS.
func (h *Handler) MarkHTTPS(next echo.HandlerFunc) echo.HandlerFunc {
	if !strings.HasPrefix(h.BaseURL, "https://") {
		return next
	}
	return func(c echo.Context) error {
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), httpsBaseKey{}, true)))
		return next(c)
	}
}

// CSRF guards every state change of the browser routes twice: Go's
// CrossOriginProtection rejects cross-origin browser requests (Sec-Fetch-Site
// and Origin), and a token (double-submit: a random HttpOnly cookie that the
// page echoes in a form field or the X-CSRF-Token header sent by htmx) must
// match. Neither the token nor the cookie is ever logged.
func CSRF(next echo.HandlerFunc) echo.HandlerFunc {
	cop := http.NewCrossOriginProtection()
	return func(c echo.Context) error {
		r := c.Request()
		token := ""
		if ck, err := r.Cookie(cookieName(r, csrfName)); err == nil && len(ck.Value) == 43 {
			token = ck.Value
		}
		if !safeMethod(r.Method) {
			if err := cop.Check(r); err != nil {
				return Forbidden("This request came from another site and was refused.")
			}
			if err := readForm(r); err != nil {
				return err
			}
			sent := r.Header.Get("X-CSRF-Token")
			if sent == "" {
				sent = c.FormValue("_csrf")
			}
			if token == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(token)) != 1 {
				return Forbidden("Your form expired or was sent from somewhere else. Go back, reload the page and try again.")
			}
		}
		if token == "" {
			return rotateAndNext(c, next)
		}
		c.Set(csrfKey, token)
		return next(c)
	}
}

func rotateAndNext(c echo.Context, next echo.HandlerFunc) error {
	if err := rotateCSRF(c); err != nil {
		return err
	}
	return next(c)
}

// rotateCSRF issues a new token (at first visit, sign-in and sign-out).
func rotateCSRF(c echo.Context) error {
	tok, err := randomBytes(make([]byte, 32))
	if err != nil {
		return err
	}
	r := c.Request()
	// Secure wherever the browser keeps a Secure cookie (HTTPS, localhost);
	// on plain HTTP elsewhere it would never be sent back.
	c.SetCookie(&http.Cookie{ // #nosec G124 -- Secure is set whenever the connection allows it
		Name: cookieName(r, csrfName), Value: tok, Path: "/",
		HttpOnly: true, Secure: secureRequest(r), SameSite: http.SameSiteLaxMode,
	})
	c.Set(csrfKey, tok)
	return nil
}

const csrfKey = "keyward.csrf"

// csrfToken returns the request's CSRF token, for the forms of the page.
func csrfToken(c echo.Context) string {
	t, _ := c.Get(csrfKey).(string)
	return t
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// readForm parses a form body now, so that a body over the size limit is
// answered 413. Left to FormValue, which drops errors, a chunked body over
// the limit (no Content-Length for the limit middleware to refuse up front)
// would read as an empty form: a 403 for a "missing" token, or a form
// handled with its fields blank. Other parse errors are left to the token
// check and the handlers, as before.
func readForm(r *http.Request) error {
	var err error
	if strings.HasPrefix(r.Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
		err = r.ParseMultipartForm(32 << 20)
	} else {
		err = r.ParseForm()
	}
	if he, ok := errors.AsType[*echo.HTTPError](err); ok && he.Code == http.StatusRequestEntityTooLarge {
		return he
	}
	return nil
}
