package views

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

// adminLayoutFixture is a signed-in admin whose handler left Nav and Title
// empty, so the views' defaults are what the tests see.
func adminLayoutFixture() Layout {
	return signedIn("", "")
}

func squishText(s *goquery.Selection) string {
	return strings.Join(strings.Fields(s.Text()), " ")
}

func TestAdminNavOnEveryPage(t *testing.T) {
	tests := []struct {
		name       string
		c          templ.Component
		wantActive string
		wantTitle  string
	}{
		{"overview", AdminOverviewView(AdminOverview{Layout: adminLayoutFixture()}), "/admin", "Admin"},
		{"users", AdminUsersView(AdminUsersPage{Layout: adminLayoutFixture()}), "/admin/users", "Users"},
		{"keys", AdminKeysView(AdminKeysPage{Layout: adminLayoutFixture()}), "/admin/keys", "All keys"},
		{"stale", AdminKeysView(AdminKeysPage{Layout: adminLayoutFixture(), Filter: AdminKeyFilter{Stale: true}}), "/admin/keys?stale=1", "Stale-key review"},
		{"audit", AdminAuditView(AdminAuditPage{Layout: adminLayoutFixture()}), "/admin/audit", "Audit log"},
		{"settings", AdminSettingsView(AdminSettingsPage{Layout: adminLayoutFixture()}), "/admin/settings", "Settings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, tt.c)
			nav := doc.Find("nav[data-testid=admin-nav]")
			if got := nav.Find("a").Length(); got != len(adminSections) {
				t.Fatalf("admin nav links: got %d, want %d", got, len(adminSections))
			}
			current := nav.Find(`a[aria-current="page"]`)
			if got := current.Length(); got != 1 {
				t.Fatalf("aria-current links: got %d, want 1", got)
			}
			if got, _ := current.Attr("href"); got != tt.wantActive {
				t.Errorf("current link: got %q, want %q", got, tt.wantActive)
			}
			if got := attr(doc, `[data-testid=main-nav] a[href="/admin"]`, "aria-current"); got != "page" {
				t.Errorf("main nav Admin aria-current: got %q, want %q", got, "page")
			}
			if got, want := doc.Find("title").Text(), tt.wantTitle+" · Keyward"; got != want {
				t.Errorf("title: got %q, want %q", got, want)
			}
			if got := squishText(doc.Find("h1")); got != tt.wantTitle {
				t.Errorf("h1: got %q, want %q", got, tt.wantTitle)
			}
		})
	}
}

func sampleHours(counts ...int64) []UsageHour {
	start := testNow.Truncate(time.Hour).Add(-23 * time.Hour)
	hours := make([]UsageHour, 24)
	for i := range hours {
		hours[i].Hour = start.Add(time.Duration(i) * time.Hour)
		if i < len(counts) {
			hours[i].Count = counts[i]
		}
	}
	return hours
}

func TestAdminOverview(t *testing.T) {
	m := AdminOverview{
		Layout: adminLayoutFixture(), Users: 7, ActiveKeys: 31, StaleKeys: 4, NeverUsedKeys: 2, ExpiringSoon: 3, ExpiringDays: 7,
		Verifications24: 12345, Hourly: sampleHours(5, 0, 40), HourlyMax: 40,
		RecentEvents: []EventRow{
			{At: testNow.Add(-2 * time.Hour), Actor: "ada@example.com", Action: "Key revoked", Target: "Billing", IP: "192.0.2.1"},
			{At: testNow.Add(-3 * time.Hour), Action: "Key disabled (unused)", Target: "CI"},
		},
	}
	doc := render(t, AdminOverviewView(m))
	cards := []struct{ id, href, value string }{
		{"users", "/admin/users", "7"},
		{"active", "/admin/keys?status=active", "31"},
		{"stale", "/admin/keys?stale=1", "4"},
		{"never-used", "/admin/keys?never_used=1&status=active", "2"},
		{"expiring", "/admin/keys?status=expiring", "3"},
	}
	for _, c := range cards {
		card := doc.Find("a[data-testid=stat-" + c.id + "]")
		if got, _ := card.Attr("href"); got != c.href {
			t.Errorf("%s href: got %q, want %q", c.id, got, c.href)
		}
		if got := squishText(card.Find("[data-testid=stat-value]")); got != c.value {
			t.Errorf("%s value: got %q, want %q", c.id, got, c.value)
		}
	}
	if got := attr(doc, "[data-testid=stat-stale]", "class"); !strings.Contains(got, "amber") {
		t.Errorf("stale card class: got %q, want amber", got)
	}
	if got := attr(doc, "[data-testid=stat-users]", "class"); strings.Contains(got, "amber") {
		t.Errorf("users card class: got %q, want no amber", got)
	}
	if got := doc.Find("a[data-testid=review-stale][href='/admin/keys?stale=1']").Length(); got != 1 {
		t.Errorf("review stale action: got %d, want 1", got)
	}
	if got := squishText(doc.Find("[data-testid=verifications-total]")); got != "12,345 successful" {
		t.Errorf("total: got %q, want %q", got, "12,345 successful")
	}
	if got := doc.Find("[data-testid=hour-svg] rect").Length(); got != 24 {
		t.Errorf("chart bars: got %d, want 24", got)
	}
	rows := doc.Find("[data-testid=recent-events] [data-testid=event-row]")
	if got := rows.Length(); got != 2 {
		t.Fatalf("events: got %d, want 2", got)
	}
	first := squishText(rows.First())
	for _, want := range []string{"Key revoked", "2 hours ago", "ada@example.com", "Billing", "192.0.2.1"} {
		if !strings.Contains(first, want) {
			t.Errorf("event row: got %q, want it to contain %q", first, want)
		}
	}
	if got := squishText(rows.Eq(1)); !strings.Contains(got, "Keyward") {
		t.Errorf("event without actor: got %q, want actor Keyward", got)
	}
	if got := doc.Find(`[data-testid=recent-events] a[href="/admin/audit"]`).Length(); got != 1 {
		t.Errorf("audit link: got %d, want 1", got)
	}
}

func TestAdminOverviewQuiet(t *testing.T) {
	doc := render(t, AdminOverviewView(AdminOverview{Layout: adminLayoutFixture(), Hourly: sampleHours()}))
	if got := doc.Find("[data-testid=review-stale]").Length(); got != 0 {
		t.Errorf("review stale action without stale keys: got %d, want 0", got)
	}
	if got := attr(doc, "[data-testid=stat-stale]", "class"); strings.Contains(got, "amber") {
		t.Errorf("stale card class with 0 stale: got %q, want no amber", got)
	}
	if got := doc.Find("[data-testid=recent-events] [data-testid=event-row]").Length(); got != 0 {
		t.Errorf("events: got %d, want 0", got)
	}
}

func TestHourBars(t *testing.T) {
	hours := sampleHours(0, 10, 20)
	doc := render(t, HourBars(hours, 5)) // a max below the data must not overflow the plot
	svg := doc.Find("svg[data-testid=hour-svg]")
	if got, _ := svg.Attr("role"); got != "img" {
		t.Errorf("role: got %q, want img", got)
	}
	if got := svg.Find("title#hour-chart-title").Length() + svg.Find("desc#hour-chart-desc").Length(); got != 2 {
		t.Errorf("title+desc: got %d, want 2", got)
	}
	if got, want := squishText(svg.Find("desc")), "30 verifications in total. Busiest hour: 24 Nov 17:00–18:00 UTC: 20 verifications."; got != want {
		t.Errorf("desc: got %q, want %q", got, want)
	}
	rects := svg.Find("rect")
	if got := rects.Length(); got != 24 {
		t.Fatalf("rects: got %d, want 24", got)
	}
	rects.Each(func(i int, r *goquery.Selection) {
		if r.Find("title").Length() != 1 {
			t.Errorf("rect %d: got no <title>, want one", i)
		}
	})
	tallest := attrFloat(t, attr(doc, "rect:nth-of-type(3)", "height"))
	if tallest != chartPlot {
		t.Errorf("tallest bar: got %v, want %v", tallest, chartPlot)
	}
	if got, want := squishText(rects.Eq(1).Find("title")), "24 Nov 16:00–17:00 UTC: 10 verifications"; got != want {
		t.Errorf("bar title: got %q, want %q", got, want)
	}
	if got := doc.Find("details table[data-testid=hour-table] tbody tr").Length(); got != 24 {
		t.Errorf("table rows: got %d, want 24", got)
	}
	var labels []string
	doc.Find("[data-testid=hour-axis] span").Each(func(_ int, s *goquery.Selection) { labels = append(labels, s.Text()) })
	if got, want := strings.Join(labels, " "), "15:00 21:00 03:00 09:00 now"; got != want {
		t.Errorf("axis labels: got %q, want %q", got, want)
	}
	if got := attr(doc, "[data-testid=hour-axis]", "class"); !strings.Contains(got, "grid-cols-4") {
		t.Errorf("axis class: got %q, want four columns for four labels", got)
	}
	if got := squishText(doc.Find("[data-testid=hour-peak]")); got != "Peak 20 an hour" {
		t.Errorf("peak label: got %q, want Peak 20 an hour", got)
	}
}

func TestHourBarsEmpty(t *testing.T) {
	doc := render(t, HourBars(nil, 0))
	if got := doc.Find("svg").Length(); got != 0 {
		t.Errorf("svg without data: got %d, want 0", got)
	}
	doc = render(t, HourBars(sampleHours(), 0))
	if got := doc.Find("line[stroke-dasharray]").Length(); got != 0 {
		t.Errorf("max gridline when all zero: got %d, want 0", got)
	}
}

func TestAdminUsers(t *testing.T) {
	last := testNow.Add(-time.Hour)
	m := AdminUsersPage{
		Layout: adminLayoutFixture(),
		Users: []UserRow{
			{ID: 1, Email: "ada@example.com", Role: "admin", CreatedAt: testNow.Add(-90 * 24 * time.Hour), LastLoginAt: &last, ActiveKeys: 3, IsSelf: true},
			{ID: 2, Email: "bob@example.com", Role: "member", CreatedAt: testNow.Add(-5 * 24 * time.Hour)},
			{ID: 3, Email: "eve@example.com", Role: "admin", CreatedAt: testNow.Add(-5 * 24 * time.Hour), Disabled: true},
		},
		Invite: InviteForm{Email: "new@", Role: "admin", Errors: FieldErrors{"email": "Enter a valid email address."}},
	}
	doc := render(t, AdminUsersView(m))
	actions := func(id int64) []string {
		var got []string
		doc.Find("tr[data-user-id='" + strconv.FormatInt(id, 10) + "'] form").Each(func(_ int, f *goquery.Selection) {
			a, _ := f.Attr("action")
			if role, ok := f.Find("input[name=role]").Attr("value"); ok {
				a += "=" + role
			}
			got = append(got, a)
			if f.Find("input[name=_csrf]").Length() != 1 {
				t.Errorf("form %s: got no CSRF field, want one", a)
			}
			if f.Find("button[type=submit]").Length() != 1 {
				t.Errorf("form %s: got no submit button, want one", a)
			}
		})
		return got
	}
	tests := []struct {
		id   int64
		want string
	}{
		// Your own password changes on the account page: no reset link.
		{1, "/admin/users/1/sessions/end"},
		{2, "/admin/users/2/disable /admin/users/2/role=admin /admin/users/2/role=auditor /admin/users/2/sessions/end /admin/users/2/reset-link"},
		{3, "/admin/users/3/enable /admin/users/3/role=auditor /admin/users/3/role=member /admin/users/3/sessions/end /admin/users/3/reset-link"},
	}
	for _, tt := range tests {
		if got := strings.Join(actions(tt.id), " "); got != tt.want {
			t.Errorf("user %d actions: got %q, want %q", tt.id, got, tt.want)
		}
	}
	for _, a := range []string{"disable", "role-admin", "role-auditor", "role-member", "sessions/end"} {
		doc.Find("form[data-action='" + a + "']").Each(func(_ int, f *goquery.Selection) {
			if c, _ := f.Attr("hx-confirm"); c == "" {
				t.Errorf("%s form: got no hx-confirm, want one", a)
			}
		})
	}
	row := squishText(doc.Find("tr[data-user-id='2']"))
	for _, want := range []string{"bob@example.com", "Member", "5 days ago", "Never", "Active"} {
		if !strings.Contains(row, want) {
			t.Errorf("row 2: got %q, want it to contain %q", row, want)
		}
	}
	if got := squishText(doc.Find("tr[data-user-id='3'] [data-testid=user-status]")); got != "Disabled" {
		t.Errorf("disabled status: got %q, want %q", got, "Disabled")
	}
	if got := attr(doc, "tr[data-user-id='1'] a[data-testid=user-keys]", "href"); got != "/admin/keys?owner=ada%40example.com&status=active" {
		t.Errorf("keys link: got %q", got)
	}
	form := doc.Find("form[data-testid=invite-form]")
	if got, _ := form.Attr("action"); got != "/admin/invites" {
		t.Errorf("invite action: got %q, want /admin/invites", got)
	}
	if got, _ := form.Find("input[name=email]").Attr("aria-invalid"); got != "true" {
		t.Errorf("invite email aria-invalid: got %q, want true", got)
	}
	if got, _ := form.Find("select[name=role] option[selected]").Attr("value"); got != "admin" {
		t.Errorf("selected role: got %q, want admin", got)
	}
	if got := doc.Find("[data-testid=token-link-panel]").Length(); got != 0 {
		t.Errorf("token panel without link: got %d, want 0", got)
	}
}

func TestAdminUsersTokenLink(t *testing.T) {
	for _, tt := range []struct {
		kind    string
		mailed  bool
		heading string
		body    string
	}{
		{"invite", false, "Invite link created — copy it", "Shown once. Send it to new@example.com yourself."},
		{"reset", false, "Password reset link created — copy it", "Shown once. Send it to new@example.com yourself."},
		{"invite", true, "Invite sent to new@example.com — the link is below too", "Shown once. It was e-mailed to new@example.com"},
		{"reset", true, "Reset link sent to new@example.com — the link is below too", "Shown once. It was e-mailed to new@example.com"},
	} {
		t.Run(fmt.Sprintf("%s mailed %v", tt.kind, tt.mailed), func(t *testing.T) {
			link := &TokenLink{Kind: tt.kind, Email: "new@example.com", URL: "https://keys.example.com/" + tt.kind + "/tok",
				ExpiresAt: testNow.Add(7 * 24 * time.Hour), Mailed: tt.mailed}
			doc := render(t, AdminUsersView(AdminUsersPage{Layout: adminLayoutFixture(), Link: link}))
			panel := doc.Find("[data-testid=token-link-panel]")
			if got := squishText(panel.Find("h2")); got != tt.heading {
				t.Errorf("heading: got %q, want %q", got, tt.heading)
			}
			if got, _ := panel.Find("input#token-link").Attr("value"); got != link.URL {
				t.Errorf("link: got %q, want %q", got, link.URL)
			}
			body := squishText(panel)
			for _, want := range []string{tt.body, "expires in 7 days"} {
				if !strings.Contains(body, want) {
					t.Errorf("panel: got %q, want it to contain %q", body, want)
				}
			}
		})
	}
}
