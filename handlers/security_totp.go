package handlers

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// The authenticator-app card: "Set up" stores a new secret (unconfirmed)
// and shows it as a QR code drawn on the server and as text; the first
// code from the app confirms it, and only then does it count. Whoever
// enrols their first factor gets recovery codes on the same page, once.

// totpCard builds the authenticator-app card of the security page.
func (h *Handler) totpCard(c echo.Context, f db.SecondFactors) (views.TOTPCard, error) {
	if !f.TOTP {
		return views.TOTPCard{}, nil
	}
	st, err := h.Store.TOTPStatus(ctx(c), currentUser(c).ID)
	if err != nil {
		return views.TOTPCard{}, err
	}
	return views.TOTPCard{Enabled: st.Confirmed, Since: st.ConfirmedAt}, nil
}

// SecurityTOTPBegin is POST /account/security/totp: a new secret, shown
// as a QR code and as text until the first code confirms it.
func (h *Handler) SecurityTOTPBegin(c echo.Context) error {
	u := currentUser(c)
	setup, err := h.Store.BeginTOTP(ctx(c), u.ID, h.totpIssuer(), u.Email)
	if errors.Is(err, db.ErrConflict) {
		h.flash(c, "info", "An authenticator app is already set up.")
		return redirect(c, EnrolmentPath)
	}
	if err != nil {
		return err
	}
	return h.renderTOTPSetup(c, http.StatusOK, setup, nil)
}

// SecurityTOTPConfirm is POST /account/security/totp/confirm (field code):
// the first code from the app turns it on. A wrong code shows the QR code
// again with the message beside the field; attempts are throttled like
// sign-in codes.
func (h *Handler) SecurityTOTPConfirm(c echo.Context) error {
	u := currentUser(c)
	wrong := func(status int, msg string) error {
		setup, err := h.Store.PendingTOTP(ctx(c), u.ID, h.totpIssuer(), u.Email)
		if errors.Is(err, db.ErrNotFound) {
			return redirect(c, EnrolmentPath)
		}
		if err != nil {
			return err
		}
		return h.renderTOTPSetup(c, status, setup, views.FieldErrors{"code": msg})
	}
	wait, err := h.loginThrottle.codeWait(ctx(c), c, u.ID)
	if err != nil {
		return err
	}
	if wait > 0 {
		return wrong(throttledMessage(c, wait))
	}
	code := strings.TrimSpace(c.FormValue("code"))
	if code == "" {
		return wrong(http.StatusUnprocessableEntity, "Enter the 6-digit code your app shows.")
	}
	err = h.Store.ConfirmTOTP(ctx(c), u.ID, code, actor(c))
	switch {
	case errors.Is(err, db.ErrNotFound):
		// Nothing pending: a second submission of a confirmed setup (a
		// reload), or a removal meanwhile.
		return redirect(c, EnrolmentPath)
	case errors.Is(err, db.ErrInvalidCredentials):
		if err := h.loginThrottle.codeFailure(ctx(c), c, u.ID); err != nil {
			return err
		}
		return wrong(http.StatusUnprocessableEntity, codeMessage(err))
	case err != nil:
		return err
	}
	if err := h.loginThrottle.codeSuccess(ctx(c), u.ID); err != nil {
		return err
	}
	if err := h.factorEnrolled(c); err != nil {
		return err
	}
	m, err := h.securityPage(c)
	if err != nil {
		return err
	}
	m.TOTP.Confirmed = true
	if m.Recovery.Left == 0 {
		if err := h.showNewRecoveryCodes(c, &m); err != nil {
			return err
		}
	}
	return render(c, http.StatusOK, views.Security(m))
}

// SecurityTOTPRemove is POST /account/security/totp/remove. The last
// second factor of a person the policy requires one of stays.
func (h *Handler) SecurityTOTPRemove(c echo.Context) error {
	u := currentUser(c)
	f, err := h.Store.SecondFactors(ctx(c), u.ID)
	if err != nil {
		return err
	}
	if f.TOTP && f.Passkeys == 0 {
		policy, err := h.Store.SignInPolicy(ctx(c))
		if err != nil {
			return err
		}
		if policy.MFARequired(*u) {
			m, err := h.securityPage(c)
			if err != nil {
				return err
			}
			m.TOTP.Errors = views.FieldErrors{"totp": "Your organisation requires a second factor: add a passkey before removing your authenticator app."}
			return render(c, http.StatusConflict, views.Security(m))
		}
	}
	err = h.Store.DisableTOTP(ctx(c), u.ID, actor(c))
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	h.flash(c, "success", "Your authenticator app was removed.")
	return redirect(c, EnrolmentPath)
}

// renderTOTPSetup renders the security page with setup in progress.
func (h *Handler) renderTOTPSetup(c echo.Context, status int, setup db.TOTPSetup, errs views.FieldErrors) error {
	m, err := h.securityPage(c)
	if err != nil {
		return err
	}
	qr, err := qrDataURI(setup.URL)
	if err != nil {
		return err
	}
	m.TOTP.Setup = &views.TOTPSetupView{QR: qr, Secret: groupSecret(setup.Secret), Account: currentUser(c).Email}
	m.TOTP.Errors = errs
	return render(c, status, views.Security(m))
}

// totpIssuer labels the entry in the authenticator app: "Keyward", with
// the dashboard's host when known, so two installations tell apart.
func (h *Handler) totpIssuer() string {
	if u, err := url.Parse(h.BaseURL); err == nil && u.Hostname() != "" {
		return "Keyward (" + u.Hostname() + ")"
	}
	return "Keyward"
}

// qrDataURI draws the otpauth:// URL as a PNG QR code in a data: URI: no
// script, and the CSP already allows img-src data:.
func qrDataURI(otpURL string) (string, error) {
	key, err := otp.NewKeyFromURL(otpURL)
	if err != nil {
		return "", fmt.Errorf("handlers: totp key: %w", err)
	}
	img, err := key.Image(220, 220)
	if err != nil {
		return "", fmt.Errorf("handlers: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("handlers: qr code: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// groupSecret writes the base32 secret in groups of four, easier to type
// (apps ignore the spaces).
func groupSecret(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
