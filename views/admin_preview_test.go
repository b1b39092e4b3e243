//go:build preview

package views

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/a-h/templ"
)

// TestAdminPreview writes the admin pages as static HTML files beside a copy
// of the assets, like TestPreview, so they can be screenshotted without a
// server:
//
//	go test -tags preview -run TestAdminPreview ./views/ && chromium /tmp/preview/admin.html
func TestAdminPreview(t *testing.T) {
	dir := os.Getenv("KEYWARD_PREVIEW_DIR")
	if dir == "" {
		dir = "/tmp/preview"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"css/app.css", "js/app.js", "img/favicon.svg", "js/htmx.min.js"} {
		b, err := os.ReadFile(filepath.Join("..", "static", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Now().UTC()
	user := &CurrentUser{Email: "ada.lovelace@example.com", IsAdmin: true, CanReadAdmin: true}
	in := func() Layout { return Layout{User: user, CSRFToken: "token", Version: "0.1.0", Now: now} }
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	day := 24 * time.Hour

	hours := make([]UsageHour, 24)
	for i := range hours {
		hours[i] = UsageHour{Hour: now.Truncate(time.Hour).Add(time.Duration(i-23) * time.Hour), Count: int64((i * 37 % 11) * (i % 5) * 13)}
	}
	events := []EventRow{
		{At: *ago(4 * time.Minute), Actor: "ada.lovelace@example.com", Action: "Key revoked", Target: "Billing service (production)", IP: "192.0.2.10", Detail: "reason: leaked in a build log"},
		{At: *ago(2 * time.Hour), Actor: "grace@example.com", Action: "Signed in", IP: "2001:db8::5"},
		{At: *ago(26 * time.Hour), Action: "Key disabled (unused 90 days)", Target: "nightly-backup"},
		{At: *ago(3 * day), Actor: "ada.lovelace@example.com", Action: "User invited", Target: "linus@example.com", IP: "192.0.2.10"},
	}
	keys := []AdminKeyRow{
		{KeyRow: KeyRow{ID: 41, Name: "Billing service (production)", Hint: "kw_…a1B2", Owner: "grace@example.com", Scopes: []string{"read:orders", "write:orders"},
			CreatedAt: *ago(200 * day), LastUsedAt: ago(130 * day), ExpiresAt: nil, Status: "active"}, LastUsedIP: "203.0.113.9", Stale: true},
		{KeyRow: KeyRow{ID: 38, Name: "nightly-backup", Hint: "kw_…x9Zq", Owner: "linus@example.com",
			CreatedAt: *ago(120 * day), Status: "disabled"}, Stale: true},
		{KeyRow: KeyRow{ID: 35, Name: "Metrics scraper", Hint: "kw_…Pq7r", Owner: "ada.lovelace@example.com", Scopes: []string{"metrics"},
			CreatedAt: *ago(95 * day), LastUsedAt: ago(92 * day), ExpiresAt: func() *time.Time { t := now.Add(5 * day); return &t }(), Status: "expiring"}, LastUsedIP: "2001:db8:1234::20", Stale: true},
	}
	users := []UserRow{
		{ID: 1, Email: "ada.lovelace@example.com", Role: "admin", CreatedAt: *ago(300 * day), LastLoginAt: ago(time.Minute), ActiveKeys: 4, IsSelf: true},
		{ID: 2, Email: "grace@example.com", Role: "member", CreatedAt: *ago(120 * day), LastLoginAt: ago(3 * day), ActiveKeys: 12},
		{ID: 3, Email: "linus@example.com", Role: "member", CreatedAt: *ago(3 * day)},
		{ID: 4, Email: "margaret.hamilton@example.com", Role: "admin", CreatedAt: *ago(40 * day), LastLoginAt: ago(20 * day), Disabled: true},
	}
	actions := []ActionOption{{"key.created", "Key created"}, {"key.revoked", "Key revoked"}, {"user.login", "Signed in"}}

	pages := map[string]templ.Component{
		"admin": AdminOverviewView(AdminOverview{Layout: in(), Users: 14, ActiveKeys: 87, StaleKeys: 9, NeverUsedKeys: 4, ExpiringSoon: 3, ExpiringDays: 7,
			Verifications24: 48213, Hourly: hours, RecentEvents: events}),
		"admin-users": AdminUsersView(AdminUsersPage{Layout: in(), Users: users,
			Invite: InviteForm{Email: "linus@", Errors: FieldErrors{"email": "Enter a valid email address."}},
			Link:   &TokenLink{Kind: "invite", Email: "linus@example.com", URL: "https://keys.example.com/invite/Qm9vZ2xlLWluLXRoZS1tYWNoaW5lLXRva2Vu", ExpiresAt: now.Add(7 * day)}}),
		"admin-keys": AdminKeysView(AdminKeysPage{Layout: in(), Keys: keys, Filter: AdminKeyFilter{Status: "active", Sort: "created"},
			Query: "status=active", Total: 87, Page: 1, PerPage: 3, HasNext: true}),
		"admin-stale": AdminKeysView(AdminKeysPage{Layout: in(), Keys: keys, Filter: AdminKeyFilter{Stale: true},
			Query: "stale=1", Total: 9, StaleCount: 9, NeverUsedCount: 4, Page: 1, PerPage: 3, HasNext: true}),
		"admin-keys-empty": AdminKeysView(AdminKeysPage{Layout: in(), Filter: AdminKeyFilter{Owner: "nobody@example.com"}, Query: "owner=nobody%40example.com"}),
		"admin-bulk": BulkConfirmView(BulkConfirmPage{Layout: in(), Action: "revoke", Keys: keys, IDs: []int64{41, 38, 35}, Count: 3,
			Missing: []int64{12}, Errors: FieldErrors{"reason": "Say why these keys are revoked."}}),
		"admin-settings": AdminSettingsView(AdminSettingsPage{Layout: in(), Form: SettingsForm{MaxKeyLifetimeDays: "365", StaleDays: "90", NeverUsedDays: "abc",
			SessionIdleMinutes: "60", SessionAbsoluteHours: "24", Errors: FieldErrors{"never_used_days": "Enter a whole number of days."}}}),
		"admin-audit": AdminAuditView(AdminAuditPage{Layout: in(), Events: events, Actions: actions, Filter: AuditFilterForm{From: "2026-01-01"},
			Query: "from=2026-01-01", NextBefore: 120}),
		"accept": AcceptView(AcceptPage{Layout: Layout{CSRFToken: "t", Version: "0.1.0", Now: now}, Kind: "invite", Token: "tok", Email: "linus@example.com",
			Errors: FieldErrors{"password": "Use at least 15 characters."}}),
		"accept-invalid": AcceptView(AcceptPage{Layout: Layout{CSRFToken: "t", Version: "0.1.0", Now: now}, Kind: "reset", Invalid: true}),
		"keys-notices": Keys(KeysPage{Layout: Layout{User: &CurrentUser{Email: "grace@example.com"}, CSRFToken: "t", Version: "0.1.0", Now: now},
			Keys: []KeyRow{keys[0].KeyRow, keys[2].KeyRow}, AllKeys: 5, Total: 2, Page: 1, PerPage: 20, Notices: KeyNotices{ExpiringDays: 7, ExpiringSoon: 1, Stale: 3}}),
		"keys-stale": Keys(KeysPage{Layout: Layout{User: &CurrentUser{Email: "grace@example.com"}, CSRFToken: "t", Version: "0.1.0", Now: now},
			Keys: []KeyRow{keys[0].KeyRow}, AllKeys: 5, Total: 1, Page: 1, PerPage: 20, Stale: true, Notices: KeyNotices{ExpiringDays: 7, ExpiringSoon: 1, Stale: 3}}),
	}
	link := regexp.MustCompile(`/static/(?:css|js|img)/([a-z.]+)\?v=[0-9a-f]+`)
	for name, c := range pages {
		var buf bytes.Buffer
		if err := c.Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		html := link.ReplaceAll(buf.Bytes(), []byte("$1"))
		if err := os.WriteFile(filepath.Join(dir, name+".html"), html, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintln(os.Stderr, "wrote", len(pages), "admin pages to", dir)
}
