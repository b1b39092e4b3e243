package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// SudoShow is GET /sudo?return=TOKEN (a kept form waits) or ?next=PATH
// (a page to go back to): "Confirm it's you", with the password and every
// other way the person has of proving it. With a kept form and a proof
// still fresh (confirmed in another tab, say) it goes straight on.
func (h *Handler) SudoShow(c echo.Context) error {
	tok := c.QueryParam("return")
	if tok != "" {
		ok, err := h.recentlyAuthenticated(c)
		if err != nil {
			return err
		}
		if ok {
			return c.Redirect(http.StatusSeeOther, resumePath(tok))
		}
	}
	m, err := h.sudoPage(c, tok, c.QueryParam("next"))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.Sudo(m))
}

// SudoSubmit is POST /sudo with `password`, or `code` from the
// authenticator app. Right: the session counts as freshly authenticated
// (audited auth.reauth) and the kept form resumes. Wrong: a message beside
// the field, audited auth.reauth_failure, and counted with the wrong
// current passwords of the password-change form (one per-person throttle
// for every password oracle a session holds); after
// passwordChangeMaxFailures in a row the session ends.
func (h *Handler) SudoSubmit(c echo.Context) error {
	u := currentUser(c)
	tok, next := c.FormValue("return"), c.FormValue("next")
	field, factor := "password", db.AuthPassword
	if form, err := c.FormParams(); err == nil && form.Has("code") {
		field, factor = "code", db.FactorTOTP
	}
	m, err := h.sudoPage(c, tok, next)
	if err != nil {
		return err
	}
	fail := func(status int, msg string) error {
		m.Errors = views.FieldErrors{field: msg}
		m.Active = field
		return render(c, status, views.Sudo(m))
	}
	if wait := h.passwordThrottle.wait(u.ID); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		return fail(http.StatusTooManyRequests, fmt.Sprintf("Too many wrong attempts. Try again in %s.", plural(secs, "second")))
	}
	value := c.FormValue(field)
	if strings.TrimSpace(value) == "" {
		if field == "code" {
			return fail(http.StatusUnprocessableEntity, "Enter the 6-digit code from your authenticator app.")
		}
		return fail(http.StatusUnprocessableEntity, "Enter your password.")
	}
	if field == "code" {
		err = h.Store.CheckTOTP(ctx(c), u.ID, value)
	} else {
		_, err = h.Store.Authenticate(ctx(c), u.Email, value)
	}
	if errors.Is(err, db.ErrNotFound) && field == "code" {
		return fail(http.StatusUnprocessableEntity, "No authenticator app is set up. Use your password.")
	}
	if errors.Is(err, db.ErrInvalidCredentials) {
		h.audit(c, db.AuditEvent{
			ActorID: u.ID, Actor: u.Email, Action: db.ActionReauthFailure, TargetType: "user",
			TargetID: u.ID, Target: u.Email, IP: c.RealIP(), Detail: map[string]string{"factor": factor},
		})
		if h.passwordThrottle.fail(u.ID) >= passwordChangeMaxFailures {
			return h.endSessionAfterGuesses(c, "reauth_attempts")
		}
		msg := "That password is not right."
		if de, ok := errors.AsType[*db.Error](err); ok && field == "code" {
			msg = de.Message
		}
		return fail(http.StatusUnprocessableEntity, msg)
	}
	if err != nil {
		return err
	}
	h.passwordThrottle.reset(u.ID)
	if err := h.reauthenticated(c, factor); err != nil {
		return err
	}
	if tok != "" {
		return redirect(c, resumePath(tok))
	}
	return redirect(c, safeNext(next))
}

// sudoPage builds the re-authentication page: which proofs the person
// has, and where each one leads afterwards.
func (h *Handler) sudoPage(c echo.Context, tok, next string) (views.SudoPage, error) {
	u, s := currentUser(c), currentSession(c)
	factors, err := h.Store.SecondFactors(ctx(c), u.ID)
	if err != nil {
		return views.SudoPage{}, err
	}
	policy, err := h.Store.SignInPolicy(ctx(c))
	if err != nil {
		return views.SudoPage{}, err
	}
	then := safeNext(next)
	if tok != "" {
		then, next = resumePath(tok), ""
	} else if next != "" {
		next = then
	}
	m := views.SudoPage{
		Layout: h.layout(c, "Confirm it's you", ""),
		Return: tok, Next: next, TOTP: factors.TOTP, Passkeys: factors.Passkeys > 0,
		PasskeyNext: then, Window: plural(int(policy.ReauthAfter/time.Minute), "minute"),
		Active: "password",
	}
	if factors.TOTP {
		m.Active = "code"
	}
	if s.AuthMethod() == db.AuthSSO {
		m.SSOLink = "/login/sso?next=" + url.QueryEscape(then)
	}
	return m, nil
}

// resumePath is the page that continues the form kept under tok.
func resumePath(tok string) string { return "/sudo/resume?return=" + url.QueryEscape(tok) }
