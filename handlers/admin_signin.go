package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// signInCard shows policy p on the settings page's Sign-in card, with the
// admins who may be the break-glass admin and how many people have no
// second factor (those a stricter policy sends to enrolment).
func (h *Handler) signInCard(c echo.Context, p db.SignInPolicy) (views.SignInCard, error) {
	m := views.SignInCard{
		Loaded:        true,
		RequireMFA:    strconv.FormatInt(p.RequireMFA, 10),
		ReauthMinutes: strconv.FormatInt(int64(p.ReauthAfter/time.Minute), 10),
		PasswordOff:   p.PasswordSignInOff,
	}
	if p.BreakGlassUserID != 0 {
		m.BreakGlass = strconv.FormatInt(p.BreakGlassUserID, 10)
	}
	return m, h.fillSignInCard(c, &m)
}

// fillSignInCard adds what the card shows besides the form's values.
func (h *Handler) fillSignInCard(c echo.Context, m *views.SignInCard) error {
	users, err := h.Store.ListUsers(ctx(c))
	if err != nil {
		return err
	}
	factors, err := h.Store.SecondFactorsByUser(ctx(c))
	if err != nil {
		return err
	}
	m.Admins = nil
	for _, u := range users {
		if u.Disabled() {
			continue
		}
		isAdmin := u.Role == db.RoleAdmin
		if isAdmin {
			m.Admins = append(m.Admins, views.AdminChoice{ID: u.ID, Email: u.Email})
		}
		if !factors[u.ID].Any() {
			m.EveryoneWithout++
			if isAdmin {
				m.AdminsWithout++
			}
		}
	}
	m.SSO = h.signInCardSSO()
	return nil
}

// withSignIn fills the settings page's Sign-in card from the stored
// policy, unless it already holds a refused form.
func (h *Handler) withSignIn(c echo.Context, page views.AdminSettingsPage) (views.AdminSettingsPage, error) {
	if page.SignIn.Loaded {
		return page, nil
	}
	p, err := h.Store.SignInPolicy(ctx(c))
	if err != nil {
		return page, err
	}
	page.SignIn, err = h.signInCard(c, p)
	return page, err
}

// AdminSignInSettings is POST /admin/signin-settings: the sign-in policy,
// saved through Store.SetSignInPolicy (which validates it, refuses to turn
// password sign-in off without an active break-glass admin, and audits
// each change as setting.change). Behind RequireRecentAuth: whoever holds
// an admin's unattended browser cannot weaken sign-in for everyone. A
// refused form comes back as typed with the errors beside their fields
// (422); nothing is saved.
func (h *Handler) AdminSignInSettings(c echo.Context) error {
	form := views.SignInCard{
		Loaded:        true,
		RequireMFA:    truncate(strings.TrimSpace(c.FormValue("require_mfa")), 4),
		ReauthMinutes: truncate(strings.TrimSpace(c.FormValue("reauth_minutes")), 20),
		PasswordOff:   c.FormValue("password_signin_off") != "",
		BreakGlass:    truncate(strings.TrimSpace(c.FormValue("break_glass_user")), 20),
	}
	ve := &db.ValidationError{}
	p := db.SignInPolicy{PasswordSignInOff: form.PasswordOff}
	if n, err := strconv.ParseInt(form.RequireMFA, 10, 64); err == nil && n >= db.MFAOptional && n <= db.MFAEveryone {
		p.RequireMFA = n
	} else {
		ve.Add("require_mfa", "Choose who must use a second factor.")
	}
	if n, err := strconv.ParseInt(form.ReauthMinutes, 10, 64); err == nil && n > 0 && n <= db.MaxReauthMinutes {
		p.ReauthAfter = time.Duration(n) * time.Minute
	} else {
		ve.Add("reauth_minutes", "Enter a whole number of minutes from 1 to 1440.")
	}
	if form.BreakGlass != "" {
		n, err := strconv.ParseInt(form.BreakGlass, 10, 64)
		if err != nil || n <= 0 {
			ve.Add("break_glass_user", "Choose an active admin.")
		}
		p.BreakGlassUserID = n
	}
	err := ve.Err()
	if err == nil {
		err = h.Store.SetSignInPolicy(ctx(c), p, actor(c))
	}
	if fe := db.FieldErrors(err); fe != nil {
		form.Errors = fe
		if err := h.fillSignInCard(c, &form); err != nil {
			return err
		}
		pol, err := h.Store.Policy(ctx(c))
		if err != nil {
			return err
		}
		page := h.settingsPage(c, policyForm(pol))
		page.SignIn = form
		if page, err = h.withMail(c, page, views.MailTestForm{}); err != nil {
			return err
		}
		return render(c, http.StatusUnprocessableEntity, views.AdminSettingsView(page))
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "Sign-in rules saved.")
	return redirect(c, "/admin/settings#signin")
}

// signInCardSSO reports whether single sign-on is configured, which
// changes what the card says turning passwords off leaves.
func (h *Handler) signInCardSSO() bool { return h.sso.enabled() }
