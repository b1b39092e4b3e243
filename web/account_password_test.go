package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// changePassword posts the password form with a current password and a
// good new one.
func changePassword(b *browser, current string) response {
	b.t.Helper()
	const next = "violet tractor humming seaweed"
	return b.post("/account/password", url.Values{
		"current_password": {current}, "new_password": {next}, "new_password_confirm": {next},
	})
}

// auditCount counts the audit events of one action.
func auditCount(t *testing.T, a *testApp, action string) int {
	t.Helper()
	events, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: action, Limit: 500})
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	return len(events)
}

// TestAccountPasswordGuessingIsThrottled: the password-change form answers
// whether a password is right, so for whoever holds a session it was an
// unthrottled, unaudited oracle (40 guesses at 20/s: no 429, no event).
// Now each wrong current password is audited, the account is slowed down
// after three (429 with Retry-After, the wait beside the field, even for
// the right password), and the fifth in a row ends the session.
func TestAccountPasswordGuessingIsThrottled(t *testing.T) {
	const email, wrong = "alice@example.com", "not my password at all"
	a := newTestApp(t)
	b := a.signedIn(email, db.RoleMember)

	wantFieldError := func(t *testing.T, r response, status int, text string) {
		t.Helper()
		if r.StatusCode != status {
			t.Fatalf("got status %d, want %d", r.StatusCode, status)
		}
		msg := r.doc(t).Find("#current_password").Parent().Find("[data-testid=current_password-error]").Text()
		if !strings.Contains(msg, text) {
			t.Fatalf("message beside the current password: got %q, want it to contain %q", strings.TrimSpace(msg), text)
		}
	}

	for i := range 3 {
		wantFieldError(t, changePassword(b, wrong), http.StatusUnprocessableEntity, "wrong")
		if got := auditCount(t, a, db.ActionPasswordChangeFailure); got != i+1 {
			t.Fatalf("after %d wrong passwords: got %d failure events, want %d", i+1, got, i+1)
		}
	}

	for _, tt := range []struct{ name, current string }{
		{"a fourth guess at once", wrong},
		{"even the right password", testPassword},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := changePassword(b, tt.current)
			wantFieldError(t, r, http.StatusTooManyRequests, "Too many wrong passwords")
			retryAfter(t, r)
		})
	}
	if got := auditCount(t, a, db.ActionPasswordChangeFailure); got != 3 {
		t.Fatalf("refused attempts were checked: got %d failure events, want 3", got)
	}

	// The fourth wrong password after the wait, then the fifth ends it.
	r := changePassword(b, testPassword)
	a.clock.Advance(retryAfter(t, r))
	wantFieldError(t, changePassword(b, wrong), http.StatusUnprocessableEntity, "wrong")
	a.clock.Advance(retryAfter(t, changePassword(b, wrong)))
	r = changePassword(b, wrong)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login?m=password_attempts" {
		t.Fatalf("fifth wrong password: got %d %q, want 303 /login?m=password_attempts", r.StatusCode, r.Header.Get("Location"))
	}
	wantSignedOut(t, b)
	if got := b.get(r.Header.Get("Location")).doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(got, "too many wrong current passwords") {
		t.Errorf("sign-in page notice: got %q, want it to say why", strings.TrimSpace(got))
	}
	if got := auditCount(t, a, db.ActionPasswordChangeFailure); got != 5 {
		t.Errorf("failure events: got %d, want 5", got)
	}
	if got := auditCount(t, a, db.ActionSessionEnd); got != 1 {
		t.Errorf("session-end events: got %d, want 1", got)
	}
	if rows, err := a.store.ListUserSessions(context.Background(), mustUser(t, a, email).ID); err != nil || len(rows) != 0 {
		t.Fatalf("sessions: got %d (err %v), want none", len(rows), err)
	}

	// Signing in again proves the password: the form works at once.
	b.login(email, testPassword)
	if r := changePassword(b, testPassword); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
		t.Fatalf("password change after signing in again: got %d %q, want 303 /account", r.StatusCode, r.Header.Get("Location"))
	}
}
