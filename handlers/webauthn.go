package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// Passkeys (WebAuthn) through go-webauthn. Every ceremony is two JSON
// requests: begin returns the options for navigator.credentials and a
// token naming the server side of the ceremony (webauthn.SessionData,
// stored with Store.PutAuthChallenge for five minutes, so any instance can
// finish it); finish takes that token, once, with the browser's answer.
// static/js/passkeys.js drives them; the CSRF middleware checks the
// X-CSRF-Token header of each POST like any other.

// ceremonyTTL bounds a ceremony: the browser's own prompt times out sooner.
const ceremonyTTL = 5 * time.Minute

// Purposes of a ceremony: the token of one cannot finish another.
const (
	purposeRegister = "register"
	purposeSignIn   = "signin"
	purposeSecond   = "2fa"
	purposeSudo     = "sudo"
)

// ceremony is what begin stores and finish takes.
type ceremony struct {
	Purpose string               `json:"purpose"`
	UserID  int64                `json:"user_id,omitempty"` // 0: passwordless, the passkey names its person
	Session webauthn.SessionData `json:"session"`
}

// finishRequest is the body of every finish: the token from begin, the
// browser's PublicKeyCredential as JSON, and per purpose a name (register)
// or where to go next.
type finishRequest struct {
	Token      string          `json:"token"`
	Name       string          `json:"name"`
	Next       string          `json:"next"`
	Credential json.RawMessage `json:"credential"`
}

// beginResponse is the answer of every begin.
type beginResponse struct {
	Token   string `json:"token"`
	Options any    `json:"options"`
}

// relyingParty is the WebAuthn relying party: its id is --base-url's host
// and the only origin accepted is the base URL's. A base URL on a loopback
// host (what `go run .` serves) also answers a page opened on another
// loopback name (localhost for 127.0.0.1): browsers refuse IP addresses
// as relying-party ids, and no other site can claim a loopback origin.
func (h *Handler) relyingParty(c echo.Context) (*webauthn.WebAuthn, error) {
	origin, err := h.passkeyOrigin(c)
	if err != nil {
		return nil, err
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          origin.Hostname(),
		RPDisplayName: "Keyward",
		RPOrigins:     []string{origin.Scheme + "://" + origin.Host},
	})
	if err != nil {
		return nil, fmt.Errorf("handlers: webauthn relying party: %w", err)
	}
	return w, nil
}

// errNoPasskeyOrigin: the base URL cannot serve as a relying party.
var errNoPasskeyOrigin = BadRequest("PASSKEYS_UNAVAILABLE", "Passkeys need Keyward's address (--base-url) to be set.")

// errPasskeyIP: browsers accept only domain names as relying-party ids.
var errPasskeyIP = BadRequest("PASSKEYS_UNAVAILABLE", "Passkeys work only at a domain name, not an IP address: open Keyward at localhost (or its domain) instead.")

func (h *Handler) passkeyOrigin(c echo.Context) (*url.URL, error) {
	o, err := h.passkeyOriginURL(c)
	if err == nil && net.ParseIP(o.Hostname()) != nil {
		return nil, errPasskeyIP
	}
	return o, err
}

func (h *Handler) passkeyOriginURL(c echo.Context) (*url.URL, error) {
	r := c.Request()
	reqHost := r.Host
	if hn, _, err := net.SplitHostPort(reqHost); err == nil {
		reqHost = hn
	}
	base, err := url.Parse(h.BaseURL)
	if h.BaseURL == "" || err != nil || base.Host == "" {
		if !loopbackHost(reqHost) {
			return nil, errNoPasskeyOrigin
		}
		return &url.URL{Scheme: c.Scheme(), Host: r.Host}, nil
	}
	if loopbackHost(base.Hostname()) && loopbackHost(reqHost) {
		return &url.URL{Scheme: c.Scheme(), Host: r.Host}, nil
	}
	return base, nil
}

func loopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// passkeyUser is a person as go-webauthn sees them.
type passkeyUser struct {
	u      db.User
	handle []byte
	creds  []webauthn.Credential
}

func (p *passkeyUser) WebAuthnID() []byte                         { return p.handle }
func (p *passkeyUser) WebAuthnName() string                       { return p.u.Email }
func (p *passkeyUser) WebAuthnDisplayName() string                { return p.u.Email }
func (p *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// loadPasskeyUser reads u's handle (made on first use) and passkeys.
func (h *Handler) loadPasskeyUser(c echo.Context, u db.User) (*passkeyUser, error) {
	handle, err := h.Store.WebAuthnHandle(ctx(c), u.ID)
	if err != nil {
		return nil, err
	}
	keys, err := h.Store.Passkeys(ctx(c), u.ID)
	if err != nil {
		return nil, err
	}
	p := &passkeyUser{u: u, handle: handle}
	for _, k := range keys {
		var cred webauthn.Credential
		if err := json.Unmarshal(k.Credential, &cred); err != nil {
			return nil, fmt.Errorf("handlers: passkey %d: %w", k.ID, err)
		}
		p.creds = append(p.creds, cred)
	}
	return p, nil
}

// beginCeremony stores the server side of a ceremony and answers begin.
func (h *Handler) beginCeremony(c echo.Context, purpose string, userID int64, options any, s *webauthn.SessionData) error {
	data, err := json.Marshal(ceremony{Purpose: purpose, UserID: userID, Session: *s})
	if err != nil {
		return fmt.Errorf("handlers: store ceremony: %w", err)
	}
	tok, err := h.Store.PutAuthChallenge(ctx(c), db.ChallengeWebAuthn, data, ceremonyTTL)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, beginResponse{Token: tok, Options: options})
}

// errBadCeremony: the finish request is not what begin asked for.
var errBadCeremony = errors.New("this passkey request is not valid; please try again")

// readFinish decodes a finish request and takes its ceremony, which must
// be of purpose and, unless userID is 0, of that person. The ceremony is
// spent whatever happens next.
func (h *Handler) readFinish(c echo.Context, purpose string, userID int64) (finishRequest, ceremony, error) {
	var req finishRequest
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 64<<10))
	if err != nil {
		return req, ceremony{}, fmt.Errorf("handlers: read passkey answer: %w", err)
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Credential) == 0 {
		return req, ceremony{}, errBadCeremony
	}
	data, err := h.Store.TakeAuthChallenge(ctx(c), db.ChallengeWebAuthn, req.Token)
	if err != nil {
		return req, ceremony{}, err
	}
	var cer ceremony
	if err := json.Unmarshal(data, &cer); err != nil {
		return req, ceremony{}, fmt.Errorf("handlers: read ceremony: %w", err)
	}
	if cer.Purpose != purpose || (userID != 0 && cer.UserID != userID) {
		return req, ceremony{}, errBadCeremony
	}
	return req, cer, nil
}

// passkeyJSONError answers a WebAuthn endpoint with {"error": msg}.
func passkeyJSONError(c echo.Context, status int, msg string) error {
	return c.JSON(status, map[string]string{"error": msg})
}

// passkeyThrottled answers 429 when the attempt must wait, like a password.
func (h *Handler) passkeyThrottled(c echo.Context, who loginAttempt) (bool, error) {
	wait, err := h.loginThrottle.Wait(ctx(c), who)
	if err != nil || wait <= 0 {
		return false, err
	}
	h.metrics.login(loginThrottled)
	secs := int(math.Ceil(wait.Seconds()))
	c.Response().Header().Set("Retry-After", fmt.Sprint(secs))
	return true, passkeyJSONError(c, http.StatusTooManyRequests, fmt.Sprintf("Too many failed attempts. Try again in %s.", plural(secs, "second")))
}

// passkeyAttempt is who tries a passkey: the address, and the account when
// it is known.
func passkeyAttempt(c echo.Context, u *db.User) loginAttempt {
	who := loginAttempt{ip: addrKey(c.RealIP())}
	if u != nil {
		who.account, who.hasAccount = accountKeyOf(u.Email)
	}
	return who
}

// passkeyFailed answers a failed assertion: counted by the sign-in
// throttle, audited (login.mfa_failure, or auth.reauth_failure for
// re-authentication) with the person when known, and a JSON error with a
// message the person can act on. cause is logged for the operator.
func (h *Handler) passkeyFailed(c echo.Context, purpose string, u *db.User, cause error) error {
	if err := h.loginThrottle.Failure(ctx(c), passkeyAttempt(c, u)); err != nil {
		return err
	}
	h.metrics.login(loginFailure)
	msg, reason := passkeyFailureMessage(cause)
	e := db.AuditEvent{Actor: "anonymous", Action: db.ActionLoginMFAFailure, TargetType: "user", IP: c.RealIP(),
		Detail: map[string]string{"method": db.AuthPasskey, "purpose": purpose, "reason": reason}}
	if purpose == purposeSudo {
		e.Action = db.ActionReauthFailure
	}
	if u != nil {
		e.TargetID, e.Target = u.ID, u.Email
		if purpose == purposeSudo {
			e.ActorID, e.Actor = u.ID, u.Email
		}
	}
	h.audit(c, e)
	attrs := []slog.Attr{slog.String("purpose", purpose), slog.String("reason", reason), slog.String("error", cause.Error())}
	if pe, ok := errors.AsType[*protocol.Error](cause); ok {
		attrs = append(attrs, slog.String("detail", pe.DevInfo))
	}
	h.Logger.LogAttrs(ctx(c), slog.LevelInfo, "passkey refused", attrs...)
	status := http.StatusUnauthorized
	if reason == "request" || reason == "challenge" {
		status = http.StatusBadRequest
	}
	return passkeyJSONError(c, status, msg)
}

// passkeyFailureMessage turns why an assertion failed into what the person
// reads, and a short reason for the audit log.
func passkeyFailureMessage(cause error) (msg, reason string) {
	var dbErr *db.Error
	switch {
	case errors.Is(cause, errBadCeremony):
		return "This passkey request is not valid. Please try again.", "request"
	case errors.Is(cause, db.ErrPasskeyCounter):
		return db.ErrPasskeyCounter.Error(), "counter"
	case errors.Is(cause, db.ErrNotFound) && errors.As(cause, &dbErr) && strings.Contains(dbErr.Message, "expired"):
		return dbErr.Message, "challenge"
	case errors.Is(cause, errPasskeyUserDisabled):
		return "This passkey cannot sign in.", "disabled"
	}
	return "This passkey was not accepted. Use a passkey registered for this account on this site.", "assertion"
}

var errPasskeyUserDisabled = errors.New("the passkey's account is disabled")
