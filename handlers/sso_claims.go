package handlers

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
)

// ssoClaims are what Keyward reads of a verified ID token.
type ssoClaims struct {
	Email         string
	EmailVerified bool
	// AMR is how the provider authenticated the person (RFC 8176).
	AMR    []string
	Groups []string
}

// parseSSOClaims reads the claims of a verified ID token. Providers differ
// in small ways: email_verified is a boolean, or the string "true"
// (Amazon Cognito); a group claim is a list, or one string.
func parseSSOClaims(idt *oidc.IDToken, groupsClaim string) (ssoClaims, error) {
	var raw map[string]json.RawMessage
	if err := idt.Claims(&raw); err != nil {
		return ssoClaims{}, fmt.Errorf("handlers: id token claims: %w", err)
	}
	var c ssoClaims
	_ = json.Unmarshal(raw["email"], &c.Email)
	var verified any
	_ = json.Unmarshal(raw["email_verified"], &verified)
	c.EmailVerified = verified == true || verified == "true"
	c.AMR = stringList(raw["amr"])
	if groupsClaim != "" {
		c.Groups = stringList(raw[groupsClaim])
	}
	return c, nil
}

// stringList reads a JSON list of strings, or one string, as a list;
// anything else as none.
func stringList(m json.RawMessage) []string {
	var list []string
	if json.Unmarshal(m, &list) == nil {
		return list
	}
	var one string
	if json.Unmarshal(m, &one) == nil && one != "" {
		return []string{one}
	}
	return nil
}

// Authentication method references (RFC 8176) by the kind of factor they
// are: something known, something held, something one is.
var (
	amrKnowledge  = []string{"pwd", "pin", "kba"}
	amrPossession = []string{"otp", "hwk", "swk", "sms", "tel", "sc"}
	amrInherence  = []string{"fpt", "face", "iris", "retina", "vbm", "bio", "user"}
)

// providerMFA reports whether the provider's amr claim shows a
// multi-factor sign-in: "mfa" itself, or a held factor together with a
// known or inherent one (a password and a one-time code; a security key
// with its PIN or fingerprint). A single method, even "hwk" alone, is one
// factor: Keyward then asks its own second factor when the person has one
// or policy requires one.
func providerMFA(amr []string) bool {
	if slices.Contains(amr, "mfa") {
		return true
	}
	has := func(kind []string) bool {
		return slices.ContainsFunc(amr, func(m string) bool { return slices.Contains(kind, m) })
	}
	return has(amrPossession) && (has(amrKnowledge) || has(amrInherence))
}
