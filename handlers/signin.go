package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// Signing in is one path whatever the first factor (password, passkey,
// single sign-on): completeSignIn decides whether the person is in, must
// still give a second factor (a half-signed-in session that reaches only
// the second-factor page), or is in but must first enrol one because
// policy requires it (a session that reaches only enrolment). No handler
// calls startSession directly, so no way in skips the second factor.

// sessionAuth is how a new session signs in: the first factor, what
// completed it, and the stage it starts in.
type sessionAuth struct{ method, factor, stage string }

// pendingSignInTTL bounds a half-signed-in session: the second factor is
// due within minutes of the password.
const pendingSignInTTL = 5 * time.Minute

// SecondFactorPath is where a half-signed-in person gives their second
// factor; EnrolmentPath where one required by policy is set up.
const (
	SecondFactorPath = "/login/2fa"
	EnrolmentPath    = "/account/security"
)

const pendingKey = "keyward.pending-sign-in"

// pendingSignIn returns the person whose first factor passed and whose
// second is pending, with their session, or nil. Only the second-factor
// handlers may use it.
func pendingSignIn(c echo.Context) *signedIn {
	if p, ok := c.Get(pendingKey).(*signedIn); ok {
		return p
	}
	return nil
}

// completeSignIn signs u in after the first factor method. factor is set
// when that first factor already counted as two (a passkey that verified
// its user, a provider that reported multi-factor sign-in). It returns
// where to send the person: next, the second-factor page, or enrolment.
func (h *Handler) completeSignIn(c echo.Context, u db.User, method, factor, next string) (string, error) {
	next = safeNext(next)
	if factor != "" {
		return next, h.startSession(c, u, sessionAuth{method: method, factor: factor})
	}
	factors, err := h.Store.SecondFactors(ctx(c), u.ID)
	if err != nil {
		return "", err
	}
	if factors.Any() {
		if err := h.startSession(c, u, sessionAuth{method: method, stage: db.StageMFA}); err != nil {
			return "", err
		}
		return SecondFactorPath + "?next=" + url.QueryEscape(next), nil
	}
	policy, err := h.Store.SignInPolicy(ctx(c))
	if err != nil {
		return "", err
	}
	if policy.MFARequired(u) {
		return EnrolmentPath, h.startSession(c, u, sessionAuth{method: method, stage: db.StageEnrol})
	}
	return next, h.startSession(c, u, sessionAuth{method: method})
}

// completeSecondFactor finishes the pending sign-in with factor (checked
// by the caller): a new session id, fully signed in.
func (h *Handler) completeSecondFactor(c echo.Context, factor string) error {
	p := pendingSignIn(c)
	if p == nil {
		return Forbidden("Sign in first.")
	}
	method := p.session.AuthMethod()
	if method == "" {
		method = db.AuthPassword
	}
	return h.startSession(c, p.user, sessionAuth{method: method, factor: factor})
}

// factorEnrolled ends the enrolment stage once the person has set up a
// second factor that policy required: the session is now fully signed in.
func (h *Handler) factorEnrolled(c echo.Context) error {
	s := currentSession(c)
	if s.Stage() != db.StageEnrol {
		return nil
	}
	if err := h.Store.SetSessionStage(ctx(c), s.ID(), db.StageDone); err != nil {
		return err
	}
	s.g.Values[valStage] = db.StageDone
	return nil
}

// reauthenticated records that the signed-in person proved who they are
// again just now (with factor: "password", db.FactorTOTP, db.FactorPasskey),
// for the re-authentication window of dangerous actions. Audited.
func (h *Handler) reauthenticated(c echo.Context, factor string) error {
	s := currentSession(c)
	now := h.now().UTC()
	if err := h.Store.SetSessionReauth(ctx(c), s.ID(), now, factor, actor(c)); err != nil {
		return err
	}
	s.g.Values[valReauthAt] = now
	return nil
}

// recentlyAuthenticated reports whether the signed-in person proved who
// they are within the policy's re-authentication window.
func (h *Handler) recentlyAuthenticated(c echo.Context) (bool, error) {
	s := currentSession(c)
	if !s.SignedIn() {
		return false, nil
	}
	p, err := h.Store.SignInPolicy(ctx(c))
	if err != nil {
		return false, err
	}
	return h.now().Sub(s.ReauthAt()) < p.ReauthAfter, nil
}

// enrolmentPath reports whether a session that must first enrol a second
// factor may reach path: the security page and what it posts to, passkey
// registration, and signing out.
func enrolmentPath(path string) bool {
	return path == EnrolmentPath || strings.HasPrefix(path, EnrolmentPath+"/") ||
		strings.HasPrefix(path, "/webauthn/register/") || path == "/logout"
}

// toEnrolment answers a request of a person who must enrol a second factor
// first: pages lead to enrolment, anything else is refused.
func (h *Handler) toEnrolment(c echo.Context) error {
	if c.Request().Method == http.MethodGet {
		if isHTMX(c) {
			c.Response().Header().Set("HX-Redirect", EnrolmentPath)
			return c.NoContent(http.StatusForbidden)
		}
		return c.Redirect(http.StatusSeeOther, EnrolmentPath)
	}
	return Forbidden("Add a second factor first: your organisation requires one.")
}
