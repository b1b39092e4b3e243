package handlers

import (
	"github.com/keyward/keyward/db"
)

// signInLabel says how a session signed in, for the sessions list: the
// first factor, and what completed it when that was a second one. A
// person who does not recognise "Password" beside a session they expected
// to be "Passkey" has a reason to end it.
func signInLabel(method, factor string) string {
	first := map[string]string{db.AuthPassword: "Password", db.AuthPasskey: "Passkey", db.AuthSSO: "SSO"}[method]
	if first == "" {
		first = "Password" // sessions from before sign-in methods were recorded
	}
	switch factor {
	case db.FactorTOTP:
		return first + " + authenticator app"
	case db.FactorPasskey:
		return first + " + passkey"
	case db.FactorRecovery:
		return first + " + recovery code"
	case db.FactorProvider:
		return first + " (provider MFA)"
	}
	// "" or db.FactorUserVerified: a passkey that verified its user is
	// one gesture, shown as "Passkey".
	return first
}

// listedSession reports whether the sessions list shows s: a session
// whose second factor is still pending is no sign-in yet (it lapses in
// minutes and reaches nothing), so it is not listed.
func listedSession(s db.Session) bool { return s.Stage != db.StageMFA }
