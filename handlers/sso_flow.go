package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// ssoBindingCookie ties a sign-in at the provider to the browser that
// started it: it holds a random secret whose hash is in the sign-in's
// challenge, so a callback URL opened in another browser (a victim lured
// into finishing an attacker's sign-in) is refused.
const ssoBindingCookie = "keyward-sso"

// ssoState is what the callback needs of the sign-in it finishes, kept as
// the auth challenge whose token is the state parameter.
type ssoState struct {
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Next     string `json:"next"`
	// Binding is the SHA-256 (base64url) of the binding cookie's value.
	Binding string `json:"binding"`
}

// SSOStart is GET /login/sso?next=…: it sends the browser to the provider
// with a fresh state (single use, 10 minutes), nonce and PKCE verifier.
func (h *Handler) SSOStart(c echo.Context) error {
	if !h.sso.enabled() {
		return echo.ErrNotFound
	}
	next := safeNext(c.QueryParam("next"))
	if currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, next)
	}
	p, err := h.sso.discover(ctx(c))
	if err != nil {
		h.Logger.LogAttrs(ctx(c), slog.LevelError, "single sign-on unavailable", slog.String("error", err.Error()))
		return h.ssoRefuse(c, http.StatusServiceUnavailable, "The single sign-on provider can't be reached right now. Try again in a moment.")
	}
	var raw [32]byte
	nonce, err := randomBytes(raw[:])
	if err != nil {
		return err
	}
	binding, err := randomBytes(raw[:])
	if err != nil {
		return err
	}
	st := ssoState{Nonce: nonce, Verifier: oauth2.GenerateVerifier(), Next: next, Binding: hashBinding(binding)}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("handlers: sso state: %w", err)
	}
	state, err := h.Store.PutAuthChallenge(ctx(c), db.ChallengeOIDC, data, ssoChallengeTTL)
	if err != nil {
		return err
	}
	c.SetCookie(sessionCookie(c.Request(), cookieName(c.Request(), ssoBindingCookie), binding, int(ssoChallengeTTL.Seconds())))
	to := h.sso.oauth2Config(p).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(st.Verifier))
	return c.Redirect(http.StatusSeeOther, to)
}

func hashBinding(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ssoFailure is a refused callback: reason goes to the audit log (never a
// token), message to the person.
type ssoFailure struct {
	reason, message, email string
	status                 int
}

func (f *ssoFailure) Error() string { return "single sign-on refused: " + f.reason }

func refused(status int, reason, message string) *ssoFailure {
	return &ssoFailure{reason: reason, message: message, status: status}
}

// Messages of refused callbacks.
const (
	ssoMsgStart      = "This single sign-on attempt has expired or was already used. Please start again."
	ssoMsgBrowser    = "This single sign-on attempt was started in another browser. Please start again here."
	ssoMsgUnverified = "The answer of the single sign-on provider could not be verified. Please start again."
)

// SSOCallback is GET /login/sso/callback: the provider's answer. Every
// refusal shows a message on the sign-in page, signs nobody in, is audited
// login.sso_failure with its reason, and counts against the address.
func (h *Handler) SSOCallback(c echo.Context) error {
	if !h.sso.enabled() {
		return echo.ErrNotFound
	}
	ip := addrKey(c.RealIP())
	if wait := h.sso.failures.wait(ip); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		c.Response().Header().Set("Retry-After", fmt.Sprint(secs))
		return h.ssoRefuse(c, http.StatusTooManyRequests,
			fmt.Sprintf("Too many failed single sign-on attempts. Try again in %s.", plural(secs, "second")))
	}
	id, claims, next, err := h.ssoVerify(c)
	var f *ssoFailure
	if errors.As(err, &f) {
		h.sso.failures.fail(ip)
		h.audit(c, db.AuditEvent{Actor: "anonymous", Action: db.ActionLoginSSOFailure, TargetType: "user",
			Target: truncate(f.email, db.MaxEmailLength), IP: c.RealIP(), Detail: map[string]string{"reason": f.reason}})
		return h.ssoRefuse(c, f.status, f.message)
	}
	if err != nil {
		return err
	}
	return h.ssoSignIn(c, id, claims, next)
}

// ssoVerify checks the callback and returns the identity it proves: the
// state (known, unused, unexpired) and its browser, the provider's error,
// the code exchange with the PKCE verifier, the ID token (go-oidc:
// signature, issuer, audience, expiry) and its nonce, a verified e-mail
// address in an allowed domain.
func (h *Handler) ssoVerify(c echo.Context) (db.OIDCIdentity, ssoClaims, string, error) {
	r := c.Request()
	var none db.OIDCIdentity
	name := cookieName(r, ssoBindingCookie)
	binding := ""
	if ck, err := r.Cookie(name); err == nil {
		binding = ck.Value
	}
	c.SetCookie(sessionCookie(r, name, "", -1))
	data, err := h.Store.TakeAuthChallenge(ctx(c), db.ChallengeOIDC, c.QueryParam("state"))
	if errors.Is(err, db.ErrNotFound) {
		return none, ssoClaims{}, "", refused(http.StatusBadRequest, "state", ssoMsgStart)
	}
	if err != nil {
		return none, ssoClaims{}, "", err
	}
	var st ssoState
	if err := json.Unmarshal(data, &st); err != nil {
		return none, ssoClaims{}, "", fmt.Errorf("handlers: sso state: %w", err)
	}
	if binding == "" || subtle.ConstantTimeCompare([]byte(hashBinding(binding)), []byte(st.Binding)) != 1 {
		return none, ssoClaims{}, "", refused(http.StatusBadRequest, "browser", ssoMsgBrowser)
	}
	if e := c.QueryParam("error"); e != "" {
		return none, ssoClaims{}, "", providerError(e)
	}
	p, err := h.sso.discover(ctx(c))
	if err != nil {
		h.Logger.LogAttrs(ctx(c), slog.LevelError, "single sign-on unavailable", slog.String("error", err.Error()))
		return none, ssoClaims{}, "", refused(http.StatusServiceUnavailable, "provider_unreachable",
			"The single sign-on provider can't be reached right now. Try again in a moment.")
	}
	octx := h.sso.clientContext(ctx(c))
	tok, err := h.sso.oauth2Config(p).Exchange(octx, c.QueryParam("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		h.Logger.LogAttrs(ctx(c), slog.LevelWarn, "single sign-on code exchange refused", slog.String("error", exchangeError(err)))
		return none, ssoClaims{}, "", refused(http.StatusUnauthorized, "exchange", ssoMsgUnverified)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return none, ssoClaims{}, "", refused(http.StatusUnauthorized, "no_id_token", ssoMsgUnverified)
	}
	idt, err := h.sso.verifier(p).Verify(octx, rawID)
	if err != nil {
		return none, ssoClaims{}, "", tokenRefusal(err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return none, ssoClaims{}, "", refused(http.StatusUnauthorized, "nonce", ssoMsgUnverified)
	}
	claims, err := parseSSOClaims(idt, h.sso.cfg.GroupsClaim)
	if err != nil {
		return none, ssoClaims{}, "", refused(http.StatusUnauthorized, "claims", ssoMsgUnverified)
	}
	email := db.NormalizeEmail(claims.Email)
	if email == "" || !claims.EmailVerified {
		f := refused(http.StatusForbidden, "email_unverified",
			"Your single sign-on provider has not verified your e-mail address, so it can't sign you in here.")
		f.email = email
		return none, ssoClaims{}, "", f
	}
	if !h.sso.domainAllowed(email) {
		f := refused(http.StatusForbidden, "domain_not_allowed",
			"Addresses at "+email[strings.LastIndexByte(email, '@')+1:]+" can't sign in here. Ask an administrator.")
		f.email = email
		return none, ssoClaims{}, "", f
	}
	return db.OIDCIdentity{Issuer: idt.Issuer, Subject: idt.Subject, Email: email}, claims, st.Next, nil
}

// providerError is the refusal of a callback carrying the provider's
// error. Its code is shown only when it is one of OAuth's own, never
// free text from the URL.
func providerError(code string) *ssoFailure {
	switch code {
	case "access_denied":
		return refused(http.StatusUnauthorized, "provider_error:access_denied",
			"Single sign-on was cancelled or refused at the provider.")
	case "invalid_request", "unauthorized_client", "unsupported_response_type", "invalid_scope",
		"server_error", "temporarily_unavailable", "login_required", "interaction_required",
		"consent_required", "account_selection_required":
		return refused(http.StatusUnauthorized, "provider_error:"+code,
			"The single sign-on provider reported an error ("+code+"). Try again, or ask an administrator.")
	}
	return refused(http.StatusUnauthorized, "provider_error",
		"The single sign-on provider reported an error. Try again, or ask an administrator.")
}

// tokenRefusal names why go-oidc refused an ID token.
func tokenRefusal(err error) *ssoFailure {
	var expired *oidc.TokenExpiredError
	reason := "invalid_token"
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		reason = "expired"
	case strings.Contains(msg, "audience"):
		reason = "audience"
	case strings.Contains(msg, "issuer"):
		reason = "issuer"
	case strings.Contains(msg, "signature"):
		reason = "signature"
	}
	return refused(http.StatusUnauthorized, reason, ssoMsgUnverified)
}

// exchangeError describes a failed code exchange for the log: the
// provider's error code, without the response body.
func exchangeError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return fmt.Sprintf("token endpoint answered %d %s", re.Response.StatusCode, re.ErrorCode)
	}
	return err.Error()
}

// ssoRefuse shows the sign-in page with message, and nobody signed in.
func (h *Handler) ssoRefuse(c echo.Context, status int, message string) error {
	m := views.LoginPage{Layout: h.layout(c, "Sign in", ""), Next: "/keys"}
	m.SSO = h.ssoLoginOptions(c, m.Next)
	m.SSO.Error = message
	return render(c, status, views.Login(m))
}
