package views

// SudoPage is /sudo, "Confirm it's you": the proofs the person has, and
// where the page leads once one is given.
type SudoPage struct {
	Layout
	// Return is the token of the kept form that resumes afterwards; Next
	// the page to go back to when no form was kept.
	Return, Next string
	// TOTP and Passkeys: the person has an authenticator app, passkeys.
	TOTP, Passkeys bool
	// PasskeyNext is where the passkey ceremony leads when it succeeds.
	PasskeyNext string
	// SSOLink signs in again through the identity provider (a person
	// signed in by single sign-on may have no password); empty otherwise.
	SSOLink string
	// Window is the re-authentication window, for the explanation.
	Window string
	// Active is the field that gets the focus: "code" or "password".
	Active string
	Errors FieldErrors
}

// Intro explains why the page asks: the window has passed, and (when a
// form was kept) that nothing was lost.
func (m SudoPage) Intro() string {
	s := "You last confirmed who you are more than " + m.Window + " ago, and this change needs a fresh proof."
	if m.Return != "" {
		s += " Nothing has changed yet: what you submitted continues right after."
	}
	return s
}

// SudoResumePage is /sudo/resume: the kept form, to continue.
type SudoResumePage struct {
	Layout
	// Action is where the form goes (its original path), Label what it
	// does ("Roll key “deploy”"), Back where Cancel leads.
	Action, Label, Back string
	Fields              []HiddenField
}

// HiddenField is one kept form value.
type HiddenField struct{ Name, Value string }

// ContinueLabel is the resume button's text.
func (m SudoResumePage) ContinueLabel() string {
	if m.Label == "" || m.Label == "Continue" {
		return "Continue"
	}
	return "Continue: " + m.Label
}
