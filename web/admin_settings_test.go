package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// settingsForm is a complete, valid settings form: the defaults.
func settingsForm() url.Values {
	return url.Values{"max_key_lifetime_days": {""}, "stale_days": {"90"}, "never_used_days": {"30"},
		"auto_disable_days": {""}, "session_idle_minutes": {""}, "session_absolute_hours": {""}}
}

func TestAdminSettingsSave(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)

	form := settingsForm()
	form.Set("max_key_lifetime_days", "365")
	form.Set("stale_days", "60")
	form.Set("auto_disable_days", "120")
	wantRedirect(t, admin.post("/admin/settings", form), "/admin/settings")
	wantFlash(t, flashes(t, admin, "/admin/settings", "success"), "Settings saved.")

	p, err := a.store.Policy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := db.DefaultPolicy()
	want.MaxKeyLifetime, want.StaleAfter, want.AutoDisableAfter = 365*day, 60*day, 120*day
	if p != want {
		t.Errorf("policy: got %+v, want %+v", p, want)
	}
	doc := admin.get("/admin/settings").doc(t)
	for name, v := range map[string]string{"max_key_lifetime_days": "365", "stale_days": "60", "never_used_days": "30",
		"auto_disable_days": "120", "session_idle_minutes": ""} {
		if got := doc.Find("#s-"+name).AttrOr("value", "?"); got != v {
			t.Errorf("%s on the settings page: got %q, want %q", name, got, v)
		}
	}

	// Each changed rule is one audit event with its old and new value.
	rows := auditRows(t, admin.get("/admin/audit?action=setting.change"))
	var targets []string
	for _, r := range rows {
		targets = append(targets, strings.Split(r, " | ")[3])
		if !strings.Contains(r, "admin@example.com") {
			t.Errorf("setting.change event %q: want the admin as actor", r)
		}
	}
	slices.Sort(targets)
	if want := []string{"auto_disable_days", "max_key_lifetime_days", "stale_days"}; !slices.Equal(targets, want) {
		t.Errorf("setting.change targets: got %v, want %v", targets, want)
	}
	if !slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, "old: 90 · new: 60") }) {
		t.Errorf("setting.change events %q: want the stale threshold's old and new values", rows)
	}

	// Saving the same values again changes nothing and audits nothing.
	wantRedirect(t, admin.post("/admin/settings", form), "/admin/settings")
	if got := len(auditRows(t, admin.get("/admin/audit?action=setting.change"))); got != 3 {
		t.Errorf("setting.change events after an unchanged save: got %d, want 3", got)
	}
}

func TestAdminSettingsInvalid(t *testing.T) {
	a := newTestApp(t)
	d := attackDB(t, a)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	tests := []struct {
		name, field, value string
		also               [2]string // another field to set first, if any
	}{
		{"stale days empty", "stale_days", "", [2]string{}},
		{"stale days not a number", "stale_days", "ninety", [2]string{}},
		{"stale days zero", "stale_days", "0", [2]string{}},
		{"stale days too many", "stale_days", "3651", [2]string{}},
		{"never-used days negative", "never_used_days", "-1", [2]string{}},
		{"never-used days fraction", "never_used_days", "1.5", [2]string{}},
		{"lifetime too long", "max_key_lifetime_days", "4000", [2]string{}},
		{"auto-disable words", "auto_disable_days", "soon", [2]string{}},
		{"idle too short", "session_idle_minutes", "2", [2]string{}},
		{"absolute too long", "session_absolute_hours", "721", [2]string{}},
		{"idle not shorter than absolute", "session_idle_minutes", "120", [2]string{"session_absolute_hours", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := adminState(t, d)
			form := settingsForm()
			if tt.also[0] != "" {
				form.Set(tt.also[0], tt.also[1])
			}
			form.Set(tt.field, tt.value)
			r := admin.post("/admin/settings", form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422", r.StatusCode)
			}
			doc := r.doc(t)
			if strings.TrimSpace(doc.Find(`[data-testid="`+tt.field+`-error"]`).Text()) == "" {
				t.Errorf("no error next to %s", tt.field)
			}
			if got := doc.Find("#s-"+tt.field).AttrOr("value", "?"); got != tt.value {
				t.Errorf("%s re-rendered: got %q, want %q as typed", tt.field, got, tt.value)
			}
			if after := adminState(t, d); after != before {
				t.Errorf("a refused save changed the database: %s", snapshotDiff(before, after))
			}
		})
	}
}

// expiryOptions lists the values of the create form's expiry select.
func expiryOptions(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	r.doc(t).Find(`select[name="expiry"] option`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.AttrOr("value", ""))
	})
	return out
}

func TestAdminMaxKeyLifetime(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	member, _ := a.userBrowser("bob@example.com", db.RoleMember)
	if got := expiryOptions(t, member.get("/keys/new")); !slices.Contains(got, "never") || !slices.Contains(got, "365") {
		t.Fatalf("expiries without a cap: got %v, want every choice", got)
	}

	form := settingsForm()
	form.Set("max_key_lifetime_days", "30")
	wantRedirect(t, admin.post("/admin/settings", form), "/admin/settings")

	if got, want := expiryOptions(t, member.get("/keys/new")), []string{"7", "30", "custom"}; !slices.Equal(got, want) {
		t.Errorf("expiries with a 30-day cap: got %v, want %v", got, want)
	}
	tests := []struct {
		name, expiry, date string
		ok                 bool
	}{
		{"never", "never", "", false},
		{"365 days", "365", "", false},
		{"60 days", "60", "", false},
		{"custom date past the cap", "custom", a.clock.Now().Add(40 * day).Format(time.DateOnly), false},
		{"30 days", "30", "", true},
		{"custom date within the cap", "custom", a.clock.Now().Add(20 * day).Format(time.DateOnly), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := a.countKeys()
			r := member.post("/keys", keyForm("capped "+tt.name, "expiry", tt.expiry, "expiry_date", tt.date))
			if tt.ok {
				if r.StatusCode != http.StatusOK || a.countKeys() != n+1 {
					t.Fatalf("got %d and %d new keys, want 200 and one key", r.StatusCode, a.countKeys()-n)
				}
				return
			}
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422", r.StatusCode)
			}
			if r.doc(t).Find(`[data-testid="expiry-error"], [data-testid="expiry_date-error"]`).Length() == 0 {
				t.Errorf("no field error on the expiry")
			}
			if got := a.countKeys(); got != n {
				t.Errorf("keys: got %d, want %d (none created)", got, n)
			}
		})
	}
}

func TestAdminSessionPolicy(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		a := newTestApp(t)
		admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
		member, _ := a.userBrowser("bob@example.com", db.RoleMember)
		a.clock.Advance(6 * time.Minute) // the configured 30 minutes allow this
		wantSignedIn(t, member, "bob@example.com")

		form := settingsForm()
		form.Set("session_idle_minutes", "5")
		wantRedirect(t, admin.post("/admin/settings", form), "/admin/settings")
		// The session store re-reads the policy every 5 s of the clock.
		for range 3 {
			a.clock.Advance(4 * time.Minute)
			wantSignedIn(t, member, "bob@example.com")
		}
		a.clock.Advance(6 * time.Minute)
		wantSignedOut(t, member)
		wantSignedOut(t, admin)
	})
	t.Run("absolute", func(t *testing.T) {
		a := newTestApp(t)
		admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
		form := settingsForm()
		form.Set("session_absolute_hours", "1")
		wantRedirect(t, admin.post("/admin/settings", form), "/admin/settings")
		member, _ := a.userBrowser("bob@example.com", db.RoleMember)
		for range 5 {
			a.clock.Advance(10 * time.Minute)
			wantSignedIn(t, member, "bob@example.com")
		}
		a.clock.Advance(10 * time.Minute)
		wantSignedOut(t, member)
	})
}

func TestAdminAutoDisableJob(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t, longSessions)
	ann := a.createUser("ann@example.com", db.RoleMember)

	// Day 0: a key never used, one used today, one used tomorrow (day 1).
	never, neverSecret := a.storeKey(ann.ID, db.KeyInput{Name: "never used"})
	usedDay0, day0Secret := a.storeKey(ann.ID, db.KeyInput{Name: "used day 0"})
	usedDay1, day1Secret := a.storeKey(ann.ID, db.KeyInput{Name: "used day 1"})
	recent, recentSecret := a.storeKey(ann.ID, db.KeyInput{Name: "used day 20"})
	revoked, _ := a.storeKey(ann.ID, db.KeyInput{Name: "revoked"})
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), revoked.ID, "gone", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	a.wantCode(day0Secret, "")
	a.flush()
	a.clock.Advance(day)
	a.wantCode(day1Secret, "")
	a.flush()
	a.clock.Advance(19 * day)
	a.wantCode(recentSecret, "")
	a.flush()
	a.clock.Advance(11 * day) // day 31

	// Off by default: nothing changes, however old the keys are.
	a.server.runJobsOnce(ctx)
	for _, k := range []db.Key{never, usedDay0, usedDay1, recent} {
		if got := a.getKey(k.ID).Status(a.clock.Now()); got != db.KeyActive {
			t.Fatalf("%s with auto-disable off: got %s, want active", k.Name, got)
		}
	}

	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	wantRedirect(t, admin.post("/admin/settings", url.Values{"stale_days": {"90"}, "never_used_days": {"30"},
		"auto_disable_days": {"30"}}), "/admin/settings")
	a.server.runJobsOnce(ctx)

	tests := []struct {
		key  db.Key
		want db.KeyStatus
	}{
		{never, db.KeyDisabled},    // created 31 days ago, never used
		{usedDay0, db.KeyDisabled}, // unused for 31 days
		{usedDay1, db.KeyActive},   // unused for exactly 30 days
		{recent, db.KeyActive},     // used 11 days ago
		{revoked, db.KeyRevoked},   // final, untouched
	}
	for _, tt := range tests {
		if got := a.getKey(tt.key.ID).Status(a.clock.Now()); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.key.Name, got, tt.want)
		}
	}
	a.wantCode(neverSecret, "DISABLED")

	r := admin.get("/admin/audit?action=key.disable")
	rows := auditRows(t, r)
	if len(rows) != 2 {
		t.Fatalf("key.disable events: got %d (%v), want 2", len(rows), rows)
	}
	for _, row := range rows {
		if !strings.Contains(row, "unused for 30 days (auto-disable)") || !strings.Contains(row, "system") {
			t.Errorf("auto-disable event: got %q, want actor system and the reason", row)
		}
	}

	// A second run finds nothing more to do and writes no more events.
	a.server.runJobsOnce(ctx)
	if got := len(auditRows(t, admin.get("/admin/audit?action=key.disable"))); got != 2 {
		t.Errorf("key.disable events after a second run: got %d, want 2", got)
	}
}

func TestKeyNotices(t *testing.T) {
	a := newTestApp(t)
	bob := a.createUser("bob@example.com", db.RoleMember)
	carol := a.createUser("carol@example.com", db.RoleMember)
	old, _ := a.storeKey(bob.ID, db.KeyInput{Name: "forgotten"})
	a.storeKey(carol.ID, db.KeyInput{Name: "carol's forgotten"})
	a.clock.Advance(40 * day)
	a.storeKey(bob.ID, db.KeyInput{Name: "fresh"})
	member := a.browser()
	member.login("bob@example.com", testPassword)
	other := a.browser()
	other.login("carol@example.com", testPassword)

	notices := func(b *browser, path string) map[string]string {
		out := map[string]string{}
		b.get(path).doc(t).Find(`[data-testid="key-notice"]`).Each(func(_ int, s *goquery.Selection) {
			out[s.AttrOr("data-kind", "")] = s.Find("a").AttrOr("href", "")
		})
		return out
	}
	if got := notices(member, "/keys"); len(got) != 1 || got["stale"] != "/keys?stale=1" {
		t.Errorf("notices with a 40-day-old unused key: got %v, want one stale notice linking to /keys?stale=1", got)
	}
	r := member.get("/keys?stale=1")
	if got := rowNames(r.doc(t)); got != old.Name {
		t.Errorf("/keys?stale=1: got %q, want only %q", got, old.Name)
	}
	if r.doc(t).Find(`[data-testid="key-notice"][data-kind="stale"]`).Length() != 0 {
		t.Errorf("the stale notice shows on the list it links to")
	}

	in3 := a.clock.Now().Add(3 * day)
	if _, _, err := a.store.CreateKey(context.Background(), bob.ID, db.KeyInput{Name: "expiring", ExpiresAt: &in3}, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	got := notices(member, "/keys")
	if got["expiring"] != "/keys?status=expiring" || got["stale"] != "/keys?stale=1" {
		t.Errorf("notices with an expiring key: got %v, want expiring and stale", got)
	}

	// Carol's notices count her keys only.
	if got := notices(other, "/keys"); len(got) != 1 || got["stale"] == "" {
		t.Errorf("carol's notices: got %v, want her own stale notice only", got)
	}
	fresh := a.browser()
	a.createUser("dave@example.com", db.RoleMember)
	fresh.login("dave@example.com", testPassword)
	if got := notices(fresh, "/keys"); len(got) != 0 {
		t.Errorf("notices without keys: got %v, want none", got)
	}
}
