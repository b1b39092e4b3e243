package db

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		email    string
		wantOK   bool
		wantMsg  string // substring of the message when refused
	}{
		{"empty", "", "ann@example.com", false, "at least 15"},
		{"14 chars", "Zq8#vLp2!mW4rT", "ann@example.com", false, "at least 15"},
		{"15 chars strong", "Zq8#vLp2!mW4rTx", "ann@example.com", true, ""},
		{"passphrase", testPassword, "ann@example.com", true, ""},
		{"64+ chars", "tundra marimba violet quokka glacier hammock ember lantern 47 Qx!", "ann@example.com", true, ""},
		{"129 chars", strings.Repeat("Zq8#vLp2!mW4rTx", 9)[:129], "ann@example.com", false, "at most 128"},
		{"common", "passwordpassword1", "ann@example.com", false, "too easy"},
		{"repeated", strings.Repeat("a", 20), "ann@example.com", false, "too easy"},
		{"keyboard walk", "qwertyuiopasdfgh", "ann@example.com", false, "too easy"},
		{"contains local part", "Zq8#vLp2!Annabelle-mW4", "annabelle@example.com", false, "email"},
		{"contains local part case-insensitive", "Zq8#vLp2!ANNABELLE-mW4", "Annabelle@Example.com", false, "email"},
		{"short local part not checked", "Zq8#vLp2!mW4rTxjo", "jo@example.com", true, ""},
		{"site name", "keywardkeyward12", "ann@example.com", false, "too easy"},
		// 15 runes but 30 bytes: length counts characters, not bytes.
		{"unicode 15 runes", "ñandú-Ωmega-żó7", "ann@example.com", true, ""},
		{"unicode 14 runes", "ñandú-Ωmega-żó", "ann@example.com", false, "at least 15"},
		{"no email", testPassword, "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fieldMessage(t, CheckPassword(tt.password, tt.email))
			if tt.wantOK {
				if got != "" {
					t.Errorf("got %q for %q (%d runes), want acceptance", got, tt.password, utf8.RuneCountInString(tt.password))
				}
				return
			}
			if got == "" || !strings.Contains(got, tt.wantMsg) {
				t.Errorf("got %q for %q, want a message containing %q", got, tt.password, tt.wantMsg)
			}
		})
	}
}

func TestCheckPasswordLengthBounds(t *testing.T) {
	pw, err := randomBase62(MaxPasswordLength)
	if err != nil {
		t.Fatal(err)
	}
	if msg := fieldMessage(t, CheckPassword(pw, "")); msg != "" {
		t.Errorf("got %q for %d random characters, want acceptance", msg, MaxPasswordLength)
	}
	if msg := fieldMessage(t, CheckPassword(pw+"x", "")); !strings.Contains(msg, "at most 128") {
		t.Errorf("got %q for %d characters, want the too-long message", msg, MaxPasswordLength+1)
	}
	// Multi-byte runes count once each: 128 of them is 256 bytes but allowed.
	if msg := fieldMessage(t, CheckPassword(strings.Repeat("ñ", MaxPasswordLength), "")); strings.Contains(msg, "at most") {
		t.Errorf("got %q for 128 two-byte runes, want no length complaint", msg)
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		pw, err := GeneratePassword("")
		if err != nil {
			t.Fatalf("GeneratePassword: %v", err)
		}
		if len(pw) != 24 {
			t.Errorf("got length %d, want 24", len(pw))
		}
		if strings.Trim(pw, base62) != "" {
			t.Errorf("got %q, want only base62 characters", pw)
		}
		if msg := fieldMessage(t, CheckPassword(pw, "")); msg != "" {
			t.Errorf("got %q for generated %q, want acceptance", msg, pw)
		}
		if seen[pw] {
			t.Errorf("got duplicate password %q", pw)
		}
		seen[pw] = true
	}
}

func TestPasswordHasherRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := newPasswordHasher(testArgon2, 2)
	enc, err := h.hash(ctx, testPassword)
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("got hash %q, want argon2id with the injected parameters", enc)
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{{testPassword, true}, {testPassword + "x", false}, {"", false}} {
		got, err := h.compare(ctx, tt.pw, enc)
		if err != nil {
			t.Fatalf("compare: %v", err)
		}
		if got != tt.want {
			t.Errorf("compare(%q) got %v, want %v", tt.pw, got, tt.want)
		}
	}
	h.compareDummy(ctx, testPassword) // must not panic or block
}

func TestPasswordHasherDefaults(t *testing.T) {
	h := newPasswordHasher(nil, 0)
	if h.params != PasswordParams {
		t.Errorf("got params %+v, want PasswordParams", h.params)
	}
	if cap(h.sem) < 1 {
		t.Errorf("got concurrency %d, want at least 1", cap(h.sem))
	}
}

func TestPasswordHasherConcurrencyBound(t *testing.T) {
	h := newPasswordHasher(testArgon2, 1)
	enc, err := h.hash(context.Background(), testPassword)
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	// Occupy the only slot, as a long-running hash would.
	h.sem <- struct{}{}

	t.Run("waiters give up with the context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		errs := make(chan error, 2)
		go func() { _, err := h.hash(ctx, testPassword); errs <- err }()
		go func() { _, err := h.compare(ctx, testPassword, enc); errs <- err }()
		select {
		case err := <-errs:
			t.Fatalf("got %v before the slot was free, want the call to wait", err)
		case <-time.After(50 * time.Millisecond):
		}
		cancel()
		for range 2 {
			if err := <-errs; !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want context.Canceled", err)
			}
		}
	})

	t.Run("a freed slot lets a waiter run", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { _, err := h.compare(context.Background(), testPassword, enc); done <- err }()
		<-h.sem
		if err := <-done; err != nil {
			t.Errorf("got %v, want nil", err)
		}
		if n := len(h.sem); n != 0 {
			t.Errorf("got %d slots held after the call, want 0", n)
		}
	})
}

func TestChangePassword(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		u := mustCreateUser(t, s, "cat@example.com", RoleMember)
		sessions := make([]Session, 3)
		for i := range sessions {
			sessions[i] = Session{TokenHash: []byte{byte(i)}, UserID: u.ID, ExpiresAt: clock.Now().Add(time.Hour)}
			if err := s.CreateSession(ctx, &sessions[i]); err != nil {
				t.Fatalf("CreateSession: %v", err)
			}
		}
		const next = "harbor Quill 93 meadow thistle"

		tests := []struct {
			name       string
			current    string
			next       string
			wantFields []string
		}{
			{"wrong current", "not my password at all", next, []string{"current_password"}},
			{"weak new", testPassword, "passwordpassword1", []string{"new_password"}},
			{"same as current", testPassword, testPassword, []string{"new_password"}},
			{"both wrong", "nope nope nope nope", "short", []string{"current_password", "new_password"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.ChangePassword(ctx, u.ID, tt.current, tt.next, sessions[0].ID, Actor{UserID: u.ID, Label: u.Email})
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("got %v, want ErrInvalid", err)
				}
				fields := FieldErrors(err)
				if len(fields) != len(tt.wantFields) {
					t.Errorf("got fields %v, want %v", fields, tt.wantFields)
				}
				for _, f := range tt.wantFields {
					if fields[f] == "" {
						t.Errorf("got no message for %q in %v", f, fields)
					}
				}
			})
		}

		clock.Advance(time.Minute)
		if err := s.ChangePassword(ctx, u.ID, testPassword, next, sessions[0].ID, Actor{UserID: u.ID, Label: u.Email, IP: "192.0.2.1"}); err != nil {
			t.Fatalf("ChangePassword: %v", err)
		}
		left, err := s.ListUserSessions(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0].ID != sessions[0].ID {
			t.Errorf("got sessions %v, want only the current one (%d)", sessionIDs(left), sessions[0].ID)
		}
		if _, err := s.Authenticate(ctx, u.Email, testPassword); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("old password: got %v, want ErrInvalidCredentials", err)
		}
		got, err := s.Authenticate(ctx, u.Email, next)
		if err != nil {
			t.Fatalf("new password: %v", err)
		}
		if !got.PasswordChangedAt.Equal(clock.Now()) {
			t.Errorf("got password_changed_at %v, want %v", got.PasswordChangedAt, clock.Now())
		}
		events, err := s.ListAudit(ctx, AuditFilter{Action: ActionPasswordChange})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].TargetID != u.ID || events[0].Detail["sessions_ended"] != "2" || events[0].IP != "192.0.2.1" {
			t.Errorf("got audit %+v, want one password.change for user %d ending 2 sessions", events, u.ID)
		}

		if err := s.ChangePassword(ctx, 999, next, testPassword, 0, CLIActor()); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing user: got %v, want ErrNotFound", err)
		}
	})
}

func sessionIDs(ss []Session) []int64 {
	ids := make([]int64, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

// fieldMessage returns the message of a validator's error ("" for nil),
// failing the test unless the error is a *FieldError that unwraps to
// ErrInvalid: validators never return a bare string or an internal error.
func fieldMessage(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	fe, ok := errors.AsType[*FieldError](err)
	if !ok || !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %T %v, want a *FieldError unwrapping to ErrInvalid", err, err)
	}
	return fe.Message
}

// TestChangePasswordAuditsWrongCurrent: the password-change form says
// whether a password is right, so each wrong current password is audited
// like a failed sign-in, with who asked and from where; other mistakes are
// not failures of that kind.
func TestChangePasswordAuditsWrongCurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		u := mustCreateUser(t, s, "cat@example.com", RoleMember)
		actor := Actor{UserID: u.ID, Label: u.Email, IP: "192.0.2.9"}
		tests := []struct {
			name, current, next string
			wantEvents          int
		}{
			{"wrong current", "not my password at all", "harbor Quill 93 meadow thistle", 1},
			{"wrong current and weak new", "not my password at all", "short", 1},
			{"right current, weak new", testPassword, "short", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before, err := s.ListAudit(ctx, AuditFilter{Action: ActionPasswordChangeFailure})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.ChangePassword(ctx, u.ID, tt.current, tt.next, 0, actor); !errors.Is(err, ErrInvalid) {
					t.Fatalf("ChangePassword: got %v, want ErrInvalid", err)
				}
				after, err := s.ListAudit(ctx, AuditFilter{Action: ActionPasswordChangeFailure})
				if err != nil {
					t.Fatal(err)
				}
				if got := len(after) - len(before); got != tt.wantEvents {
					t.Fatalf("failure events: got %d, want %d", got, tt.wantEvents)
				}
				if tt.wantEvents == 0 {
					return
				}
				e := after[0]
				if e.ActorID != u.ID || e.Actor != u.Email || e.IP != actor.IP || e.TargetType != "user" || e.TargetID != u.ID || e.Target != u.Email {
					t.Errorf("event: got actor %d %q ip %q target %s %d %q, want the user acting on themselves from %s",
						e.ActorID, e.Actor, e.IP, e.TargetType, e.TargetID, e.Target, actor.IP)
				}
				if got := ActionLabel(e.Action); got != "Failed password change" {
					t.Errorf("label: got %q, want %q", got, "Failed password change")
				}
			})
		}
	})
}
