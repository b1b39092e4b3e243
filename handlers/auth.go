package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// Home is GET /: the keys page for the signed-in, sign-in for visitors.
func (h *Handler) Home(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/keys")
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}

// loginNotices are the fixed messages the sign-in page can show from its
// query string (visitors have no session to carry a flash).
var loginNotices = map[string]views.Flash{
	"signed_out": {Kind: "success", Message: "You have been signed out."},
	"expired":    {Kind: "info", Message: "Your session ended. Please sign in again."},
	"password":   {Kind: "success", Message: "Your password was changed. Please sign in again."},
	"password_attempts": {Kind: "error", Message: "You were signed out after too many wrong current passwords. " +
		"Sign in again to change your password."},
	"reauth_attempts": {Kind: "error", Message: "You were signed out after too many failed attempts to confirm it's you. " +
		"Sign in again to continue."},
}

// LoginShow is GET /login.
func (h *Handler) LoginShow(c echo.Context) error {
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	if pendingSignIn(c) != nil {
		// The password was right: the second factor is what is left.
		return c.Redirect(http.StatusSeeOther, SecondFactorPath+"?next="+url.QueryEscape(safeNext(c.QueryParam("next"))))
	}
	m := views.LoginPage{Layout: h.layout(c, "Sign in", ""), Next: safeNext(c.QueryParam("next"))}
	m.SSO = h.ssoLoginOptions(c, m.Next)
	if f, ok := loginNotices[c.QueryParam("m")]; ok {
		m.Flashes = append(m.Flashes, f)
	}
	return render(c, http.StatusOK, views.Login(m))
}

// LoginSubmit is POST /login. Every failure shows the same message, and an
// unknown email costs the same argon2id time as a wrong password, so the
// page reveals nothing about which accounts exist.
func (h *Handler) LoginSubmit(c echo.Context) error {
	email := strings.TrimSpace(c.FormValue("email"))
	password := c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	ip := c.RealIP()
	m := views.LoginPage{Layout: h.layout(c, "Sign in", ""), Email: truncate(email, db.MaxEmailLength), Next: next}
	m.SSO = h.ssoLoginOptions(c, next)
	who := h.loginAttemptOf(c, email)

	wait, err := h.loginThrottle.Wait(ctx(c), who)
	if err != nil {
		return err
	}
	if wait > 0 {
		h.metrics.login(loginThrottled)
		secs := int(math.Ceil(wait.Seconds()))
		m.Error = fmt.Sprintf("Too many failed attempts. Try again in %s.", plural(secs, "second"))
		c.Response().Header().Set("Retry-After", fmt.Sprint(secs))
		return render(c, http.StatusTooManyRequests, views.Login(m))
	}
	if email == "" || password == "" {
		m.Error = "Enter your email and password."
		return render(c, http.StatusUnprocessableEntity, views.Login(m))
	}
	// An email longer than any account's is a wrong sign-in without asking
	// the database (nor spending argon2id on it: it reveals nothing).
	u, err := db.User{}, db.ErrInvalidCredentials
	if who.hasAccount {
		u, err = h.Store.Authenticate(ctx(c), email, password)
	}
	if errors.Is(err, db.ErrInvalidCredentials) {
		failErr := h.loginThrottle.Failure(ctx(c), who)
		h.metrics.login(loginFailure)
		// Nothing changed, so there is no change for the event to share a
		// transaction with: a failure to write it is logged and counted.
		e := db.AuditEvent{
			Actor: "anonymous", Action: db.ActionLoginFailure, TargetType: "user",
			Target: truncate(db.NormalizeEmail(email), db.MaxEmailLength), IP: ip,
		}
		if who.trusted {
			// From a browser that signed in to the account before: a typo,
			// or a stolen device cookie.
			e.Detail = map[string]string{"device": "trusted"}
		}
		h.audit(c, e)
		if failErr != nil {
			// A failure the throttle did not count must not pass for an
			// ordinary one: the person sees the error page instead.
			return failErr
		}
		m.Error = "Invalid email or password."
		return render(c, http.StatusUnauthorized, views.Login(m))
	}
	if err != nil {
		return err
	}
	// Password sign-in off: a right password is refused all the same.
	if refused, err := h.passwordSignInRefused(c, who, u, m); refused || err != nil {
		return err
	}
	if err := h.loginThrottle.Success(ctx(c), who); err != nil {
		// The password was right: a count left behind costs the owner
		// some allowance at worst, and is forgotten within the hour.
		h.Logger.LogAttrs(ctx(c), slog.LevelError, "sign-in throttle not cleared", slog.String("error", err.Error()))
	}
	// Knowing the password, they need no password-change guesses.
	h.passwordThrottle.reset(u.ID)
	to, err := h.completeSignIn(c, u, db.AuthPassword, "", next)
	if err != nil {
		return err
	}
	h.trustDevice(c, who)
	h.metrics.login(loginSuccess)
	return c.Redirect(http.StatusSeeOther, to)
}

// Logout is POST /logout: the session row is deleted, so the cookie is
// worthless even if someone kept a copy.
func (h *Handler) Logout(c echo.Context) error {
	if err := h.endSession(c); err != nil {
		return err
	}
	return redirect(c, "/login?m=signed_out")
}

// SetupShow is GET /setup?token=…: the first-admin form, shown only with
// the one-time token printed at start-up and only while no admin exists.
func (h *Handler) SetupShow(c echo.Context) error {
	m := views.SetupPage{Layout: h.layout(c, "Set up Keyward", ""), Token: c.QueryParam("token")}
	if ok, err := h.setupAllowed(c, m.Token); err != nil {
		return err
	} else if !ok {
		m.TokenInvalid = true
		m.Token = ""
		return render(c, http.StatusForbidden, views.Setup(m))
	}
	return render(c, http.StatusOK, views.Setup(m))
}

// SetupSubmit is POST /setup: creates the first admin and signs them in.
func (h *Handler) SetupSubmit(c echo.Context) error {
	token := c.FormValue("token")
	m := views.SetupPage{Layout: h.layout(c, "Set up Keyward", ""), Token: token}
	if ok, err := h.setupAllowed(c, token); err != nil {
		return err
	} else if !ok {
		m.TokenInvalid = true
		m.Token = ""
		return render(c, http.StatusForbidden, views.Setup(m))
	}
	m.Email = truncate(strings.TrimSpace(c.FormValue("email")), 254)
	password := c.FormValue("password")
	if password != c.FormValue("password_confirm") {
		m.Errors = views.FieldErrors{"password_confirm": "The passwords don't match."}
		return render(c, http.StatusUnprocessableEntity, views.Setup(m))
	}
	u, err := h.Store.CreateFirstAdmin(ctx(c), m.Email, password, c.RealIP())
	if fe := db.FieldErrors(err); fe != nil {
		m.Errors = fe
		return render(c, http.StatusUnprocessableEntity, views.Setup(m))
	}
	if errors.Is(err, db.ErrConflict) {
		m.TokenInvalid = true
		m.Token = ""
		return render(c, http.StatusForbidden, views.Setup(m))
	}
	if err != nil {
		return err
	}
	to, err := h.completeSignIn(c, u, db.AuthPassword, "", "/keys")
	if err != nil {
		return err
	}
	h.flash(c, "success", "Welcome to Keyward. Your admin account is ready — create your first API key.")
	return c.Redirect(http.StatusSeeOther, to)
}

// SetupLinkToken is the token /setup accepts while no admin exists: the
// configured one, or else the one in the database (db.Store.SetupToken),
// the same on every instance.
func (h *Handler) SetupLinkToken(ctx context.Context) (string, error) {
	if h.SetupToken != "" {
		return h.SetupToken, nil
	}
	tok, err := h.Store.SetupToken(ctx)
	if err != nil {
		return "", fmt.Errorf("handlers: setup token: %w", err)
	}
	return tok, nil
}

// setupAllowed: no admin yet and the token matches (constant time).
func (h *Handler) setupAllowed(c echo.Context, token string) (bool, error) {
	has, err := h.Store.HasAdmin(ctx(c))
	if err != nil {
		return false, err
	}
	if has || token == "" {
		return false, nil
	}
	want, err := h.SetupLinkToken(ctx(c))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1, nil
}

// safeNext keeps post-sign-in redirects on this site: a local absolute path,
// not "//host" or "/\host" which browsers treat as another origin. Control
// characters are refused outright: browsers delete tabs and line breaks from
// a URL before reading it, so "/\t/host" would become "//host".
func safeNext(p string) string {
	if !localPath(p) || strings.HasPrefix(p, "/login") || strings.HasPrefix(p, "/logout") {
		return "/keys"
	}
	return p
}

// localPath reports whether p is an absolute path on this site (see
// safeNext), safe to link to.
func localPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "/\\") &&
		!strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// truncate returns the prefix of s holding at most n runes, without
// converting all of s (which may be a megabyte of form field).
func truncate(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
