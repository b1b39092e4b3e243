package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

func TestSetupTokenGuardsForm(t *testing.T) {
	a := newTestApp(t)
	tests := []struct {
		name     string
		path     string
		want     int
		wantForm bool
	}{
		{"no token", "/setup", http.StatusForbidden, false},
		{"empty token", "/setup?token=", http.StatusForbidden, false},
		{"wrong token", "/setup?token=not-the-token", http.StatusForbidden, false},
		{"token prefix", "/setup?token=" + a.setupToken[:4], http.StatusForbidden, false},
		{"right token", "/setup?token=" + url.QueryEscape(a.setupToken), http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.browser().get(tt.path)
			if r.StatusCode != tt.want {
				t.Fatalf("GET %s: got %d, want %d", tt.path, r.StatusCode, tt.want)
			}
			doc := r.doc(t)
			if got := doc.Find("[data-testid=setup-form]").Length() > 0; got != tt.wantForm {
				t.Fatalf("setup form shown: got %v, want %v", got, tt.wantForm)
			}
			if !tt.wantForm && doc.Find("[data-testid=setup-invalid]").Length() == 0 {
				t.Errorf("refusal message missing")
			}
			if !tt.wantForm && strings.Contains(r.body, a.setupToken) {
				t.Errorf("refusal page contains the setup token")
			}
		})
	}
}

func TestSetupCreatesAdminOnce(t *testing.T) {
	a := newTestApp(t)
	form := func(email string) url.Values {
		return url.Values{"token": {a.setupToken}, "email": {email},
			"password": {testPassword}, "password_confirm": {testPassword}}
	}

	b := a.browser()
	r := b.post("/setup", form("Admin@Example.com"))
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/keys" {
		t.Fatalf("POST /setup: got %d %q, want 303 /keys", r.StatusCode, r.Header.Get("Location"))
	}
	if b.sessionCookie() == "" {
		t.Fatal("POST /setup set no session cookie")
	}
	wantSignedIn(t, b, "admin@example.com")

	// The same token again, from another browser, for another account.
	r = a.browser().post("/setup", form("second@example.com"))
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("second POST /setup: got %d, want 403", r.StatusCode)
	}
	if r.doc(t).Find("[data-testid=setup-form]").Length() != 0 {
		t.Error("second POST /setup shows the form again")
	}
	if _, err := a.store.GetUserByEmail(context.Background(), "second@example.com"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second admin lookup: got err %v, want ErrNotFound", err)
	}
	users, err := a.store.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].Email != "admin@example.com" || !users[0].IsAdmin() {
		t.Errorf("users: got %+v, want the one admin admin@example.com", users)
	}
	if r := a.browser().get("/setup?token=" + url.QueryEscape(a.setupToken)); r.StatusCode != http.StatusForbidden {
		t.Errorf("GET /setup after setup: got %d, want 403", r.StatusCode)
	}
}

func TestSetupValidation(t *testing.T) {
	a := newTestApp(t)
	const email = "admin@example.com"
	tests := []struct {
		name, password, confirm, field string
	}{
		{"passwords differ", "violet tractor humming seaweed", "violet tractor humming seaweeds", "password_confirm"},
		{"too short", "short secret", "short secret", "password"},
		{"too easy to guess", "passwordpassword", "passwordpassword", "password"},
		{"contains the email", "admin tractor humming seaweed", "admin tractor humming seaweed", "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.browser().post("/setup", url.Values{"token": {a.setupToken}, "email": {email},
				"password": {tt.password}, "password_confirm": {tt.confirm}})
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got status %d, want 422", r.StatusCode)
			}
			doc := r.doc(t)
			if msg := doc.Find("#" + tt.field).Parent().Find("[data-testid=" + tt.field + "-error]"); strings.TrimSpace(msg.Text()) == "" {
				t.Fatalf("no field error next to %s", tt.field)
			}
			if got := doc.Find("#email").AttrOr("value", ""); got != email {
				t.Errorf("email field: got %q, want %q kept", got, email)
			}
			if got := doc.Find("input[name=token]").AttrOr("value", ""); got != a.setupToken {
				t.Errorf("token field: got %q, want the token kept so the form can be resent", got)
			}
			for _, p := range []string{tt.password, tt.confirm} {
				if strings.Contains(r.body, p) {
					t.Errorf("page echoes the submitted password %q", p)
				}
			}
			for _, name := range []string{"password", "password_confirm"} {
				if v, ok := doc.Find("#" + name).Attr("value"); ok && v != "" {
					t.Errorf("%s field has value %q, want empty", name, v)
				}
			}
		})
	}
	if has, err := a.store.HasAdmin(context.Background()); err != nil || has {
		t.Fatalf("admin after invalid setups: got %v (err %v), want none", has, err)
	}
}

func TestLoginSuccess(t *testing.T) {
	a := newTestApp(t)
	a.createUser("alice@example.com", db.RoleMember)
	b := a.browser()
	r := b.post("/login", url.Values{"email": {"  Alice@Example.com "}, "password": {testPassword}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/keys" {
		t.Fatalf("POST /login: got %d %q, want 303 /keys", r.StatusCode, r.Header.Get("Location"))
	}
	wantSignedIn(t, b, "alice@example.com")
}

func TestLoginFailuresAreGeneric(t *testing.T) {
	a := newTestApp(t)
	a.createUser("alice@example.com", db.RoleMember)
	off := a.createUser("off@example.com", db.RoleMember)
	if err := a.store.SetUserDisabled(context.Background(), off.ID, true, db.CLIActor()); err != nil {
		t.Fatalf("disable user: %v", err)
	}

	tests := []struct {
		name, email, password string
	}{
		{"wrong password", "alice@example.com", "not the right password"},
		{"unknown email", "nobody@example.com", testPassword},
		{"disabled user with right password", "off@example.com", testPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := a.browser()
			r := b.post("/login", url.Values{"email": {tt.email}, "password": {tt.password}})
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("got status %d, want 401", r.StatusCode)
			}
			doc := r.doc(t)
			if got := strings.TrimSpace(doc.Find("[data-testid=login-error]").Text()); got != "Invalid email or password." {
				t.Errorf("error: got %q, want %q", got, "Invalid email or password.")
			}
			if got := doc.Find("#email").AttrOr("value", ""); got != tt.email {
				t.Errorf("email field: got %q, want %q", got, tt.email)
			}
			if strings.Contains(r.body, tt.password) {
				t.Error("page echoes the password")
			}
			if b.sessionCookie() != "" {
				t.Error("failed sign-in set a session cookie")
			}
			wantSignedOut(t, b)
		})
	}
}

func TestLoginNextParam(t *testing.T) {
	a := newTestApp(t)
	a.createUser("alice@example.com", db.RoleMember)
	tests := []struct {
		next, want string
	}{
		{"", "/keys"},
		{"/account", "/account"},
		{"/keys/new?x=1", "/keys/new?x=1"},
		{"//evil.com", "/keys"},
		{"//evil.com/keys", "/keys"},
		{"/\\evil.com", "/keys"},
		{"https://evil.com", "/keys"},
		{"javascript:alert(1)", "/keys"},
		{"evil.com", "/keys"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("next=%q", tt.next), func(t *testing.T) {
			b := a.browser()
			r := b.post("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "next": {tt.next}})
			if got := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || got != tt.want {
				t.Fatalf("got %d %q, want 303 %q", r.StatusCode, got, tt.want)
			}
		})
	}

	// The sign-in page carries next from the redirect that sent the visitor there.
	b := a.browser()
	r := b.get("/account")
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /account signed out: got %d, want 303", r.StatusCode)
	}
	r = b.get(r.Header.Get("Location"))
	if got := r.doc(t).Find("input[name=next]").AttrOr("value", ""); got != "/account" {
		t.Fatalf("next field on the sign-in page: got %q, want /account", got)
	}
}

// loginAttempt posts a sign-in with the given X-Forwarded-For header.
func loginAttempt(b *browser, email, password, xff string) response {
	b.t.Helper()
	h := map[string]string{}
	if xff != "" {
		h["X-Forwarded-For"] = xff
	}
	return b.postWithHeaders("/login", url.Values{"email": {email}, "password": {password}}, h)
}

// failUntilThrottled signs in wrongly until a 429 and returns it; attempt
// names the email and X-Forwarded-For of the i-th try.
func failUntilThrottled(t *testing.T, b *browser, max int, attempt func(i int) (email, xff string)) response {
	t.Helper()
	for i := range max {
		email, xff := attempt(i)
		r := loginAttempt(b, email, "wrong password for sure", xff)
		switch r.StatusCode {
		case http.StatusUnauthorized:
			continue
		case http.StatusTooManyRequests:
			return r
		default:
			t.Fatalf("attempt %d: got status %d, want 401 or 429", i+1, r.StatusCode)
		}
	}
	t.Fatalf("no 429 after %d failed sign-ins", max)
	return response{}
}

func retryAfter(t *testing.T, r response) time.Duration {
	t.Helper()
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs <= 0 {
		t.Fatalf("Retry-After: got %q, want a positive number of seconds", r.Header.Get("Retry-After"))
	}
	return time.Duration(secs) * time.Second
}

func TestLoginThrottlePerAccount(t *testing.T) {
	for _, spoof := range []bool{false, true} {
		t.Run(fmt.Sprintf("spoofed X-Forwarded-For=%v", spoof), func(t *testing.T) {
			a := newTestApp(t)
			a.createUser("alice@example.com", db.RoleMember)
			b := a.browser()
			xff := func(i int) string {
				if !spoof {
					return ""
				}
				return fmt.Sprintf("203.0.113.%d", i+1)
			}
			r := failUntilThrottled(t, b, 10, func(i int) (string, string) { return "alice@example.com", xff(i) })
			wait := retryAfter(t, r)
			if !strings.Contains(r.doc(t).Find("[data-testid=login-error]").Text(), "Too many failed attempts") {
				t.Errorf("429 page does not explain the wait")
			}

			// Even the right password waits...
			r = loginAttempt(b, "alice@example.com", testPassword, xff(99))
			if r.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("right password while throttled: got %d, want 429", r.StatusCode)
			}
			// ...until Retry-After has passed.
			a.clock.Advance(wait)
			r = loginAttempt(b, "alice@example.com", testPassword, xff(100))
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("right password after Retry-After: got %d, want 303", r.StatusCode)
			}
		})
	}
}

func TestLoginThrottlePerIP(t *testing.T) {
	tests := []struct {
		name          string
		trusted       []netip.Prefix
		wantThrottled bool
	}{
		// Without trusted proxies the TCP peer is the client: inventing a new
		// X-Forwarded-For each time must not escape the per-IP limit.
		{"no trusted proxies", nil, true},
		// Behind a trusted proxy the forwarded address is the client, so
		// different addresses are different clients (the test's contrast).
		{"loopback is a trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, func(c *Config) { c.TrustedProxies = tt.trusted })
			b := a.browser()
			attempt := func(i int) (string, string) {
				return fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("198.51.100.%d", i+1)
			}
			if tt.wantThrottled {
				r := failUntilThrottled(t, b, 40, attempt)
				retryAfter(t, r)
				return
			}
			for i := range 40 {
				email, xff := attempt(i)
				if r := loginAttempt(b, email, "wrong password for sure", xff); r.StatusCode != http.StatusUnauthorized {
					t.Fatalf("attempt %d: got %d, want 401", i+1, r.StatusCode)
				}
			}
		})
	}
}
