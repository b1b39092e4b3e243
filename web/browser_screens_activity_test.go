package web

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// seedRefusals gives the showcase's billing key a week of refused calls, as
// the recorder's flush would leave them: a worker deployed with a key
// lacking a scope, then a few calls after a teammate's expired key was
// pasted in its place. Its key page shows them stacked in red, with the
// last refusal.
func seedRefusals(t *testing.T, a *testApp, billing int64) {
	t.Helper()
	writeRefusals(t, a, billing, a.clock.Now().Add(-42*time.Minute), "10.0.4.23", "billing-worker/2.4 (go1.26)", "INSUFFICIENT_SCOPE",
		map[int]map[string]int64{
			6: {"INSUFFICIENT_SCOPE": 4}, 5: {"INSUFFICIENT_SCOPE": 19}, 4: {"INSUFFICIENT_SCOPE": 31, "EXPIRED": 3},
			2: {"EXPIRED": 12}, 1: {"INSUFFICIENT_SCOPE": 8}, 0: {"INSUFFICIENT_SCOPE": 26, "EXPIRED": 2},
		})
}

// shootActivity takes the settings page's Unusual activity card as an
// admin sees it.
func shootActivity(tb *tab, vp viewport, shootPart func(viewport, string, chromedp.CSS)) {
	tb.t.Helper()
	tb.clearCookies()
	tb.login("grace@acme.dev", testPassword)
	tb.open("/admin/settings")
	shootPart(vp, "admin-settings-activity", testID("settings-activity"))
}
