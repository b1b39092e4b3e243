package views

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

func sampleAdminKeys() []AdminKeyRow {
	used := testNow.Add(-100 * 24 * time.Hour)
	return []AdminKeyRow{
		{KeyRow: KeyRow{ID: 12, Name: "Billing", Hint: "kw_…a1B2", Owner: "bob@example.com", Scopes: []string{"read:orders"},
			CreatedAt: testNow.Add(-200 * 24 * time.Hour), LastUsedAt: &used, Status: "active"}, LastUsedIP: "192.0.2.7", Stale: true},
		{KeyRow: KeyRow{ID: 15, Name: "CI <deploy>", Hint: "kw_…x9Zq", Owner: "eve@example.com",
			CreatedAt: testNow.Add(-40 * 24 * time.Hour), Status: "disabled"}},
	}
}

func attrValues(s *goquery.Selection, name string) []string {
	var got []string
	s.Each(func(_ int, e *goquery.Selection) {
		v, _ := e.Attr(name)
		got = append(got, v)
	})
	return got
}

func TestAdminKeysStaleReview(t *testing.T) {
	m := AdminKeysPage{
		Layout: adminLayoutFixture(), Keys: sampleAdminKeys(), Filter: AdminKeyFilter{Stale: true, Sort: "last_used"},
		Query: "stale=1&sort=last_used", Total: 30, StaleCount: 30, NeverUsedCount: 9, Page: 1, PerPage: 2, HasNext: true,
	}
	doc := render(t, AdminKeysView(m))
	if got := squishText(doc.Find("[data-testid=stale-counts]")); got != "30 stale keys, 9 never used" {
		t.Errorf("counts: got %q, want %q", got, "30 stale keys, 9 never used")
	}
	if got := doc.Find(`[data-testid=stale-summary] a[href="/admin/settings"]`).Length(); got != 1 {
		t.Errorf("settings link in explanation: got %d, want 1", got)
	}
	if got := attr(doc, "[data-testid=export-csv]", "href"); got != "/admin/keys.csv?stale=1&sort=last_used" {
		t.Errorf("export: got %q", got)
	}
	form := doc.Find("form[data-testid=bulk-form]")
	if got, _ := form.Attr("method"); got != "post" {
		t.Errorf("bulk form method: got %q, want post", got)
	}
	if got, _ := form.Attr("action"); got != "/admin/keys/bulk" {
		t.Errorf("bulk form action: got %q, want /admin/keys/bulk", got)
	}
	if got := form.Find("table").Length(); got != 1 {
		t.Errorf("table inside the bulk form: got %d, want 1", got)
	}
	boxes := form.Find("tbody input[type=checkbox]")
	if got := strings.Join(attrValues(boxes, "name"), ","); got != "id,id" {
		t.Errorf("checkbox names: got %q, want %q", got, "id,id")
	}
	if got := strings.Join(attrValues(boxes, "value"), ","); got != "12,15" {
		t.Errorf("checkbox values: got %q, want %q", got, "12,15")
	}
	if got := strings.Join(attrValues(boxes, "aria-label"), ","); got != "Select Billing,Select CI <deploy>" {
		t.Errorf("checkbox labels: got %q", got)
	}
	// Two: the header's, and the toolbar's for rows shown as cards.
	masters := form.Find("input[data-check-all]")
	if masters.Length() != 2 {
		t.Errorf("check-all boxes: got %d, want 2", masters.Length())
	}
	masters.Each(func(i int, m *goquery.Selection) {
		_, hidden := m.Attr("hidden")
		_, wrapHidden := m.Closest("[data-check-all-wrap]").Attr("hidden")
		if !hidden && !wrapHidden {
			t.Errorf("check-all box %d: got visible, want hidden until app.js shows it", i)
		}
	})
	for _, b := range []struct{ value, label string }{{"disable", "Disable selected"}, {"revoke", "Revoke selected"}} {
		btn := form.Find("button[name=action][value=" + b.value + "]")
		if got := squishText(btn); got != b.label {
			t.Errorf("%s button: got %q, want %q", b.value, got, b.label)
		}
	}
	if got := squishText(doc.Find("[data-testid=bulk-all] > span")); got != "Select all 30 matching:" {
		t.Errorf("all matching label: got %q", got)
	}
	for _, action := range []string{"disable", "revoke"} {
		btn := doc.Find("button[name=all][value='1'][form=bulk-all-" + action + "]")
		if btn.Length() != 1 {
			t.Fatalf("all-matching %s button: got %d, want 1", action, btn.Length())
		}
		f := doc.Find("form#bulk-all-" + action)
		if got := attr(doc, "form#bulk-all-"+action, "action"); got != "/admin/keys/bulk" {
			t.Errorf("%s form action: got %q", action, got)
		}
		if got, _ := f.Find("input[name=action]").Attr("value"); got != action {
			t.Errorf("%s form action field: got %q, want %q", action, got, action)
		}
		if got, _ := f.Find("input[name=query]").Attr("value"); got != m.Query {
			t.Errorf("%s form query: got %q, want %q", action, got, m.Query)
		}
		if f.Find("input[name=_csrf]").Length() != 1 {
			t.Errorf("%s form: got no CSRF field, want one", action)
		}
	}
	row := doc.Find("tr[data-key-id='12']")
	if got := attr(doc, "tr[data-key-id='12'] a[data-testid=key-link]", "href"); got != "/keys/12" {
		t.Errorf("key link: got %q, want /keys/12", got)
	}
	if got := strings.Join(attrValues(row.Find("[data-testid=status-badge]"), "data-status"), ","); got != "active,stale" {
		t.Errorf("badges: got %q, want %q", got, "active,stale")
	}
	for _, want := range []string{"bob@example.com", "kw_…a1B2", "read:orders", "3 months ago", "192.0.2.7", "Never"} {
		if !strings.Contains(squishText(row), want) {
			t.Errorf("row: got %q, want it to contain %q", squishText(row), want)
		}
	}
	if got := squishText(doc.Find("tr[data-key-id='15'] [data-testid=key-last-used]")); got != "Never used" {
		t.Errorf("never used: got %q, want %q", got, "Never used")
	}
	if got := attr(doc, "[data-testid=page-next]", "href"); got != "/admin/keys?stale=1&sort=last_used&page=2" {
		t.Errorf("next page: got %q", got)
	}
	if got := doc.Find(`#f-sort option[selected]`).AttrOr("value", ""); got != "last_used" {
		t.Errorf("sort selected: got %q, want last_used", got)
	}
	if _, ok := doc.Find(`input[name=stale]`).Attr("checked"); !ok {
		t.Errorf("stale checkbox: got unchecked, want checked")
	}
}

func TestAdminKeysUnfiltered(t *testing.T) {
	m := AdminKeysPage{Layout: adminLayoutFixture(), Keys: sampleAdminKeys(), Total: 2, Page: 1, PerPage: 50}
	doc := render(t, AdminKeysView(m))
	if got := doc.Find("[data-testid=stale-summary]").Length(); got != 0 {
		t.Errorf("stale summary: got %d, want 0", got)
	}
	if got := doc.Find("button[name=all]").Length() + doc.Find("form#bulk-all-revoke").Length(); got != 0 {
		t.Errorf("all-matching buttons without a filter: got %d, want 0", got)
	}
	if got := attr(doc, "[data-testid=export-csv]", "href"); got != "/admin/keys.csv" {
		t.Errorf("export: got %q, want /admin/keys.csv", got)
	}
	if got := doc.Find("[data-testid=page-next], [data-testid=page-prev]").Length(); got != 0 {
		t.Errorf("page links: got %d, want 0", got)
	}
}

func TestAdminKeysEmpty(t *testing.T) {
	tests := []struct {
		name   string
		filter AdminKeyFilter
		want   string
	}{
		{"none", AdminKeyFilter{}, "No API keys yet"},
		{"stale", AdminKeyFilter{Stale: true}, "No stale keys"},
		{"filtered", AdminKeyFilter{Owner: "x@example.com"}, "No keys match these filters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := render(t, AdminKeysView(AdminKeysPage{Layout: adminLayoutFixture(), Filter: tt.filter}))
			if got := squishText(doc.Find("[data-testid=empty-state] h2")); got != tt.want {
				t.Errorf("empty state: got %q, want %q", got, tt.want)
			}
			if got := doc.Find("form[data-testid=bulk-form]").Length(); got != 0 {
				t.Errorf("bulk form: got %d, want 0", got)
			}
		})
	}
}

func TestBulkConfirm(t *testing.T) {
	keys := sampleAdminKeys()
	m := BulkConfirmPage{
		Layout: adminLayoutFixture(), Action: "revoke", Keys: keys, IDs: []int64{12, 15}, Count: 2,
		Missing: []int64{99}, Reason: "too old", Errors: FieldErrors{"reason": "Give a reason."},
	}
	doc := render(t, BulkConfirmView(m))
	if got := squishText(doc.Find("h1")); got != "Revoke 2 keys?" {
		t.Errorf("heading: got %q, want %q", got, "Revoke 2 keys?")
	}
	if got := doc.Find("[data-testid=bulk-key-row]").Length(); got != 2 {
		t.Errorf("listed keys: got %d, want 2", got)
	}
	if got := squishText(doc.Find("[data-testid=missing-id]")); got != "#99 not found" {
		t.Errorf("missing: got %q, want %q", got, "#99 not found")
	}
	form := doc.Find("form[data-testid=bulk-confirm-form]")
	if got, _ := form.Attr("action"); got != "/admin/keys/bulk" {
		t.Errorf("action: got %q", got)
	}
	hidden := func(name string) string {
		return strings.Join(attrValues(form.Find("input[type=hidden][name="+name+"]"), "value"), ",")
	}
	for name, want := range map[string]string{"id": "12,15", "confirm": "1", "action": "revoke", "all": "", "query": ""} {
		if got := hidden(name); got != want {
			t.Errorf("hidden %s: got %q, want %q", name, got, want)
		}
	}
	reason := form.Find("textarea[name=reason]")
	if _, ok := reason.Attr("required"); !ok {
		t.Errorf("reason: got not required, want required")
	}
	if got, _ := reason.Attr("aria-invalid"); got != "true" {
		t.Errorf("reason aria-invalid: got %q, want true", got)
	}
	if got := reason.Text(); got != "too old" {
		t.Errorf("reason value: got %q, want %q", got, "too old")
	}
	if got := squishText(form.Find("#reason-error")); got != "Give a reason." {
		t.Errorf("reason error: got %q", got)
	}
	btn := form.Find("button[type=submit]")
	if got := squishText(btn); got != "Revoke 2 keys" {
		t.Errorf("button: got %q, want %q", got, "Revoke 2 keys")
	}
	if got, _ := btn.Attr("class"); got != BtnDanger {
		t.Errorf("button class: got %q, want %q", got, BtnDanger)
	}
	if got := attr(doc, "[data-testid=bulk-cancel]", "href"); got != "/admin/keys" {
		t.Errorf("cancel: got %q, want /admin/keys", got)
	}
}

func TestBulkConfirmAllMatching(t *testing.T) {
	m := BulkConfirmPage{
		Layout: adminLayoutFixture(), Action: "disable", Keys: sampleAdminKeys()[:1], AllMatching: true,
		Query: "stale=1", Count: 1,
	}
	doc := render(t, BulkConfirmView(m))
	if got := squishText(doc.Find("h1")); got != "Disable 1 key?" {
		t.Errorf("heading: got %q, want %q", got, "Disable 1 key?")
	}
	form := doc.Find("form[data-testid=bulk-confirm-form]")
	if got := form.Find("input[name=id]").Length(); got != 0 {
		t.Errorf("id fields: got %d, want 0", got)
	}
	if got, _ := form.Find("input[name=all]").Attr("value"); got != "1" {
		t.Errorf("all: got %q, want 1", got)
	}
	if got, _ := form.Find("input[name=query]").Attr("value"); got != "stale=1" {
		t.Errorf("query: got %q, want stale=1", got)
	}
	if got := squishText(form.Find("button[type=submit]")); got != "Disable 1 key" {
		t.Errorf("button: got %q", got)
	}
	if got := attr(doc, "[data-testid=bulk-cancel]", "href"); got != "/admin/keys?stale=1" {
		t.Errorf("cancel: got %q, want /admin/keys?stale=1", got)
	}
	if got := doc.Find("[data-testid=bulk-missing]").Length(); got != 0 {
		t.Errorf("missing list: got %d, want 0", got)
	}

	m.Count, m.Keys = 0, nil
	doc = render(t, BulkConfirmView(m))
	if got := doc.Find("form[data-testid=bulk-confirm-form]").Length(); got != 0 {
		t.Errorf("confirm form with nothing to do: got %d, want 0", got)
	}
}
