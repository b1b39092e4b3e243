package web

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// The core flows, each done the way a person does it in Chromium.

func TestBrowserSetup(t *testing.T) {
	a := newTestApp(t)
	tb := newTab(t, a)

	if st := tb.open("/setup?token=" + url.QueryEscape(a.setupToken)); st != 200 {
		t.Fatalf("GET /setup: got status %d, want 200", st)
	}
	tb.fill("Email", "admin@example.com")
	tb.fill("Password", testPassword)
	tb.fill("Confirm password", testPassword)
	if st := tb.navigates("create admin", chromedp.Click(button("Create admin account"))); st != 200 {
		t.Fatalf("after setup: got status %d, want 200", st)
	}
	if p := tb.path(); p != "/keys" {
		t.Fatalf("after setup: got %s, want /keys", p)
	}
	if got := tb.text(testID("flash")); !strings.Contains(got, "Welcome to Keyward") {
		t.Errorf("flash: got %q, want the welcome message", got)
	}
	empty := tb.text(testID("empty-state"))
	if !strings.Contains(empty, "No API keys yet") || !strings.Contains(empty, "Create key") {
		t.Errorf("empty state: got %q, want it to offer Create key", empty)
	}
	if got := tb.text(testID("user-email")); got != "admin@example.com" {
		t.Errorf("signed-in email: got %q, want admin@example.com", got)
	}
	// The setup link is spent once an admin exists.
	tb.allowHTTPError(403)
	if st := tb.open("/setup?token=" + url.QueryEscape(a.setupToken)); st != 403 {
		t.Errorf("setup link reused: got status %d, want 403", st)
	}
}

func TestBrowserSignInOut(t *testing.T) {
	a := newTestApp(t)
	a.createUser("ada@example.com", db.RoleMember)
	tb := newTab(t, a)

	t.Run("wrong password", func(t *testing.T) {
		tb.allowHTTPError(401)
		tb.open("/login")
		tb.fill("Email", "ada@example.com")
		tb.fill("Password", "not the password at all")
		if st := tb.navigates("sign in", chromedp.Click(button("Sign in"))); st != 401 {
			t.Errorf("wrong password: got status %d, want 401", st)
		}
		if got := tb.text(testID("login-error")); got != "Invalid email or password." {
			t.Errorf("error: got %q, want the generic message", got)
		}
		if got := tb.value(`#email`); got != "ada@example.com" {
			t.Errorf("email after failure: got %q, want it kept", got)
		}
		if got := tb.value(`#password`); got != "" {
			t.Errorf("password after failure: got %q, want it empty", got)
		}
	})

	t.Run("sign in", func(t *testing.T) {
		tb.login("ada@example.com", testPassword)
		if got := tb.text(testID("user-email")); got != "ada@example.com" {
			t.Errorf("signed in as: got %q, want ada@example.com", got)
		}
	})

	t.Run("sign out", func(t *testing.T) {
		tb.navigates("sign out", chromedp.Click(button("Sign out")))
		if p := tb.path(); p != "/login?m=signed_out" {
			t.Errorf("after sign-out: got %s, want /login?m=signed_out", p)
		}
		if got := tb.text(testID("flash")); !strings.Contains(got, "signed out") {
			t.Errorf("flash: got %q, want the signed-out message", got)
		}
		tb.open("/keys")
		if p := tb.path(); !strings.HasPrefix(p, "/login") {
			t.Errorf("/keys after sign-out: got %s, want the sign-in page", p)
		}
	})
}
