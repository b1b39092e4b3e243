package handlers

import (
	"testing"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// TestAlertRuleLabels: views names the rules without importing db; every
// rule db raises has a label of its own, and the statuses have words.
func TestAlertRuleLabels(t *testing.T) {
	seen := map[string]string{}
	for _, r := range db.AlertRules() {
		l := views.AlertRuleLabel(r)
		if l == r || l == "" {
			t.Errorf("rule %q: got label %q, want words", r, l)
		}
		if prev, dup := seen[l]; dup {
			t.Errorf("rules %q and %q share the label %q", prev, r, l)
		}
		seen[l] = r
	}
	for _, s := range []string{db.AlertOpen, db.AlertAcknowledged, db.AlertResolved} {
		if l := views.AlertStatusLabel(s); l == s {
			t.Errorf("status %q: got label %q, want words", s, l)
		}
	}
}

// TestSafeAlertsBack: a plain form returns to the Alerts page it came
// from, with its filters, and nowhere else.
func TestSafeAlertsBack(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/alerts?status=all&rule=spike", "/alerts?status=all&rule=spike"},
		{"/alerts", "/alerts"},
		{"", "/alerts"},
		{"https://evil.example/alerts", "/alerts"},
		{"//evil.example/alerts", "/alerts"},
		{"/keys/1", "/alerts"},
		{"/alerts/../admin", "/alerts"},
		{"javascript:alert(1)", "/alerts"},
	} {
		if got := safeAlertsBack(tc.in); got != tc.want {
			t.Errorf("safeAlertsBack(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}
