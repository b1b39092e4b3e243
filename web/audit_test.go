package web

import (
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/keyward/keyward/db"
)

// failAuditInserts makes every later audit insert of the app's database
// fail (a trigger added through a second connection, as a broken table or a
// full disk would), so tests can see what happens to an event that cannot
// be written.
func (a *testApp) failAuditInserts() {
	a.t.Helper()
	conn, err := sql.Open("sqlite", a.dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		a.t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(`CREATE TRIGGER audit_fails BEFORE INSERT ON audit_events
		BEGIN SELECT RAISE(ABORT, 'audit insert refused by the test'); END`); err != nil {
		a.t.Fatalf("create trigger: %v", err)
	}
}

func (a *testApp) countSessions(userID int64) int {
	a.t.Helper()
	rows, err := a.store.ListUserSessions(a.t.Context(), userID)
	if err != nil {
		a.t.Fatal(err)
	}
	return len(rows)
}

// TestAuditNeverDropped: a sign-in, sign-out or session end whose audit
// event cannot be written does not happen (the event is written in the same
// transaction as the change), and a failed sign-in, which changes nothing,
// is still answered but its lost event is logged and counted in /metrics.
func TestAuditNeverDropped(t *testing.T) {
	logs := &soakBuffer{}
	a := newTestApp(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	u := a.createUser("ann@example.com", db.RoleMember)
	signedIn := a.browser()
	signedIn.login(u.Email, testPassword)
	other := a.browser()
	other.login(u.Email, testPassword)
	a.failAuditInserts()

	t.Run("sign-in", func(t *testing.T) {
		r := a.browser().post("/login", url.Values{"email": {u.Email}, "password": {testPassword}})
		if r.StatusCode != http.StatusInternalServerError {
			t.Errorf("got status %d, want 500", r.StatusCode)
		}
		if got := a.countSessions(u.ID); got != 2 {
			t.Errorf("got %d sessions, want 2 (no new session without its audit event)", got)
		}
	})
	t.Run("end other sessions", func(t *testing.T) {
		r := signedIn.post("/account/sessions/end-others", nil)
		if r.StatusCode != http.StatusInternalServerError {
			t.Errorf("got status %d, want 500", r.StatusCode)
		}
		if got := a.countSessions(u.ID); got != 2 {
			t.Errorf("got %d sessions, want 2", got)
		}
	})
	t.Run("sign-out", func(t *testing.T) {
		r := signedIn.post("/logout", nil)
		if r.StatusCode != http.StatusInternalServerError {
			t.Errorf("got status %d, want 500", r.StatusCode)
		}
		if got := a.countSessions(u.ID); got != 2 {
			t.Errorf("got %d sessions, want 2", got)
		}
	})
	t.Run("failed sign-in", func(t *testing.T) {
		r := a.browser().post("/login", url.Values{"email": {u.Email}, "password": {"wrong " + testPassword}})
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "Invalid email or password.") {
			t.Errorf("got status %d, want 401 with the generic message", r.StatusCode)
		}
		if !strings.Contains(logs.String(), "audit write failed") || !strings.Contains(logs.String(), db.ActionLoginFailure) {
			t.Errorf("log has no failed audit write of %s:\n%s", db.ActionLoginFailure, logs.String())
		}
		resp, err := http.Get(a.http.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if want := "keyward_audit_write_failures_total 1"; !strings.Contains(string(body), want) {
			t.Errorf("/metrics: missing %q", want)
		}
	})
}
