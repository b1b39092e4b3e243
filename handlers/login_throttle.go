package handlers

import (
	"crypto/sha256"
	"net/netip"
	"time"

	"github.com/keyward/keyward/db"
)

// accountKey names an account in the throttles: the SHA-256 of its
// normalised email. Fixed-size, so a megabyte typed into the email field
// costs what "a@b.c" does.
type accountKey [sha256.Size]byte

// accountKeyOf returns the key of the account email names, and false when
// no account can have that email (empty, or longer than any stored one):
// such a sign-in is simply invalid and is tracked by address only.
func accountKeyOf(email string) (accountKey, bool) {
	n := db.NormalizeEmail(email)
	if n == "" || len(n) > db.MaxEmailLength {
		return accountKey{}, false
	}
	return sha256.Sum256([]byte(n)), true
}

// loginAttempt is who is trying a password: the client address, the
// account (when the email could be one), and, when the browser holds a
// device cookie valid for that account, that device (see device.go).
type loginAttempt struct {
	ip         netip.Addr
	account    accountKey
	hasAccount bool
	device     deviceID
	trusted    bool
}

// loginThrottle slows password guessing: failures are counted per client
// IP (generous, since offices share an address), per account for the
// clients it has not signed in from (strict), and per device for browsers
// holding a device cookie of the account (as strict, but their own), each
// with its own back-off. Someone guessing an account's password slows down
// only the account's untrusted clients, never the owner's own browser.
type loginThrottle struct {
	byIP      *backoff[netip.Addr]
	byAccount *backoff[accountKey]
	byDevice  *backoff[deviceID]
}

// Back-off policies of the sign-in throttles. An account or device gets 5
// failures free, then waits 1 s, doubling to 15 min; an address gets 20.
// Everything is forgotten an hour after the last failure.
var (
	loginIPPolicy      = backoffPolicy{free: 20, base: time.Second, max: 15 * time.Minute, forget: time.Hour}
	loginAccountPolicy = backoffPolicy{free: 5, base: time.Second, max: 15 * time.Minute, forget: time.Hour}
	// loginLimits bounds each sign-in throttle: 100,000 entries and 4 MiB
	// of keys and counts (an account entry is 64 bytes, so 65,536 of them).
	loginLimits = backoffLimits{entries: 100_000, bytes: 4 << 20}
)

// passwordChangePolicy slows guessing through the password-change form,
// a password oracle for whoever holds a session (a stolen one, say): three
// wrong current passwords free, then 1 s doubling, per account. At
// passwordChangeMaxFailures in a row the session ends (AccountPassword):
// going on takes signing in, where the sign-in throttles apply.
var passwordChangePolicy = backoffPolicy{free: 3, base: time.Second, max: 15 * time.Minute, forget: time.Hour}

const passwordChangeMaxFailures = 5

func newPasswordChangeThrottle(now func() time.Time) *backoff[int64] {
	return newBackoff[int64](now, passwordChangePolicy, loginLimits)
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{
		byIP:      newBackoff[netip.Addr](now, loginIPPolicy, loginLimits),
		byAccount: newBackoff[accountKey](now, loginAccountPolicy, loginLimits),
		byDevice:  newBackoff[deviceID](now, loginAccountPolicy, loginLimits),
	}
}

// Wait is how long the attempt must wait: the longer of the address's
// wait and the device's (trusted) or the account's untrusted clients'.
func (t *loginThrottle) Wait(a loginAttempt) time.Duration {
	w := t.byIP.wait(a.ip)
	switch {
	case a.trusted:
		w = max(w, t.byDevice.wait(a.device))
	case a.hasAccount:
		w = max(w, t.byAccount.wait(a.account))
	}
	return w
}

// Failure counts a wrong password against the address and against the
// device (trusted) or the account's untrusted clients.
func (t *loginThrottle) Failure(a loginAttempt) {
	t.byIP.fail(a.ip)
	switch {
	case a.trusted:
		t.byDevice.fail(a.device)
	case a.hasAccount:
		t.byAccount.fail(a.account)
	}
}

// Success clears the counter the attempt was judged by, but not the IP's:
// one good password must not reset a spray across many accounts from the
// same address. A sign-in from a trusted device leaves the untrusted
// clients' back-off alone, or each time the owner signed in, whoever is
// guessing would get a fresh allowance.
func (t *loginThrottle) Success(a loginAttempt) {
	switch {
	case a.trusted:
		t.byDevice.reset(a.device)
	case a.hasAccount:
		t.byAccount.reset(a.account)
	}
}
