package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// hostDeviceCookie is the device cookie's name on the loopback test server.
const hostDeviceCookie = "__Host-kw_device"

// loopbackProxy makes the test client a trusted proxy, so each request's
// X-Forwarded-For is its client address: what an attacker with many source
// addresses looks like, with the per-address limit never tripping.
func loopbackProxy(c *Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// deviceCookie returns the browser's device cookie value ("" if none).
func (b *browser) deviceCookie() string {
	for _, c := range b.c.Jar.Cookies(b.base) {
		if c.Name == hostDeviceCookie {
			return c.Value
		}
	}
	return ""
}

// withDeviceCookie returns a fresh browser holding only the given device
// cookie value.
func (a *testApp) withDeviceCookie(value string) *browser {
	b := a.browser()
	b.c.Jar.SetCookies(b.base, []*http.Cookie{{Name: hostDeviceCookie, Value: value, Path: "/", Secure: true}})
	return b
}

// guessFrom signs in as email with a wrong password from a new address at
// every attempt until the account's untrusted clients get a 429.
func guessFrom(t *testing.T, a *testApp, email string) response {
	t.Helper()
	return failUntilThrottled(t, a.browser(), 10, func(i int) (string, string) {
		return email, fmt.Sprintf("203.0.113.%d", i+1)
	})
}

// TestLoginDeviceCookieSurvivesGuessing: while someone guesses an
// account's password from changing addresses, the account's owner still
// signs in from a browser that signed in before; every other client waits.
// Before device cookies, the owner's right password got 429 as well, so
// anyone could keep any account (an admin's) out of sign-in.
func TestLoginDeviceCookieSurvivesGuessing(t *testing.T) {
	const alice, bob = "alice@example.com", "bob@example.com"
	a := newTestApp(t, loopbackProxy)
	a.createUser(alice, db.RoleMember)
	a.createUser(bob, db.RoleMember)

	owner := a.browser()
	if r := loginAttempt(owner, alice, testPassword, "192.0.2.10"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner's first sign-in: got %d, want 303", r.StatusCode)
	}
	if r := owner.post("/logout", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: got %d, want 303", r.StatusCode)
	}
	ownerCookie := owner.deviceCookie()
	if ownerCookie == "" {
		t.Fatal("no device cookie after a sign-in and a sign-out")
	}
	bobsBrowser := a.browser()
	if r := loginAttempt(bobsBrowser, bob, testPassword, "192.0.2.11"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob's sign-in: got %d, want 303", r.StatusCode)
	}
	secondDevice := a.browser()
	if r := loginAttempt(secondDevice, alice, testPassword, "192.0.2.12"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's second device: got %d, want 303", r.StatusCode)
	}

	retryAfter(t, guessFrom(t, a, alice))

	flipped := []byte(ownerCookie)
	if flipped[len(flipped)/2] == 'A' {
		flipped[len(flipped)/2] = 'B'
	} else {
		flipped[len(flipped)/2] = 'A'
	}
	// Well-formed (length, version 1) but signed with no key of ours.
	forged := make([]byte, len(ownerCookie)*3/4)
	_, _ = rand.Read(forged)
	forged[0] = 1

	tests := []struct {
		name    string
		browser func() *browser
		want    int
	}{
		{"owner's browser with its device cookie", func() *browser { return owner }, http.StatusSeeOther},
		{"a browser without a device cookie", a.browser, http.StatusTooManyRequests},
		{"another account's device cookie", func() *browser { return bobsBrowser }, http.StatusTooManyRequests},
		{"an altered device cookie", func() *browser { return a.withDeviceCookie(string(flipped)) }, http.StatusTooManyRequests},
		{"a forged device cookie", func() *browser {
			return a.withDeviceCookie(base64.RawURLEncoding.EncodeToString(forged))
		}, http.StatusTooManyRequests},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := loginAttempt(tt.browser(), alice, testPassword, fmt.Sprintf("198.51.100.%d", i+1))
			if r.StatusCode != tt.want {
				t.Fatalf("right password: got %d, want %d", r.StatusCode, tt.want)
			}
			if tt.want == http.StatusTooManyRequests {
				retryAfter(t, r)
			}
		})
	}

	// A device cookie is throttled on its own: a stolen copy that keeps
	// failing loses its exemption, and the owner's other browser does not.
	t.Run("a device cookie that keeps failing", func(t *testing.T) {
		thief := a.withDeviceCookie(secondDevice.deviceCookie())
		// The copied cookie is exempt from the account's back-off at first:
		// each guess gets an answer...
		const allowance = 5
		for i := range allowance {
			if r := loginAttempt(thief, alice, "wrong password for sure", fmt.Sprintf("198.18.0.%d", i+1)); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("guess %d with a valid device cookie: got %d, want 401", i+1, r.StatusCode)
			}
		}
		// Their audit events say a trusted device failed: a typo, or a
		// stolen cookie.
		events, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionLoginFailure, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		trusted := 0
		for _, e := range events {
			if e.Detail["device"] == "trusted" {
				trusted++
			}
		}
		if trusted != allowance || len(events) <= allowance {
			t.Errorf("failed sign-ins marked as from a trusted device: got %d of %d, want %d (the others untrusted)", trusted, len(events), allowance)
		}
		// ...until the device's own allowance is spent.
		r := loginAttempt(thief, alice, "wrong password for sure", "198.18.0.99")
		if r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("guess %d with the device cookie: got %d, want 429", allowance+1, r.StatusCode)
		}
		retryAfter(t, r)
		if r := loginAttempt(thief, alice, testPassword, "198.18.1.1"); r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("right password from the failing device: got %d, want 429", r.StatusCode)
		}
		if r := loginAttempt(secondDevice, alice, testPassword, "198.18.1.2"); r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("the device whose cookie was copied: got %d, want 429", r.StatusCode)
		}
		owner.post("/logout", nil)
		if r := loginAttempt(owner, alice, testPassword, "198.18.1.3"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("the owner's other device: got %d, want 303", r.StatusCode)
		}
	})
}

// TestDeviceCookieAttributes: HttpOnly, Secure with the __Host- prefix,
// SameSite=Lax, a year long, and a new value at every sign-in.
func TestDeviceCookieAttributes(t *testing.T) {
	a := newTestApp(t)
	a.createUser("alice@example.com", db.RoleMember)
	b := a.browser()
	var values []string
	for range 2 {
		r := b.post("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}})
		var ck *http.Cookie
		for _, c := range r.Cookies() {
			if c.Name == hostDeviceCookie {
				ck = c
			}
		}
		if ck == nil {
			t.Fatalf("sign-in set no %s cookie; Set-Cookie: %q", hostDeviceCookie, r.Header.Values("Set-Cookie"))
		}
		if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("attributes: got HttpOnly=%v Secure=%v SameSite=%v Path=%q Domain=%q, want HttpOnly, Secure, Lax, /, no domain",
				ck.HttpOnly, ck.Secure, ck.SameSite, ck.Path, ck.Domain)
		}
		if want := 365 * 24 * 60 * 60; ck.MaxAge != want {
			t.Errorf("Max-Age: got %d, want %d (a year)", ck.MaxAge, want)
		}
		values = append(values, ck.Value)
	}
	if values[0] == values[1] {
		t.Errorf("device cookie: got the same value at two sign-ins, want a new nonce each time")
	}
	if r := a.browser().post("/login", url.Values{"email": {"alice@example.com"}, "password": {"wrong password for sure"}}); strings.Contains(strings.Join(r.Header.Values("Set-Cookie"), ";"), "kw_device") {
		t.Errorf("a failed sign-in set a device cookie")
	}
}

// anotherInstance is a second server on the same database: another
// replica, or the same one after a restart (throttles start empty).
func (a *testApp) anotherInstance(opts ...appOption) *testApp {
	a.t.Helper()
	return serve(a.t, a.clock, a.store, a.dbPath, a.verifier, a.setupToken, opts...)
}

// TestDeviceCookieWorksOnEveryInstance: the signing secret is in the
// database, so a device cookie issued by one instance is honoured by
// another, and by the same one after a restart.
func TestDeviceCookieWorksOnEveryInstance(t *testing.T) {
	const alice = "alice@example.com"
	first := newTestApp(t, loopbackProxy)
	first.createUser(alice, db.RoleMember)
	owner := first.browser()
	owner.login(alice, testPassword)
	owner.post("/logout", nil)

	second := first.anotherInstance(loopbackProxy)
	retryAfter(t, guessFrom(t, second, alice))
	// The cookie jar keeps cookies by host, not port: same browser, other
	// instance.
	onSecond := &browser{t: t, app: second, c: owner.c, base: owner.base}
	if r := loginAttempt(onSecond, alice, testPassword, "192.0.2.20"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner on the second instance: got %d, want 303", r.StatusCode)
	}
	if r := loginAttempt(second.browser(), alice, testPassword, "192.0.2.21"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a new browser on the second instance: got %d, want 429", r.StatusCode)
	}
	var secrets int
	if err := attackDB(t, first).QueryRowContext(context.Background(), `SELECT COUNT(*) FROM server_secrets`).Scan(&secrets); err != nil || secrets != 1 {
		t.Fatalf("server secrets: got %d (err %v), want the one device cookie key", secrets, err)
	}
}

// TestDeviceCookieExpires: the issue time is signed into the cookie, so
// the server stops trusting it after a year whatever the browser keeps.
func TestDeviceCookieExpires(t *testing.T) {
	const alice = "alice@example.com"
	tests := []struct {
		name  string
		after time.Duration
		want  int
	}{
		{"364 days after the sign-in", 364 * 24 * time.Hour, http.StatusSeeOther},
		{"366 days after the sign-in", 366 * 24 * time.Hour, http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, loopbackProxy)
			a.createUser(alice, db.RoleMember)
			owner := a.browser()
			owner.login(alice, testPassword)
			kept := owner.deviceCookie()
			a.clock.Advance(tt.after)
			retryAfter(t, guessFrom(t, a, alice))
			if r := loginAttempt(a.withDeviceCookie(kept), alice, testPassword, "192.0.2.30"); r.StatusCode != tt.want {
				t.Fatalf("right password with the kept device cookie: got %d, want %d", r.StatusCode, tt.want)
			}
		})
	}
}
