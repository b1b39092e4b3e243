package web

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// TestAccountSessionsShowHowTheySignedIn: each session on /account says
// how it signed in; one waiting for its second factor is not listed; the
// page links to the security page.
func TestAccountSessionsShowHowTheySignedIn(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t, longSessions)
	b, ann := a.userBrowser("ann@example.com", db.RoleMember)
	tests := []struct {
		method, factor, stage string
		want                  string // "" = not listed
	}{
		{db.AuthPassword, db.FactorTOTP, "", "Password + authenticator app"},
		{db.AuthPassword, db.FactorPasskey, "", "Password + passkey"},
		{db.AuthPassword, db.FactorRecovery, "", "Password + recovery code"},
		{db.AuthPasskey, db.FactorUserVerified, "", "Passkey"},
		{db.AuthSSO, "", "", "SSO"},
		{db.AuthSSO, db.FactorProvider, "", "SSO (provider MFA)"},
		{db.AuthPassword, "", db.StageEnrol, "Password"},
		{db.AuthPassword, "", db.StageMFA, ""},
	}
	ids := map[int64]string{}
	for i, tt := range tests {
		s := db.Session{TokenHash: []byte("session-" + strconv.Itoa(i)), UserID: ann.ID, ExpiresAt: a.clock.Now().Add(time.Hour),
			AuthMethod: tt.method, SecondFactor: tt.factor, Stage: tt.stage, UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
		if err := a.store.CreateSession(ctx, &s); err != nil {
			t.Fatal(err)
		}
		ids[s.ID] = tt.want
	}
	doc := b.get("/account").doc(t)
	listed := map[int64]string{}
	var current string
	doc.Find(`[data-testid="session-row"]`).Each(func(_ int, s *goquery.Selection) {
		id, _ := strconv.ParseInt(s.AttrOr("data-session-id", ""), 10, 64)
		label := squish(s.Find(`[data-testid="session-signin"]`).Text())
		if s.Find(`[data-testid="current-session"]`).Length() == 1 {
			current = label
			return
		}
		listed[id] = label
	})
	if current != "Password" {
		t.Errorf("this session: got %q, want Password", current)
	}
	for id, want := range ids {
		got, ok := listed[id]
		switch {
		case want == "" && ok:
			t.Errorf("session %d, second factor pending: got listed as %q, want not listed", id, got)
		case want != "" && got != want:
			t.Errorf("session %d: got %q, want %q", id, got, want)
		}
	}
	if href := doc.Find(`[data-testid="security-link"]`).AttrOr("href", ""); href != "/account/security" {
		t.Errorf("security link: got %q, want /account/security", href)
	}
}
