package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// The three ceremonies that prove who someone is with a passkey:
// passwordless sign-in (a discoverable passkey names its person through
// the user handle and, verifying them with a PIN or biometric, counts as
// two factors), the second factor after a password, and re-authentication
// before a dangerous action. Each failure is throttled and audited
// (passkeyFailed) and signs nobody in.

// WebAuthnLoginBegin is POST /webauthn/login/begin: options for any
// passkey of this site, user verification required.
func (h *Handler) WebAuthnLoginBegin(c echo.Context) error {
	if stop, err := h.passkeyThrottled(c, passkeyAttempt(c, nil)); stop || err != nil {
		return err
	}
	rp, err := h.relyingParty(c)
	if err != nil {
		return err
	}
	opts, s, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return fmt.Errorf("handlers: begin passkey sign-in: %w", err)
	}
	return h.beginCeremony(c, purposeSignIn, 0, opts, s)
}

// WebAuthnLoginFinish is POST /webauthn/login/finish: the person the
// passkey's user handle names is signed in (with db.FactorUserVerified:
// the authenticator verified them) unless disabled.
func (h *Handler) WebAuthnLoginFinish(c echo.Context) error {
	if stop, err := h.passkeyThrottled(c, passkeyAttempt(c, nil)); stop || err != nil {
		return err
	}
	req, cer, err := h.readFinish(c, purposeSignIn, 0)
	if err != nil {
		return h.ceremonyFailed(c, purposeSignIn, nil, err)
	}
	rp, err := h.relyingParty(c)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Credential)
	if err != nil {
		return h.passkeyFailed(c, purposeSignIn, nil, fmt.Errorf("%w: %w", errBadCeremony, err))
	}
	var found *passkeyUser
	_, cred, err := rp.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
		u, err := h.Store.UserByWebAuthnHandle(ctx(c), handle)
		if err != nil {
			return nil, err
		}
		if found, err = h.loadPasskeyUser(c, u); err != nil {
			return nil, err
		}
		return found, nil
	}, cer.Session, parsed)
	var who *db.User
	if found != nil {
		who = &found.u
	}
	if err != nil {
		return h.passkeyFailed(c, purposeSignIn, who, err)
	}
	if found.u.Disabled() {
		return h.passkeyFailed(c, purposeSignIn, who, errPasskeyUserDisabled)
	}
	if err := h.usePasskey(c, found.u.ID, cred); err != nil {
		return h.ceremonyFailed(c, purposeSignIn, who, err)
	}
	to, err := h.completeSignIn(c, found.u, db.AuthPasskey, db.FactorUserVerified, req.Next)
	if err != nil {
		return err
	}
	h.metrics.login(loginSuccess)
	return c.JSON(http.StatusOK, map[string]string{"redirect": to})
}

// WebAuthnSecondBegin is POST /webauthn/2fa/begin: options for the
// passkeys of the person whose password was right.
func (h *Handler) WebAuthnSecondBegin(c echo.Context) error {
	p := pendingSignIn(c)
	if p == nil {
		return passkeyJSONError(c, http.StatusUnauthorized, "Your sign-in has expired. Please sign in again.")
	}
	return h.beginAssertion(c, purposeSecond, p.user)
}

// WebAuthnSecondFinish is POST /webauthn/2fa/finish: one of that person's
// passkeys completes the sign-in.
func (h *Handler) WebAuthnSecondFinish(c echo.Context) error {
	p := pendingSignIn(c)
	if p == nil {
		return passkeyJSONError(c, http.StatusUnauthorized, "Your sign-in has expired. Please sign in again.")
	}
	req, err := h.finishAssertion(c, purposeSecond, p.user)
	if err != nil || req == nil {
		return err
	}
	if err := h.completeSecondFactor(c, db.FactorPasskey); err != nil {
		return err
	}
	h.metrics.login(loginSuccess)
	return c.JSON(http.StatusOK, map[string]string{"redirect": safeNext(req.Next)})
}

// WebAuthnSudoBegin is POST /webauthn/sudo/begin: options for the signed-in
// person's passkeys, to confirm it is still them.
func (h *Handler) WebAuthnSudoBegin(c echo.Context) error {
	return h.beginAssertion(c, purposeSudo, *currentUser(c))
}

// WebAuthnSudoFinish is POST /webauthn/sudo/finish: re-authenticated; the
// answer names the page to resume (the re-authentication page's
// data-next, made safe).
func (h *Handler) WebAuthnSudoFinish(c echo.Context) error {
	req, err := h.finishAssertion(c, purposeSudo, *currentUser(c))
	if err != nil || req == nil {
		return err
	}
	if err := h.reauthenticated(c, db.FactorPasskey); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect": safeNext(req.Next)})
}

// beginAssertion starts a ceremony for u's own passkeys.
func (h *Handler) beginAssertion(c echo.Context, purpose string, u db.User) error {
	if stop, err := h.passkeyThrottled(c, passkeyAttempt(c, &u)); stop || err != nil {
		return err
	}
	rp, err := h.relyingParty(c)
	if err != nil {
		return err
	}
	pu, err := h.loadPasskeyUser(c, u)
	if err != nil {
		return err
	}
	if len(pu.creds) == 0 {
		return passkeyJSONError(c, http.StatusBadRequest, "You have no passkey. Use another way to confirm it is you.")
	}
	opts, s, err := rp.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return fmt.Errorf("handlers: begin passkey check: %w", err)
	}
	return h.beginCeremony(c, purpose, u.ID, opts, s)
}

// finishAssertion checks the answer to beginAssertion: a passkey of u's,
// for this site, with a growing counter. On failure it has answered and
// returns a nil request.
func (h *Handler) finishAssertion(c echo.Context, purpose string, u db.User) (*finishRequest, error) {
	if stop, err := h.passkeyThrottled(c, passkeyAttempt(c, &u)); stop || err != nil {
		return nil, err
	}
	req, cer, err := h.readFinish(c, purpose, u.ID)
	if err != nil {
		return nil, h.ceremonyFailed(c, purpose, &u, err)
	}
	rp, err := h.relyingParty(c)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(req.Credential)
	if err != nil {
		return nil, h.passkeyFailed(c, purpose, &u, fmt.Errorf("%w: %w", errBadCeremony, err))
	}
	pu, err := h.loadPasskeyUser(c, u)
	if err != nil {
		return nil, err
	}
	cred, err := rp.ValidateLogin(pu, cer.Session, parsed)
	if err != nil {
		return nil, h.passkeyFailed(c, purpose, &u, err)
	}
	if err := h.usePasskey(c, u.ID, cred); err != nil {
		return nil, h.ceremonyFailed(c, purpose, &u, err)
	}
	return &req, nil
}

// usePasskey records the assertion of u's credential (counter, flags,
// last used); a counter that did not grow is refused.
func (h *Handler) usePasskey(c echo.Context, userID int64, cred *webauthn.Credential) error {
	credJSON, err := json.Marshal(cred)
	if err != nil {
		return fmt.Errorf("handlers: store passkey: %w", err)
	}
	return h.Store.UsePasskey(ctx(c), userID, cred.ID, cred.Authenticator.SignCount, credJSON)
}

// ceremonyFailed answers err from readFinish or usePasskey: what the person
// caused (bad request, a used or expired challenge, a stale counter) is a
// failed attempt; anything else an error.
func (h *Handler) ceremonyFailed(c echo.Context, purpose string, u *db.User, err error) error {
	if errors.Is(err, errBadCeremony) || errors.Is(err, db.ErrNotFound) || errors.Is(err, db.ErrPasskeyCounter) {
		return h.passkeyFailed(c, purpose, u, err)
	}
	return err
}
