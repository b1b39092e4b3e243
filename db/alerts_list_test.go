package db

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// alertsEnv: ann owns a personal key; the team "payments" (alice
// maintainer, bob member) owns another; carl owns a third. Each key has
// alerts of a few rules.
type alertsEnv struct {
	s                  *Store
	clock              *fakeClock
	ann, alice, bob    User
	carl, admin        User
	annKey, teamKey    Key
	carlKey            Key
	annSpike, annDead  int64
	teamSpike, carlNew int64
}

func newAlertsEnv(t *testing.T) alertsEnv {
	t.Helper()
	ctx := context.Background()
	e := alertsEnv{clock: newFakeClock()}
	e.s = newTestStore(t, withClock(e.clock))
	e.ann = mustCreateUser(t, e.s, "ann@example.com", RoleMember)
	e.alice = mustCreateUser(t, e.s, "alice@example.com", RoleMember)
	e.bob = mustCreateUser(t, e.s, "bob@example.com", RoleMember)
	e.carl = mustCreateUser(t, e.s, "carl@example.com", RoleMember)
	e.admin = mustCreateUser(t, e.s, "admin@example.com", RoleAdmin)
	team, err := e.s.CreateTeam(ctx, "payments", "", CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	for email, role := range map[string]TeamRole{"alice@example.com": TeamMaintainer, "bob@example.com": TeamMember} {
		if err := e.s.AddTeamMember(ctx, team.ID, email, role, CLIActor()); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(owner User, in KeyInput) Key {
		t.Helper()
		k, _, err := e.s.CreateKey(ctx, owner.ID, in, CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	e.annKey = mk(e.ann, KeyInput{Name: "deploy"})
	e.teamKey = mk(e.alice, KeyInput{Name: "charges", TeamID: team.ID})
	e.carlKey = mk(e.carl, KeyInput{Name: "backup"})
	raise := func(rule string, k Key) int64 {
		t.Helper()
		e.clock.Advance(time.Minute)
		id, _, err := e.s.RaiseAlert(ctx, AlertFinding{Rule: rule, KeyID: k.ID, Summary: rule + " on " + k.Name,
			Evidence: map[string]any{"attempts": 3, "addresses": []string{"203.0.113.7"}}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	e.annSpike = raise(RuleSpike, e.annKey)
	e.annDead = raise(RuleDeadKey, e.annKey)
	e.teamSpike = raise(RuleSpike, e.teamKey)
	e.carlNew = raise(RuleNewNetwork, e.carlKey)
	return e
}

func alertIDs(as []Alert) []int64 {
	var ids []int64
	for _, a := range as {
		ids = append(ids, a.ID)
	}
	return ids
}

func TestListAlertsScopedAndFiltered(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		e := newAlertsEnv(t)
		tests := []struct {
			name   string
			access KeyAccess
			f      AlertFilter
			want   []int64
		}{
			{"ann sees her key's alerts", VisibleTo(e.ann.ID), AlertFilter{}, []int64{e.annDead, e.annSpike}},
			{"bob sees his team's", VisibleTo(e.bob.ID), AlertFilter{}, []int64{e.teamSpike}},
			{"alice sees her team's", VisibleTo(e.alice.ID), AlertFilter{}, []int64{e.teamSpike}},
			{"an admin sees all, last seen first", AnyOwner(), AlertFilter{}, []int64{e.carlNew, e.teamSpike, e.annDead, e.annSpike}},
			{"by rule", AnyOwner(), AlertFilter{Rule: RuleSpike}, []int64{e.teamSpike, e.annSpike}},
			{"by key", AnyOwner(), AlertFilter{KeyID: e.annKey.ID}, []int64{e.annDead, e.annSpike}},
			{"another's key: nothing", VisibleTo(e.carl.ID), AlertFilter{KeyID: e.annKey.ID}, nil},
			{"resolved: none yet", AnyOwner(), AlertFilter{Status: AlertResolved}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				page, err := e.s.ListAlerts(ctx, tc.access, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := alertIDs(page.Alerts); !slices.Equal(got, tc.want) {
					t.Errorf("got alerts %v, want %v", got, tc.want)
				}
			})
		}
		page, err := e.s.ListAlerts(ctx, VisibleTo(e.bob.ID), AlertFilter{})
		if err != nil || len(page.Alerts) != 1 {
			t.Fatalf("bob's alerts: %v, %v", page, err)
		}
		a := page.Alerts[0]
		if a.Owner != "team:payments" || a.OwnerType != OwnerTeam || a.KeyName != "charges" || a.KeyHint != e.teamKey.Hint ||
			a.Status != AlertOpen || a.Occurrences != 1 || a.Evidence["attempts"] != float64(3) {
			t.Errorf("team alert: got %+v", a)
		}
	})
}

func TestListAlertsPaging(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		e := newAlertsEnv(t)
		var got []int64
		after := ""
		for range 10 {
			page, err := e.s.ListAlerts(ctx, AnyOwner(), AlertFilter{Limit: 1, After: after})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, alertIDs(page.Alerts)...)
			if after = page.Next; after == "" {
				break
			}
		}
		if want := []int64{e.carlNew, e.teamSpike, e.annDead, e.annSpike}; !slices.Equal(got, want) {
			t.Errorf("pages of one: got %v, want %v", got, want)
		}
		for _, bad := range []string{"x", "1-", "-1", "12-0", "99999999999999999999999-1"} {
			if _, err := e.s.ListAlerts(ctx, AnyOwner(), AlertFilter{After: bad}); !errors.Is(err, ErrInvalid) {
				t.Errorf("After %q: got %v, want ErrInvalid", bad, err)
			}
		}
		if _, err := e.s.ListAlerts(ctx, AnyOwner(), AlertFilter{Status: "gone"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("unknown status: got %v, want ErrInvalid", err)
		}
	})
}

func TestAcknowledgeAndResolveAlert(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		e := newAlertsEnv(t)
		alice := Actor{UserID: e.alice.ID, Label: e.alice.Email}
		// Who may act: a team's member sees but does not manage; another
		// person does not even see.
		for _, tc := range []struct {
			name   string
			access KeyAccess
			id     int64
		}{
			{"team member", ManagedBy(e.bob.ID), e.teamSpike},
			{"outsider", ManagedBy(e.carl.ID), e.annSpike},
			{"no such alert", AnyOwner(), 99999},
		} {
			if _, _, err := e.s.AcknowledgeAlert(ctx, tc.access, tc.id, alice); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s acknowledges: got %v, want ErrNotFound", tc.name, err)
			}
			if _, _, err := e.s.ResolveAlert(ctx, tc.access, tc.id, alice); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s resolves: got %v, want ErrNotFound", tc.name, err)
			}
		}
		steps := []struct {
			name        string
			do          func(context.Context, KeyAccess, int64, Actor) (Alert, bool, error)
			wantChanged bool
			wantStatus  string
			wantActive  int
		}{
			{"acknowledge", e.s.AcknowledgeAlert, true, AlertAcknowledged, 1},
			{"acknowledge again", e.s.AcknowledgeAlert, false, AlertAcknowledged, 1},
			{"resolve the acknowledged", e.s.ResolveAlert, true, AlertResolved, 0},
			{"resolve again", e.s.ResolveAlert, false, AlertResolved, 0},
			{"acknowledge the resolved", e.s.AcknowledgeAlert, false, AlertResolved, 0},
		}
		for _, st := range steps {
			e.clock.Advance(time.Minute)
			a, changed, err := st.do(ctx, ManagedBy(e.alice.ID), e.teamSpike, alice)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if changed != st.wantChanged || a.Status != st.wantStatus {
				t.Errorf("%s: got changed=%v status %q, want %v %q", st.name, changed, a.Status, st.wantChanged, st.wantStatus)
			}
			if n, err := e.s.CountActiveAlerts(ctx, VisibleTo(e.bob.ID)); err != nil || n != st.wantActive {
				t.Errorf("%s: bob's badge got %d (%v), want %d", st.name, n, err, st.wantActive)
			}
		}
		a, err := e.s.GetAlert(ctx, VisibleTo(e.bob.ID), e.teamSpike)
		if err != nil {
			t.Fatal(err)
		}
		if a.AcknowledgedBy != "alice@example.com" || a.ResolvedBy != "alice@example.com" || a.AcknowledgedAt == nil ||
			a.ResolvedAt == nil || !a.ResolvedAt.After(*a.AcknowledgedAt) {
			t.Errorf("handled alert: got %+v", a)
		}
		events, err := e.s.ListAudit(ctx, AuditFilter{TargetType: "key", TargetID: e.teamKey.ID})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range events {
			if ev.Action == ActionAlertAcknowledge || ev.Action == ActionAlertResolve {
				actions = append(actions, ev.Action)
				if ev.Detail["rule"] != RuleSpike || ev.Actor != "alice@example.com" {
					t.Errorf("audit %s: got %+v", ev.Action, ev)
				}
			}
		}
		slices.Sort(actions)
		if want := []string{ActionAlertAcknowledge, ActionAlertResolve}; !slices.Equal(actions, want) {
			t.Errorf("audit: got %v, want one of each (acting twice is no change)", actions)
		}
		// An admin resolves an open alert directly; counts follow.
		if _, changed, err := e.s.ResolveAlert(ctx, AnyOwner(), e.carlNew, Actor{UserID: e.admin.ID, Label: e.admin.Email}); err != nil || !changed {
			t.Errorf("admin resolves an open alert: changed=%v, %v", changed, err)
		}
		for _, tc := range []struct {
			name   string
			access KeyAccess
			want   int
		}{
			{"admin", AnyOwner(), 2},
			{"ann", VisibleTo(e.ann.ID), 2},
			{"carl", VisibleTo(e.carl.ID), 0},
		} {
			if n, err := e.s.CountActiveAlerts(ctx, tc.access); err != nil || n != tc.want {
				t.Errorf("%s's badge: got %d (%v), want %d", tc.name, n, err, tc.want)
			}
		}
		if n, err := e.s.CountKeyAlerts(ctx, e.annKey.ID); err != nil || n != 2 {
			t.Errorf("ann's key alerts: got %d (%v), want 2", n, err)
		}
		// After resolving, the rule firing again opens a new alert.
		if id, opened, err := e.s.RaiseAlert(ctx, AlertFinding{Rule: RuleSpike, KeyID: e.teamKey.ID, Summary: "again"}); err != nil || !opened || id == e.teamSpike {
			t.Errorf("raise after resolve: id %d opened=%v, %v; want a new alert", id, opened, err)
		}
	})
}
