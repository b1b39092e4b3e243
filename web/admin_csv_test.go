package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// readCSV checks that a CSV report starts with the UTF-8 byte-order mark
// (which makes Excel read the file as UTF-8) and returns its records.
func readCSV(t *testing.T, r response) [][]string {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET CSV: got %d, want 200", r.StatusCode)
	}
	body, ok := strings.CutPrefix(r.body, "\ufeff")
	if !ok {
		t.Errorf("CSV starts with %q, want the UTF-8 byte-order mark", r.body[:min(8, len(r.body))])
	}
	records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v\n%s", err, body)
	}
	return records
}

// csvHeader is the report's header: the first ten columns as they always
// were, the ones a reviewer needs after them.
const csvHeader = "owner,key_id,name,hint,scopes,created_at,last_used_at,last_used_ip,expires_at,status," +
	"description,disabled_at,disabled_by,disabled_reason,revoked_at,revoked_by,revoke_reason,owner_type,last_refused_at,last_refused_code"

func TestAdminKeysCSV(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)
	exp := a.clock.Now().Add(200 * day)
	used, secret := a.storeKey(ann.ID, db.KeyInput{Name: "deploy", Description: "CI, main branch", Scopes: []string{"read", "write"}, ExpiresAt: &exp})
	a.wantCode(secret, "")
	a.flush()
	usedAt := a.clock.Now()
	var formulas []db.Key
	for _, name := range []string{`=HYPERLINK("x")`, "+1", "-1", "@SUM(1)"} {
		k, _ := a.storeKey(bob.ID, db.KeyInput{Name: name})
		formulas = append(formulas, k)
	}
	created := a.clock.Now()
	a.clock.Advance(100 * day)
	a.storeKey(ann.ID, db.KeyInput{Name: "fresh"})
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)

	r := admin.get("/admin/keys.csv?stale=1")
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type: got %q, want text/csv", ct)
	}
	records := readCSV(t, r)
	if len(records) == 0 || strings.Join(records[0], ",") != csvHeader {
		t.Fatalf("header: got %v, want %s", records[:min(1, len(records))], csvHeader)
	}
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	want := [][]string{}
	for i := len(formulas) - 1; i >= 0; i-- { // newest first
		k := formulas[i]
		want = append(want, []string{"bob@example.com", itoa(k.ID), "'" + k.Name, k.Hint, "", rfc(created), "", "", "", "active",
			"", "", "", "", "", "", "", "user", "", ""})
	}
	want = append(want, []string{"ann@example.com", itoa(used.ID), "deploy", used.Hint, "read write", rfc(created),
		rfc(usedAt), "127.0.0.1", rfc(exp), "active", "CI, main branch", "", "", "", "", "", "", "user", "", ""})
	if got := records[1:]; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("rows:\ngot  %q\nwant %q", got, want)
	}

	// The export follows the same filter as the page.
	records = readCSV(t, admin.get("/admin/keys.csv?owner=ann@example.com&q=fresh"))
	if len(records) != 2 || records[1][2] != "fresh" {
		t.Errorf("CSV for owner=ann&q=fresh: got %q, want the header and the fresh key", records)
	}
	// The page links to the export of its own filter.
	link := admin.get("/admin/keys?stale=1&owner=bob%40example.com").doc(t).Find(`[data-testid="export-csv"]`).AttrOr("href", "")
	if link != "/admin/keys.csv?owner=bob%40example.com&stale=1" {
		t.Errorf("export link: got %q, want the CSV of the same filter", link)
	}
}

// TestAdminKeysCSVNames: the stale review, a filtered list and the whole
// list download under names that say which they are.
func TestAdminKeysCSVNames(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	date := a.clock.Now().Format("2006-01-02")
	for query, want := range map[string]string{
		"":                         "keyward-keys-" + date + ".csv",
		"?sort=created":            "keyward-keys-" + date + ".csv",
		"?stale=1":                 "keyward-stale-keys-" + date + ".csv",
		"?stale=1&sort=last_used":  "keyward-stale-keys-" + date + ".csv",
		"?owner=ann%40example.com": "keyward-keys-filtered-" + date + ".csv",
		"?stale=1&status=disabled": "keyward-keys-filtered-" + date + ".csv",
	} {
		t.Run(query, func(t *testing.T) {
			cd := admin.get("/admin/keys.csv" + query).Header.Get("Content-Disposition")
			if want := `attachment; filename="` + want + `"`; cd != want {
				t.Errorf("Content-Disposition: got %q, want %q", cd, want)
			}
		})
	}
}

// TestAdminKeysCSVStates: the report says who disabled or revoked a key,
// when and why, by email (or "cli" and "system" as in the audit log).
func TestAdminKeysCSVStates(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t, longSessions)
	admin, adminU := a.userBrowser("admin@example.com", db.RoleAdmin)
	carol := a.createUser("carol@example.com", db.RoleMember)
	by := db.Actor{UserID: adminU.ID, Label: adminU.Email}
	paused, _ := a.storeKey(carol.ID, db.KeyInput{Name: "paused"})
	leaked, _ := a.storeKey(carol.ID, db.KeyInput{Name: "leaked"})
	rotated, _ := a.storeKey(carol.ID, db.KeyInput{Name: "rotated"})
	if _, err := a.store.SetKeyDisabled(ctx, db.AnyOwner(), paused.ID, true, "=investigating", by); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), leaked.ID, "Leaked in a build log", by); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), rotated.ID, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	now := a.clock.Now().UTC().Format(time.RFC3339)
	a.storeKey(carol.ID, db.KeyInput{Name: "quiet"})
	p, err := a.store.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.AutoDisableAfter = 30 * day
	if err := a.store.SetPolicy(ctx, p, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(31 * day)
	if _, err := a.store.AutoDisableStale(ctx); err != nil {
		t.Fatal(err)
	}
	later := a.clock.Now().UTC().Format(time.RFC3339)
	records := readCSV(t, admin.get("/admin/keys.csv?owner=carol%40example.com"))
	col := map[string]int{}
	for i, h := range records[0] {
		col[h] = i
	}
	got := map[string]string{}
	for _, rec := range records[1:] {
		got[rec[col["name"]]] = strings.Join([]string{rec[col["status"]], rec[col["disabled_at"]], rec[col["disabled_by"]],
			rec[col["disabled_reason"]], rec[col["revoked_at"]], rec[col["revoked_by"]], rec[col["revoke_reason"]]}, "|")
	}
	want := map[string]string{
		"paused":  "disabled|" + now + "|admin@example.com|'=investigating|||",
		"leaked":  "revoked||||" + now + "|admin@example.com|Leaked in a build log",
		"rotated": "revoked||||" + now + "|cli|",
		"quiet":   "disabled|" + later + "|system|unused for 30 days (auto-disable)|||",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("states:\ngot  %q\nwant %q", got, want)
	}
}
