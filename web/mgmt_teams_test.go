package web

import (
	"net/http"
	"slices"
	"testing"

	"github.com/keyward/keyward/db"
)

type apiTeamRow struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Members   int     `json:"members"`
	Keys      int     `json:"keys"`
	MyRole    *string `json:"my_role"`
	CanManage bool    `json:"can_manage"`
	People    []struct {
		UserID int64  `json:"user_id"`
		Email  string `json:"email"`
		Role   string `json:"role"`
	} `json:"people"`
}

// people lists a team's members as "email:role".
func (t apiTeamRow) people() []string {
	var out []string
	for _, p := range t.People {
		out = append(out, p.Email+":"+p.Role)
	}
	slices.Sort(out)
	return out
}

func teamNames(rows []apiTeamRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Name
	}
	return out
}

// TestMgmtTeams: an admin's token creates a team and names its
// maintainer, whose own token (keys:write) manages the team's people as
// on the team page; members only see it, outsiders get 404; every change
// is audited with the token it was made with.
func TestMgmtTeams(t *testing.T) {
	a := newTestApp(t)
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)
	carol := a.createUser("carol@example.com", db.RoleMember)
	adminTok, adminTokID := a.adminToken(admin)
	annTok, annTokID := a.adminToken(ann)
	adm, annC, bobC, carolC := a.mgmt(adminTok), a.mgmt(annTok), a.mgmt(a.token(bob)), a.mgmt(a.token(carol))

	var team apiTeamRow
	r := adm.post("/api/v1/teams", map[string]string{"name": "Payments", "description": "Money"})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: got %d, want 201: %s", r.StatusCode, r.body)
	}
	r.decode(t, &team)
	if team.Name != "payments" || !team.CanManage || team.MyRole != nil || len(team.People) != 0 {
		t.Errorf("create: got %+v, want payments, manageable, nobody in it", team)
	}
	a.wantTokenEvent(t, db.ActionTeamCreate, admin, adminTokID)
	if r := adm.post("/api/v1/teams", map[string]string{"name": "search"}); r.StatusCode != http.StatusCreated {
		t.Fatalf("create search: got %d", r.StatusCode)
	}
	base := "/api/v1/teams/" + itoa(team.ID)

	r = adm.post(base+"/members", map[string]string{"email": "ann@example.com", "role": "maintainer"})
	r.decode(t, &team)
	if r.StatusCode != http.StatusOK || !slices.Equal(team.people(), []string{"ann@example.com:maintainer"}) {
		t.Fatalf("admin adds ann: got %d %v", r.StatusCode, team.people())
	}
	a.wantTokenEvent(t, db.ActionTeamMemberAdd, admin, adminTokID)

	// The maintainer's own token manages the team's people.
	r = annC.post(base+"/members", map[string]string{"email": "bob@example.com", "role": "member"})
	r.decode(t, &team)
	if r.StatusCode != http.StatusOK || !slices.Equal(team.people(), []string{"ann@example.com:maintainer", "bob@example.com:member"}) {
		t.Fatalf("ann adds bob: got %d %v", r.StatusCode, team.people())
	}
	a.wantTokenEvent(t, db.ActionTeamMemberAdd, ann, annTokID)
	r = annC.post(base+"/members/"+itoa(bob.ID)+"/role", map[string]string{"role": "maintainer"})
	r.decode(t, &team)
	if r.StatusCode != http.StatusOK || !slices.Contains(team.people(), "bob@example.com:maintainer") {
		t.Errorf("ann makes bob a maintainer: got %d %v", r.StatusCode, team.people())
	}
	a.wantTokenEvent(t, db.ActionTeamMemberRole, ann, annTokID)
	r = annC.post(base+"/members/"+itoa(bob.ID)+"/role", map[string]string{"role": "member"})
	if r.StatusCode != http.StatusOK {
		t.Errorf("bob back to member: got %d", r.StatusCode)
	}

	t.Run("lists", func(t *testing.T) {
		tests := []struct {
			name string
			c    *mgmtClient
			want []string
		}{
			{"admin sees every team", adm, []string{"payments", "search"}},
			{"member sees theirs", bobC, []string{"payments"}},
			{"outsider sees none", carolC, []string{}},
			{"admin token without admin:read sees theirs", a.mgmt(a.token(admin, db.PermKeysRead)), []string{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := walk[apiTeamRow](t, tt.c, "/api/v1/teams", nil, 1)
				if !slices.Equal(teamNames(got), tt.want) {
					t.Errorf("teams: got %v, want %v", teamNames(got), tt.want)
				}
			})
		}
		got := walk[apiTeamRow](t, bobC, "/api/v1/teams", nil, 10)
		if len(got) != 1 || got[0].MyRole == nil || *got[0].MyRole != "member" || got[0].Members != 2 {
			t.Errorf("bob's team: got %+v, want payments with 2 people, bob a member", got)
		}
	})

	t.Run("get", func(t *testing.T) {
		var got apiTeamRow
		r := bobC.get(base)
		r.decode(t, &got)
		if r.StatusCode != http.StatusOK || got.CanManage || len(got.People) != 2 {
			t.Errorf("bob reads the team: got %d %+v, want 200, not manageable, 2 people", r.StatusCode, got)
		}
		auditor := a.mgmt(a.token(a.createUser("audrey@example.com", db.RoleAuditor)))
		r = auditor.get(base)
		r.decode(t, &got)
		if r.StatusCode != http.StatusOK || got.CanManage {
			t.Errorf("auditor reads the team: got %d can_manage=%v, want 200, false", r.StatusCode, got.CanManage)
		}
		carolC.get(base).wantProblem(t, http.StatusNotFound, "NOT_FOUND")
	})

	refusals := []struct {
		name   string
		c      *mgmtClient
		path   string
		body   any
		status int
		code   string
	}{
		{"member adds", bobC, base + "/members", map[string]string{"email": "carol@example.com", "role": "member"}, http.StatusNotFound, "NOT_FOUND"},
		{"member removes", bobC, base + "/members/" + itoa(ann.ID) + "/remove", nil, http.StatusNotFound, "NOT_FOUND"},
		{"outsider adds", carolC, base + "/members", map[string]string{"email": "carol@example.com", "role": "member"}, http.StatusNotFound, "NOT_FOUND"},
		{"read-only token", a.mgmt(a.token(ann, db.PermKeysRead)), base + "/members", map[string]string{"email": "carol@example.com", "role": "member"}, http.StatusForbidden, "MISSING_PERMISSION"},
		{"member creates a team", annC, "/api/v1/teams", map[string]string{"name": "mine"}, http.StatusForbidden, "MISSING_PERMISSION"},
		{"unknown team", adm, "/api/v1/teams/9999/members", map[string]string{"email": "carol@example.com", "role": "member"}, http.StatusNotFound, "NOT_FOUND"},
		{"unknown member", annC, base + "/members/" + itoa(carol.ID) + "/role", map[string]string{"role": "member"}, http.StatusNotFound, "NOT_FOUND"},
		{"no such person", annC, base + "/members", map[string]string{"email": "zed@example.com", "role": "member"}, http.StatusBadRequest, "INVALID"},
		{"already in", annC, base + "/members", map[string]string{"email": "bob@example.com", "role": "member"}, http.StatusBadRequest, "INVALID"},
		{"bad role", annC, base + "/members", map[string]string{"email": "carol@example.com", "role": "owner"}, http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
		{"bad member role", annC, base + "/members/" + itoa(bob.ID) + "/role", map[string]string{"role": "boss"}, http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
		{"unknown field", adm, "/api/v1/teams", map[string]string{"name": "x", "owner": "ann"}, http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
		{"taken name", adm, "/api/v1/teams", map[string]string{"name": "search"}, http.StatusBadRequest, "INVALID"},
		{"bad name", adm, "/api/v1/teams", map[string]string{"name": "no spaces"}, http.StatusBadRequest, "INVALID"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			before := len(a.auditEvents(""))
			tt.c.post(tt.path, tt.body).wantProblem(t, tt.status, tt.code)
			if after := len(a.auditEvents("")); after != before {
				t.Errorf("audit events: got %d, want %d (nothing written)", after, before)
			}
		})
	}

	t.Run("remove", func(t *testing.T) {
		r := annC.post(base+"/members/"+itoa(bob.ID)+"/remove", nil)
		var got apiTeamRow
		r.decode(t, &got)
		if r.StatusCode != http.StatusOK || !slices.Equal(got.people(), []string{"ann@example.com:maintainer"}) {
			t.Errorf("remove bob: got %d %v", r.StatusCode, got.people())
		}
		a.wantTokenEvent(t, db.ActionTeamMemberRemove, ann, annTokID)
		bobC.get(base).wantProblem(t, http.StatusNotFound, "NOT_FOUND")
		// A maintainer taking themselves out gets the team as they left it.
		r = annC.post(base+"/members/"+itoa(ann.ID)+"/remove", nil)
		r.decode(t, &got)
		if r.StatusCode != http.StatusOK || len(got.People) != 0 || got.MyRole != nil || got.CanManage {
			t.Errorf("ann leaves: got %d %+v, want 200, empty team, no role", r.StatusCode, got)
		}
	})
}
