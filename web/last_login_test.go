package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// lastSignIn is the "Last sign-in" cell of email's row on the admin's
// Users page: its text and its <time datetime>, "" when it has none.
func lastSignIn(t *testing.T, admin *browser, email string) (text, datetime string) {
	t.Helper()
	r := admin.get("/admin/users")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/users: got %d, want 200", r.StatusCode)
	}
	var cell *goquery.Selection
	r.doc(t).Find(`[data-testid="user-row"]`).Each(func(_ int, row *goquery.Selection) {
		if strings.TrimSpace(row.Find(`[data-testid="user-email"]`).Text()) == email {
			cell = row.Find(`[data-testid="user-last-login"]`)
		}
	})
	if cell == nil || cell.Length() != 1 {
		t.Fatalf("/admin/users: no last sign-in cell for %s", email)
	}
	return strings.TrimSpace(cell.Text()), cell.Find("time").AttrOr("datetime", "")
}

// TestLastSignInAfterSetupAndInvite: the sign-in that setup and invite
// acceptance make is a sign-in, so the Users page shows it rather than
// "Never" for the first admin and for a newcomer.
func TestLastSignInAfterSetupAndInvite(t *testing.T) {
	a := newTestApp(t)
	admin := a.browser()
	wantRedirect(t, admin.post("/setup", url.Values{"token": {a.setupToken}, "email": {"admin@example.com"},
		"password": {testPassword}, "password_confirm": {testPassword}}), "/keys")
	setupAt := a.clock.Now()
	tests := []struct {
		name, email string
		do          func(t *testing.T)
		wantText    string
		wantAt      time.Time
	}{
		{"after setup", "admin@example.com", func(*testing.T) {}, "just now", setupAt},
		{"after accepting an invite", "new@example.com", func(t *testing.T) {
			// Within the admin's idle timeout, so the admin stays signed in.
			a.clock.Advance(20 * time.Minute)
			path := tokenLink(t, a, admin.post("/admin/invites", url.Values{"email": {"new@example.com"}, "role": {"member"}}), "invite")
			wantRedirect(t, a.browser().post(path, acceptForm("violet tractor humming seaweed")), "/keys")
		}, "just now", setupAt.Add(20 * time.Minute)},
		{"the admin's, later", "admin@example.com", func(*testing.T) {}, "20 minutes ago", setupAt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.do(t)
			text, at := lastSignIn(t, admin, tt.email)
			if text != tt.wantText || at != tt.wantAt.UTC().Format(time.RFC3339) {
				t.Errorf("last sign-in of %s: got %q at %q, want %q at %s", tt.email, text, at, tt.wantText, tt.wantAt.UTC().Format(time.RFC3339))
			}
		})
	}
}
