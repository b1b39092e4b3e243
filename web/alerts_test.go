package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// raiseAlert opens an alert of rule on key k through the store, as the
// anomaly job or a leak report would, and returns its id.
func (a *testApp) raiseAlert(rule string, k db.Key, summary string, evidence map[string]any) int64 {
	a.t.Helper()
	id, _, err := a.store.RaiseAlert(context.Background(), db.AlertFinding{Rule: rule, KeyID: k.ID,
		Summary: summary, Evidence: evidence})
	if err != nil {
		a.t.Fatalf("raise %s on key %d: %v", rule, k.ID, err)
	}
	return id
}

// alertStatus is an alert's status as stored.
func (a *testApp) alertStatus(id int64) string {
	a.t.Helper()
	al, err := a.store.GetAlert(context.Background(), db.AnyOwner(), id)
	if err != nil {
		a.t.Fatalf("alert %d: %v", id, err)
	}
	return al.Status
}

// alertRowIDs are the ids of the alert rows on a page.
func alertRowIDs(d *goquery.Document) []string {
	var ids []string
	d.Find(`[data-testid="alert-row"]`).Each(func(_ int, s *goquery.Selection) {
		ids = append(ids, s.AttrOr("data-id", ""))
	})
	return ids
}

// alertRoutes are every /alerts route; the matrix below checks it against
// the router, so a new one fails until it is covered.
var alertRoutes = []string{"GET /alerts", "POST /alerts/:id/acknowledge", "POST /alerts/:id/resolve"}

// TestAlertRoutesAuthorization: every role × every alert route, on an
// alert of the payments team's key (maint maintains the team, member is in
// it) and on one of other's personal key. Readers (the auditor, and the
// team's member for the team key) see the alert but get 403 when they
// act; someone who cannot see it gets 404; a visitor is sent to sign in.
// Refused, the alert is unchanged; allowed, it moved.
func TestAlertRoutesAuthorization(t *testing.T) {
	t.Run("matrix covers every alert route", func(t *testing.T) {
		f := newTeamFixture(t)
		n := 0
		for _, r := range f.a.server.echo.Routes() {
			if (r.Method != http.MethodGet && r.Method != http.MethodPost) || !strings.HasPrefix(r.Path, "/alerts") {
				continue
			}
			n++
			if !slices.Contains(alertRoutes, r.Method+" "+r.Path) {
				t.Errorf("route %s %s: not in the alert authorization matrix", r.Method, r.Path)
			}
		}
		if n != len(alertRoutes) {
			t.Errorf("alert routes: got %d registered, want %d", n, len(alertRoutes))
		}
	})

	t.Run("list", func(t *testing.T) {
		f := newTeamFixture(t)
		pay := f.a.raiseAlert(db.RuleSpike, f.payKey, "A spike", nil)
		other := f.a.raiseAlert(db.RuleDeadKey, f.otherKey, "A dead key", nil)
		want := map[string][]string{
			"admin": {itoa(other), itoa(pay)}, "auditor": {itoa(other), itoa(pay)},
			"maintainer": {itoa(pay)}, "member": {itoa(pay)}, "other member": {itoa(other)},
		}
		for role, ids := range want {
			r := f.browsers[role].get("/alerts")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("%s: GET /alerts got %d, want 200", role, r.StatusCode)
			}
			d := r.doc(t)
			if got := alertRowIDs(d); !slices.Equal(got, ids) {
				t.Errorf("%s sees alerts %v, want %v", role, got, ids)
			}
			if got := d.Find(`[data-testid="nav-alerts-badge"]`).Text(); got != itoa(int64(len(ids))) {
				t.Errorf("%s's badge: got %q, want %d", role, got, len(ids))
			}
		}
		// Buttons only where the person may act.
		buttons := map[string]int{"admin": 2, "auditor": 0, "maintainer": 1, "member": 0, "other member": 1}
		for role, n := range buttons {
			d := f.browsers[role].get("/alerts").doc(t)
			if got := d.Find(`[data-testid="alert-resolve"]`).Length(); got != n {
				t.Errorf("%s: got %d Resolve buttons, want %d", role, got, n)
			}
		}
		if r := f.a.browser().get("/alerts"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("signed out: got %d %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
		}
	})

	const signedOut = 0
	alerts := []struct {
		name string
		key  func(f *teamFixture) db.Key
		want map[string]int
	}{
		{"team key", func(f *teamFixture) db.Key { return f.payKey }, map[string]int{
			"admin": http.StatusSeeOther, "maintainer": http.StatusSeeOther, "member": http.StatusForbidden,
			"other member": http.StatusNotFound, "auditor": http.StatusForbidden, "signed out": signedOut}},
		{"personal key", func(f *teamFixture) db.Key { return f.otherKey }, map[string]int{
			"admin": http.StatusSeeOther, "other member": http.StatusSeeOther, "maintainer": http.StatusNotFound,
			"member": http.StatusNotFound, "auditor": http.StatusForbidden, "signed out": signedOut}},
	}
	for _, al := range alerts {
		for _, action := range []string{"acknowledge", "resolve"} {
			for role, want := range al.want {
				t.Run(al.name+"/"+action+"/"+role, func(t *testing.T) {
					f := newTeamFixture(t)
					id := f.a.raiseAlert(db.RuleSpike, al.key(f), "A spike", nil)
					r := f.browsers[role].post("/alerts/"+itoa(id)+"/"+action, nil)
					status := f.a.alertStatus(id)
					switch want {
					case signedOut:
						if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
							t.Errorf("got %d %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
						}
					default:
						if r.StatusCode != want {
							t.Errorf("got %d, want %d", r.StatusCode, want)
						}
					}
					wantStatus := db.AlertOpen
					if want == http.StatusSeeOther {
						wantStatus = map[string]string{"acknowledge": db.AlertAcknowledged, "resolve": db.AlertResolved}[action]
					}
					if status != wantStatus {
						t.Errorf("alert status after: got %q, want %q", status, wantStatus)
					}
				})
			}
		}
	}

	t.Run("forged POST without the CSRF token", func(t *testing.T) {
		f := newTeamFixture(t)
		id := f.a.raiseAlert(db.RuleSpike, f.payKey, "A spike", nil)
		for _, action := range []string{"acknowledge", "resolve"} {
			r := f.adminB.post("/alerts/"+itoa(id)+"/"+action, url.Values{"_csrf": {"forged"}})
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("%s with a forged token: got %d, want 403", action, r.StatusCode)
			}
		}
		if got := f.a.alertStatus(id); got != db.AlertOpen {
			t.Errorf("alert after forged posts: got %q, want open", got)
		}
	})
}

// TestAlertsPage: the list shows each alert's rule, key, owner, summary
// and evidence; filters narrow it; the empty state says nothing is wrong;
// the buttons work without JavaScript (back to the filtered list with a
// flash, twice is no error) and with htmx (the row and the badge swapped);
// the key page links to the key's alerts.
func TestAlertsPage(t *testing.T) {
	a := newTestApp(t)
	b, ann := a.userBrowser("ann@example.com", db.RoleMember)

	d := b.get("/alerts").doc(t)
	empty := d.Find(`[data-testid="empty-state"]`).Text()
	if !strings.Contains(empty, "nothing is wrong") {
		t.Errorf("empty state: got %q, want it to say nothing is wrong", strings.Join(strings.Fields(empty), " "))
	}
	nav := d.Find(`[data-testid="nav-alerts"]`)
	if got := strings.Join(strings.Fields(nav.Text()), " "); got != "Alerts" || d.Find(`[data-testid="nav-alerts-badge"]`).Length() != 0 {
		t.Errorf("nav with no alerts: got %q and %d badges, want the link alone", got, d.Find(`[data-testid="nav-alerts-badge"]`).Length())
	}

	key, _ := a.storeKey(ann.ID, db.KeyInput{Name: "deploy"})
	other, _ := a.storeKey(ann.ID, db.KeyInput{Name: "backup"})
	dead := a.raiseAlert(db.RuleDeadKey, key, "A revoked key is still being used — 1,204 attempts from 3 addresses",
		map[string]any{"attempts": 1204, "addresses": []string{"203.0.113.7", "198.51.100.23", "2001:db8::1"}})
	a.clock.Advance(60_000_000_000)
	spike := a.raiseAlert(db.RuleSpike, other, "Traffic spike", map[string]any{"uses": 5000, "typical_hour": 40})

	d = b.get("/alerts").doc(t)
	if got, want := alertRowIDs(d), []string{itoa(spike), itoa(dead)}; !slices.Equal(got, want) {
		t.Fatalf("alerts: got %v, want %v (last seen first)", got, want)
	}
	if got := strings.Join(strings.Fields(d.Find(`[data-testid="nav-alerts"]`).Text()), " "); got != "Alerts , 2 open 2" && got != "Alerts, 2 open 2" {
		t.Errorf("nav text: got %q, want it to say 2 open", got)
	}
	row := d.Find(`[data-testid="alert-row"][data-id="` + itoa(dead) + `"]`)
	for name, want := range map[string]string{
		"alert-rule-label":   "Dead key in use",
		"alert-summary":      "A revoked key is still being used — 1,204 attempts from 3 addresses",
		"alert-key-link":     "deploy",
		"alert-owner":        "ann@example.com",
		"evidence-attempts":  "1,204",
		"evidence-addresses": "203.0.113.7198.51.100.232001:db8::1",
		"alert-status":       "Open",
		"alert-occurrences":  "Seen once",
	} {
		if got := strings.TrimSpace(row.Find(`[data-testid="` + name + `"]`).Text()); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	if got := row.Find(`[data-testid="evidence-addresses"] li`).Length(); got != 3 {
		t.Errorf("addresses listed: got %d, want 3", got)
	}
	if n := row.Find("time[datetime]").Length(); n < 2 {
		t.Errorf("first/last seen: got %d <time> elements, want 2", n)
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?rule=dead_key", []string{itoa(dead)}},
		{"?key=" + itoa(other.ID), []string{itoa(spike)}},
		{"?status=resolved", nil},
		{"?status=bogus&rule=bogus&after=garbage", []string{itoa(spike), itoa(dead)}},
	} {
		r := b.get("/alerts" + tc.query)
		if r.StatusCode != http.StatusOK {
			t.Errorf("%s: got %d, want 200", tc.query, r.StatusCode)
			continue
		}
		if got := alertRowIDs(r.doc(t)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.query, got, tc.want)
		}
	}

	// Without JavaScript: back to the list the form was on, with a flash.
	back := "/alerts?rule=dead_key"
	r := b.post("/alerts/"+itoa(dead)+"/acknowledge", url.Values{"back": {back}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != back {
		t.Fatalf("acknowledge: got %d %q, want 303 to %s", r.StatusCode, r.Header.Get("Location"), back)
	}
	d = b.get(back).doc(t)
	if got := d.Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "acknowledged") {
		t.Errorf("flash: got %q, want it to say acknowledged", got)
	}
	if got := d.Find(`[data-testid="alert-status"]`).Text(); got != "Acknowledged" {
		t.Errorf("status after acknowledging: got %q", got)
	}
	r = b.post("/alerts/"+itoa(dead)+"/acknowledge", url.Values{"back": {"https://evil.example/alerts"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/alerts" {
		t.Errorf("twice, with a foreign back: got %d %q, want 303 to /alerts", r.StatusCode, r.Header.Get("Location"))
	}
	if got := b.get("/alerts").doc(t).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "already acknowledged") {
		t.Errorf("flash the second time: got %q, want already acknowledged", got)
	}

	// With htmx: the row comes back, with the navigation item out of band.
	r = b.postWith("/alerts/"+itoa(dead)+"/resolve", url.Values{"back": {"/alerts"}}, http.Header{"Hx-Request": {"true"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("htmx resolve: got %d, want 200", r.StatusCode)
	}
	// A bare <tr> parses only inside a table (htmx parses it in a
	// <template>); the out-of-band elements land beside it either way.
	d, perr := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + r.body + "</tbody></table>"))
	if perr != nil {
		t.Fatal(perr)
	}
	if got := d.Find(`[data-testid="alert-row"] [data-testid="alert-status"]`).Text(); got != "Resolved" {
		t.Errorf("swapped row status: got %q, want Resolved", got)
	}
	if d.Find(`[data-testid="alert-resolve"]`).Length() != 0 {
		t.Error("a resolved row still offers Resolve")
	}
	oob := d.Find(`#nav-alerts[hx-swap-oob]`)
	if got := oob.Find(`[data-testid="nav-alerts-badge"]`).Text(); got != "1" {
		t.Errorf("out-of-band badge: got %q, want 1", got)
	}
	if got := d.Find(`#live-region`).Text(); !strings.Contains(got, "resolved") {
		t.Errorf("live region: got %q", got)
	}

	// The key page: a notice while the key has unresolved alerts.
	d = b.get("/keys/" + itoa(other.ID)).doc(t)
	notice := d.Find(`[data-testid="key-alerts-notice"]`)
	if got := strings.Join(strings.Fields(notice.Text()), " "); !strings.HasPrefix(got, "1 open alert on this key") {
		t.Errorf("key notice: got %q", got)
	}
	if href := notice.Find(`a`).AttrOr("href", ""); href != "/alerts?key="+itoa(other.ID) {
		t.Errorf("key notice link: got %q", href)
	}
	if n := b.get("/keys/" + itoa(key.ID)).doc(t).Find(`[data-testid="key-alerts-notice"]`).Length(); n != 0 {
		t.Errorf("a key with only resolved alerts: got %d notices, want none", n)
	}

	events, err := a.store.ListAudit(context.Background(), db.AuditFilter{TargetType: "key", TargetID: key.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		if strings.HasPrefix(e.Action, "alert.") {
			actions = append(actions, e.Action)
		}
	}
	if want := []string{db.ActionAlertResolve, db.ActionAlertAcknowledge}; !slices.Equal(actions, want) {
		t.Errorf("audit: got %v, want %v (newest first, the repeat not logged)", actions, want)
	}
}
