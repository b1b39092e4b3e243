package web

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
)

const day = 24 * time.Hour

// longSessions keeps browsers signed in across the clock jumps of the
// stale-key tests, which move time by months.
func longSessions(c *Config) {
	c.SessionIdle = 400 * day
	c.SessionAbsolute = 800 * day
}

// adminState renders everything an admin route can change: users, keys,
// sessions, the policy, invite and reset links, the audit log's size, and
// the notifications' endpoints, events and deliveries.
func adminState(t *testing.T, d *sql.DB) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(snapshot(t, d))
	for _, q := range []string{
		`SELECT name, value FROM settings ORDER BY name`,
		`SELECT id, kind, email, role, COALESCE(used_at, 0) FROM user_tokens ORDER BY id`,
		// An export is recorded (audit.export) but changes nothing.
		`SELECT COUNT(*) FROM audit_events WHERE action <> 'audit.export'`,
		`SELECT name, description, grant_role, needs_approval, COALESCE(retired_at, 0) FROM scopes ORDER BY id`,
		`SELECT id, scopes, pending_scopes, pending_key, COALESCE(revoked_at, 0) FROM api_keys ORDER BY id`,
		// Notifications: an endpoint's secret (a roll), the events a test
		// send makes, and the deliveries a resend puts back in the queue.
		`SELECT id, url, event_types, hex(secret), COALESCE(disabled_at, 0), COALESCE(failing_since, 0)
			FROM webhook_endpoints ORDER BY id`,
		`SELECT COUNT(*) FROM outbox_events`,
		`SELECT id, status, attempts, next_attempt_at FROM outbox_deliveries ORDER BY id`,
	} {
		rows, err := d.Query(q)
		if err != nil {
			t.Fatalf("state %q: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

// flashes returns the texts of the flash messages of kind on the page at
// path (the page that follows a redirect shows them once).
func flashes(t *testing.T, b *browser, path, kind string) []string {
	t.Helper()
	r := b.get(path)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got %d, want 200", path, r.StatusCode)
	}
	var out []string
	r.doc(t).Find(`[data-testid="flash"][data-kind="` + kind + `"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.Join(strings.Fields(s.Text()), " "))
	})
	return out
}

// wantRedirect fails unless r is a 303 to location.
func wantRedirect(t *testing.T, r response, location string) {
	t.Helper()
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != location {
		t.Fatalf("got %d Location %q, want 303 %s; body %.300s", r.StatusCode, r.Header.Get("Location"), location, r.body)
	}
}

// adminRoute is one row of the admin authorization table. pattern is the
// route as registered; path is what is requested.
type adminRoute struct {
	method, pattern, path string
	form                  url.Values
	adminStatus           int
}

func TestAdminAuthorization(t *testing.T) {
	a := newTestApp(t)
	d := attackDB(t, a)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	member, _ := a.userBrowser("member@example.com", db.RoleMember)
	auditor, _ := a.userBrowser("auditor@example.com", db.RoleAuditor)
	target := a.createUser("target@example.com", db.RoleMember)
	key, _ := a.storeKey(target.ID, db.KeyInput{Name: "target key"})
	user := "/admin/users/" + itoa(target.ID)
	approved, denied := pendingKeys(t, a, target)
	dbtest.Catalog(t, a.store, "authz:existing") // for the readers' GET, before the admin's POSTs
	settings := url.Values{"max_key_lifetime_days": {"365"}, "stale_days": {"60"}, "never_used_days": {"20"},
		"auto_disable_days": {""}, "session_idle_minutes": {""}, "session_absolute_hours": {""}}

	hook, delivery := webhookWithDelivery(t, a)

	// In the order the admin runs them, so each action has something to do.
	routes := []adminRoute{
		{"GET", "/admin", "/admin", nil, 200},
		{"GET", "/admin/users", "/admin/users", nil, 200},
		{"GET", "/admin/keys", "/admin/keys?stale=1", nil, 200},
		{"GET", "/admin/keys.csv", "/admin/keys.csv", nil, 200},
		{"GET", "/admin/settings", "/admin/settings", nil, 200},
		{"GET", "/admin/audit", "/admin/audit", nil, 200},
		{"GET", "/admin/audit.csv", "/admin/audit.csv", nil, 200},
		{"GET", "/admin/audit.jsonl", "/admin/audit.jsonl", nil, 200},
		{"POST", "/admin/invites", "/admin/invites", url.Values{"email": {"new@example.com"}, "role": {"member"}}, 200},
		// The invite above is link 1; its new link is 2.
		{"POST", "/admin/invites/:id/renew", "/admin/invites/1/renew", nil, 200},
		{"POST", "/admin/invites/:id/revoke", "/admin/invites/2/revoke", nil, 303},
		{"POST", "/admin/users/:id/disable", user + "/disable", disableChoice("disable"), 303},
		{"POST", "/admin/users/:id/enable", user + "/enable", nil, 303},
		{"POST", "/admin/users/:id/role", user + "/role", url.Values{"role": {"auditor"}}, 303},
		{"POST", "/admin/users/:id/sessions/end", user + "/sessions/end", nil, 303},
		{"POST", "/admin/users/:id/reset-link", user + "/reset-link", nil, 200},
		{"POST", "/admin/users/:id/reset-factors", user + "/reset-factors", url.Values{"confirm": {"1"}}, 303},
		{"POST", "/admin/keys/bulk", "/admin/keys/bulk", url.Values{"action": {"revoke"}, "id": {itoa(key.ID)},
			"confirm": {"1"}, "reason": {"authorization test"}}, 303},
		{"POST", "/admin/settings", "/admin/settings", settings, 303},
		{"POST", "/admin/signin-settings", "/admin/signin-settings", url.Values{"require_mfa": {"0"}, "reauth_minutes": {"15"}}, 303},
		{"POST", "/admin/activity-settings", "/admin/activity-settings", url.Values{"alert_spike_factor": {"6"},
			"alert_spike_min_uses": {"100"}, "alert_dormant_days": {"30"}, "alert_dead_key_min_refusals": {"10"},
			"alert_many_addresses_count": {"20"}}, 303},
		// Without e-mail settings the answer says so (mail_test.go sends).
		{"POST", "/admin/settings/test-email", "/admin/settings/test-email", url.Values{"to": {"admin@example.com"}}, 200},
		// The "Leaked keys" card (leaks_admin_test.go).
		{"POST", "/admin/secret-scanning", "/admin/secret-scanning", url.Values{"leak_action": {"disable"}}, 303},
		// The scope catalog (catalog_test.go) and approval requests.
		{"GET", "/admin/scopes", "/admin/scopes", nil, 200},
		{"POST", "/admin/scopes", "/admin/scopes", url.Values{"name": {"authz:test"}, "grant": {"member"}}, 303},
		{"GET", "/admin/scopes/:name", "/admin/scopes/authz:existing", nil, 200},
		{"POST", "/admin/scopes/:name", "/admin/scopes/authz:test", url.Values{"description": {"d"}, "grant": {"admin"}}, 303},
		{"POST", "/admin/scopes/:name/rename", "/admin/scopes/authz:test/rename", url.Values{"new_name": {"authz:renamed"}}, 303},
		{"POST", "/admin/scopes/:name/retire", "/admin/scopes/authz:renamed/retire", nil, 303},
		{"POST", "/admin/scopes/:name/restore", "/admin/scopes/authz:renamed/restore", nil, 303},
		{"POST", "/admin/scope-settings", "/admin/scope-settings", url.Values{"allow": {"1"}}, 303},
		{"GET", "/admin/requests", "/admin/requests", nil, 200},
		{"POST", "/admin/requests/:id/approve", "/admin/requests/" + itoa(approved.ID) + "/approve", nil, 303},
		{"POST", "/admin/requests/:id/deny", "/admin/requests/" + itoa(denied.ID) + "/deny", url.Values{"reason": {"no"}}, 303},
		// Webhook endpoints (admin_webhooks_test.go). The add makes
		// endpoint hook+1, which the last route deletes.
		{"GET", "/admin/webhooks", "/admin/webhooks", nil, 200},
		{"GET", "/admin/webhooks/new", "/admin/webhooks/new", nil, 200},
		{"GET", "/admin/webhooks/:id", "/admin/webhooks/" + itoa(hook), nil, 200},
		{"POST", "/admin/webhooks", "/admin/webhooks", url.Values{"url": {"https://93.184.216.34/in"}, "event_types": {"*"}, "form_token": {"authz-table-add-endpoint"}}, 201},
		{"POST", "/admin/webhook-settings", "/admin/webhook-settings", url.Values{"allow_private": {"1"}}, 303},
		{"POST", "/admin/webhooks/:id", "/admin/webhooks/" + itoa(hook), url.Values{"url": {"https://93.184.216.34/new"},
			"event_types": {db.EventKeyExpired}}, 303},
		{"POST", "/admin/webhooks/:id/test", "/admin/webhooks/" + itoa(hook) + "/test", nil, 303},
		{"POST", "/admin/webhooks/:id/deliveries/:delivery/resend", "/admin/webhooks/" + itoa(hook) + "/deliveries/" +
			itoa(delivery) + "/resend", nil, 303},
		{"POST", "/admin/webhooks/:id/secret", "/admin/webhooks/" + itoa(hook) + "/secret", nil, 200},
		{"POST", "/admin/webhooks/:id/disable", "/admin/webhooks/" + itoa(hook) + "/disable", nil, 303},
		{"POST", "/admin/webhooks/:id/enable", "/admin/webhooks/" + itoa(hook) + "/enable", nil, 303},
		{"POST", "/admin/webhooks/:id/delete", "/admin/webhooks/" + itoa(hook+1) + "/delete", nil, 303},
	}

	t.Run("table covers every admin route", func(t *testing.T) {
		covered := map[string]bool{}
		for _, r := range routes {
			covered[r.method+" "+r.pattern] = true
		}
		n := 0
		for _, r := range a.server.echo.Routes() {
			if (r.Method != http.MethodGet && r.Method != http.MethodPost) || !strings.HasPrefix(r.Path, "/admin") {
				continue
			}
			n++
			if !covered[r.Method+" "+r.Path] {
				t.Errorf("route %s %s: not in the authorization table", r.Method, r.Path)
			}
		}
		if n != len(routes) {
			t.Errorf("admin routes: got %d registered, want %d (the table)", n, len(routes))
		}
	})

	t.Run("anonymous", func(t *testing.T) {
		before := adminState(t, d)
		anon := a.browser()
		for _, rt := range routes {
			if rt.method == http.MethodGet {
				r := anon.get(rt.path)
				if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?next=") {
					t.Errorf("GET %s: got %d Location %q, want 303 to /login?next=…", rt.path, r.StatusCode, r.Header.Get("Location"))
				}
				continue
			}
			// With a valid CSRF token the visitor is sent to sign in...
			r := anon.post(rt.path, maps.Clone(rt.form))
			if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
				t.Errorf("POST %s with a token: got %d Location %q, want 303 /login", rt.path, r.StatusCode, r.Header.Get("Location"))
			}
			// ...and without one the CSRF check refuses first.
			if r := anon.send(http.MethodPost, rt.path, rt.form.Encode(), nil); r.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s without a token: got %d, want 403", rt.path, r.StatusCode)
			}
		}
		if after := adminState(t, d); after != before {
			t.Errorf("anonymous requests changed the database: %s", snapshotDiff(before, after))
		}
	})

	t.Run("member", func(t *testing.T) {
		before := adminState(t, d)
		for _, rt := range routes {
			t.Run(rt.method+" "+rt.pattern, func(t *testing.T) {
				var r response
				if rt.method == http.MethodGet {
					r = member.get(rt.path)
				} else {
					r = member.post(rt.path, maps.Clone(rt.form))
				}
				wantErrorPage(t, r, http.StatusForbidden)
				if strings.Contains(r.body, "target@example.com") || strings.Contains(r.body, "target key") {
					t.Errorf("403 page shows admin data")
				}
			})
		}
		if after := adminState(t, d); after != before {
			t.Errorf("member requests changed the database: %s", snapshotDiff(before, after))
		}
		wantSignedIn(t, member, "member@example.com")
	})

	t.Run("auditor", func(t *testing.T) { wantAuditorReadOnly(t, d, auditor, routes) })

	t.Run("admin", func(t *testing.T) {
		for _, rt := range routes {
			var r response
			if rt.method == http.MethodGet {
				r = admin.get(rt.path)
			} else {
				r = admin.post(rt.path, maps.Clone(rt.form))
			}
			if r.StatusCode != rt.adminStatus {
				t.Errorf("%s %s: got %d, want %d; body %.300s", rt.method, rt.path, r.StatusCode, rt.adminStatus, r.body)
			}
		}
		if got := a.getKey(key.ID).Status(a.clock.Now()); got != db.KeyRevoked {
			t.Errorf("key after the admin's bulk revoke: got %s, want revoked", got)
		}
		if got := a.getKey(approved.ID); got.PendingKey || len(got.PendingScopes) != 0 {
			t.Errorf("approved key: got pending %v %v, want nothing pending", got.PendingKey, got.PendingScopes)
		}
		if got := a.getKey(denied.ID); got.RevokedAt == nil {
			t.Errorf("denied key: got not revoked, want revoked")
		}
		if p, _ := a.store.Policy(context.Background()); p.StaleAfter != 60*day {
			t.Errorf("stale threshold after the admin's save: got %v, want 60 days", p.StaleAfter)
		}
	})

	t.Run("demoted admin loses access on the next request", func(t *testing.T) {
		other, u := a.userBrowser("second@example.com", db.RoleAdmin)
		if r := other.get("/admin"); r.StatusCode != http.StatusOK {
			t.Fatalf("GET /admin as the second admin: got %d, want 200", r.StatusCode)
		}
		wantRedirect(t, admin.post("/admin/users/"+itoa(u.ID)+"/role", url.Values{"role": {"member"}}), "/admin/users")
		wantErrorPage(t, other.get("/admin"), http.StatusForbidden)
		wantErrorPage(t, other.post("/admin/users/"+itoa(target.ID)+"/disable", nil), http.StatusForbidden)
	})
}

func TestAdminOverview(t *testing.T) {
	a := newTestApp(t, longSessions)
	ctx := context.Background()
	ann := a.createUser("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)

	// 100 days ago: one key used then (stale now), one never used (stale).
	_, usedOld := a.storeKey(ann.ID, db.KeyInput{Name: "used long ago"})
	a.wantCode(usedOld, "")
	a.storeKey(bob.ID, db.KeyInput{Name: "forgotten"})
	a.flush()
	a.clock.Advance(100 * day)

	// Now: a fresh unused key, one expiring in 5 days, one in 20 days,
	// one disabled and one revoked.
	_, fresh := a.storeKey(ann.ID, db.KeyInput{Name: "fresh"})
	in5 := a.clock.Now().Add(5 * day)
	_, soon := a.storeKey(bob.ID, db.KeyInput{Name: "expiring", ExpiresAt: &in5})
	in20 := a.clock.Now().Add(20 * day)
	a.storeKey(bob.ID, db.KeyInput{Name: "later", ExpiresAt: &in20})
	dis, _ := a.storeKey(bob.ID, db.KeyInput{Name: "disabled"})
	if _, err := a.store.SetKeyDisabled(ctx, db.AnyOwner(), dis.ID, true, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	rev, _ := a.storeKey(bob.ID, db.KeyInput{Name: "revoked"})
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), rev.ID, "test", db.CLIActor()); err != nil {
		t.Fatal(err)
	}

	// Verifications: 3 now, 4 two hours later; one refused call, which is
	// not a successful verification.
	for range 3 {
		a.wantCode(fresh, "")
	}
	a.flush()
	a.clock.Advance(2 * time.Hour)
	for range 4 {
		a.wantCode(soon, "")
	}
	a.wantCode(rev.Hint, "MALFORMED")
	a.flush()

	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	r := admin.get("/admin")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin: got %d, want 200", r.StatusCode)
	}
	doc := r.doc(t)
	tests := []struct {
		id, href, value string
	}{
		{"users", "/admin/users", "3"},
		// used long ago, forgotten, fresh, expiring, later.
		{"active", "/admin/keys?status=active", "5"},
		{"stale", "/admin/keys?stale=1", "2"},
		// forgotten and later (fresh and expiring were used).
		{"never-used", "/admin/keys?never_used=1&status=active", "2"},
		{"expiring", "/admin/keys?status=expiring", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			card := doc.Find(`[data-testid="stat-` + tt.id + `"]`)
			if got := strings.TrimSpace(card.Find(`[data-testid="stat-value"]`).Text()); got != tt.value {
				t.Errorf("value: got %q, want %q", got, tt.value)
			}
			if got := card.AttrOr("href", ""); got != tt.href {
				t.Errorf("link: got %q, want %q", got, tt.href)
			}
			// The card agrees with the list it links to.
			if tt.id != "users" {
				list := admin.get(tt.href)
				if got := strconv.Itoa(list.doc(t).Find(`[data-testid="admin-key-row"]`).Length()); got != tt.value {
					t.Errorf("rows of %s: got %s, want %s", tt.href, got, tt.value)
				}
			}
		})
	}
	if got := strings.Join(strings.Fields(doc.Find(`[data-testid="verifications-total"]`).Text()), " "); got != "7 successful" {
		t.Errorf("verifications in 24 hours: got %q, want %q", got, "7 successful")
	}
	if doc.Find(`[data-testid="review-stale"]`).AttrOr("href", "") != "/admin/keys?stale=1" {
		t.Errorf("no prominent link to the stale review")
	}

	// The chart: 24 hourly rows, the last one the current hour.
	var counts []string
	doc.Find(`[data-testid="hour-table"] tbody tr`).Each(func(_ int, s *goquery.Selection) {
		counts = append(counts, strings.TrimSpace(s.Find("td").Eq(1).Text()))
	})
	if len(counts) != 24 {
		t.Fatalf("hour table: got %d rows, want 24", len(counts))
	}
	want := make([]string, 24)
	for i := range want {
		want[i] = "0"
	}
	want[21], want[23] = "3", "4"
	if strings.Join(counts, ",") != strings.Join(want, ",") {
		t.Errorf("hourly counts: got %v, want %v", counts, want)
	}
	if doc.Find(`[data-testid="hour-svg"] rect`).Length() != 24 {
		t.Errorf("chart bars: got %d, want 24", doc.Find(`[data-testid="hour-svg"] rect`).Length())
	}
	if doc.Find(`[data-testid="recent-events"] [data-testid="event-row"]`).Length() == 0 {
		t.Errorf("recent security events: got none, want the latest events")
	}
}

// auditRows returns each audit table row as its cells' texts joined by
// " | ", whitespace folded.
func auditRows(t *testing.T, r response) []string {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("audit page: got %d, want 200; body %.300s", r.StatusCode, r.body)
	}
	var out []string
	r.doc(t).Find(`[data-testid="audit-row"]`).Each(func(_ int, row *goquery.Selection) {
		var cells []string
		row.Find("td").Each(func(_ int, td *goquery.Selection) {
			cells = append(cells, strings.Join(strings.Fields(td.Text()), " "))
		})
		out = append(out, strings.Join(cells, " | "))
	})
	return out
}
