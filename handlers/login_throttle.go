package handlers

import (
	"context"
	"crypto/sha256"
	"fmt"
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
//
// The back-offs that protect an account, per account and per device, live
// in the database (db.Store.RecordLoginFailure), so every instance on it
// counts the same failures: ten wrong passwords spread over two instances
// throttle an account as ten on one would. The per-address back-off stays
// in this instance's memory: it guards the server, not an account, and
// with N instances an address gets at most N times its allowance, while
// what it is guessing at stays throttled in the database.
type loginThrottle struct {
	byIP  *backoff[netip.Addr]
	store *db.Store
	now   func() time.Time
}

// loginIPPolicy: an address gets 20 failures free, then waits 1 s,
// doubling to 15 min, forgotten an hour after its last failure. An account
// or a device gets 5 (db's policy, the same doubling).
var (
	loginIPPolicy = backoffPolicy{free: 20, base: time.Second, max: 15 * time.Minute, forget: time.Hour}
	// loginLimits bounds each in-memory throttle map: 100,000 entries and
	// 4 MiB of keys and counts.
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

func newLoginThrottle(store *db.Store, now func() time.Time) *loginThrottle {
	return &loginThrottle{byIP: newBackoff[netip.Addr](now, loginIPPolicy, loginLimits), store: store, now: now}
}

// subject is what the attempt is judged by besides its address: its
// device (trusted) or the account's untrusted clients; none for an email
// no account can have.
func (a loginAttempt) subject() (db.LoginSubject, bool) {
	switch {
	case a.trusted:
		return db.DeviceSubject([16]byte(a.device)), true
	case a.hasAccount:
		return db.AccountSubject([sha256.Size]byte(a.account)), true
	}
	return nil, false
}

// Wait is how long the attempt must wait: the longer of the address's
// wait and its subject's.
func (t *loginThrottle) Wait(ctx context.Context, a loginAttempt) (time.Duration, error) {
	w := t.byIP.wait(a.ip)
	if sub, ok := a.subject(); ok {
		until, err := t.store.LoginBlockedUntil(ctx, sub)
		if err != nil {
			return 0, fmt.Errorf("handlers: sign-in throttle: %w", err)
		}
		w = max(w, until.Sub(t.now()))
	}
	return w, nil
}

// Failure counts a wrong password against the address and the subject.
func (t *loginThrottle) Failure(ctx context.Context, a loginAttempt) error {
	t.byIP.fail(a.ip)
	if sub, ok := a.subject(); ok {
		if _, err := t.store.RecordLoginFailure(ctx, sub, t.now()); err != nil {
			return fmt.Errorf("handlers: sign-in throttle: %w", err)
		}
	}
	return nil
}

// Success clears the subject the attempt was judged by, but not the IP's:
// one good password must not reset a spray across many accounts from the
// same address. A sign-in from a trusted device leaves the untrusted
// clients' back-off alone, or each time the owner signed in, whoever is
// guessing would get a fresh allowance.
func (t *loginThrottle) Success(ctx context.Context, a loginAttempt) error {
	if sub, ok := a.subject(); ok {
		if err := t.store.ClearLoginFailures(ctx, sub); err != nil {
			return fmt.Errorf("handlers: sign-in throttle: %w", err)
		}
	}
	return nil
}
