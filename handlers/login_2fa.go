package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// The second-factor page: after a right password, a person with a second
// factor gives it here (an authenticator code, a recovery code, or a
// passkey through the passkeys' own endpoints) before their session counts
// as a sign-in. Every wrong code is audited (login.mfa_failure), counted
// by the sign-in throttle, and upgrades nothing.

// SecondFactorShow is GET /login/2fa.
func (h *Handler) SecondFactorShow(c echo.Context) error {
	p := pendingSignIn(c)
	if p == nil {
		return h.noPendingSignIn(c)
	}
	m, err := h.secondFactorPage(c, p, views.FieldErrors{})
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.SecondFactor(m))
}

// SecondFactorCode is POST /login/2fa: an authenticator code (field code).
func (h *Handler) SecondFactorCode(c echo.Context) error {
	return h.secondFactorSubmit(c, db.FactorTOTP, "code", func(p *signedIn, code string) (string, error) {
		return "", h.Store.CheckTOTP(ctx(c), p.user.ID, code)
	})
}

// SecondFactorRecovery is POST /login/2fa/recovery: a recovery code (field
// recovery_code). It spends the code, and the person is e-mailed.
func (h *Handler) SecondFactorRecovery(c echo.Context) error {
	return h.secondFactorSubmit(c, db.FactorRecovery, "recovery_code", func(p *signedIn, code string) (string, error) {
		a := db.Actor{UserID: p.user.ID, Label: p.user.Email, IP: c.RealIP()}
		left, err := h.Store.UseRecoveryCode(ctx(c), p.user.ID, code, a)
		if err != nil {
			return "", err
		}
		msg := fmt.Sprintf("Signed in with a recovery code. You have %s left.", plural(left, "recovery code"))
		if left <= 3 {
			msg += " Generate new ones on your security page."
		}
		return msg, nil
	})
}

// secondFactorSubmit checks the code in field with check and, when it is
// right, finishes the sign-in with factor (check may return a message to
// flash). Throttled before anything is checked.
func (h *Handler) secondFactorSubmit(c echo.Context, factor, field string, check func(*signedIn, string) (string, error)) error {
	p := pendingSignIn(c)
	if p == nil {
		return h.noPendingSignIn(c)
	}
	code := strings.TrimSpace(c.FormValue(field))
	fail := func(status int, msg string) error {
		m, err := h.secondFactorPage(c, p, views.FieldErrors{field: msg})
		if err != nil {
			return err
		}
		return render(c, status, views.SecondFactor(m))
	}
	wait, err := h.loginThrottle.codeWait(ctx(c), c, p.user.ID)
	if err != nil {
		return err
	}
	if wait > 0 {
		return fail(throttledMessage(c, wait))
	}
	if code == "" {
		return fail(http.StatusUnprocessableEntity, "Enter a code.")
	}
	flash, err := check(p, code)
	if errors.Is(err, db.ErrInvalidCredentials) || errors.Is(err, db.ErrNotFound) {
		failErr := h.loginThrottle.codeFailure(ctx(c), c, p.user.ID)
		e := db.AuditEvent{
			ActorID: p.user.ID, Actor: p.user.Email, Action: db.ActionLoginMFAFailure,
			TargetType: "user", TargetID: p.user.ID, Target: p.user.Email, IP: c.RealIP(),
			Detail: map[string]string{"factor": factor, "reason": codeFailureReason(err)},
		}
		h.audit(c, e)
		if failErr != nil {
			return failErr
		}
		return fail(http.StatusUnauthorized, codeMessage(err))
	}
	if err != nil {
		return err
	}
	if err := h.loginThrottle.codeSuccess(ctx(c), p.user.ID); err != nil {
		return err
	}
	if err := h.completeSecondFactor(c, factor); err != nil {
		return err
	}
	if flash != "" {
		h.flash(c, "info", flash)
	}
	return c.Redirect(http.StatusSeeOther, safeNext(c.FormValue("next")))
}

// noPendingSignIn answers the second-factor page without a pending sign-in:
// the signed-in go on, everyone else (a lapsed pending session too) signs
// in again.
func (h *Handler) noPendingSignIn(c echo.Context) error {
	next := safeNext(c.FormValue("next"))
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, next)
	}
	to := "/login?next=" + url.QueryEscape(next)
	if c.Request().Method == http.MethodPost {
		to = "/login?m=expired&next=" + url.QueryEscape(next)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

func (h *Handler) secondFactorPage(c echo.Context, p *signedIn, errs views.FieldErrors) (views.SecondFactorPage, error) {
	f, err := h.Store.SecondFactors(ctx(c), p.user.ID)
	if err != nil {
		return views.SecondFactorPage{}, err
	}
	m := views.SecondFactorPage{
		Layout: h.layout(c, "Two-factor authentication", ""),
		Next:   safeNext(c.FormValue("next")),
		TOTP:   f.TOTP, Passkeys: f.Passkeys > 0,
		Errors: errs,
	}
	m.Recovery = errs["recovery_code"] != "" || (!f.TOTP && f.Passkeys == 0)
	return m, nil
}

// codeFailureReason names why a code failed, for the audit log (never the
// code itself).
func codeFailureReason(err error) string {
	switch {
	case errors.Is(err, db.ErrCodeReused):
		return "reused"
	case errors.Is(err, db.ErrNotFound):
		return "no factor"
	}
	return "wrong"
}

// codeMessage is the message a db refusal of a code carries for people,
// or a generic one.
func codeMessage(err error) string {
	var de *db.Error
	if errors.As(err, &de) && de.Message != "" {
		return de.Message
	}
	return "That code is not right."
}
