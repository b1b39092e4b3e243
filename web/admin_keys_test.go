package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// adminKeyIDs lists the key ids of the admin key table, in order.
func adminKeyIDs(t *testing.T, r response) []int64 {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("admin keys: got %d, want 200; body %.300s", r.StatusCode, r.body)
	}
	var ids []int64
	r.doc(t).Find(`[data-testid="admin-key-row"]`).Each(func(_ int, s *goquery.Selection) {
		id, err := strconv.ParseInt(s.AttrOr("data-key-id", ""), 10, 64)
		if err != nil {
			t.Fatalf("row id %q: %v", s.AttrOr("data-key-id", ""), err)
		}
		ids = append(ids, id)
	})
	return ids
}

// staleCounts is the stale review's header ("3 stale keys, 1 never used").
func staleCounts(t *testing.T, r response) string {
	t.Helper()
	return strings.Join(strings.Fields(r.doc(t).Find(`[data-testid="stale-counts"]`).Text()), " ")
}

// fixture names the keys of TestAdminKeysFilters by role.
type fixture struct {
	gamma, zeta, alpha, beta, delta, epsilon db.Key
}

// seedAdminKeys makes six keys of two owners in every state:
//
//	gamma   bob  write       used 100 days ago, expires in 60 days: stale
//	zeta    ann  -           expired 99 days ago, never used
//	alpha   ann  read write  used 1 hour ago, expires in 10 days
//	beta    ann  read        never used, no expiry
//	delta   bob  -           disabled, never used
//	epsilon bob  -           revoked, never used
func seedAdminKeys(t *testing.T, a *testApp) fixture {
	t.Helper()
	ctx := context.Background()
	ann := a.createUser("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)
	at := func(d time.Duration) *time.Time { x := a.clock.Now().Add(d); return &x }
	var f fixture
	var gammaKey, alphaKey string
	f.gamma, gammaKey = a.storeKey(bob.ID, db.KeyInput{Name: "gamma-deploy", Scopes: []string{"write"}, ExpiresAt: at(160 * day)})
	f.zeta, _ = a.storeKey(ann.ID, db.KeyInput{Name: "zeta", ExpiresAt: at(day)})
	a.verifyFrom("", gammaKey, "")
	a.flush()
	a.clock.Advance(100 * day)
	f.alpha, alphaKey = a.storeKey(ann.ID, db.KeyInput{Name: "alpha-deploy", Scopes: []string{"read", "write"}, ExpiresAt: at(10 * day)})
	f.beta, _ = a.storeKey(ann.ID, db.KeyInput{Name: "beta", Scopes: []string{"read"}})
	f.delta, _ = a.storeKey(bob.ID, db.KeyInput{Name: "delta"})
	f.epsilon, _ = a.storeKey(bob.ID, db.KeyInput{Name: "epsilon"})
	if _, err := a.store.SetKeyDisabled(ctx, db.AnyOwner(), f.delta.ID, true, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), f.epsilon.ID, "leaked", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(time.Hour)
	a.wantCode(alphaKey, "")
	a.flush()
	a.clock.Advance(time.Hour)
	return f
}

func ids(keys ...db.Key) []int64 {
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

func TestAdminKeysFilters(t *testing.T) {
	a := newTestApp(t)
	f := seedAdminKeys(t, a)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	all := ids(f.epsilon, f.delta, f.beta, f.alpha, f.zeta, f.gamma) // newest first

	tests := []struct {
		query string
		want  []int64
	}{
		{"", all},
		{"owner=ann@example.com", ids(f.beta, f.alpha, f.zeta)},
		{"owner=ANN@Example.COM", ids(f.beta, f.alpha, f.zeta)},
		{"owner=nobody@example.com", nil},
		{"status=active", ids(f.beta, f.alpha, f.gamma)},
		{"status=expired", ids(f.zeta)},
		{"status=disabled", ids(f.delta)},
		{"status=revoked", ids(f.epsilon)},
		{"stale=1", ids(f.gamma)},
		{"never_used=1", ids(f.epsilon, f.delta, f.beta, f.zeta)},
		{"expiring_days=30", ids(f.alpha)},
		{"expiring_days=90", ids(f.alpha, f.gamma)},
		{"scope=read", ids(f.beta, f.alpha)},
		{"scope=write", ids(f.alpha, f.gamma)},
		{"scope=wri", nil},
		{"q=deploy", ids(f.alpha, f.gamma)},
		{"q=DEPLOY", ids(f.alpha, f.gamma)},
		{"q=%25", nil},
		{"owner=bob@example.com&never_used=1", ids(f.epsilon, f.delta)},
		{"owner=ann@example.com&scope=read&q=alpha", ids(f.alpha)},
		// Sorts.
		{"sort=created", all},
		{"sort=last_used", ids(f.alpha, f.gamma, f.epsilon, f.delta, f.beta, f.zeta)},
		{"sort=expires", ids(f.zeta, f.alpha, f.gamma, f.epsilon, f.delta, f.beta)},
		{"owner=ann@example.com&sort=expires", ids(f.zeta, f.alpha, f.beta)},
		// Unknown values are ignored, not errors.
		{"status=bogus", all},
		{"sort=bogus", all},
		{"expiring_days=abc", all},
		{"expiring_days=-5", all},
		{"stale=yes", all},
		{"page=-3", all},
		{"page=abc", all},
		{"colour=blue", all},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := adminKeyIDs(t, admin.get("/admin/keys?"+tt.query))
			if !slices.Equal(got, tt.want) {
				t.Errorf("GET /admin/keys?%s: got ids %v, want %v", tt.query, got, tt.want)
			}
		})
	}

	// A row shows what the issue lists: owner, name, hint, last use and IP.
	doc := admin.get("/admin/keys?q=alpha").doc(t)
	row := doc.Find(`[data-testid="admin-key-row"]`)
	for sel, want := range map[string]string{
		`[data-testid="key-owner"]`:   "ann@example.com",
		`[data-testid="key-link"]`:    "alpha-deploy",
		`[data-testid="key-hint"]`:    f.alpha.Hint,
		`[data-testid="key-last-ip"]`: "127.0.0.1",
	} {
		if got := strings.TrimSpace(row.Find(sel).Text()); got != want {
			t.Errorf("%s: got %q, want %q", sel, got, want)
		}
	}
}

func TestAdminKeysPagination(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)
	var want []int64
	for i := range 120 {
		k, _ := a.storeKey(ann.ID, db.KeyInput{Name: "key " + strconv.Itoa(i)})
		want = append([]int64{k.ID}, want...) // newest first
	}
	a.storeKey(bob.ID, db.KeyInput{Name: "not ann's"})
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)

	var got []int64
	path := "/admin/keys?owner=ann%40example.com"
	for page := 1; path != ""; page++ {
		r := admin.get(path)
		pageIDs := adminKeyIDs(t, r)
		got = append(got, pageIDs...)
		doc := r.doc(t)
		wantRows, wantSummary := 50, "Showing "+strconv.Itoa((page-1)*50+1)+"–"+strconv.Itoa(page*50)+" of 120"
		if page == 3 {
			wantRows, wantSummary = 20, "Showing 101–120 of 120"
		}
		if len(pageIDs) != wantRows {
			t.Errorf("page %d: got %d rows, want %d", page, len(pageIDs), wantRows)
		}
		if s := strings.Join(strings.Fields(doc.Find(`[data-testid="page-summary"]`).Text()), " "); s != wantSummary {
			t.Errorf("page %d summary: got %q, want %q", page, s, wantSummary)
		}
		if hasPrev := doc.Find(`[data-testid="page-prev"]`).Length() == 1; hasPrev != (page > 1) {
			t.Errorf("page %d: got previous link %v, want %v", page, hasPrev, page > 1)
		}
		path = doc.Find(`[data-testid="page-next"]`).AttrOr("href", "")
		if path != "" && !strings.Contains(path, "owner=ann%40example.com") {
			t.Errorf("page %d: next link %q drops the filter", page, path)
		}
		if page > 3 {
			t.Fatalf("more than 3 pages of 120 keys")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys over all pages: got %d ids, want the 120 of ann newest first, each once", len(got))
	}
	if rows := adminKeyIDs(t, admin.get("/admin/keys?owner=ann%40example.com&page=9")); len(rows) != 0 {
		t.Errorf("page past the end: got %d rows, want none", len(rows))
	}
}

func TestAdminStaleBoundaries(t *testing.T) {
	tests := []struct {
		name  string
		used  bool
		age   time.Duration
		stale bool
	}{
		{"used 89 days ago", true, 89 * day, false},
		{"used exactly 90 days ago", true, 90 * day, false},
		{"used 90 days and 1 ms ago", true, 90*day + time.Millisecond, true},
		{"never used, 29 days old", false, 29 * day, false},
		{"never used, exactly 30 days old", false, 30 * day, false},
		{"never used, 30 days and 1 ms old", false, 30*day + time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t)
			u := a.createUser("ann@example.com", db.RoleMember)
			k, secret := a.storeKey(u.ID, db.KeyInput{Name: "subject"})
			if tt.used {
				a.wantCode(secret, "")
				a.flush()
			}
			a.clock.Advance(tt.age)
			admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)

			r := admin.get("/admin/keys?stale=1")
			if got := slices.Contains(adminKeyIDs(t, r), k.ID); got != tt.stale {
				t.Errorf("listed in the stale review: got %v, want %v", got, tt.stale)
			}
			wantCounts := "0 stale keys, 0 never used"
			if tt.stale && tt.used {
				wantCounts = "1 stale key, 0 never used"
			} else if tt.stale {
				wantCounts = "1 stale key, 1 never used"
			}
			if got := staleCounts(t, r); got != wantCounts {
				t.Errorf("header: got %q, want %q", got, wantCounts)
			}
			badge := admin.get("/admin/keys").doc(t).Find(`[data-testid="admin-key-row"] [data-status="stale"]`).Length() == 1
			if badge != tt.stale {
				t.Errorf("stale badge on /admin/keys: got %v, want %v", badge, tt.stale)
			}
			card := strings.TrimSpace(admin.get("/admin").doc(t).Find(`[data-testid="stat-stale"] [data-testid="stat-value"]`).Text())
			if want := map[bool]string{true: "1", false: "0"}[tt.stale]; card != want {
				t.Errorf("overview stale figure: got %s, want %s", card, want)
			}
		})
	}
}

func TestAdminStaleReview(t *testing.T) {
	a := newTestApp(t, longSessions)
	ann := a.createUser("ann@example.com", db.RoleMember)
	_, used1 := a.storeKey(ann.ID, db.KeyInput{Name: "used then forgotten 1"})
	_, used2 := a.storeKey(ann.ID, db.KeyInput{Name: "used then forgotten 2"})
	a.storeKey(ann.ID, db.KeyInput{Name: "never used"})
	a.wantCode(used1, "")
	a.wantCode(used2, "")
	a.flush()
	a.clock.Advance(100 * day)
	_, recent := a.storeKey(ann.ID, db.KeyInput{Name: "used 11 days ago"})
	a.wantCode(recent, "")
	a.flush()
	a.clock.Advance(5 * day)
	a.storeKey(ann.ID, db.KeyInput{Name: "created 6 days ago"})
	a.clock.Advance(6 * day)
	a.storeKey(ann.ID, db.KeyInput{Name: "brand new"})
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)

	r := admin.get("/admin/keys?stale=1")
	if got, want := staleCounts(t, r), "3 stale keys, 1 never used"; got != want {
		t.Errorf("header: got %q, want %q", got, want)
	}
	if got := len(adminKeyIDs(t, r)); got != 3 {
		t.Errorf("stale rows: got %d, want 3", got)
	}
	if nav := r.doc(t).Find(`[data-testid="admin-nav"] [data-section="stale"]`); nav.AttrOr("aria-current", "") != "page" {
		t.Errorf("stale review is not the current admin section")
	}

	// Tighter thresholds make more keys stale.
	wantRedirect(t, admin.post("/admin/settings", map[string][]string{"stale_days": {"10"}, "never_used_days": {"5"}}), "/admin/settings")
	r = admin.get("/admin/keys?stale=1")
	if got, want := staleCounts(t, r), "5 stale keys, 2 never used"; got != want {
		t.Errorf("header with 10/5 days: got %q, want %q", got, want)
	}
	if got := len(adminKeyIDs(t, r)); got != 5 {
		t.Errorf("stale rows with 10/5 days: got %d, want 5", got)
	}
}
