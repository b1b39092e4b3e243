package web

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// writeRefusals leaves in the database what a flush of refused
// verifications leaves (the recorder writes it; these tests read it): the
// key's last refusal and its daily counts by code, days counted back from
// today.
func writeRefusals(t *testing.T, a *testApp, keyID int64, at time.Time, ip, ua, code string, daysAgo map[int]map[string]int64) {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+a.dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(`UPDATE api_keys SET last_refused_at = ?, last_refused_ip = ?, last_refused_user_agent = ?, last_refused_code = ?
		WHERE id = ?`, at.UnixMilli(), ip, ua, code, keyID); err != nil {
		t.Fatal(err)
	}
	today := a.clock.Now().UnixMilli() / (24 * 3600 * 1000)
	for ago, codes := range daysAgo {
		for c, n := range codes {
			if _, err := d.Exec(`INSERT INTO key_refusals_daily (key_id, day, code, count) VALUES (?, ?, ?, ?)`,
				keyID, today-int64(ago), c, n); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestKeyPageRefusals: someone keeps calling with a revoked key; its page
// shows the last refused attempt and the refusals stacked in the chart,
// with their codes in the table, and the API's usage carries them too.
func TestKeyPageRefusals(t *testing.T) {
	a := newTestApp(t, longSessions)
	ann, annU := a.userBrowser("ann@example.com", db.RoleMember)
	k, _ := a.storeKey(annU.ID, db.KeyInput{Name: "old deploy"})
	quiet, _ := a.storeKey(annU.ID, db.KeyInput{Name: "quiet"})
	if _, err := a.store.RevokeKey(context.Background(), db.AnyOwner(), k.ID, "rotated", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	writeRefusals(t, a, k.ID, a.clock.Now().Add(-3*time.Minute), "203.0.113.7", "python-requests/2.32", "REVOKED",
		map[int]map[string]int64{0: {"REVOKED": 1204}, 2: {"REVOKED": 3, "INSUFFICIENT_SCOPE": 1}})

	doc := ann.get(fmt.Sprintf("/keys/%d", k.ID)).doc(t)
	last := doc.Find(`[data-testid="last-refused"]`)
	for id, want := range map[string]string{"last-refused-ip": "203.0.113.7", "last-refused-code": "REVOKED",
		"last-refused-agent": "python-requests/2.32"} {
		if got := strings.TrimSpace(last.Find(`[data-testid="` + id + `"]`).Text()); got != want {
			t.Errorf("%s: got %q, want %q", id, got, want)
		}
	}
	if got := strings.Join(strings.Fields(last.Text()), " "); !strings.Contains(got, "3 minutes ago") {
		t.Errorf("last refused: got %q, want it 3 minutes ago", got)
	}
	if n := doc.Find(`[data-testid="usage-svg"] rect[data-testid="usage-refused"]`).Length(); n != 2 {
		t.Errorf("got %d refused segments, want 2 (two days)", n)
	}
	rows := doc.Find(`[data-testid="usage-table"] tbody tr`)
	var got []string
	for _, i := range []int{rows.Length() - 1, rows.Length() - 3} {
		var cs []string
		rows.Eq(i).Find("td").Each(func(_ int, td *goquery.Selection) { cs = append(cs, strings.TrimSpace(td.Text())) })
		got = append(got, strings.Join(cs[1:], " | "))
	}
	want := []string{"0 | 1,204 | REVOKED 1,204", "0 | 4 | REVOKED 3 · INSUFFICIENT_SCOPE 1"}
	if strings.Join(got, " / ") != strings.Join(want, " / ") {
		t.Errorf("table: got %q, want %q", got, want)
	}

	if q := ann.get(fmt.Sprintf("/keys/%d", quiet.ID)).doc(t); q.Find(`[data-testid="last-refused"]`).Length() != 0 ||
		q.Find(`[data-testid="usage-legend"]`).Length() != 0 {
		t.Errorf("a key never refused: got a last-refused line or a legend, want neither")
	}

	var usage struct {
		Days []struct {
			Day            string           `json:"day"`
			Count          int64            `json:"count"`
			Refusals       int64            `json:"refusals"`
			RefusalsByCode map[string]int64 `json:"refusals_by_code"`
		} `json:"days"`
	}
	a.mgmt(a.token(annU, db.PermKeysRead)).get(fmt.Sprintf("/api/v1/keys/%d/usage?days=3", k.ID)).decode(t, &usage)
	if len(usage.Days) != 3 {
		t.Fatalf("usage: got %d days, want 3", len(usage.Days))
	}
	for i, want := range []struct {
		refusals int64
		byCode   string
	}{{4, "map[INSUFFICIENT_SCOPE:1 REVOKED:3]"}, {0, "map[]"}, {1204, "map[REVOKED:1204]"}} {
		d := usage.Days[i]
		if d.Refusals != want.refusals || fmt.Sprint(d.RefusalsByCode) != want.byCode || d.RefusalsByCode == nil {
			t.Errorf("usage day %d: got %d %v, want %d %s", i, d.Refusals, d.RefusalsByCode, want.refusals, want.byCode)
		}
	}
}

// TestAdminKeysRefusedFilter: refused=7d lists the keys refused in the
// last 7 days (and no others), marks them, and is kept by the filter form,
// the paging links and the CSV export.
func TestAdminKeysRefusedFilter(t *testing.T) {
	a := newTestApp(t, longSessions)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	bob := a.createUser("bob@example.com", db.RoleMember)
	now := a.clock.Now()
	recent, _ := a.storeKey(bob.ID, db.KeyInput{Name: "recent"})
	old, _ := a.storeKey(bob.ID, db.KeyInput{Name: "old"})
	a.storeKey(bob.ID, db.KeyInput{Name: "never"})
	writeRefusals(t, a, recent.ID, now.Add(-2*time.Hour), "192.0.2.4", "", "REVOKED", nil)
	writeRefusals(t, a, old.ID, now.Add(-8*24*time.Hour), "192.0.2.5", "", "EXPIRED", nil)
	// More than a page of refused keys, for the paging links.
	for i := range 55 {
		k, _ := a.storeKey(bob.ID, db.KeyInput{Name: fmt.Sprintf("bulk %02d", i)})
		writeRefusals(t, a, k.ID, now.Add(-time.Duration(i+1)*time.Minute), "192.0.2.6", "", "INSUFFICIENT_SCOPE", nil)
	}

	r := admin.get("/admin/keys?refused=7d")
	doc := r.doc(t)
	ids := map[string]bool{}
	doc.Find(`[data-testid="admin-key-row"]`).Each(func(_ int, s *goquery.Selection) {
		ids[s.AttrOr("data-key-id", "")] = true
		if s.Find(`[data-testid="key-last-refused"]`).Length() != 1 {
			t.Errorf("key %s: got no last-refused mark", s.AttrOr("data-key-id", ""))
		}
	})
	if len(ids) != 50 || ids[itoa(old.ID)] {
		t.Errorf("page 1: got %d keys (old one listed: %v), want 50 refused this week", len(ids), ids[itoa(old.ID)])
	}
	if _, on := doc.Find(`[data-testid="filter-refused"]`).Attr("checked"); !on {
		t.Errorf("filter checkbox: got unchecked, want checked")
	}
	next := doc.Find(`[data-testid="page-next"]`).AttrOr("href", "")
	if !strings.Contains(next, "refused=7d") {
		t.Errorf("next page link %q: want it to keep refused=7d", next)
	}
	page2 := admin.get(next).doc(t)
	var names []string
	page2.Find(`[data-testid="admin-key-row"]`).Each(func(_ int, s *goquery.Selection) { names = append(names, s.AttrOr("data-key-id", "")) })
	if len(names) != 6 {
		t.Errorf("page 2: got %d keys, want the other 6 of 56", len(names))
	}
	if m := page2.Find(`[data-testid="key-last-refused"]`).First().Text(); !strings.Contains(m, "Refused") {
		t.Errorf("mark: got %q", m)
	}

	recs := readCSV(t, admin.get("/admin/keys.csv?refused=7d"))
	if len(recs) != 57 {
		t.Fatalf("CSV: got %d rows, want header + 56", len(recs))
	}
	for _, rec := range recs[1:] {
		if rec[2] == "old" || rec[2] == "never" || rec[18] == "" || rec[19] == "" {
			t.Errorf("CSV row %q: want only keys refused this week, with when and why", rec)
		}
	}
	// Unfiltered, the key refused 8 days ago is listed (created second: on
	// the last page) with its mark.
	p2 := admin.get("/admin/keys?page=2").doc(t)
	if p2.Find(`[data-testid="admin-key-row"][data-key-id="`+itoa(old.ID)+`"] [data-testid="key-last-refused"]`).Length() != 1 {
		t.Errorf("unfiltered list: the key refused 8 days ago carries no mark")
	}
}
