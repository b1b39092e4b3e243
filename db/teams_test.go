package db

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// teamEnv is a key test environment with a team "payments" that alice
// maintains and bob is a member of, and carol outside it.
type teamEnv struct {
	*keyTestEnv
	carol User
	team  Team
}

func newTeamEnv(t *testing.T) *teamEnv {
	t.Helper()
	env := &teamEnv{keyTestEnv: newKeyTestEnv(t)}
	env.carol = ktUser(t, env.s, "carol@example.com")
	ctx := context.Background()
	var err error
	if env.team, err = env.s.CreateTeam(ctx, "Payments", "Card processing", CLIActor()); err != nil {
		t.Fatalf("CreateTeam: %v", err)
	}
	if err := env.s.AddTeamMember(ctx, env.team.ID, "alice@example.com", TeamMaintainer, CLIActor()); err != nil {
		t.Fatalf("AddTeamMember(alice): %v", err)
	}
	if err := env.s.AddTeamMember(ctx, env.team.ID, "BOB@example.com", TeamMember, CLIActor()); err != nil {
		t.Fatalf("AddTeamMember(bob): %v", err)
	}
	return env
}

func teamKey(id int64) func(*KeyInput) { return func(in *KeyInput) { in.TeamID = id } }

func TestTeamCreateValidation(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTeamEnv(t)
		ctx := context.Background()
		if env.team.Name != "payments" {
			t.Errorf("name = %q, want it lower-cased to %q", env.team.Name, "payments")
		}
		for _, tc := range []struct {
			name, team, field string
		}{
			{"empty", "", "name"},
			{"starts with a dash", "-ops", "name"},
			{"space", "two words", "name"},
			{"too long", strings.Repeat("a", 64), "name"},
			{"taken, any case", "PAYMENTS", "name"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := env.s.CreateTeam(ctx, tc.team, "", CLIActor())
				if fe := FieldErrors(err); fe[tc.field] == "" {
					t.Errorf("CreateTeam(%q) = %v, want a field error on %q", tc.team, err, tc.field)
				}
			})
		}
		teams, err := env.s.ListTeams(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(teams) != 1 || teams[0].Members != 2 {
			t.Errorf("ListTeams = %+v, want only payments with 2 members", teams)
		}
	})
}

func TestTeamMembers(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTeamEnv(t)
		ctx := context.Background()
		dave := ktUser(t, env.s, "dave@example.com")
		if err := env.s.SetUserDisabled(ctx, dave.ID, true, CLIActor()); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ name, email string }{
			{"disabled person", "dave@example.com"},
			{"unknown person", "nobody@example.com"},
			{"already a member", "bob@example.com"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := env.s.AddTeamMember(ctx, env.team.ID, tc.email, TeamMember, CLIActor())
				if FieldErrors(err)["email"] == "" {
					t.Errorf("AddTeamMember(%s) = %v, want a field error on email", tc.email, err)
				}
			})
		}
		if err := env.s.SetTeamMemberRole(ctx, env.team.ID, env.bob.ID, TeamMaintainer, CLIActor()); err != nil {
			t.Fatal(err)
		}
		if got, _ := env.s.TeamRoleOf(ctx, env.team.ID, env.bob.ID); got != TeamMaintainer {
			t.Errorf("bob's role = %q, want maintainer", got)
		}
		if err := env.s.RemoveTeamMember(ctx, env.team.ID, env.bob.ID, CLIActor()); err != nil {
			t.Fatal(err)
		}
		if err := env.s.RemoveTeamMember(ctx, env.team.ID, env.bob.ID, CLIActor()); !errors.Is(err, ErrNotFound) {
			t.Errorf("second remove = %v, want ErrNotFound", err)
		}
		mine, err := env.s.UserTeams(ctx, env.alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(mine) != 1 || mine[0].MyRole != TeamMaintainer {
			t.Errorf("alice's teams = %+v, want payments as maintainer", mine)
		}
		events, err := env.s.ListAudit(ctx, AuditFilter{TargetType: "team", TargetID: env.team.ID})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action)
		}
		want := []string{ActionTeamMemberRemove, ActionTeamMemberRole, ActionTeamMemberAdd, ActionTeamMemberAdd, ActionTeamCreate}
		if !slices.Equal(actions, want) {
			t.Errorf("audit = %q, want %q", actions, want)
		}
	})
}

// TestTeamKeyAccess is the who-sees-what table: a maintainer sees and
// manages the team's keys, a member only sees them, an outsider neither.
func TestTeamKeyAccess(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTeamEnv(t)
		ctx := context.Background()
		tk, _ := env.key(t, env.alice, "team key", teamKey(env.team.ID))
		pk, _ := env.key(t, env.alice, "alice personal")
		if tk.Owner() != "team:payments" || tk.OwnerType() != OwnerTeam {
			t.Fatalf("team key owner = %q (%s), want team:payments", tk.Owner(), tk.OwnerType())
		}
		for _, tc := range []struct {
			name         string
			access       KeyAccess
			wantSeeTeam  bool
			wantSeeOwn   bool
			wantListSize int
		}{
			{"maintainer manages", ManagedBy(env.alice.ID), true, true, 2},
			{"maintainer sees", VisibleTo(env.alice.ID), true, true, 2},
			{"member sees", VisibleTo(env.bob.ID), true, false, 1},
			{"member manages", ManagedBy(env.bob.ID), false, false, 0},
			{"outsider sees", VisibleTo(env.carol.ID), false, false, 0},
			{"admin", AnyOwner(), true, true, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := env.s.GetKey(ctx, tc.access, tk.ID)
				if got := err == nil; got != tc.wantSeeTeam {
					t.Errorf("GetKey(team key) err = %v, want found %v", err, tc.wantSeeTeam)
				}
				_, err = env.s.GetKey(ctx, tc.access, pk.ID)
				if got := err == nil; got != tc.wantSeeOwn {
					t.Errorf("GetKey(alice's personal key) err = %v, want found %v", err, tc.wantSeeOwn)
				}
				keys, err := env.s.ListKeys(ctx, tc.access, KeyFilter{})
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) != tc.wantListSize {
					t.Errorf("ListKeys = %d keys, want %d", len(keys), tc.wantListSize)
				}
			})
		}
		if _, err := env.s.RevokeKey(ctx, ManagedBy(env.bob.ID), tk.ID, "", Actor{UserID: env.bob.ID}); !errors.Is(err, ErrNotFound) {
			t.Errorf("member's revoke = %v, want ErrNotFound", err)
		}
		if _, _, err := env.s.CreateKey(ctx, env.bob.ID, KeyInput{Name: "x", TeamID: env.team.ID}, CLIActor()); FieldErrors(err)["team"] == "" {
			t.Errorf("member creating a team key = %v, want a field error on team", err)
		}
		teamOnly, err := env.s.ListKeys(ctx, AnyOwner(), KeyFilter{Owner: OwnerTeam})
		if err != nil || len(teamOnly) != 1 || teamOnly[0].ID != tk.ID {
			t.Errorf("ListKeys(owner team) = %v, %v; want the team key alone", teamOnly, err)
		}
		// A maintainer rolls the team's key and the new one is the team's.
		nk, _, _, err := env.s.RollKey(ctx, env.alice.ID, tk.ID, 0, Actor{UserID: env.alice.ID})
		if err != nil {
			t.Fatalf("RollKey: %v", err)
		}
		if nk.TeamID != env.team.ID {
			t.Errorf("rolled key team = %d, want %d", nk.TeamID, env.team.ID)
		}
	})
}

func TestTeamKeysOutliveTheirCreator(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTeamEnv(t)
		ctx := context.Background()
		v := NewVerifier(env.s, VerifierOptions{})
		_, teamSecret := env.key(t, env.alice, "team key", teamKey(env.team.ID))
		_, ownSecret := env.key(t, env.alice, "own key")
		res := verify(t, v, teamSecret, "")
		wantCode(t, res, "")
		if res.Owner != "team:payments" || res.OwnerType != OwnerTeam {
			t.Errorf("owner = %q/%q, want team:payments/team", res.Owner, res.OwnerType)
		}
		if err := env.s.SetUserDisabled(ctx, env.alice.ID, true, CLIActor()); err != nil {
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, teamSecret, ""), "")
		wantCode(t, verify(t, v, ownSecret, ""), CodeDisabled)
	})
}

func TestTransferKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTeamEnv(t)
		ctx := context.Background()
		v := NewVerifier(env.s, VerifierOptions{})
		k, secret := env.key(t, env.alice, "svc")
		other, err := env.s.CreateTeam(ctx, "ops", "", CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		dave := ktUser(t, env.s, "dave@example.com")
		if err := env.s.SetUserDisabled(ctx, dave.ID, true, CLIActor()); err != nil {
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, secret, ""), "")
		aliceActor := Actor{UserID: env.alice.ID, Label: env.alice.Email}
		for _, tc := range []struct {
			name   string
			access KeyAccess
			to     TransferTarget
			field  string
			kind   error
		}{
			{"to a team she does not maintain", ManagedBy(env.alice.ID), TransferTarget{TeamID: other.ID}, "team", nil},
			{"to a person, not an admin", ManagedBy(env.alice.ID), TransferTarget{UserID: env.bob.ID}, "user", nil},
			{"to a disabled person", AnyOwner(), TransferTarget{UserID: dave.ID}, "user", nil},
			{"to an unknown team", AnyOwner(), TransferTarget{TeamID: 9999}, "team", nil},
			{"to nobody", AnyOwner(), TransferTarget{}, "team", nil},
			{"to herself", AnyOwner(), TransferTarget{UserID: env.alice.ID}, "user", nil},
			{"by a member of nothing", ManagedBy(env.carol.ID), TransferTarget{TeamID: env.team.ID}, "", ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := env.s.TransferKey(ctx, tc.access, k.ID, tc.to, aliceActor)
				if tc.kind != nil {
					if !errors.Is(err, tc.kind) {
						t.Errorf("err = %v, want %v", err, tc.kind)
					}
				} else if FieldErrors(err)[tc.field] == "" {
					t.Errorf("err = %v, want a field error on %q", err, tc.field)
				}
				got, _ := env.s.GetKey(ctx, AnyOwner(), k.ID)
				if got.TeamID != 0 || got.UserID != env.alice.ID {
					t.Errorf("after a refused transfer the key is owned by team %d / user %d", got.TeamID, got.UserID)
				}
			})
		}
		// The same Verifier answers the new owner at once.
		moved, err := env.s.TransferKey(ctx, ManagedBy(env.alice.ID), k.ID, TransferTarget{TeamID: env.team.ID}, aliceActor)
		if err != nil {
			t.Fatal(err)
		}
		if moved.Owner() != "team:payments" {
			t.Errorf("owner after transfer = %q", moved.Owner())
		}
		if res := verify(t, v, secret, ""); res.Owner != "team:payments" {
			t.Errorf("verify owner after transfer = %q, want team:payments", res.Owner)
		}
		events, err := env.s.KeyEvents(ctx, AnyOwner(), k.ID, 1)
		if err != nil || len(events) != 1 || events[0].Action != ActionKeyTransfer ||
			events[0].Detail["old"] != "alice@example.com" || events[0].Detail["new"] != "team:payments" {
			t.Errorf("last key event = %+v, %v; want a transfer alice -> team:payments", events, err)
		}
		// An admin gives it to bob as a person.
		if _, err := env.s.TransferKey(ctx, AnyOwner(), k.ID, TransferTarget{UserID: env.bob.ID}, CLIActor()); err != nil {
			t.Fatal(err)
		}
		if res := verify(t, v, secret, ""); res.Owner != "bob@example.com" || res.OwnerType != OwnerUser {
			t.Errorf("verify owner after transfer to bob = %q/%q", res.Owner, res.OwnerType)
		}
	})
}

func TestDisableUserTransferringKeys(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTeamEnv(t)
		ctx := context.Background()
		v := NewVerifier(env.s, VerifierOptions{})
		_, a1 := env.key(t, env.alice, "a1")
		_, a2 := env.key(t, env.alice, "a2")
		_, c1 := env.key(t, env.carol, "c1")
		keys, err := env.s.PersonalKeys(ctx, env.alice.ID)
		if err != nil || len(keys) != 2 {
			t.Fatalf("PersonalKeys = %d keys, %v; want 2", len(keys), err)
		}
		if _, err := env.s.DisableUserTransferringKeys(ctx, env.alice.ID, TransferTarget{UserID: env.alice.ID}, CLIActor()); FieldErrors(err)["user"] == "" {
			t.Errorf("transfer to the person being disabled = %v, want a field error", err)
		}
		n, err := env.s.DisableUserTransferringKeys(ctx, env.alice.ID, TransferTarget{TeamID: env.team.ID}, CLIActor())
		if err != nil || n != 2 {
			t.Fatalf("DisableUserTransferringKeys = %d, %v; want 2 moved", n, err)
		}
		if err := env.s.SetUserDisabled(ctx, env.carol.ID, true, CLIActor()); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, secret string
			want         VerifyCode
		}{
			{"transferred a1", a1, ""},
			{"transferred a2", a2, ""},
			{"carol's, not transferred", c1, CodeDisabled},
		} {
			t.Run(tc.name, func(t *testing.T) { wantCode(t, verify(t, v, tc.secret, ""), tc.want) })
		}
		u, _ := env.s.GetUser(ctx, env.alice.ID)
		if !u.Disabled() {
			t.Error("alice is not disabled")
		}
	})
}

func TestDeleteTeam(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTeamEnv(t)
		ctx := context.Background()
		k, _ := env.key(t, env.alice, "team key", teamKey(env.team.ID))
		if err := env.s.DeleteTeam(ctx, env.team.ID, CLIActor()); !errors.Is(err, ErrConflict) {
			t.Fatalf("DeleteTeam with a live key = %v, want ErrConflict", err)
		}
		if _, err := env.s.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		if err := env.s.DeleteTeam(ctx, env.team.ID, CLIActor()); err != nil {
			t.Fatalf("DeleteTeam: %v", err)
		}
		got, err := env.s.GetKey(ctx, AnyOwner(), k.ID)
		if err != nil || got.TeamID != 0 || got.UserID != env.alice.ID {
			t.Errorf("revoked key after delete = %+v, %v; want alice's, history kept", got, err)
		}
		if _, err := env.s.GetTeam(ctx, env.team.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetTeam after delete = %v, want ErrNotFound", err)
		}
	})
}

func TestRenameTeamReachesVerify(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newTeamEnv(t)
		ctx := context.Background()
		v := NewVerifier(env.s, VerifierOptions{})
		_, secret := env.key(t, env.alice, "team key", teamKey(env.team.ID))
		verify(t, v, secret, "")
		if _, err := env.s.UpdateTeam(ctx, env.team.ID, "billing", "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		if res := verify(t, v, secret, ""); res.Owner != "team:billing" {
			t.Errorf("owner after rename = %q, want team:billing", res.Owner)
		}
	})
}
