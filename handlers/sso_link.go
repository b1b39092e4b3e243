package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// An address the provider vouched for may already have an account here.
// Signing that account in on the provider's word would hand it to whoever
// controls the address at the provider, so the identity is only linked
// after the account's owner proves the password in the same browser and
// confirms: the callback keeps the identity as a pending link (an auth
// challenge, 10 minutes, its token in a cookie), and the sign-in page sends
// the password sign-in on to SSOLinkShow.

// ssoLinkCookie carries the pending link's challenge token.
const ssoLinkCookie = "keyward-sso-link"

// SSOLinkPath is the confirmation page of a pending link.
const SSOLinkPath = EnrolmentPath + "/sso/link"

// ssoLink is a pending link, stored as an auth challenge.
type ssoLink struct {
	UserID  int64  `json:"user_id"`
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Email   string `json:"email"`
}

// ssoPendingLink answers a provider's sign-in for an address that has an
// account but no link: nobody is signed in; the identity waits for the
// owner's password.
func (h *Handler) ssoPendingLink(c echo.Context, id db.OIDCIdentity) error {
	u, err := h.Store.GetUserByEmail(ctx(c), id.Email)
	if err != nil {
		return err
	}
	reason, msg, status := "link_pending", "", http.StatusOK
	p, err := h.Store.SignInPolicy(ctx(c))
	if err != nil {
		return err
	}
	switch {
	case u.Disabled():
		reason, msg, status = "disabled", "This account is disabled. Ask an administrator.", http.StatusForbidden
	case !p.PasswordAllowed(u):
		reason, status = "link_blocked", http.StatusForbidden
		msg = "An account with this e-mail exists, and linking it to single sign-on takes a password sign-in, which is turned off. Ask an administrator."
	}
	h.audit(c, db.AuditEvent{Actor: "anonymous", Action: db.ActionLoginSSOFailure, TargetType: "user",
		TargetID: u.ID, Target: u.Email, IP: c.RealIP(), Detail: map[string]string{"reason": reason}})
	if msg != "" {
		return h.ssoRefuse(c, status, msg)
	}
	data, err := json.Marshal(ssoLink{UserID: u.ID, Issuer: id.Issuer, Subject: id.Subject, Email: u.Email})
	if err != nil {
		return fmt.Errorf("handlers: sso link: %w", err)
	}
	tok, err := h.Store.PutAuthChallenge(ctx(c), db.ChallengeSSOLink, data, ssoChallengeTTL)
	if err != nil {
		return err
	}
	c.SetCookie(sessionCookie(c.Request(), cookieName(c.Request(), ssoLinkCookie), tok, int(ssoChallengeTTL.Seconds())))
	m := views.LoginPage{Layout: h.layout(c, "Sign in", ""), Email: u.Email, Next: SSOLinkPath}
	m.Flashes = append(m.Flashes, views.Flash{Kind: "info",
		Message: "An account with this e-mail exists: sign in with your password once to link single sign-on."})
	m.SSO = h.ssoLoginOptions(c, m.Next)
	return render(c, status, views.Login(m))
}

// SSOLinkShow is GET /account/security/sso/link: the confirmation of a
// pending link, after the password sign-in.
func (h *Handler) SSOLinkShow(c echo.Context) error {
	_, err := c.Cookie(cookieName(c.Request(), ssoLinkCookie))
	m := views.SSOLinkPage{Layout: h.layout(c, "Link single sign-on", "account"), Pending: err == nil}
	return render(c, http.StatusOK, views.SSOLink(m))
}

// SSOLinkConfirm is POST /account/security/sso/link: it links the pending
// identity to the signed-in account, when it is the account the provider
// vouched for. Audited sso.link.
func (h *Handler) SSOLinkConfirm(c echo.Context) error {
	r := c.Request()
	name := cookieName(r, ssoLinkCookie)
	tok := ""
	if ck, err := r.Cookie(name); err == nil {
		tok = ck.Value
	}
	c.SetCookie(sessionCookie(r, name, "", -1))
	data, err := h.Store.TakeAuthChallenge(ctx(c), db.ChallengeSSOLink, tok)
	if errors.Is(err, db.ErrNotFound) {
		h.flash(c, "error", "This single sign-on link has expired or was already used. Sign in with single sign-on again to start over.")
		return redirect(c, SSOLinkPath)
	}
	if err != nil {
		return err
	}
	var l ssoLink
	if err := json.Unmarshal(data, &l); err != nil {
		return fmt.Errorf("handlers: sso link: %w", err)
	}
	u := currentUser(c)
	if l.UserID != u.ID || db.NormalizeEmail(l.Email) != db.NormalizeEmail(u.Email) {
		h.flash(c, "error", "That single sign-on sign-in was for another account: nothing was linked.")
		return redirect(c, SSOLinkPath)
	}
	err = h.Store.LinkOIDCIdentity(ctx(c), u.ID, db.OIDCIdentity{Issuer: l.Issuer, Subject: l.Subject, Email: l.Email}, actor(c))
	if errors.Is(err, db.ErrConflict) {
		h.flash(c, "error", "That single sign-on identity is already linked to an account.")
		return redirect(c, SSOLinkPath)
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "Single sign-on is linked: from now on, the single sign-on button signs you in.")
	return redirect(c, EnrolmentPath)
}
