package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// userFactors builds each person's second-factor summary for the users
// list, marking those the sign-in policy will send to enrolment.
func (h *Handler) userFactors(c echo.Context, users []db.UserSummary) (map[int64]views.UserFactors, error) {
	all, err := h.Store.SecondFactorsByUser(ctx(c))
	if err != nil {
		return nil, err
	}
	policy, err := h.Store.SignInPolicy(ctx(c))
	if err != nil {
		return nil, err
	}
	out := make(map[int64]views.UserFactors, len(users))
	for _, u := range users {
		f := all[u.ID]
		out[u.ID] = views.UserFactors{TOTP: f.TOTP, Passkeys: f.Passkeys, RecoveryLeft: f.RecoveryLeft,
			MustEnrol: !f.Any() && !u.Disabled() && policy.MFARequired(u.User)}
	}
	return out, nil
}

// AdminUserResetFactors is POST /admin/users/{id}/reset-factors: for a
// person who lost their phone and their recovery codes, an admin removes
// their authenticator app, passkeys and recovery codes and signs them out
// everywhere (Store.ResetSecondFactors, audited mfa.reset, the person
// e-mailed). Without the field confirm it asks first (the panel on the
// users page), so a stray click or a script without JavaScript's confirm
// dialog cannot do it. Behind RequireRecentAuth; never on oneself (the
// security page is where one changes one's own factors).
func (h *Handler) AdminUserResetFactors(c echo.Context) error {
	id, err := userID(c)
	if err != nil {
		return err
	}
	u, err := h.Store.GetUser(ctx(c), id)
	if err != nil {
		return err
	}
	if id == currentUser(c).ID {
		h.flash(c, "error", "To change your own second factors, use your Sign-in and security page.")
		return redirect(c, "/admin/users")
	}
	if c.FormValue("confirm") != "1" {
		m, err := h.usersPage(c)
		if err != nil {
			return err
		}
		f, err := h.Store.SecondFactors(ctx(c), id)
		if err != nil {
			return err
		}
		m.FactorsConfirm = &views.FactorsResetConfirm{UserID: id, Email: u.Email,
			Factors: views.UserFactors{TOTP: f.TOTP, Passkeys: f.Passkeys, RecoveryLeft: f.RecoveryLeft}}
		return render(c, http.StatusOK, views.AdminUsersView(m))
	}
	err = h.Store.ResetSecondFactors(ctx(c), id, actor(c))
	if msg, ok := userMessage(err); ok {
		h.flash(c, "error", msg)
		return redirect(c, "/admin/users")
	}
	if err != nil {
		return err
	}
	done := "The second factors of " + u.Email + " were reset and they were signed out everywhere."
	if h.mailConfigured() {
		done += " They are told by e-mail."
	}
	h.flash(c, "success", done)
	return redirect(c, "/admin/users")
}
