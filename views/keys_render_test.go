package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

var keysTestNow = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

// renderKeysView renders c, fails on anything the CSP would block (style
// attributes, inline scripts, inline event handlers), and returns the parsed
// document and the raw HTML.
func renderKeysView(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	html := buf.String()
	if strings.Contains(html, "style=") {
		t.Errorf("got a style= attribute, want none (CSP)")
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if n := doc.Find("script:not([src]), style").Length(); n != 0 {
		t.Errorf("got %d inline <script>/<style>, want 0 (CSP)", n)
	}
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("got <%s %s>, want no inline event handler (CSP)", goquery.NodeName(s), a.Key)
			}
		}
	})
	return doc, html
}

func keysLayoutFixture() Layout {
	return Layout{
		User:      &CurrentUser{Email: "ada@example.com"},
		CSRFToken: "csrf-token-1",
		Version:   "test",
		Now:       keysTestNow,
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

var testExpiryChoices = []ExpiryChoice{
	{"7", "7 days"}, {"30", "30 days"}, {"90", "90 days"}, {"custom", "Custom date"}, {"never", "No expiry"},
}

func sampleRows() []KeyRow {
	return []KeyRow{
		{ID: 12, Name: "Billing", Hint: "kw_…a1B2", Scopes: []string{"read:orders", "write:orders"},
			CreatedAt: keysTestNow.Add(-72 * time.Hour), LastUsedAt: ptrTime(keysTestNow.Add(-time.Minute * 5)),
			ExpiresAt: ptrTime(keysTestNow.Add(30 * 24 * time.Hour)), Status: "active"},
		{ID: 11, Name: "CI deploy", Hint: "kw_…x9Zq", CreatedAt: keysTestNow.Add(-24 * time.Hour), Status: "disabled"},
	}
}

func TestKeysEmptyState(t *testing.T) {
	doc, _ := renderKeysView(t, Keys(KeysPage{Layout: keysLayoutFixture(), Page: 1, PerPage: 25,
		Form: KeyForm{ExpiryChoices: testExpiryChoices}}))
	empty := doc.Find("[data-testid=empty-state]")
	if empty.Length() != 1 {
		t.Fatalf("got %d empty states, want 1", empty.Length())
	}
	if got := empty.Find("h2").Text(); got != "No API keys yet" {
		t.Errorf("got empty state title %q, want %q", got, "No API keys yet")
	}
	if got, _ := empty.Find("a").Attr("href"); got != "/keys/new" {
		t.Errorf("got empty state action %q, want /keys/new", got)
	}
	for _, sel := range []string{"[data-testid=keys-table]", "[data-testid=status-tabs]", "[data-testid=inline-create]"} {
		if n := doc.Find(sel).Length(); n != 0 {
			t.Errorf("got %d %s, want 0 in the empty state", n, sel)
		}
	}
	if got := doc.Find("nav[data-testid=main-nav] a[aria-current=page]").Text(); got != "Keys" {
		t.Errorf("got current nav %q, want Keys", got)
	}
	if got := doc.Find("title").Text(); !strings.Contains(got, "API keys") {
		t.Errorf("got title %q, want it to contain API keys", got)
	}
}

func TestKeysTable(t *testing.T) {
	m := KeysPage{Layout: keysLayoutFixture(), Keys: sampleRows(), Status: "active", Total: 7, AllKeys: 9,
		Page: 2, PerPage: 2, HasPrev: true, HasNext: true, Form: KeyForm{ExpiryChoices: testExpiryChoices}}
	doc, _ := renderKeysView(t, Keys(m))

	rows := doc.Find("[data-testid=keys-table] [data-testid=key-row]")
	if rows.Length() != 2 {
		t.Fatalf("got %d rows, want 2", rows.Length())
	}
	first := rows.First()
	if got, _ := first.Find("a[data-testid=key-link]").Attr("href"); got != "/keys/12" {
		t.Errorf("got name link %q, want /keys/12", got)
	}
	if got := first.Find("[data-testid=key-hint]").Text(); got != "kw_…a1B2" {
		t.Errorf("got hint %q, want kw_…a1B2", got)
	}
	if got := first.Find("[data-testid=scope-chip]").Length(); got != 2 {
		t.Errorf("got %d scope chips, want 2", got)
	}
	if got := first.Find("time").First().Text(); got != "3 days ago" {
		t.Errorf("got created %q, want 3 days ago", got)
	}
	second := rows.Eq(1)
	for _, want := range []string{"Never used", "Never", "No scopes"} {
		if !strings.Contains(second.Text(), want) {
			t.Errorf("got second row %q, want it to contain %q", second.Text(), want)
		}
	}
	if got, _ := second.Find("[data-testid=status-badge]").Attr("data-status"); got != "disabled" {
		t.Errorf("got status %q, want disabled", got)
	}

	if got := doc.Find("[data-testid=status-tab][aria-current=page]").Text(); got != "Active" {
		t.Errorf("got current tab %q, want Active", got)
	}
	if got := doc.Find("[data-testid=status-tab]").Length(); got != 7 {
		t.Errorf("got %d tabs, want 7 (All and the six statuses)", got)
	}
	if got := strings.Join(strings.Fields(doc.Find("[data-testid=page-summary]").Text()), " "); got != "Showing 3–4 of 7" {
		t.Errorf("got summary %q, want %q", got, "Showing 3–4 of 7")
	}
	links := map[string]string{"page-prev": "/keys?status=active", "page-next": "/keys?page=3&status=active"}
	for id, want := range links {
		if got, _ := doc.Find("[data-testid=" + id + "]").Attr("href"); got != want {
			t.Errorf("got %s href %q, want %q", id, got, want)
		}
	}
	form := doc.Find("[data-testid=inline-create] form#create-key")
	if got, _ := form.Attr("hx-post"); got != "/keys" {
		t.Errorf("got inline form hx-post %q, want /keys", got)
	}
	if _, open := doc.Find("[data-testid=inline-create]").Attr("open"); open {
		t.Errorf("got inline create open, want closed without errors")
	}
}

func TestKeysPagination(t *testing.T) {
	tests := []struct {
		name               string
		status             string
		page, perPage      int
		rows, total        int
		hasPrev, hasNext   bool
		wantSummary        string
		wantPrev, wantNext string
	}{
		{"single page", "", 1, 25, 2, 2, false, false, "Showing 1–2 of 2", "", ""},
		{"first of many", "", 1, 2, 2, 5, false, true, "Showing 1–2 of 5", "", "/keys?page=2"},
		{"last, partial", "revoked", 3, 2, 1, 5, true, false, "Showing 5–5 of 5", "/keys?page=2&status=revoked", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := KeysPage{Layout: keysLayoutFixture(), Keys: sampleRows()[:tt.rows], Status: tt.status,
				Total: tt.total, AllKeys: tt.total, Page: tt.page, PerPage: tt.perPage, HasPrev: tt.hasPrev, HasNext: tt.hasNext}
			doc, _ := renderKeysView(t, Keys(m))
			if got := strings.Join(strings.Fields(doc.Find("[data-testid=page-summary]").Text()), " "); got != tt.wantSummary {
				t.Errorf("got summary %q, want %q", got, tt.wantSummary)
			}
			for id, want := range map[string]string{"page-prev": tt.wantPrev, "page-next": tt.wantNext} {
				got, ok := doc.Find("[data-testid=" + id + "]").Attr("href")
				if want == "" && ok {
					t.Errorf("got %s link %q, want none", id, got)
				}
				if want != "" && got != want {
					t.Errorf("got %s href %q, want %q", id, got, want)
				}
			}
		})
	}
}

func TestKeysFilterWithoutResults(t *testing.T) {
	tests := []struct {
		status, want string
	}{
		{"revoked", "No revoked keys."},
		{"expiring", "No keys expiring soon."},
		{"disabled", "No disabled keys."},
		{"", "No keys on this page."},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			doc, _ := renderKeysView(t, Keys(KeysPage{Layout: keysLayoutFixture(), Status: tt.status, AllKeys: 4, Page: 1, PerPage: 25}))
			box := doc.Find("[data-testid=no-matching-keys]")
			if got := strings.TrimSpace(box.Find("p").Text()); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if got, _ := box.Find("a").Attr("href"); got != "/keys" {
				t.Errorf("got show-all link %q, want /keys", got)
			}
			if n := doc.Find("[data-testid=empty-state], [data-testid=keys-table]").Length(); n != 0 {
				t.Errorf("got %d empty state/table, want 0", n)
			}
		})
	}
}

func TestKeyCreateForm(t *testing.T) {
	f := KeyForm{
		Name: `Billing "prod"`, Description: "Used by <worker>", Expiry: "custom", ExpiryDate: "2027-01-31",
		Picker: ScopePicker{AllowOther: true, Other: "Write", Groups: []ScopeGroup{{Name: "read", Scopes: []ScopeChoice{
			{Name: "read:orders", Description: "See orders", Checked: true}, {Name: "read:all", AdminOnly: true, Locked: true},
		}}}},
		MinDate: "2026-11-26", ExpiryChoices: testExpiryChoices,
		Errors: FieldErrors{"scopes": "Scopes use lowercase letters.", "expiry_date": "Choose a later date."},
	}
	tests := []struct {
		name   string
		inline bool
	}{{"inline", true}, {"full page", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _ := renderKeysView(t, KeyCreateForm(f, "csrf-x", tt.inline))
			form := doc.Find("form")
			if id, _ := form.Attr("id"); id != "create-key" {
				t.Errorf("got root id %q, want create-key", id)
			}
			if got, _ := form.Attr("action"); got != "/keys" {
				t.Errorf("got action %q, want /keys", got)
			}
			_, hx := form.Attr("hx-post")
			if hx != tt.inline {
				t.Errorf("got hx-post present %v, want %v", hx, tt.inline)
			}
			if tt.inline {
				if got, _ := form.Attr("hx-target"); got != "#create-key" {
					t.Errorf("got hx-target %q, want #create-key", got)
				}
				if got, _ := form.Attr("hx-swap"); got != "outerHTML" {
					t.Errorf("got hx-swap %q, want outerHTML", got)
				}
			}
			values := map[string]string{
				"input[name=name]":           `Billing "prod"`,
				"input[name=expiry_date]":    "2027-01-31",
				"input[name=scopes]:checked": "read:orders",
				"input[name=scopes_other]":   "Write",
				"input[name=_csrf]":          "csrf-x",
			}
			for sel, want := range values {
				if got, _ := doc.Find(sel).Attr("value"); got != want {
					t.Errorf("got %s value %q, want %q", sel, got, want)
				}
			}
			if got := doc.Find("textarea[name=description]").Text(); got != "Used by <worker>" {
				t.Errorf("got description %q, want %q", got, "Used by <worker>")
			}
			if got, _ := doc.Find("select[name=expiry] option[selected]").Attr("value"); got != "custom" {
				t.Errorf("got selected expiry %q, want custom", got)
			}
			if got := doc.Find("select[name=expiry] option").Length(); got != len(testExpiryChoices) {
				t.Errorf("got %d expiry options, want %d", got, len(testExpiryChoices))
			}
			if got, _ := doc.Find("input[name=expiry_date]").Attr("min"); got != "2026-11-26" {
				t.Errorf("got min date %q, want 2026-11-26", got)
			}
			if got, _ := doc.Find("select[name=expiry]").Attr("data-toggle-target"); got != "#expiry-date-field" || doc.Find(got).Length() != 1 {
				t.Errorf("got toggle target %q, want #expiry-date-field present", got)
			}
			for field, sel := range map[string]string{"scopes": "[data-testid=scope-picker]", "expiry_date": "[name=expiry_date]"} {
				in := doc.Find(sel)
				if got, _ := in.Attr("aria-invalid"); got != "true" {
					t.Errorf("got %s aria-invalid %q, want true", field, got)
				}
				described, _ := in.Attr("aria-describedby")
				if !strings.Contains(described, field+"-error") {
					t.Errorf("got %s aria-describedby %q, want it to name %s-error", field, described, field)
				}
				for _, id := range strings.Fields(described) {
					if doc.Find("#"+id).Length() != 1 {
						t.Errorf("got aria-describedby %q naming missing #%s", described, id)
					}
				}
			}
			if _, disabled := doc.Find("input[name=scopes][value='read:all']").Attr("disabled"); !disabled {
				t.Errorf("got admin-only scope enabled, want it disabled for a member")
			}
			if got := doc.Find("#scopes-error").Text(); got != "Scopes use lowercase letters." {
				t.Errorf("got scopes error %q, want the message", got)
			}
			if _, bad := doc.Find("[name=name]").Attr("aria-invalid"); bad {
				t.Errorf("got name aria-invalid, want none without an error")
			}
			if got := doc.Find("button[type=submit]").Text(); got != "Create key" {
				t.Errorf("got submit %q, want Create key", got)
			}
		})
	}
}

func TestKeysNew(t *testing.T) {
	doc, _ := renderKeysView(t, KeysNew(NewKeyPage{Layout: keysLayoutFixture(), Form: KeyForm{ExpiryChoices: testExpiryChoices, Expiry: "30"}}))
	if n := doc.Find("main form#create-key").Length(); n != 1 {
		t.Fatalf("got %d create forms, want 1", n)
	}
	if _, hx := doc.Find("form#create-key").Attr("hx-post"); hx {
		t.Errorf("got hx-post on the full-page form, want a plain form")
	}
	if got := doc.Find("title").Text(); !strings.Contains(got, "Create key") {
		t.Errorf("got title %q, want it to contain Create key", got)
	}
}
