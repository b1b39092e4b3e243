package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// ssoActor is who acts when single sign-on creates a person or changes
// their role: the provider, through Keyward.
func ssoActor(c echo.Context) db.Actor {
	return db.Actor{Label: "single sign-on", IP: c.RealIP()}
}

// ssoSignIn signs in the person id proves: their linked account, or a new
// member created just in time. An address that already has an account is
// not signed in: its owner links single sign-on after proving the password
// (sso_link.go). The provider's multi-factor sign-in counts as Keyward's
// second factor; otherwise Keyward asks its own when the person has one or
// policy requires one.
func (h *Handler) ssoSignIn(c echo.Context, id db.OIDCIdentity, claims ssoClaims, next string) error {
	admin := h.sso.cfg.AdminGroup != "" && slices.Contains(claims.Groups, h.sso.cfg.AdminGroup)
	u, err := h.Store.UserByOIDCIdentity(ctx(c), id.Issuer, id.Subject)
	switch {
	case errors.Is(err, db.ErrNotFound):
		role := db.RoleMember
		if admin {
			role = db.RoleAdmin
		}
		u, err = h.Store.CreateSSOUser(ctx(c), id, role, ssoActor(c))
		if errors.Is(err, db.ErrConflict) {
			return h.ssoPendingLink(c, id)
		}
		if err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if u.Disabled() {
			h.sso.failures.fail(addrKey(c.RealIP()))
			h.audit(c, db.AuditEvent{Actor: "anonymous", Action: db.ActionLoginSSOFailure, TargetType: "user",
				TargetID: u.ID, Target: u.Email, IP: c.RealIP(), Detail: map[string]string{"reason": "disabled"}})
			return h.ssoRefuse(c, http.StatusForbidden, "This account is disabled. Ask an administrator.")
		}
		if err := h.Store.TouchOIDCIdentity(ctx(c), id); err != nil {
			return err
		}
		if u, err = h.syncSSORole(c, u, admin); err != nil {
			return err
		}
	}
	factor := ""
	if providerMFA(claims.AMR) {
		factor = db.FactorProvider
	}
	to, err := h.completeSignIn(c, u, db.AuthSSO, factor, next)
	if err != nil {
		return err
	}
	h.metrics.login(loginSuccess)
	return c.Redirect(http.StatusSeeOther, to)
}

// syncSSORole makes the provider's admin group the source of the admin
// role of people who sign in through it (when --oidc-admin-group is set):
// a member of the group becomes an admin, an admin who left it becomes a
// member again. Two admins keep their role whatever the group says: the
// break-glass admin, who must stay one to sign in when the provider is
// down, and the last active admin (db refuses). Auditors keep their role
// unless the group makes them admins.
func (h *Handler) syncSSORole(c echo.Context, u db.User, admin bool) (db.User, error) {
	if h.sso.cfg.AdminGroup == "" {
		return u, nil
	}
	var role db.Role
	switch {
	case admin && u.Role != db.RoleAdmin:
		role = db.RoleAdmin
	case !admin && u.Role == db.RoleAdmin:
		p, err := h.Store.SignInPolicy(ctx(c))
		if err != nil {
			return u, err
		}
		if p.BreakGlassUserID == u.ID {
			return u, nil
		}
		role = db.RoleMember
	default:
		return u, nil
	}
	err := h.Store.SetUserRole(ctx(c), u.ID, role, ssoActor(c))
	if errors.Is(err, db.ErrConflict) {
		h.Logger.LogAttrs(ctx(c), slog.LevelWarn, "single sign-on kept an admin outside the admin group",
			slog.Int64("user_id", u.ID), slog.String("reason", err.Error()))
		return u, nil
	}
	if err != nil {
		return u, err
	}
	u.Role = role
	return u, nil
}

// ssoLoginOptions is what the sign-in page shows of single sign-on and the
// password policy. A policy that cannot be read leaves password sign-in
// shown: LoginSubmit checks the policy again anyway.
func (h *Handler) ssoLoginOptions(c echo.Context, next string) views.SSOLogin {
	o := views.SSOLogin{Next: safeNext(next)}
	if h.sso.enabled() {
		o.Label = h.sso.cfg.ButtonLabel
		if o.Label == "" {
			o.Label = "Sign in with SSO"
		}
	}
	p, err := h.Store.SignInPolicy(ctx(c))
	if err != nil {
		h.Logger.LogAttrs(ctx(c), slog.LevelError, "sign-in policy unreadable", slog.String("error", err.Error()))
		return o
	}
	o.PasswordOff = p.PasswordSignInOff
	return o
}

// passwordSignInRefused answers a right password of someone policy does
// not let sign in with one (password sign-in off, and not the break-glass
// admin). It is counted and audited like a wrong password; since the
// password was right, saying why reveals nothing a guesser lacks.
func (h *Handler) passwordSignInRefused(c echo.Context, who loginAttempt, u db.User, m views.LoginPage) (bool, error) {
	p, err := h.Store.SignInPolicy(ctx(c))
	if err != nil {
		return false, err
	}
	if p.PasswordAllowed(u) {
		return false, nil
	}
	failErr := h.loginThrottle.Failure(ctx(c), who)
	h.metrics.login(loginFailure)
	h.audit(c, db.AuditEvent{Actor: "anonymous", Action: db.ActionLoginFailure, TargetType: "user",
		TargetID: u.ID, Target: u.Email, IP: c.RealIP(), Detail: map[string]string{"reason": "password sign-in off"}})
	if failErr != nil {
		return true, failErr
	}
	m.Error = "Password sign-in is turned off for your organisation. Sign in with single sign-on or a passkey."
	return true, render(c, http.StatusForbidden, views.Login(m))
}
