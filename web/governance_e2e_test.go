package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
)

// The five scopes the admin publishes in TestGovernanceEndToEnd.
const (
	govAdminOnly = "billing:admin"   // only admins may grant it
	govApproval  = "payments:refund" // members may ask; an admin approves
)

var govScopes = []url.Values{
	{"name": {"orders:read"}, "description": {"Read orders"}, "grant": {"member"}},
	{"name": {"orders:write"}, "description": {"Create and change orders"}, "grant": {"member"}},
	{"name": {"invoices:read"}, "description": {"Read invoices"}, "grant": {"member"}},
	{"name": {govAdminOnly}, "description": {"Change billing plans"}, "grant": {"admin"}},
	{"name": {govApproval}, "description": {"Refund payments"}, "grant": {"member"}, "needs_approval": {"1"}},
}

// TestGovernanceEndToEnd is issue 15's "done when", through the pages a
// person uses (cookie-jar browsers, no JavaScript) and the two endpoints a
// service calls: an admin publishes five scopes, one admin-only and one
// needing approval; a member can only pick what they may grant; a key
// requesting the approval scope waits for an admin; the payments team's
// key keeps working after the person who made it leaves; a key locked to
// 10.0.0.0/8 fails from anywhere else. The app starts with an empty
// catalog, and believes X-Forwarded-For from loopback (a proxy in front of
// it), so one test client can stand for clients anywhere.
func TestGovernanceEndToEnd(t *testing.T) {
	clk := newClock()
	store, dbPath := dbtest.Open(t, db.Options{Now: clk.Now})
	a := serve(t, clk, store, dbPath, nil, "test-setup-token", withTrustedProxies("127.0.0.0/8"))
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	mia, miaU := a.userBrowser("mia@example.com", db.RoleMember)
	d := attackDB(t, a)

	t.Run("the admin publishes five scopes", func(t *testing.T) {
		for _, f := range govScopes {
			wantRedirect(t, admin.post("/admin/scopes", f), "/admin/scopes")
		}
		doc := admin.get("/admin/scopes").doc(t)
		for _, f := range govScopes {
			if !strings.Contains(doc.Text(), f.Get("name")) {
				t.Errorf("catalog page: %s not listed", f.Get("name"))
			}
		}
	})

	t.Run("the member's form offers only what they may grant", func(t *testing.T) {
		doc := mia.get("/keys/new").doc(t)
		var offered []string
		doc.Find(`[data-testid="scope-picker"] input[type="checkbox"][name="scopes"]`).Each(func(_ int, s *goquery.Selection) {
			name, _ := s.Attr("value")
			_, disabled := s.Attr("disabled")
			if name == govAdminOnly {
				if !disabled {
					t.Errorf("%s: got an enabled box, want it disabled for a member", name)
				}
				return
			}
			if disabled {
				t.Errorf("%s: got a disabled box, want it offered", name)
			}
			offered = append(offered, name)
		})
		slices.Sort(offered)
		want := []string{"invoices:read", "orders:read", "orders:write", govApproval}
		slices.Sort(want)
		if !slices.Equal(offered, want) {
			t.Errorf("offered scopes: got %v, want %v", offered, want)
		}
	})

	t.Run("a crafted POST with the admin-only scope writes nothing", func(t *testing.T) {
		before := keyState(t, d)
		r := mia.post("/keys", keyForm("sneaky", "scopes", govAdminOnly))
		if r.StatusCode != http.StatusUnprocessableEntity || keyInText.MatchString(r.body) {
			t.Fatalf("got %d (key shown: %v), want 422 and no key", r.StatusCode, keyInText.MatchString(r.body))
		}
		if msg := r.doc(t).Find(`[data-testid="scopes-error"]`).Text(); !strings.Contains(msg, govAdminOnly) {
			t.Errorf("message beside the scopes: got %q, want one naming %s", msg, govAdminOnly)
		}
		if after := keyState(t, d); after != before {
			t.Errorf("the refused create changed the database: %s", snapshotDiff(before, after))
		}
	})

	form := keyForm("refunds")
	form["scopes"] = []string{"orders:read", govApproval}
	refundsID, refunds := mia.createKey(form)
	t.Run("the approval scope waits for an admin", func(t *testing.T) {
		wantVerify(t, a, refunds, "PENDING_APPROVAL")
		if mia.get("/keys/"+itoa(refundsID)).doc(t).Find(`[data-testid="approval-pending"]`).Length() != 1 {
			t.Errorf("the member's key page: got no approval-pending notice, want one")
		}
		req := admin.get("/admin/requests").doc(t).Find(`[data-testid="request"][data-key-id="` + itoa(refundsID) + `"]`)
		if req.Length() != 1 || !strings.Contains(req.Find(`[data-testid="request-scopes"]`).Text(), govApproval) {
			t.Fatalf("requests page: got %d requests for key %d, want one asking for %s", req.Length(), refundsID, govApproval)
		}
		wantRedirect(t, admin.post("/admin/requests/"+itoa(refundsID)+"/approve", nil), "/admin/requests")
		v := a.verify(refunds, govApproval)
		if !v.Valid {
			t.Fatalf("after approval, with scope %s: got code %q, want valid", govApproval, v.Code)
		}
		if got := v.Key["owner"]; got != "mia@example.com" {
			t.Errorf("owner: got %v, want mia@example.com", got)
		}
	})

	var teamID string
	t.Run("the admin creates the payments team, mia maintains it", func(t *testing.T) {
		r := admin.post("/teams", url.Values{"name": {"payments"}})
		loc := r.Header.Get("Location")
		if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/teams/") {
			t.Fatalf("POST /teams: got %d Location %q, want 303 /teams/{id}", r.StatusCode, loc)
		}
		teamID = strings.TrimPrefix(loc, "/teams/")
		wantRedirect(t, admin.post(loc+"/members", url.Values{"email": {"mia@example.com"}, "role": {"maintainer"}}), loc)
	})
	if teamID == "" {
		t.FailNow()
	}

	teamKey := func(name, scopes string) (int64, string) {
		f := keyForm(name, "scopes", scopes, "owner", teamID)
		id, secret := mia.createKey(f)
		if k := a.getKey(id); itoa(k.TeamID) != teamID {
			t.Fatalf("key %q: got team %d, want %s", name, k.TeamID, teamID)
		}
		return id, secret
	}
	_, prod := teamKey("payments-prod", "orders:write")
	lockedID, locked := teamKey("payments-internal", "orders:read")

	t.Run("a key locked to 10.0.0.0/8 through its Limits form", func(t *testing.T) {
		wantRedirect(t, mia.post("/keys/"+itoa(lockedID)+"/limits", url.Values{"allowed_ips": {"10.0.0.0/8"}, "meta": {""}}), "/keys/"+itoa(lockedID))
		wantLockedKey(t, a, locked)
	})

	t.Run("the member leaves: the team's keys keep working, theirs fail", func(t *testing.T) {
		r := admin.post("/admin/users/"+itoa(miaU.ID)+"/disable", url.Values{"keys": {"fail"}})
		wantRedirect(t, r, "/admin/users")
		if u := mustUser(t, a, "mia@example.com"); !u.Disabled() {
			t.Fatalf("mia: got not disabled, want disabled")
		}
		v := a.verify(prod, "orders:write")
		if !v.Valid || v.Key["owner"] != "team:payments" || v.Key["owner_type"] != "team" {
			t.Errorf("team key: got valid=%v code %q owner %v owner_type %v, want valid team:payments team",
				v.Valid, v.Code, v.Key["owner"], v.Key["owner_type"])
		}
		fa := a.api(http.MethodGet, "/api/v1/auth", nil, http.Header{"Authorization": {"Bearer " + prod}})
		if fa.StatusCode != http.StatusOK || fa.Header.Get("X-Keyward-User") != "team:payments" || fa.Header.Get("X-Keyward-Owner-Type") != "team" {
			t.Errorf("team key through forward auth: got %d user %q type %q, want 200 team:payments team",
				fa.StatusCode, fa.Header.Get("X-Keyward-User"), fa.Header.Get("X-Keyward-Owner-Type"))
		}
		wantVerify(t, a, refunds, "DISABLED")
		wantLockedKey(t, a, locked)
		// Her session ended with the disable: her browser is signed out.
		if r := mia.get("/keys"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("mia's browser after the disable: got %d, want 303 to sign in", r.StatusCode)
		}
	})
}

// wantLockedKey: a key whose allowlist is 10.0.0.0/8 verifies for a client
// inside it and answers IP_NOT_ALLOWED for one outside it and for an
// unknown client, on the verify API and through forward auth (the client
// address from X-Forwarded-For, which the app believes from loopback, or
// the loopback peer itself).
func wantLockedKey(t *testing.T, a *testApp, secret string) {
	t.Helper()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"verify, ip inside", mustJSON(map[string]string{"key": secret, "ip": "10.1.2.3"}), ""},
		{"verify, ip outside", mustJSON(map[string]string{"key": secret, "ip": "192.0.2.1"}), "IP_NOT_ALLOWED"},
		{"verify, no ip", mustJSON(map[string]string{"key": secret}), "IP_NOT_ALLOWED"},
	} {
		if v := a.verifyBody(tc.body, nil); v.Valid != (tc.want == "") || v.Code != tc.want {
			t.Errorf("%s: got valid=%v code %q, want code %q", tc.name, v.Valid, v.Code, tc.want)
		}
	}
	for _, tc := range []struct {
		name, xff string
		want      int
	}{
		{"forward auth from 10.1.2.3", "10.1.2.3", http.StatusOK},
		{"forward auth from 192.0.2.1", "192.0.2.1", http.StatusUnauthorized},
		{"forward auth from the loopback peer", "", http.StatusUnauthorized},
	} {
		hdr := http.Header{"Authorization": {"Bearer " + secret}}
		if tc.xff != "" {
			hdr.Set("X-Forwarded-For", tc.xff)
		}
		r := a.api(http.MethodGet, "/api/v1/auth", nil, hdr)
		if r.StatusCode != tc.want {
			t.Errorf("%s: got %d, want %d; body %s", tc.name, r.StatusCode, tc.want, r.body)
		}
		if tc.want != http.StatusOK && !strings.Contains(r.body, "IP_NOT_ALLOWED") {
			t.Errorf("%s: got body %s, want code IP_NOT_ALLOWED", tc.name, r.body)
		}
	}
}
