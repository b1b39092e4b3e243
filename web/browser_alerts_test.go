package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// TestBrowserAlertFromBadge is the browser flow: an alert on the
// person's key shows as "1" on the navigation's Alerts item; following it
// opens the list with the alert and its evidence; Resolve (htmx) swaps the
// row in place and the badge goes, without a reload; the alert is then
// under status=resolved.
func TestBrowserAlertFromBadge(t *testing.T) {
	a := newTestApp(t)
	tb, u := signedInTab(t, a, "ada@example.com")
	key, _ := a.storeKey(u.ID, db.KeyInput{Name: "deploy"})
	id := a.raiseAlert(db.RuleDeadKey, key, "A revoked key is still being used — 1,204 attempts from 3 addresses",
		map[string]any{"attempts": 1204, "addresses": []string{"203.0.113.7", "198.51.100.23", "2001:db8::1"}})

	tb.open("/keys")
	if got := tb.text(testID("nav-alerts-badge")); got != "1" {
		t.Fatalf("badge: got %q, want 1", got)
	}
	if got := evalJS[string](tb, `document.querySelector('[data-testid="nav-alerts"]').innerText.replace(/\s+/g, " ").trim()`); !strings.HasPrefix(got, "Alerts") {
		t.Errorf("nav item text: got %q", got)
	}
	tb.navigates("follow the badge", chromedp.Click(visibleXPath("//a[@data-testid='nav-alerts']")))
	if p := tb.path(); p != "/alerts" {
		t.Fatalf("after the badge: at %s, want /alerts", p)
	}
	row := `[data-testid="alert-row"][data-id="` + itoa(id) + `"]`
	tb.waitVisible(chromedp.CSS(row))
	if got := tb.text(chromedp.CSS(row + ` [data-testid="alert-summary"]`)); !strings.Contains(got, "1,204 attempts") {
		t.Errorf("summary: got %q", got)
	}
	if n := tb.count(row + ` [data-testid="evidence-addresses"] li`); n != 3 {
		t.Errorf("addresses shown: got %d, want 3", n)
	}
	tb.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.keptPage = true`))
	tb.click(button("Resolve"))
	tb.waitFor("the row resolved", `document.querySelector('`+row+` [data-testid="alert-status"]')?.innerText.trim() === "Resolved"`)
	tb.waitFor("the badge gone", `document.querySelector('[data-testid="nav-alerts-badge"]') === null && document.querySelector('[data-testid="nav-alerts"]') !== null`)
	if !evalJS[bool](tb, `window.keptPage === true`) {
		t.Error("resolving navigated; want the row swapped in place")
	}
	if got := a.alertStatus(id); got != db.AlertResolved {
		t.Errorf("stored status: got %q, want resolved", got)
	}
	tb.open("/alerts?status=resolved")
	if got := tb.text(chromedp.CSS(row + ` [data-testid="alert-status"]`)); got != "Resolved" {
		t.Errorf("under status=resolved: got %q, want the alert, Resolved", got)
	}
	if n := tb.count(`[data-testid="nav-alerts-badge"]`); n != 0 {
		t.Errorf("badge after resolving: got %d, want none", n)
	}
}

// seedAlerts gives owner's keys alerts of several rules, as the tour and
// the screenshots show them: a dead key still tried from three addresses,
// a spike, a new network (acknowledged by the owner), a leak report, and a
// resolved use after dormancy. Keys are taken in list order, round robin.
func seedAlerts(t *testing.T, a *testApp, owner string) {
	t.Helper()
	ctx := context.Background()
	u, err := a.store.GetUserByEmail(ctx, owner)
	if err != nil {
		t.Fatalf("seed alerts: %v", err)
	}
	keys, err := a.store.ListKeys(ctx, db.VisibleTo(u.ID), db.KeyFilter{})
	if err != nil || len(keys) == 0 {
		t.Fatalf("seed alerts: %d keys of %s, %v", len(keys), owner, err)
	}
	hour := a.clock.Now().Add(-2*time.Hour).Unix() / 3600
	findings := []struct {
		rule, summary string
		evidence      map[string]any
		then          string // "", "acknowledge" or "resolve"
	}{
		{db.RuleDormantUse, "Used again after 94 days without use", map[string]any{"dormant_days": 94, "addresses": []string{"192.0.2.44"}}, "resolve"},
		{db.RuleNewNetwork, "First use from the network 198.51.100.0/24", map[string]any{"network": "198.51.100.0/24", "addresses": []string{"198.51.100.23"}}, "acknowledge"},
		{db.RuleLeakReported, "Reported as leaked: found in a public repository", map[string]any{"source": "GitHub secret scanning", "url": "https://github.com/acme/shop/blob/main/.env"}, ""},
		{db.RuleSpike, "Traffic spike: 5,210 uses in an hour, typically 140", map[string]any{"uses": 5210, "typical_hour": 140, "hour": hour}, ""},
		{db.RuleDeadKey, "A revoked key is still being used — 1,204 attempts from 3 addresses",
			map[string]any{"attempts": 1204, "addresses": []string{"203.0.113.7", "198.51.100.23", "2001:db8:4f2a::17"}}, ""},
	}
	by := db.Actor{UserID: u.ID, Label: u.Email}
	for i, f := range findings {
		a.clock.Advance(7 * time.Minute)
		id := a.raiseAlert(f.rule, keys[i%len(keys)], f.summary, f.evidence)
		switch f.then {
		case "acknowledge":
			_, _, err = a.store.AcknowledgeAlert(ctx, db.AnyOwner(), id, by)
		case "resolve":
			_, _, err = a.store.ResolveAlert(ctx, db.AnyOwner(), id, by)
		}
		if err != nil {
			t.Fatalf("seed alert %s: %v", f.rule, err)
		}
	}
}
