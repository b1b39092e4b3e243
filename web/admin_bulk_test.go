package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// bulkRowIDs lists the keys a bulk confirmation page says will change.
func bulkRowIDs(t *testing.T, r response) []int64 {
	t.Helper()
	var out []int64
	r.doc(t).Find(`[data-testid="bulk-key-row"]`).Each(func(_ int, s *goquery.Selection) {
		id, _ := strconv.ParseInt(s.AttrOr("data-key-id", ""), 10, 64)
		out = append(out, id)
	})
	return out
}

// confirmForm reads the confirmation form's fields, as a browser would
// submit them, with reason filled in.
func confirmForm(t *testing.T, r response, reason string) url.Values {
	t.Helper()
	form := r.doc(t).Find(`[data-testid="bulk-confirm-form"]`)
	if form.Length() != 1 {
		t.Fatalf("no confirmation form; body %.300s", r.body)
	}
	v := url.Values{}
	form.Find("input[name]").Each(func(_ int, s *goquery.Selection) {
		v.Add(s.AttrOr("name", ""), s.AttrOr("value", ""))
	})
	v.Del("_csrf")
	v.Set("reason", reason)
	return v
}

// bulkKeys creates three stale keys (never used, 31 days old) and one
// fresh key for ann, with their plaintexts.
func bulkKeys(t *testing.T, a *testApp) (keys []db.Key, secrets []string) {
	t.Helper()
	ann := a.createUser("ann@example.com", db.RoleMember)
	for _, name := range []string{"legacy one", "legacy two", "legacy three"} {
		k, s := a.storeKey(ann.ID, db.KeyInput{Name: name})
		keys, secrets = append(keys, k), append(secrets, s)
	}
	a.clock.Advance(31 * day)
	k, s := a.storeKey(ann.ID, db.KeyInput{Name: "fresh"})
	return append(keys, k), append(secrets, s)
}

func wantStatuses(t *testing.T, a *testApp, keys []db.Key, want ...db.KeyStatus) {
	t.Helper()
	for i, k := range keys {
		if got := a.getKey(k.ID).Status(a.clock.Now()); got != want[i] {
			t.Errorf("%s: got %s, want %s", k.Name, got, want[i])
		}
	}
}

func TestAdminBulkRevokeSelected(t *testing.T) {
	a := newTestApp(t)
	d := attackDB(t, a)
	keys, secrets := bulkKeys(t, a)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	one, two, three := keys[0], keys[1], keys[2]
	active := []db.KeyStatus{db.KeyActive, db.KeyActive, db.KeyActive, db.KeyActive}

	// The review lists the three stale keys, each with a checkbox.
	if got := adminKeyIDs(t, admin.get("/admin/keys?stale=1")); !slices.Equal(got, ids(three, two, one)) {
		t.Fatalf("stale review: got %v, want %v", got, ids(three, two, one))
	}

	before := adminState(t, d)
	selected := url.Values{"action": {"revoke"}, "id": {itoa(one.ID), itoa(three.ID)}, "query": {"stale=1"}}
	r := admin.post("/admin/keys/bulk", selected)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("bulk revoke: got %d, want 200 (the confirmation); body %.300s", r.StatusCode, r.body)
	}
	if got := bulkRowIDs(t, r); !slices.Equal(got, ids(one, three)) {
		t.Errorf("confirmation lists: got %v, want exactly %v", got, ids(one, three))
	}
	if got := strings.TrimSpace(r.doc(t).Find(`[data-testid="bulk-confirm"]`).Text()); got != "Revoke 2 keys" {
		t.Errorf("confirm button: got %q, want %q", got, "Revoke 2 keys")
	}
	if after := adminState(t, d); after != before {
		t.Fatalf("the confirmation page changed the database: %s", snapshotDiff(before, after))
	}

	t.Run("missing reason", func(t *testing.T) {
		r := admin.post("/admin/keys/bulk", confirmForm(t, r, "  "))
		if r.StatusCode != http.StatusUnprocessableEntity || r.doc(t).Find(`[data-testid="reason-error"]`).Length() != 1 {
			t.Errorf("confirm without a reason: got %d, want 422 with a reason error", r.StatusCode)
		}
		if got := bulkRowIDs(t, r); !slices.Equal(got, ids(one, three)) {
			t.Errorf("the page still lists: got %v, want %v", got, ids(one, three))
		}
		if after := adminState(t, d); after != before {
			t.Errorf("changed the database: %s", snapshotDiff(before, after))
		}
	})

	t.Run("unknown id", func(t *testing.T) {
		form := url.Values{"action": {"revoke"}, "id": {itoa(one.ID), "999999"}}
		r := admin.post("/admin/keys/bulk", form)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("got %d, want 200", r.StatusCode)
		}
		missing := strings.TrimSpace(r.doc(t).Find(`[data-testid="missing-id"]`).Text())
		if missing != "#999999 not found" {
			t.Errorf("missing ids: got %q, want %q", missing, "#999999 not found")
		}
		// Confirming anyway does nothing while an id is unknown.
		form.Set("confirm", "1")
		form.Set("reason", "cleanup")
		r = admin.post("/admin/keys/bulk", form)
		if r.StatusCode != http.StatusOK || r.doc(t).Find(`[data-testid="bulk-missing"]`).Length() != 1 {
			t.Errorf("confirm with an unknown id: got %d, want 200 with the unknown id reported", r.StatusCode)
		}
		if after := adminState(t, d); after != before {
			t.Errorf("changed the database: %s", snapshotDiff(before, after))
		}
	})

	t.Run("bad ids and actions", func(t *testing.T) {
		for name, form := range map[string]url.Values{
			"id not a number": {"action": {"revoke"}, "id": {"1 OR 1=1"}},
			"unknown action":  {"action": {"delete"}, "id": {itoa(one.ID)}},
			"no filter":       {"action": {"revoke"}, "all": {"1"}, "query": {"sort=created"}},
		} {
			if r := admin.post("/admin/keys/bulk", form); r.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: got %d, want 400", name, r.StatusCode)
			}
		}
		if after := adminState(t, d); after != before {
			t.Errorf("changed the database: %s", snapshotDiff(before, after))
		}
	})
	wantStatuses(t, a, keys, active...)

	wantRedirect(t, admin.post("/admin/keys/bulk", confirmForm(t, r, "Quarterly review: unused")), "/admin/keys?stale=1")
	wantFlash(t, flashes(t, admin, "/admin/keys?stale=1", "success"), "Revoked 2 keys: “legacy one” and “legacy three”.")
	wantStatuses(t, a, keys, db.KeyRevoked, db.KeyActive, db.KeyRevoked, db.KeyActive)
	a.wantCode(secrets[0], "REVOKED")
	a.wantCode(secrets[1], "")
	a.wantCode(secrets[2], "REVOKED")
	a.wantCode(secrets[3], "")

	rows := auditRows(t, admin.get("/admin/audit?action=key.revoke"))
	if len(rows) != 2 {
		t.Fatalf("key.revoke events: got %d (%q), want 2", len(rows), rows)
	}
	for i, k := range []db.Key{three, one} { // newest first
		if !strings.Contains(rows[i], "| "+k.Name+" |") || !strings.Contains(rows[i], "reason: Quarterly review: unused") ||
			!strings.Contains(rows[i], "admin@example.com") {
			t.Errorf("event %d: got %q, want %s revoked by admin@example.com with the reason", i, rows[i], k.Name)
		}
	}
	if rows := auditRows(t, admin.get("/admin/audit?action=key.revoke&key="+itoa(two.ID))); len(rows) != 0 {
		t.Errorf("key.revoke events of the unselected key: got %q, want none", rows)
	}
}

func TestAdminBulkAllMatching(t *testing.T) {
	for _, action := range []string{"revoke", "disable"} {
		t.Run(action, func(t *testing.T) {
			a := newTestApp(t)
			keys, secrets := bulkKeys(t, a)
			bob := a.createUser("bob@example.com", db.RoleMember)
			other, otherSecret := a.storeKey(bob.ID, db.KeyInput{Name: "legacy of bob"})
			admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)

			// The page offers "all matching" for a filter: ann's legacy keys.
			query := "owner=ann%40example.com&q=legacy"
			page := admin.get("/admin/keys?" + query).doc(t)
			if page.Find(`[data-testid="bulk-all-`+action+`"]`).Length() != 1 {
				t.Fatalf("no %s-all button on a filtered list", action)
			}
			r := admin.post("/admin/keys/bulk", url.Values{"action": {action}, "all": {"1"}, "query": {query}})
			if r.StatusCode != http.StatusOK {
				t.Fatalf("bulk %s all: got %d, want 200; body %.300s", action, r.StatusCode, r.body)
			}
			if got := bulkRowIDs(t, r); !slices.Equal(got, ids(keys[2], keys[1], keys[0])) {
				t.Errorf("confirmation lists: got %v, want ann's three legacy keys", got)
			}
			form := confirmForm(t, r, "Legacy integration retired")
			if form.Get("all") != "1" || form.Has("id") {
				t.Errorf("confirmation form: got %v, want all=1 and no ids", form)
			}
			wantRedirect(t, admin.post("/admin/keys/bulk", form), "/admin/keys?"+query)

			want := map[string]db.KeyStatus{"revoke": db.KeyRevoked, "disable": db.KeyDisabled}[action]
			code := map[string]string{"revoke": "REVOKED", "disable": "DISABLED"}[action]
			wantStatuses(t, a, append(keys, other), want, want, want, db.KeyActive, db.KeyActive)
			for _, s := range secrets[:3] {
				a.wantCode(s, code)
			}
			a.wantCode(secrets[3], "")
			a.wantCode(otherSecret, "")
			rows := auditRows(t, admin.get("/admin/audit?action=key."+action))
			if len(rows) != 3 {
				t.Errorf("key.%s events: got %d, want 3", action, len(rows))
			}
			for _, row := range rows {
				if !strings.Contains(row, "reason: Legacy integration retired") {
					t.Errorf("event without the reason: %q", row)
				}
			}
		})
	}
}

func TestAdminBulkDisableSelected(t *testing.T) {
	a := newTestApp(t)
	keys, secrets := bulkKeys(t, a)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)

	r := admin.post("/admin/keys/bulk", url.Values{"action": {"disable"}, "id": {itoa(keys[1].ID), itoa(keys[2].ID)}})
	if got := bulkRowIDs(t, r); !slices.Equal(got, ids(keys[1], keys[2])) {
		t.Fatalf("confirmation lists: got %v, want %v", got, ids(keys[1], keys[2]))
	}
	if got := strings.TrimSpace(r.doc(t).Find(`[data-testid="bulk-confirm"]`).Text()); got != "Disable 2 keys" {
		t.Errorf("confirm button: got %q, want %q", got, "Disable 2 keys")
	}
	wantRedirect(t, admin.post("/admin/keys/bulk", confirmForm(t, r, "Owner on leave")), "/admin/keys")
	wantStatuses(t, a, keys, db.KeyActive, db.KeyDisabled, db.KeyDisabled, db.KeyActive)
	a.wantCode(secrets[0], "")
	a.wantCode(secrets[1], "DISABLED")

	// Disabling is reversible: the owner's key page can enable it again.
	rows := auditRows(t, admin.get("/admin/audit?key="+itoa(keys[1].ID)))
	if len(rows) == 0 || !strings.Contains(rows[0], "Key disabled") || !strings.Contains(rows[0], "reason: Owner on leave") {
		t.Errorf("latest event of %s: got %q, want Key disabled with the reason", keys[1].Name, rows)
	}
}

// TestAdminBulkResultNamesKeys: the message after a bulk action names the
// keys it changed, the first few and how many more.
func TestAdminBulkResultNamesKeys(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{1, "Disabled 1 key: “key 1”."},
		{3, "Disabled 3 keys: “key 1”, “key 2” and “key 3”."},
		{5, "Disabled 5 keys: “key 1”, “key 2”, “key 3” and 2 more."},
	}
	for _, tt := range tests {
		t.Run(itoa(int64(tt.n)), func(t *testing.T) {
			a := newTestApp(t)
			admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
			ann := a.createUser("ann@example.com", db.RoleMember)
			form := url.Values{"action": {"disable"}, "confirm": {"1"}, "reason": {"cleanup"}}
			for i := range tt.n {
				k, _ := a.storeKey(ann.ID, db.KeyInput{Name: "key " + itoa(int64(i+1))})
				form.Add("id", itoa(k.ID))
			}
			wantRedirect(t, admin.post("/admin/keys/bulk", form), "/admin/keys")
			wantFlash(t, flashes(t, admin, "/admin/keys", "success"), tt.want)
		})
	}
}
