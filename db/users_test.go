package db

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCreateUserAndAuthenticate(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ann := mustCreateUser(t, s, "  Ann@Example.COM ", RoleMember)
		if ann.Email != "ann@example.com" {
			t.Errorf("got email %q, want it normalized to ann@example.com", ann.Email)
		}
		if ann.IsAdmin() || ann.Disabled() || ann.LastLoginAt != nil {
			t.Errorf("got %+v, want an enabled member who never signed in", ann)
		}
		if !ann.CreatedAt.Equal(clock.Now()) || !ann.PasswordChangedAt.Equal(clock.Now()) {
			t.Errorf("got created %v, password changed %v, want %v", ann.CreatedAt, ann.PasswordChangedAt, clock.Now())
		}
		bob := mustCreateUser(t, s, "bob@example.com", RoleAdmin)
		mustCreateUser(t, s, "ada@example.com", RoleAdmin) // so bob is not the last admin
		if err := s.SetUserDisabled(ctx, bob.ID, true, CLIActor()); err != nil {
			t.Fatalf("disable bob: %v", err)
		}

		tests := []struct {
			name     string
			email    string
			password string
			wantErr  error
			wantID   int64
		}{
			{"correct", "ann@example.com", testPassword, nil, ann.ID},
			{"email in another case", "ANN@example.com", testPassword, nil, ann.ID},
			{"email with spaces", " ann@example.com\t", testPassword, nil, ann.ID},
			{"wrong password", "ann@example.com", testPassword + "!", ErrInvalidCredentials, 0},
			{"password in another case", "ann@example.com", "PLUM ORBIT CASCADE 47 LANTERN", ErrInvalidCredentials, 0},
			{"empty password", "ann@example.com", "", ErrInvalidCredentials, 0},
			{"unknown email", "nobody@example.com", testPassword, ErrInvalidCredentials, 0},
			{"disabled user, right password", "bob@example.com", testPassword, ErrInvalidCredentials, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				clock.Advance(time.Second)
				got, err := s.Authenticate(ctx, tt.email, tt.password)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				if err != nil {
					return
				}
				if got.ID != tt.wantID {
					t.Errorf("got user %d, want %d", got.ID, tt.wantID)
				}
				// Checking a password is not a sign-in: CreateSession records that.
				if got.LastLoginAt != nil {
					t.Errorf("got last login %v after Authenticate alone, want none", got.LastLoginAt)
				}
			})
		}
	})
}

func TestCreateUserValidation(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		mustCreateUser(t, s, "taken@example.com", RoleMember)

		tests := []struct {
			name       string
			email      string
			password   string
			role       Role
			wantFields map[string]string // field -> exact message, "" for any
		}{
			{"duplicate email", "taken@example.com", testPassword, RoleMember, map[string]string{"email": "An account with this email already exists."}},
			{"duplicate email other case", "TAKEN@Example.com", testPassword, RoleAdmin, map[string]string{"email": "An account with this email already exists."}},
			{"empty email", "", testPassword, RoleMember, map[string]string{"email": ""}},
			{"no at sign", "someone.example.com", testPassword, RoleMember, map[string]string{"email": ""}},
			{"two at signs", "a@b@example.com", testPassword, RoleMember, map[string]string{"email": ""}},
			{"no dot in domain", "someone@localhost", testPassword, RoleMember, map[string]string{"email": ""}},
			{"space inside", "some one@example.com", testPassword, RoleMember, map[string]string{"email": ""}},
			{"too long", strings.Repeat("a", 250) + "@example.com", testPassword, RoleMember, map[string]string{"email": ""}},
			{"short password", "new@example.com", "short", RoleMember, map[string]string{"password": "Use at least 15 characters."}},
			{"password with email", "lantern@example.com", testPassword, RoleMember, map[string]string{"password": ""}},
			{"bad role", "new@example.com", testPassword, Role("owner"), map[string]string{"role": ""}},
			{"several problems", "bad", "short", RoleMember, map[string]string{"email": "", "password": ""}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := s.CreateUser(ctx, tt.email, tt.password, tt.role, CLIActor())
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("got %v, want ErrInvalid", err)
				}
				fields := FieldErrors(err)
				if len(fields) != len(tt.wantFields) {
					t.Errorf("got fields %v, want %v", fields, tt.wantFields)
				}
				for f, want := range tt.wantFields {
					if got := fields[f]; got == "" || (want != "" && got != want) {
						t.Errorf("field %s: got %q, want %q", f, got, want)
					}
				}
			})
		}
		var n int
		if err := s.r.QueryRow(`SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("got %d users after refused creations, want 1", n)
		}
	})
}

func TestCreateUserAudits(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "root@example.com", RoleAdmin)
		actor := Actor{UserID: admin.ID, Label: admin.Email, IP: "198.51.100.7"}
		u, err := s.CreateUser(ctx, "dev@example.com", testPassword, RoleMember, actor)
		if err != nil {
			t.Fatal(err)
		}
		events, err := s.ListAudit(ctx, AuditFilter{Action: ActionUserCreate, ActorID: admin.ID})
		if err != nil {
			t.Fatal(err)
		}
		want := AuditEvent{ActorID: admin.ID, Actor: admin.Email, Action: ActionUserCreate, TargetType: "user",
			TargetID: u.ID, Target: u.Email, IP: "198.51.100.7", Detail: map[string]string{"role": "member"}}
		if len(events) != 1 {
			t.Fatalf("got %d events, want 1", len(events))
		}
		got := events[0]
		got.ID, got.At = 0, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
}

func TestCreateFirstAdmin(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		if ok, err := s.HasAdmin(ctx); err != nil || ok {
			t.Fatalf("HasAdmin on empty database: got %v, %v, want false", ok, err)
		}
		u, err := s.CreateFirstAdmin(ctx, "first@example.com", testPassword, "203.0.113.9")
		if err != nil {
			t.Fatalf("CreateFirstAdmin: %v", err)
		}
		if !u.IsAdmin() {
			t.Errorf("got role %q, want admin", u.Role)
		}
		_, err = s.CreateFirstAdmin(ctx, "second@example.com", testPassword, "203.0.113.9")
		var e *Error
		if !errors.Is(err, ErrConflict) || !errors.As(err, &e) || e.Message != "Setup is already complete." {
			t.Errorf("second setup: got %v, want ErrConflict \"Setup is already complete.\"", err)
		}
		events, err := s.ListAudit(ctx, AuditFilter{Action: ActionSetup})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].ActorID != u.ID || events[0].Actor != u.Email || events[0].IP != "203.0.113.9" {
			t.Errorf("got %+v, want one setup.complete by the new admin from 203.0.113.9", events)
		}
	})
}

func TestCreateFirstAdminRace(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.CreateFirstAdmin(ctx, string(rune('a'+i))+"dmin@example.com", testPassword, "")
			})
		}
		wg.Wait()
		var ok, conflict int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrConflict):
				conflict++
			default:
				t.Errorf("got unexpected error %v", err)
			}
		}
		if ok != 1 || conflict != n-1 {
			t.Errorf("got %d successes and %d conflicts, want 1 and %d", ok, conflict, n-1)
		}
	})
}

func TestGetUser(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		u := mustCreateUser(t, s, "get@example.com", RoleMember)
		tests := []struct {
			name    string
			get     func() (User, error)
			wantErr error
		}{
			{"by id", func() (User, error) { return s.GetUser(ctx, u.ID) }, nil},
			{"missing id", func() (User, error) { return s.GetUser(ctx, u.ID+1) }, ErrNotFound},
			{"by email", func() (User, error) { return s.GetUserByEmail(ctx, "GET@example.com ") }, nil},
			{"missing email", func() (User, error) { return s.GetUserByEmail(ctx, "nobody@example.com") }, ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := tt.get()
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
				if err == nil && (got.ID != u.ID || got.Email != u.Email || !got.CreatedAt.Equal(u.CreatedAt)) {
					t.Errorf("got %+v, want %+v", got, u)
				}
			})
		}
	})
}

func TestSetUserDisabled(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		var hookCalls int
		s.SetKeyChangeHook(func() { hookCalls++ })
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		member := mustCreateUser(t, s, "member@example.com", RoleMember)
		for i, id := range []int64{admin.ID, member.ID, member.ID} {
			sess := Session{TokenHash: []byte{byte(i)}, UserID: id, ExpiresAt: s.Now().Add(time.Hour)}
			if err := s.CreateSession(ctx, &sess); err != nil {
				t.Fatal(err)
			}
		}
		actor := Actor{UserID: admin.ID, Label: admin.Email}

		if err := s.SetUserDisabled(ctx, admin.ID, true, actor); !errors.Is(err, ErrConflict) {
			t.Fatalf("disable last admin: got %v, want ErrConflict", err)
		}
		if hookCalls != 0 {
			t.Errorf("got %d hook calls after a refused change, want 0", hookCalls)
		}

		if err := s.SetUserDisabled(ctx, member.ID, true, actor); err != nil {
			t.Fatalf("disable member: %v", err)
		}
		if hookCalls != 1 {
			t.Errorf("got %d hook calls, want 1", hookCalls)
		}
		got, err := s.GetUser(ctx, member.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Disabled() {
			t.Errorf("got enabled member, want disabled")
		}
		if ss, _ := s.ListUserSessions(ctx, member.ID); len(ss) != 0 {
			t.Errorf("got %d sessions of a disabled user, want 0", len(ss))
		}
		if ss, _ := s.ListUserSessions(ctx, admin.ID); len(ss) != 1 {
			t.Errorf("got %d sessions of the admin, want 1 (untouched)", len(ss))
		}

		if err := s.SetUserDisabled(ctx, member.ID, true, actor); err != nil {
			t.Errorf("disable twice: got %v, want nil", err)
		}
		if hookCalls != 1 {
			t.Errorf("got %d hook calls after a no-op, want 1", hookCalls)
		}
		if err := s.SetUserDisabled(ctx, member.ID, false, actor); err != nil {
			t.Fatalf("enable: %v", err)
		}
		if got, _ := s.GetUser(ctx, member.ID); got.Disabled() {
			t.Errorf("got disabled member after enable, want enabled")
		}
		if _, err := s.Authenticate(ctx, member.Email, testPassword); err != nil {
			t.Errorf("sign-in after enable: got %v, want nil", err)
		}

		// With a second active admin, the first one can be disabled, and the
		// second one then becomes the last.
		other := mustCreateUser(t, s, "other@example.com", RoleAdmin)
		if got, want := activeAdmins(t, s), []string{admin.Email, other.Email}; !reflect.DeepEqual(got, want) {
			t.Errorf("got active admins %v, want %v", got, want)
		}
		if err := s.SetUserDisabled(ctx, admin.ID, true, CLIActor()); err != nil {
			t.Fatalf("disable one of two admins: %v", err)
		}
		if got, want := activeAdmins(t, s), []string{other.Email}; !reflect.DeepEqual(got, want) {
			t.Errorf("got active admins %v, want %v", got, want)
		}
		if ok, _ := s.HasAdmin(ctx); !ok {
			t.Errorf("got HasAdmin false with a disabled admin, want true")
		}
		if err := s.SetUserDisabled(ctx, other.ID, true, CLIActor()); !errors.Is(err, ErrConflict) {
			t.Errorf("disable the remaining admin: got %v, want ErrConflict", err)
		}
		if err := s.SetUserDisabled(ctx, 9999, true, CLIActor()); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing user: got %v, want ErrNotFound", err)
		}

		events, err := s.ListAudit(ctx, AuditFilter{TargetType: "user", TargetID: member.ID})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action)
		}
		want := []string{ActionUserEnable, ActionUserDisable, ActionLoginSuccess, ActionLoginSuccess, ActionUserCreate}
		if len(actions) != len(want) {
			t.Fatalf("got actions %v, want %v", actions, want)
		}
		for i := range want {
			if actions[i] != want[i] {
				t.Errorf("got actions %v, want %v", actions, want)
				break
			}
		}
		if events[1].Detail["sessions_ended"] != "2" {
			t.Errorf("got disable detail %v, want sessions_ended 2", events[1].Detail)
		}
	})
}

// activeAdmins lists, by email, the admins who can still sign in, as the
// admin's user list shows them.
func activeAdmins(t *testing.T, s *Store) []string {
	t.Helper()
	users, err := s.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, u := range users {
		if u.IsAdmin() && !u.Disabled() {
			emails = append(emails, u.Email)
		}
	}
	return emails
}
