package web

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// teamFixture is an app with two teams: payments (maint maintains it,
// member is a member) and ops (maint maintains it), a payments key made by
// maint, other, a member in no team who owns a personal key, and an
// auditor in no team.
type teamFixture struct {
	a                                    *testApp
	admin, maint, member, other, auditor db.User
	payments, ops                        db.Team
	payKey, otherKey                     db.Key
	paySecret, otherSecret               string
	browsers                             map[string]*browser
	adminB, maintB, memberB, otB, audB   *browser
}

func newTeamFixture(t *testing.T) *teamFixture {
	t.Helper()
	f := &teamFixture{a: newTestApp(t)}
	ctx := context.Background()
	f.adminB, f.admin = f.a.userBrowser("admin@example.com", db.RoleAdmin)
	f.maintB, f.maint = f.a.userBrowser("maint@example.com", db.RoleMember)
	f.memberB, f.member = f.a.userBrowser("member@example.com", db.RoleMember)
	f.otB, f.other = f.a.userBrowser("other@example.com", db.RoleMember)
	f.audB, f.auditor = f.a.userBrowser("auditor@example.com", db.RoleAuditor)
	var err error
	if f.payments, err = f.a.store.CreateTeam(ctx, "payments", "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	if f.ops, err = f.a.store.CreateTeam(ctx, "ops", "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		team  int64
		email string
		role  db.TeamRole
	}{
		{f.payments.ID, "maint@example.com", db.TeamMaintainer},
		{f.payments.ID, "member@example.com", db.TeamMember},
		{f.ops.ID, "maint@example.com", db.TeamMaintainer},
	} {
		if err := f.a.store.AddTeamMember(ctx, m.team, m.email, m.role, db.CLIActor()); err != nil {
			t.Fatal(err)
		}
	}
	f.payKey, f.paySecret = f.a.storeKey(f.maint.ID, db.KeyInput{Name: "pay-key", TeamID: f.payments.ID})
	f.otherKey, f.otherSecret = f.a.storeKey(f.other.ID, db.KeyInput{Name: "other-key"})
	f.browsers = map[string]*browser{"admin": f.adminB, "maintainer": f.maintB, "member": f.memberB,
		"other member": f.otB, "auditor": f.audB, "signed out": f.a.browser()}
	return f
}

// teamState is the database as the team routes could change it.
func teamState(t *testing.T, d *sql.DB) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(adminState(t, d))
	for _, q := range []string{
		`SELECT id, COALESCE(team_id, 0), user_id FROM api_keys ORDER BY id`,
		`SELECT id, name, description FROM teams ORDER BY id`,
		`SELECT team_id, user_id, role FROM team_members ORDER BY team_id, user_id`,
	} {
		rows, err := d.Query(q)
		if err != nil {
			t.Fatalf("state %q: %v", q, err)
		}
		for rows.Next() {
			var x, y, z any
			if err := rows.Scan(&x, &y, &z); err != nil {
				t.Fatal(err)
			}
			b.WriteString(strings.TrimSpace(strings.Join([]string{toString(x), toString(y), toString(z)}, " ")) + "\n")
		}
		rows.Close()
	}
	return b.String()
}

func toString(v any) string {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case string:
		return v
	case int64:
		return itoa(v)
	case nil:
		return "NULL"
	}
	return "?"
}

// TestTeamRoutesAuthorization is the table of every team route and the
// transfer and disable-with-transfer routes × (admin, team maintainer,
// team member, other member, auditor, signed out): each on a fresh app,
// with the status asserted and, when refused, nothing changed. An auditor
// in no team reads every team like the admin console (the list and each
// page, with no change form and a note saying why) and changes nothing.
func TestTeamRoutesAuthorization(t *testing.T) {
	type want map[string]int
	const signedOut = 0 // 303 to the sign-in page
	routes := []struct {
		name   string
		method string
		path   func(f *teamFixture) string
		form   func(f *teamFixture) url.Values
		want   want
	}{
		{"GET /teams", http.MethodGet, func(*teamFixture) string { return "/teams" }, nil,
			want{"admin": 200, "maintainer": 200, "member": 200, "other member": 200, "auditor": 200}},
		{"POST /teams", http.MethodPost, func(*teamFixture) string { return "/teams" },
			func(*teamFixture) url.Values { return url.Values{"name": {"newteam"}} },
			want{"admin": 303, "maintainer": 403, "member": 403, "other member": 403, "auditor": 403}},
		{"GET /teams/:id", http.MethodGet, func(f *teamFixture) string { return "/teams/" + itoa(f.payments.ID) }, nil,
			want{"admin": 200, "maintainer": 200, "member": 200, "other member": 404, "auditor": 200}},
		{"POST /teams/:id/members", http.MethodPost, func(f *teamFixture) string { return "/teams/" + itoa(f.payments.ID) + "/members" },
			func(*teamFixture) url.Values {
				return url.Values{"email": {"other@example.com"}, "role": {"member"}}
			},
			want{"admin": 303, "maintainer": 303, "member": 404, "other member": 404, "auditor": 404}},
		{"POST /teams/:id/members/:user/role", http.MethodPost, func(f *teamFixture) string {
			return "/teams/" + itoa(f.payments.ID) + "/members/" + itoa(f.member.ID) + "/role"
		}, func(*teamFixture) url.Values { return url.Values{"role": {"maintainer"}} },
			want{"admin": 303, "maintainer": 303, "member": 404, "other member": 404, "auditor": 404}},
		{"POST /teams/:id/members/:user/remove", http.MethodPost, func(f *teamFixture) string {
			return "/teams/" + itoa(f.payments.ID) + "/members/" + itoa(f.member.ID) + "/remove"
		}, nil, want{"admin": 303, "maintainer": 303, "member": 404, "other member": 404, "auditor": 404}},
		{"POST /keys/:id/transfer", http.MethodPost, func(f *teamFixture) string { return "/keys/" + itoa(f.payKey.ID) + "/transfer" },
			func(f *teamFixture) url.Values { return url.Values{"team": {itoa(f.ops.ID)}} },
			want{"admin": 303, "maintainer": 303, "member": 404, "other member": 404, "auditor": 404}},
		{"POST /admin/users/:id/disable (keys to a team)", http.MethodPost, func(f *teamFixture) string { return "/admin/users/" + itoa(f.other.ID) + "/disable" },
			func(f *teamFixture) url.Values { return url.Values{"keys": {"team"}, "team": {itoa(f.ops.ID)}} },
			want{"admin": 303, "maintainer": 403, "member": 403, "other member": 403, "auditor": 403}},
	}
	for _, rt := range routes {
		for _, role := range []string{"admin", "maintainer", "member", "other member", "auditor", "signed out"} {
			t.Run(rt.name+"/"+role, func(t *testing.T) {
				f := newTeamFixture(t)
				d := attackDB(t, f.a)
				before := teamState(t, d)
				b := f.browsers[role]
				var form url.Values
				if rt.form != nil {
					form = rt.form(f)
				}
				var r response
				if rt.method == http.MethodGet {
					r = b.get(rt.path(f))
				} else {
					r = b.post(rt.path(f), form)
				}
				wantStatus := rt.want[role]
				if role == "signed out" {
					if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
						t.Fatalf("got %d Location %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
					}
					wantStatus = signedOut
				} else if r.StatusCode != wantStatus {
					t.Fatalf("got %d, want %d; body %.300s", r.StatusCode, wantStatus, r.body)
				}
				if role == "auditor" && wantStatus == http.StatusOK {
					wantTeamReadOnly(t, f, r)
				}
				refused := wantStatus == signedOut || wantStatus >= 400
				if after := teamState(t, d); refused && after != before {
					t.Errorf("a refused request changed the database: %s", snapshotDiff(before, after))
				} else if !refused && rt.method == http.MethodPost && after == before {
					t.Errorf("an allowed POST changed nothing")
				}
			})
		}
	}
}

// wantTeamReadOnly checks an auditor's team page (GET /teams or
// /teams/:id): no form that changes anything, the note saying why, and
// the teams (or the team's keys) an auditor reviews.
func wantTeamReadOnly(t *testing.T, f *teamFixture, r response) {
	t.Helper()
	doc := r.doc(t)
	wantNoChangeForms(t, doc)
	if n := doc.Find(`[data-testid="read-only-note"]`).Length(); n != 1 {
		t.Errorf("read-only notes: got %d, want 1", n)
	}
	if r.Request.URL.Path == "/teams" {
		if n := doc.Find(`[data-testid="team-row"]`).Length(); n != 2 {
			t.Errorf("teams listed: got %d, want 2 (payments and ops)", n)
		}
		return
	}
	if got := strings.TrimSpace(doc.Find(`[data-testid="team-key"] a`).Text()); got != f.payKey.Name {
		t.Errorf("team keys: got %q, want %q", got, f.payKey.Name)
	}
}

// TestTeamKeyPageReadOnly: a team member who is not a maintainer sees the
// key page without actions, and every action posted by hand is a 404.
func TestTeamKeyPageReadOnly(t *testing.T) {
	f := newTeamFixture(t)
	d := attackDB(t, f.a)
	kp := "/keys/" + itoa(f.payKey.ID)
	doc := f.memberB.get(kp).doc(t)
	if doc.Find("[data-testid=read-only-note]").Length() != 1 || doc.Find("[data-testid=key-actions]").Length() != 0 {
		t.Errorf("member's key page: want the read-only note and no actions")
	}
	if got := strings.TrimSpace(doc.Find("[data-testid=key-owner]").Text()); got != "team:payments" {
		t.Errorf("owner shown: got %q, want team:payments", got)
	}
	if f.maintB.get(kp).doc(t).Find("[data-testid=roll-form]").Length() != 1 {
		t.Errorf("maintainer's key page: want the roll form")
	}
	before := teamState(t, d)
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/edit", url.Values{"name": {"hijacked"}}},
		{"/disable", nil},
		{"/roll", url.Values{"grace": {"0"}}},
		{"/revoke", nil},
		{"/transfer", url.Values{"team": {itoa(f.payments.ID)}}},
		{"/transfer", url.Values{"user": {"member@example.com"}}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			wantErrorPage(t, f.memberB.post(kp+tc.path, tc.form), http.StatusNotFound)
		})
	}
	// Another team's key id is as unknown to an outsider as a missing one.
	wantErrorPage(t, f.otB.get(kp), http.StatusNotFound)
	if after := teamState(t, d); after != before {
		t.Errorf("refused posts changed the database: %s", snapshotDiff(before, after))
	}
}

// TestTeamKeyOwnerEndToEnd: a team key created through the form answers
// owner "team:NAME" on the verify API and forward auth, and keeps working
// after its creator is disabled; the key list shows the team badge.
func TestTeamKeyOwnerEndToEnd(t *testing.T) {
	f := newTeamFixture(t)
	form := keyForm("team-made")
	form.Set("owner", itoa(f.payments.ID))
	id, secret := f.maintB.createKey(form)
	if k := f.a.getKey(id); k.TeamID != f.payments.ID {
		t.Fatalf("created key team: got %d, want %d", k.TeamID, f.payments.ID)
	}
	v := f.a.verify(secret, "")
	if v.Key["owner"] != "team:payments" || v.Key["owner_type"] != "team" {
		t.Errorf("verify key: got owner %v owner_type %v, want team:payments/team", v.Key["owner"], v.Key["owner_type"])
	}
	r := f.a.api(http.MethodGet, "/api/v1/auth", nil, http.Header{"Authorization": {"Bearer " + secret}})
	if r.StatusCode != http.StatusOK || r.Header.Get("X-Keyward-User") != "team:payments" || r.Header.Get("X-Keyward-Owner-Type") != "team" {
		t.Errorf("forward auth: got %d user %q type %q, want 200 team:payments team", r.StatusCode,
			r.Header.Get("X-Keyward-User"), r.Header.Get("X-Keyward-Owner-Type"))
	}
	// The member sees it in the list with its badge; the outsider does not.
	doc := f.memberB.get("/keys").doc(t)
	if doc.Find("[data-testid=team-badge]").Length() < 1 {
		t.Errorf("member's key list: no team badge")
	}
	if n := f.otB.get("/keys").doc(t).Find("[data-testid=key-row]").Length(); n != 1 {
		t.Errorf("outsider's key list: got %d rows, want only their own key", n)
	}
	// A member may not create a key for the team, even by hand.
	bad := keyForm("sneaky")
	bad.Set("owner", itoa(f.payments.ID))
	if r := f.memberB.post("/keys", bad); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("member creating a team key: got %d, want 422", r.StatusCode)
	}
	wantFlash(t, userAction(t, f.adminB, f.maint.ID, "disable", "success"), "maint@example.com was disabled.")
	f.a.wantCode(secret, "")
	f.a.wantCode(f.paySecret, "")
}

// TestDisableWithTransfer: the admin's disable of a person with working
// keys first offers the transfer; transferred keys keep verifying, and
// another person's keys disabled without transfer fail.
func TestDisableWithTransfer(t *testing.T) {
	f := newTeamFixture(t)
	_, second := f.a.storeKey(f.other.ID, db.KeyInput{Name: "other-second"})
	_, memberSecret := f.a.storeKey(f.member.ID, db.KeyInput{Name: "member-own"})
	path := "/admin/users/" + itoa(f.other.ID) + "/disable"
	r := f.adminB.post(path, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("disable without a choice: got %d, want the choice page", r.StatusCode)
	}
	if n := r.doc(t).Find("[data-testid=disable-key]").Length(); n != 2 {
		t.Errorf("choice page lists %d keys, want 2", n)
	}
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
	}{
		{"disabled person", url.Values{"keys": {"user"}, "user": {"other@example.com"}}, "user"},
		{"unknown person", url.Values{"keys": {"user"}, "user": {"nobody@example.com"}}, "user"},
		{"no person", url.Values{"keys": {"user"}}, "user"},
		{"unknown team", url.Values{"keys": {"team"}, "team": {"9999"}}, "team"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.adminB.post(path, tc.form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422", r.StatusCode)
			}
			if r.doc(t).Find("[data-testid="+tc.field+"-error]").Length() != 1 {
				t.Errorf("no error beside the %s field", tc.field)
			}
			if u, _ := f.a.store.GetUser(context.Background(), f.other.ID); u.Disabled() {
				t.Fatalf("a refused transfer disabled the person")
			}
		})
	}
	wantRedirect(t, f.adminB.post(path, url.Values{"keys": {"team"}, "team": {itoa(f.ops.ID)}}), "/admin/users")
	f.a.wantCode(f.otherSecret, "")
	f.a.wantCode(second, "")
	if v := f.a.verify(second, ""); v.Key["owner"] != "team:ops" {
		t.Errorf("transferred key owner: got %v, want team:ops", v.Key["owner"])
	}
	wantRedirect(t, f.adminB.post("/admin/users/"+itoa(f.member.ID)+"/disable", url.Values{"keys": {"fail"}}), "/admin/users")
	f.a.wantCode(memberSecret, "DISABLED")
	f.a.wantCode(f.paySecret, "")
}
