package web

import (
	"strings"
	"testing"

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
