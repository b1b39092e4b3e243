package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// TestAdminKeysOwnerDisabled: a disabled user's keys fail verification with
// DISABLED, and the admin key list, its status filter, the CSV report and
// the key page say "disabled" too (as keys list in the CLI does), with the
// reason next to the owner. Enabling the user gives each key its own status
// back.
func TestAdminKeysOwnerDisabled(t *testing.T) {
	a := newTestApp(t, longSessions)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	bob := a.createUser("bob@example.com", db.RoleMember)
	plain, plainSecret := a.storeKey(bob.ID, db.KeyInput{Name: "bob-plain"})
	off, _ := a.storeKey(bob.ID, db.KeyInput{Name: "bob-off"})
	if _, err := a.store.SetKeyDisabled(context.Background(), db.AnyOwner(), off.ID, true, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}

	type state struct {
		badge  string // the row's status badge
		note   bool   // "Account disabled" beside the owner
		csv    string // status column of the CSV report
		verify string // verification code ("" = valid)
	}
	tests := []struct {
		name   string
		action string // POST /admin/users/{bob}/ACTION
		want   map[int64]state
	}{
		{"owner disabled", "disable", map[int64]state{
			plain.ID: {"disabled", true, "disabled", "DISABLED"},
			off.ID:   {"disabled", true, "disabled", ""},
		}},
		{"owner enabled again", "enable", map[int64]state{
			plain.ID: {"active", false, "active", ""},
			off.ID:   {"disabled", false, "disabled", ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRedirect(t, admin.post("/admin/users/"+itoa(bob.ID)+"/"+tt.action, disableChoice(tt.action)), "/admin/users")
			a.wantCode(plainSecret, tt.want[plain.ID].verify)

			doc := admin.get("/admin/keys?owner=bob%40example.com").doc(t)
			csvRows, err := csv.NewReader(strings.NewReader(admin.get("/admin/keys.csv?owner=bob%40example.com").body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			status := slices.Index(csvRows[0], "status")
			csvStatus := map[string]string{}
			for _, rec := range csvRows[1:] {
				csvStatus[rec[1]] = rec[status]
			}
			for id, want := range tt.want {
				row := doc.Find(`[data-testid="admin-key-row"][data-key-id="` + itoa(id) + `"]`)
				if got := row.Find(`[data-testid="status-badge"]`).First().AttrOr("data-status", ""); got != want.badge {
					t.Errorf("key %d badge: got %q, want %q", id, got, want.badge)
				}
				if got := row.Find(`[data-testid="owner-disabled"]`).Length() == 1; got != want.note {
					t.Errorf("key %d owner note: got %v, want %v", id, got, want.note)
				}
				if got := csvStatus[itoa(id)]; got != want.csv {
					t.Errorf("key %d CSV status: got %q, want %q", id, got, want.csv)
				}
			}
			for _, status := range []string{"active", "disabled"} {
				var want []int64
				for id, st := range tt.want {
					if st.badge == status {
						want = append(want, id)
					}
				}
				slices.Sort(want)
				got := adminKeyIDs(t, admin.get("/admin/keys?owner=bob%40example.com&status="+status))
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("status=%s: got %v, want %v", status, got, want)
				}
			}

			// The key page explains why, and offers no "Enable key" that
			// could not help.
			page := admin.get("/keys/" + itoa(plain.ID)).doc(t)
			if got, want := page.Find(`[data-testid="owner-disabled-note"]`).Length() == 1, tt.want[plain.ID].note; got != want {
				t.Errorf("key page owner note: got %v, want %v", got, want)
			}
			if got := page.Find(`[data-testid="enable-form"]`).Length(); got != 0 {
				t.Errorf("key page of a key not disabled itself: got %d enable forms, want 0", got)
			}
			if got := page.Find(`[data-testid="disable-form"]`).Length(); got != 1 {
				t.Errorf("key page of a key not disabled itself: got %d disable forms, want 1", got)
			}
		})
	}
}

// TestAdminPagesPastEnd: a page number beyond the last page (a bookmark of
// a list that has since shrunk) says so and links back, instead of the "no
// keys" or "no events" empty state, which would mislead.
func TestAdminPagesPastEnd(t *testing.T) {
	a := newTestApp(t, longSessions)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleMember)
	for i := range 60 {
		a.storeKey(ann.ID, db.KeyInput{Name: "key " + strconv.Itoa(i)})
	}
	tests := []struct {
		name      string
		path      string
		rows      int    // table rows
		title     string // empty state's title, "" for none
		message   string // empty state's text contains this
		firstLink string // data-testid=page-first href
		lastLink  string // data-testid=page-last href
	}{
		{"last page", "/admin/keys?page=2", 10, "", "", "", ""},
		{"past the end", "/admin/keys?page=3", 0, "No results on this page",
			"Page 3 is past the end of this list: its 60 results fit on 2 pages.", "/admin/keys?page=1", "/admin/keys?page=2"},
		{"far past the end, filtered", "/admin/keys?owner=ann%40example.com&page=99", 0, "No results on this page",
			"Page 99 is past the end", "/admin/keys?owner=ann%40example.com&page=1", "/admin/keys?owner=ann%40example.com&page=2"},
		{"past the end of one page", "/admin/keys?q=key+1&page=2", 0, "No results on this page",
			"its 11 results fit on 1 page.", "/admin/keys?q=key+1&page=1", ""},
		{"filter without matches", "/admin/keys?q=nothing&page=2", 0, "No keys match these filters", "", "", ""},
		{"first page of nothing", "/admin/keys?q=nothing", 0, "No keys match these filters", "", "", ""},
		{"stale review past the end", "/admin/keys?stale=1&page=2", 0, "No stale keys", "", "", ""},
		{"audit: older than the oldest", "/admin/audit?before=1", 0, "No older events",
			"past the end of the log", "/admin/audit", ""},
		{"audit: filtered, older than the oldest", "/admin/audit?action=user.create&before=1", 0, "No older events",
			"past the end of the log", "/admin/audit?action=user.create", ""},
		{"audit: filter without matches", "/admin/audit?action=key.revoke", 0, "No events match these filters", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.get(tt.path)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: got %d, want 200", tt.path, r.StatusCode)
			}
			doc := r.doc(t)
			if rows := doc.Find(`[data-testid="admin-key-row"], [data-testid="audit-row"]`).Length(); rows != tt.rows {
				t.Errorf("rows: got %d, want %d", rows, tt.rows)
			}
			empty := doc.Find(`[data-testid="empty-state"]`)
			if got := strings.TrimSpace(empty.Find("h2").Text()); got != tt.title {
				t.Errorf("empty state: got %q, want %q", got, tt.title)
			}
			if got := strings.Join(strings.Fields(empty.Find("p").Text()), " "); !strings.Contains(got, tt.message) {
				t.Errorf("empty state text: got %q, want it to contain %q", got, tt.message)
			}
			if got := doc.Find(`[data-testid="page-first"]`).AttrOr("href", ""); got != tt.firstLink {
				t.Errorf("first-page link: got %q, want %q", got, tt.firstLink)
			}
			if got := doc.Find(`[data-testid="page-last"]`).AttrOr("href", ""); got != tt.lastLink {
				t.Errorf("last-page link: got %q, want %q", got, tt.lastLink)
			}
			for _, link := range []string{tt.firstLink, tt.lastLink} {
				if link == "" {
					continue
				}
				if n := admin.get(link).doc(t).Find(`[data-testid="admin-key-row"], [data-testid="audit-row"]`).Length(); n == 0 {
					t.Errorf("the link %s shows nothing", link)
				}
			}
		})
	}
}

// TestAdminSettingsSessionDefaults: the session fields say what an empty
// value means, the server's configured timeout, tied to the field for
// screen readers.
func TestAdminSettingsSessionDefaults(t *testing.T) {
	tests := []struct {
		name              string
		opt               appOption
		idle, absolute    string
		wantIdle, wantAbs string
	}{
		{"built-in defaults", nil, "", "",
			"Default: 30 minutes when empty (the server’s --session-idle option).",
			"Default: 12 hours when empty (the server’s --session-absolute option)."},
		{"configured", func(c *Config) { c.SessionIdle = 90 * time.Minute; c.SessionAbsolute = 2 * day }, "", "",
			"Default: 90 minutes when empty (the server’s --session-idle option).",
			"Default: 2 days when empty (the server’s --session-absolute option)."},
		{"overridden by the policy", nil, "15", "8",
			"Default: 30 minutes when empty (the server’s --session-idle option).",
			"Default: 12 hours when empty (the server’s --session-absolute option)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []appOption
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			a := newTestApp(t, opts...)
			admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
			if tt.idle != "" {
				form := settingsForm()
				form.Set("session_idle_minutes", tt.idle)
				form.Set("session_absolute_hours", tt.absolute)
				wantRedirect(t, admin.post("/admin/settings", form), "/admin/settings")
			}
			pages := map[string]response{"GET": admin.get("/admin/settings")}
			bad := settingsForm()
			bad.Set("stale_days", "")
			pages["refused POST"] = admin.post("/admin/settings", bad)
			for page, r := range pages {
				doc := r.doc(t)
				for field, want := range map[string]string{"session_idle_minutes": tt.wantIdle, "session_absolute_hours": tt.wantAbs} {
					hint := doc.Find(`[data-testid="` + field + `-default"]`)
					if got := strings.TrimSpace(hint.Text()); got != want {
						t.Errorf("%s: %s hint: got %q, want %q", page, field, got, want)
					}
					id := hint.AttrOr("id", "")
					described := strings.Fields(doc.Find("#s-"+field).AttrOr("aria-describedby", ""))
					if id == "" || !slices.Contains(described, id) || !slices.Contains(described, field+"-help") {
						t.Errorf("%s: %s aria-describedby %q: want it to name %q and %q", page, field, described, field+"-help", id)
					}
					if got := doc.Find(`label[for="s-` + field + `"]`).Length(); got != 1 {
						t.Errorf("%s: %s labels: got %d, want 1", page, field, got)
					}
				}
				if got := doc.Find(`[data-testid="stale_days-default"]`).Length(); got != 0 {
					t.Errorf("%s: a default hint on a field that must be filled in", page)
				}
			}
		})
	}
}
