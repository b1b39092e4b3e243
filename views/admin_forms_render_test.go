package views

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

func TestAdminSettings(t *testing.T) {
	f := SettingsForm{
		MaxKeyLifetimeDays: "abc", StaleDays: "90", NeverUsedDays: "30", AutoDisableDays: "",
		SessionIdleMinutes: "60", SessionAbsoluteHours: "-1",
		Errors: FieldErrors{"max_key_lifetime_days": "Enter a whole number of days.", "session_absolute_hours": "Must be at least 1."},
	}
	doc := render(t, AdminSettingsView(AdminSettingsPage{Layout: adminLayoutFixture(), Form: f}))
	form := doc.Find("form[data-testid=settings-form]")
	if got, _ := form.Attr("action"); got != "/admin/settings" {
		t.Errorf("action: got %q", got)
	}
	if got := form.Find("input[name=_csrf]").Length(); got != 1 {
		t.Errorf("csrf fields: got %d, want 1", got)
	}
	tests := []struct {
		name, value string
		invalid     bool
	}{
		{"max_key_lifetime_days", "abc", true},
		{"stale_days", "90", false},
		{"never_used_days", "30", false},
		{"auto_disable_days", "", false},
		{"session_idle_minutes", "60", false},
		{"session_absolute_hours", "-1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := form.Find("input[name=" + tt.name + "]")
			if in.Length() != 1 {
				t.Fatalf("inputs: got %d, want 1", in.Length())
			}
			if got, _ := in.Attr("value"); got != tt.value {
				t.Errorf("value: got %q, want %q", got, tt.value)
			}
			id, _ := in.Attr("id")
			if got := form.Find(`label[for="` + id + `"]`).Length(); got != 1 {
				t.Errorf("label: got %d, want 1", got)
			}
			_, invalid := in.Attr("aria-invalid")
			if invalid != tt.invalid {
				t.Errorf("aria-invalid: got %v, want %v", invalid, tt.invalid)
			}
			desc, _ := in.Attr("aria-describedby")
			wantDesc := tt.name + "-help"
			if tt.invalid {
				wantDesc += " " + tt.name + "-error"
				if got := form.Find("#" + tt.name + "-error").Length(); got != 1 {
					t.Errorf("error message: got %d, want 1", got)
				}
			}
			if desc != wantDesc {
				t.Errorf("aria-describedby: got %q, want %q", desc, wantDesc)
			}
		})
	}
	if got := squishText(form.Find("#max_key_lifetime_days-help")); !strings.Contains(got, "Empty = no limit") || !strings.Contains(got, "No expiration") {
		t.Errorf("lifetime help: got %q", got)
	}
	if got := squishText(form.Find("#auto_disable_days-help")); got != "Disable keys unused for this many days. Empty = off. Checked hourly." {
		t.Errorf("auto-disable help: got %q", got)
	}
	if got := squishText(form.Find("button[type=submit]")); got != "Save settings" {
		t.Errorf("submit: got %q, want %q", got, "Save settings")
	}
}

func TestAdminAudit(t *testing.T) {
	m := AdminAuditPage{
		Layout:  adminLayoutFixture(),
		Events:  []EventRow{{At: testNow.Add(-3 * 24 * time.Hour), Actor: "ada@example.com", Action: "Key revoked", Target: "Billing (#12)", IP: "192.0.2.1", Detail: "reason: leaked"}},
		Filter:  AuditFilterForm{Action: "key.revoked", From: "2026-11-01"},
		Actions: []ActionOption{{"key.created", "Key created"}, {"key.revoked", "Key revoked"}},
		Query:   "action=key.revoked&from=2026-11-01", NextBefore: 41,
		Errors: FieldErrors{"to": "Enter a date."},
	}
	doc := render(t, AdminAuditView(m))
	if got := attr(doc, "[data-testid=older-events]", "href"); got != "/admin/audit?action=key.revoked&from=2026-11-01&before=41" {
		t.Errorf("older link: got %q", got)
	}
	opts := doc.Find("select[name=action] option")
	if got := squishText(opts.First()); got != "Any action" {
		t.Errorf("first option: got %q, want %q", got, "Any action")
	}
	if got := doc.Find("select[name=action] option[selected]").AttrOr("value", ""); got != "key.revoked" {
		t.Errorf("selected action: got %q", got)
	}
	for _, name := range []string{"from", "to"} {
		if got := attr(doc, "input[name="+name+"]", "type"); got != "date" {
			t.Errorf("%s type: got %q, want date", name, got)
		}
	}
	if got := attr(doc, "input[name=to]", "aria-invalid"); got != "true" {
		t.Errorf("to aria-invalid: got %q, want true", got)
	}
	row := squishText(doc.Find("[data-testid=audit-row]"))
	for _, want := range []string{"3 days ago", "2026-11-22 14:00:00 UTC", "ada@example.com", "Key revoked", "Billing (#12)", "192.0.2.1", "reason: leaked"} {
		if !strings.Contains(row, want) {
			t.Errorf("row: got %q, want it to contain %q", row, want)
		}
	}

	m.NextBefore, m.Query = 0, ""
	doc = render(t, AdminAuditView(m))
	if got := doc.Find("[data-testid=older-events]").Length(); got != 0 {
		t.Errorf("older link on the last page: got %d, want 0", got)
	}
	m.Events = nil
	doc = render(t, AdminAuditView(m))
	if got := squishText(doc.Find("[data-testid=empty-state] h2")); got != "No events match these filters" {
		t.Errorf("filtered empty: got %q", got)
	}
	doc = render(t, AdminAuditView(AdminAuditPage{Layout: adminLayoutFixture()}))
	if got := squishText(doc.Find("[data-testid=empty-state] h2")); got != "No events yet" {
		t.Errorf("empty: got %q", got)
	}
}

func TestAccept(t *testing.T) {
	doc := render(t, AcceptView(AcceptPage{Layout: signedOut(""), Kind: "invite", Invalid: true, Token: "x"}))
	if got := squishText(doc.Find("[data-testid=accept-invalid] p")); got != "This link is invalid, has expired or was already used. Ask an administrator for a new one." {
		t.Errorf("refusal: got %q", got)
	}
	if got := doc.Find(`[data-testid=accept-invalid] a[href="/login"]`).Length(); got != 1 {
		t.Errorf("login link: got %d, want 1", got)
	}
	if got := doc.Find("form[data-testid=accept-form], input[type=password]").Length(); got != 0 {
		t.Errorf("form on an invalid link: got %d elements, want 0", got)
	}

	tests := []struct {
		kind, action, submit, title string
	}{
		{"invite", "/invite/tok%2F1", "Create account", "Accept invite"},
		{"reset", "/reset/tok%2F1", "Set new password", "Reset password"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			m := AcceptPage{Layout: signedOut(""), Kind: tt.kind, Token: "tok/1", Email: "new@example.com",
				Errors: FieldErrors{"password_confirm": "The passwords do not match."}}
			doc := render(t, AcceptView(m))
			form := doc.Find("form[data-testid=accept-form]")
			if got, _ := form.Attr("action"); got != tt.action {
				t.Errorf("action: got %q, want %q", got, tt.action)
			}
			if got, _ := form.Attr("method"); got != "post" {
				t.Errorf("method: got %q, want post", got)
			}
			if got := form.Find("input[name=_csrf]").Length(); got != 1 {
				t.Errorf("csrf: got %d, want 1", got)
			}
			email := form.Find("input[data-testid=accept-email]")
			if _, ok := email.Attr("readonly"); !ok {
				t.Errorf("email: got editable, want readonly")
			}
			if got, _ := email.Attr("value"); got != "new@example.com" {
				t.Errorf("email: got %q", got)
			}
			if got := form.Find("input[name=password][type=password], input[name=password_confirm][type=password]").Length(); got != 2 {
				t.Errorf("password fields: got %d, want 2", got)
			}
			if got := attr(doc, "input[name=password_confirm]", "aria-invalid"); got != "true" {
				t.Errorf("confirm aria-invalid: got %q, want true", got)
			}
			if got := squishText(form.Find("#password-help")); !strings.Contains(got, "15 characters") {
				t.Errorf("help: got %q, want the 15-character hint", got)
			}
			if got := squishText(form.Find("button[type=submit]")); got != tt.submit {
				t.Errorf("submit: got %q, want %q", got, tt.submit)
			}
			if got := doc.Find("title").Text(); got != tt.title+" · Keyward" {
				t.Errorf("title: got %q", got)
			}
		})
	}
}

func TestKeysNotices(t *testing.T) {
	base := KeysPage{Layout: keysLayoutFixture(), Keys: sampleRows(), AllKeys: 2, Total: 2, Page: 1, PerPage: 1, HasNext: true}
	tests := []struct {
		name      string
		page      func(KeysPage) KeysPage
		wantKinds string
		wantText  string
	}{
		{"none", func(m KeysPage) KeysPage { return m }, "", ""},
		{"both", func(m KeysPage) KeysPage {
			m.Notices = KeyNotices{ExpiringDays: 7, ExpiringSoon: 2, Stale: 1}
			return m
		},
			"expiring,stale", "2 of your keys expire within 7 days|1 of your keys looks unused"},
		{"one expiring", func(m KeysPage) KeysPage { m.Notices = KeyNotices{ExpiringDays: 7, ExpiringSoon: 1}; return m },
			"expiring", "1 of your keys expires within 7 days"},
		{"on the stale list", func(m KeysPage) KeysPage {
			m.Notices = KeyNotices{ExpiringDays: 7, ExpiringSoon: 3, Stale: 4}
			m.Stale = true
			return m
		},
			"expiring", "3 of your keys expire within 7 days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, Keys(tt.page(base)))
			notices := doc.Find("[data-testid=key-notice]")
			if got := strings.Join(attrValues(notices, "data-kind"), ","); got != tt.wantKinds {
				t.Errorf("notices: got %q, want %q", got, tt.wantKinds)
			}
			var texts []string
			notices.Each(func(_ int, s *goquery.Selection) { texts = append(texts, squishText(s.Find("p"))) })
			if got := strings.Join(texts, "|"); got != tt.wantText {
				t.Errorf("notice text: got %q, want %q", got, tt.wantText)
			}
		})
	}
	doc := render(t, Keys(base))
	if got := attr(doc, "[data-testid=page-next]", "href"); got != "/keys?page=2" {
		t.Errorf("next page: got %q, want /keys?page=2", got)
	}
	m := base
	m.Notices = KeyNotices{ExpiringDays: 7, ExpiringSoon: 1, Stale: 1}
	doc = render(t, Keys(m))
	if got := attr(doc, `[data-kind=expiring] a`, "href"); got != "/keys?status=expiring" {
		t.Errorf("expiring link: got %q", got)
	}
	if got := attr(doc, `[data-kind=stale] a`, "href"); got != "/keys?stale=1" {
		t.Errorf("stale link: got %q", got)
	}
	m.Stale = true
	doc = render(t, Keys(m))
	if got := attr(doc, "[data-testid=stale-filter] a[data-testid=show-all]", "href"); got != "/keys" {
		t.Errorf("show all: got %q, want /keys", got)
	}
	if got := doc.Find(`[data-testid=status-tabs] a[aria-current]`).Length(); got != 0 {
		t.Errorf("current status tab on the stale list: got %d, want 0", got)
	}
	if got := attr(doc, "[data-testid=page-next]", "href"); got != "/keys?page=2&stale=1" {
		t.Errorf("next page keeps the filter: got %q", got)
	}
	m.Keys, m.Total = nil, 0
	doc = render(t, Keys(m))
	if got := squishText(doc.Find("[data-testid=no-matching-keys] p")); got != "None of your keys look unused." {
		t.Errorf("no stale keys: got %q", got)
	}
}
