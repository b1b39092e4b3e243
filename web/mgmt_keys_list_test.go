package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

type keyListJSON struct {
	Items      []apiKeyJSON
	NextCursor *string `json:"next_cursor"`
}

// names lists the items' names in order.
func (l keyListJSON) names() []string {
	out := []string{}
	for _, k := range l.Items {
		out = append(out, k.Name)
	}
	return out
}

// listNames GETs path and returns the names listed, failing on any other
// answer than 200.
func listNames(t *testing.T, c *mgmtClient, path string) []string {
	t.Helper()
	r := c.get(path)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got %d: %s", path, r.StatusCode, r.body)
	}
	var l keyListJSON
	r.decode(t, &l)
	return l.names()
}

// TestMgmtKeysFilters: every filter of the list, on keys in every state.
func TestMgmtKeysFilters(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	ann := a.createUser("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)
	root := a.createUser("root@example.com", db.RoleAdmin)
	day := 24 * time.Hour
	in := func(name string, exp time.Duration, scopes ...string) db.KeyInput {
		k := db.KeyInput{Name: name, Scopes: scopes}
		if exp != 0 {
			t := a.clock.Now().Add(exp)
			k.ExpiresAt = &t
		}
		return k
	}
	a.storeKey(ann.ID, in("old", 0))
	a.storeKey(bob.ID, in("bob old", 0))
	a.clock.Advance(31 * day) // old keys: never used for more than 30 days
	gamma, _ := a.storeKey(ann.ID, in("gamma", time.Hour))
	a.clock.Advance(2 * time.Hour) // gamma expired
	_, alphaSecret := a.storeKey(ann.ID, in("alpha", 0, "read"))
	a.storeKey(ann.ID, in("beta", 3*day))
	delta, _ := a.storeKey(ann.ID, in("delta", 40*day))
	eps, _ := a.storeKey(ann.ID, in("eps", 0))
	team, err := a.store.CreateTeam(ctx, "payments", "", db.CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.AddTeamMember(ctx, team.ID, ann.Email, db.TeamMaintainer, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	a.storeKey(ann.ID, db.KeyInput{Name: "team-k", TeamID: team.ID})
	a.storeKey(bob.ID, in("bob new", 0))
	if _, err := a.store.SetKeyDisabled(ctx, db.AnyOwner(), delta.ID, true, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), eps.ID, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	if v := a.verify(alphaSecret, ""); !v.Valid {
		t.Fatalf("verify alpha: %+v", v)
	}
	a.flush()
	_ = gamma

	annAPI := a.mgmt(a.token(ann, db.PermKeysRead))
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"team-k", "eps", "delta", "beta", "alpha", "gamma", "old"}},
		{"status=active", []string{"team-k", "beta", "alpha", "old"}},
		{"status=expiring", []string{"beta"}},
		{"status=expired", []string{"gamma"}},
		{"status=disabled", []string{"delta"}},
		{"status=revoked", []string{"eps"}},
		{"stale=true", []string{"old"}},
		{"never_used=true", []string{"team-k", "eps", "delta", "beta", "gamma", "old"}},
		{"expiring_within=5d", []string{"beta"}},
		{"expiring_within=73h", []string{"beta"}},
		{"expiring_within=71h", []string{}},
		{"search=ALP", []string{"alpha"}},
		{"scope=read", []string{"alpha"}},
		{"team=payments", []string{"team-k"}},
		{"sort=expires", []string{"gamma", "beta", "delta", "team-k", "eps", "alpha", "old"}},
		{"sort=last_used", []string{"alpha", "team-k", "eps", "delta", "beta", "gamma", "old"}},
		{"status=active&sort=expires&limit=2", []string{"beta", "team-k"}},
	}
	for _, tt := range tests {
		t.Run("keys?"+tt.query, func(t *testing.T) {
			if got := listNames(t, annAPI, "/api/v1/keys?"+tt.query); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	annAPI.get("/api/v1/keys?team=ghosts").wantProblem(t, http.StatusUnprocessableEntity, "VALIDATION_FAILED")

	adminAPI := a.mgmt(a.token(root, db.PermAdminRead))
	admin := []struct {
		query string
		want  []string
	}{
		{"owner=BOB@example.com", []string{"bob new", "bob old"}},
		{"stale=true", []string{"bob old", "old"}},
		{"stale=true&owner=bob@example.com", []string{"bob old"}},
		{"search=bob&limit=1", []string{"bob new"}},
	}
	for _, tt := range admin {
		t.Run("admin/keys?"+tt.query, func(t *testing.T) {
			if got := listNames(t, adminAPI, "/api/v1/admin/keys?"+tt.query); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// A key the list shows carries its usage.
	var usage struct {
		Days []struct {
			Day   string
			Count int64
		}
	}
	alpha := listNames(t, annAPI, "/api/v1/keys?search=alpha")
	if len(alpha) != 1 {
		t.Fatal("alpha not listed")
	}
	var l keyListJSON
	annAPI.get("/api/v1/keys?search=alpha").decode(t, &l)
	annAPI.get(fmt.Sprintf("/api/v1/keys/%d/usage?days=3", l.Items[0].ID)).decode(t, &usage)
	today := a.clock.Now().Format(time.DateOnly)
	if len(usage.Days) != 3 || usage.Days[2].Day != today || usage.Days[2].Count != 1 || usage.Days[0].Count != 0 {
		t.Errorf("usage: got %+v, want 3 days ending %s with one use today", usage.Days, today)
	}
}

// TestMgmtKeysPagination: following next_cursor visits every key exactly
// once, in every order, even while keys are created between pages.
func TestMgmtKeysPagination(t *testing.T) {
	a := newTestApp(t)
	ann := a.createUser("ann@example.com", db.RoleMember)
	const n = 57
	want := map[int64]bool{}
	for i := range n {
		in := db.KeyInput{Name: fmt.Sprintf("k%02d", i)}
		if i%3 == 0 {
			exp := a.clock.Now().Add(time.Duration(1+i%4) * 24 * time.Hour)
			in.ExpiresAt = &exp
		}
		k, _ := a.storeKey(ann.ID, in)
		want[k.ID] = true
	}
	api := a.mgmt(a.token(ann))
	for _, sort := range []string{"created", "last_used", "expires"} {
		t.Run(sort, func(t *testing.T) {
			seen := map[int64]bool{}
			pages := 0
			path := "/api/v1/keys?limit=10&sort=" + sort
			for next := ""; ; {
				q := path
				if next != "" {
					q += "&cursor=" + url.QueryEscape(next)
				}
				var l keyListJSON
				api.get(q).decode(t, &l)
				pages++
				for _, k := range l.Items {
					if seen[k.ID] {
						t.Errorf("page %d: key %d listed twice", pages, k.ID)
					}
					seen[k.ID] = true
				}
				// A key created mid-walk must not shift what follows.
				a.storeKey(ann.ID, db.KeyInput{Name: "late"})
				if l.NextCursor == nil {
					if len(l.Items) > 10 {
						t.Errorf("last page holds %d keys", len(l.Items))
					}
					break
				}
				next = *l.NextCursor
			}
			for id := range want {
				if !seen[id] {
					t.Errorf("key %d never listed", id)
				}
			}
			if sort == "created" && (len(seen) != n || pages != 6) {
				t.Errorf("walked %d keys in %d pages, want %d in 6", len(seen), pages, n)
			}
		})
	}
	// A cursor belongs to its order.
	var l keyListJSON
	api.get("/api/v1/keys?limit=1").decode(t, &l)
	api.get("/api/v1/keys?limit=1&sort=expires&cursor="+url.QueryEscape(*l.NextCursor)).
		wantProblem(t, http.StatusBadRequest, "INVALID_CURSOR")
}
