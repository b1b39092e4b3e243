package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// registerBeginRequest: the name is checked before the gesture, so a bad
// one does not waste it.
type registerBeginRequest struct {
	Name string `json:"name"`
}

// defaultPasskeyName names a passkey whose person gave none.
func (h *Handler) defaultPasskeyName(name string) string {
	if strings.TrimSpace(name) == "" {
		return "Passkey " + h.now().Format("2 Jan 2006")
	}
	return name
}

// WebAuthnRegisterBegin is POST /webauthn/register/begin: the options of
// a new discoverable passkey for the signed-in person (so it can later sign
// in without an email), excluding the authenticators already registered.
func (h *Handler) WebAuthnRegisterBegin(c echo.Context) error {
	u := currentUser(c)
	var req registerBeginRequest
	if err := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 4<<10)).Decode(&req); err != nil {
		return passkeyJSONError(c, http.StatusBadRequest, "This passkey request is not valid. Please try again.")
	}
	if _, err := db.CheckPasskeyName(h.defaultPasskeyName(req.Name)); err != nil {
		return passkeyFieldError(c, err)
	}
	rp, err := h.relyingParty(c)
	if err != nil {
		return err
	}
	pu, err := h.loadPasskeyUser(c, *u)
	if err != nil {
		return err
	}
	opts, s, err := rp.BeginRegistration(pu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationPreferred,
		}),
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()))
	if err != nil {
		return fmt.Errorf("handlers: begin passkey registration: %w", err)
	}
	return h.beginCeremony(c, purposeRegister, u.ID, opts, s)
}

// WebAuthnRegisterFinish is POST /webauthn/register/finish: the new
// passkey is checked (origin, relying party, challenge) and stored under
// its name; it ends an enrolment that policy required.
func (h *Handler) WebAuthnRegisterFinish(c echo.Context) error {
	u := currentUser(c)
	req, cer, err := h.readFinish(c, purposeRegister, u.ID)
	if err != nil {
		return registerFailed(c, err)
	}
	name, err := db.CheckPasskeyName(h.defaultPasskeyName(req.Name))
	if err != nil {
		return passkeyFieldError(c, err)
	}
	rp, err := h.relyingParty(c)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(req.Credential)
	if err != nil {
		return registerFailed(c, errBadCeremony)
	}
	pu, err := h.loadPasskeyUser(c, *u)
	if err != nil {
		return err
	}
	cred, err := rp.CreateCredential(pu, cer.Session, parsed)
	if err != nil {
		return registerFailed(c, err)
	}
	credJSON, err := json.Marshal(cred)
	if err != nil {
		return fmt.Errorf("handlers: store passkey: %w", err)
	}
	_, err = h.Store.AddPasskey(ctx(c), u.ID, db.NewPasskey{
		CredentialID: cred.ID, Name: name, Credential: credJSON, SignCount: cred.Authenticator.SignCount,
	}, actor(c))
	if errors.Is(err, db.ErrConflict) || errors.Is(err, db.ErrInvalid) {
		return passkeyFieldError(c, err)
	}
	if err != nil {
		return err
	}
	if err := h.factorEnrolled(c); err != nil {
		return err
	}
	h.flash(c, "success", fmt.Sprintf("Passkey %q added.", name))
	return c.JSON(http.StatusOK, map[string]string{"redirect": EnrolmentPath})
}

// registerFailed answers a registration the browser's answer did not
// complete: nothing is stored. Not a sign-in failure, so not throttled.
func registerFailed(c echo.Context, cause error) error {
	msg, reason := passkeyFailureMessage(cause)
	if reason == "assertion" {
		msg = "The passkey could not be registered. Please try again."
	}
	var dbErr *db.Error
	if !errors.Is(cause, errBadCeremony) && !errors.As(cause, &dbErr) && !isProtocolError(cause) {
		return cause
	}
	return passkeyJSONError(c, http.StatusBadRequest, msg)
}

func isProtocolError(err error) bool {
	_, ok := errors.AsType[*protocol.Error](err)
	return ok
}

// passkeyFieldError answers a bad name or a passkey already registered.
func passkeyFieldError(c echo.Context, err error) error {
	msg := err.Error()
	if ve, ok := errors.AsType[*db.ValidationError](err); ok {
		msg = ve.Fields["name"]
	}
	status := http.StatusUnprocessableEntity
	if errors.Is(err, db.ErrConflict) {
		status = http.StatusConflict
	}
	return passkeyJSONError(c, status, msg)
}
