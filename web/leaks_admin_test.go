package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// TestAdminLeakSettings: the "Leaked keys" card writes the leak action and
// GitHub's keys; a bad document is refused next to its field with nothing
// written; auditors read the card and cannot post it.
func TestAdminLeakSettings(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	gh := newScanningSigner(t, "gh-key-1")
	doc := scanningDocument(t, gh, newScanningSigner(t, "gh-key-0"))

	page := admin.get("/admin/settings").doc(t)
	if got := page.Find(`[data-testid="leak-github-url"]`).Text(); !strings.HasSuffix(got, "/api/v1/secret-scanning/github") {
		t.Errorf("GitHub endpoint on the card: got %q", got)
	}
	if page.Find(`[data-testid="github-keys-none"]`).Length() != 1 {
		t.Error("fresh installation: want the card to say no GitHub keys are configured")
	}

	bad := []struct{ name, action, doc, field string }{
		{"not JSON", "revoke", "not json", "secret_scanning_github_keys"},
		{"key not PEM", "revoke", `{"public_keys":[{"key_identifier":"a","key":"xyz"}]}`, "secret_scanning_github_keys"},
		{"unknown action", "delete", "", "leak_disable"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.post("/admin/secret-scanning", url.Values{"leak_action": {tt.action}, "secret_scanning_github_keys": {tt.doc}})
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422", r.StatusCode)
			}
			if msg := r.doc(t).Find(`[data-testid="` + tt.field + `-error"]`).Text(); msg == "" {
				t.Errorf("no error next to %s", tt.field)
			}
			if d, keys, _ := a.store.GitHubScanningKeys(t.Context()); d != "" || keys != nil {
				t.Errorf("refused form stored a document")
			}
		})
	}

	wantRedirect(t, admin.post("/admin/secret-scanning", url.Values{"leak_action": {"disable"},
		"secret_scanning_github_keys": {doc}}), "/admin/settings#leaked-keys")
	rules, err := a.store.ActivityRules(t.Context())
	if err != nil || !rules.LeakDisable {
		t.Errorf("leak action: got LeakDisable=%v (%v), want true", rules.LeakDisable, err)
	}
	page = admin.get("/admin/settings").doc(t)
	var rows []string
	page.Find(`[data-testid="github-keys"] li`).Each(func(_ int, li *goquery.Selection) {
		rows = append(rows, strings.Join(strings.Fields(li.Text()), " "))
	})
	if got := strings.Join(rows, " | "); got != "gh-key-1 current | gh-key-0" {
		t.Errorf("configured keys on the card: got %q", got)
	}
	if !page.Find(`[data-testid="leak-disable"]`).Is("[checked]") {
		t.Error("the disable choice is not checked after saving it")
	}
	events, err := a.store.ListAudit(t.Context(), db.AuditFilter{Action: db.ActionSettingChange})
	if err != nil {
		t.Fatal(err)
	}
	var settings []string
	for _, e := range events {
		settings = append(settings, e.Detail["setting"])
		if strings.Contains(e.Detail["new"], "BEGIN PUBLIC KEY") {
			t.Errorf("the audit log holds the whole document: %v", e.Detail)
		}
	}
	if got := strings.Join(settings, ","); got != "secret_scanning_github_keys,leak_disable" {
		t.Errorf("setting.change events: got %s, want the keys and the action", got)
	}

	auditor, _ := a.userBrowser("auditor@example.com", db.RoleAuditor)
	if auditor.get("/admin/settings").doc(t).Find(`[data-testid="leak-save"]`).Length() != 0 {
		t.Error("auditor sees the save button")
	}
	wantErrorPage(t, auditor.post("/admin/secret-scanning", url.Values{"leak_action": {"revoke"}}), http.StatusForbidden)
}
