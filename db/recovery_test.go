package db

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

var recoveryCodeForm = regexp.MustCompile(`^[0-9abcdefghjkmnpqrstvwxyz]{5}-[0-9abcdefghjkmnpqrstvwxyz]{5}$`)

func TestNormalizeRecoveryCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"k7m2q-x9p4d", "k7m2qx9p4d", true},
		{"K7M2Q X9P4D", "k7m2qx9p4d", true},
		{" k7m2qx9p4d ", "k7m2qx9p4d", true},
		{"o0il1-abcde", "00111abcde", true},
		{"k7m2q-x9p4", "", false},
		{"k7m2q-x9p4dd", "", false},
		{"k7m2q-x9p4u", "", false},
		{"", "", false},
		{strings.Repeat("a", 100), "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeRecoveryCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeRecoveryCode(%q): got %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestRecoveryCodesSingleUse: ten codes in the display form, each usable
// once (typed loosely), wrong and used ones refused with nothing written,
// regenerating voids the old set; each use audited (with the count left)
// and an e-mail event enqueued for the person.
func TestRecoveryCodesSingleUse(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		a := Actor{UserID: ann.ID, Label: ann.Email, IP: "192.0.2.7"}

		if _, err := s.UseRecoveryCode(ctx, ann.ID, "k7m2q-x9p4d", a); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("use without codes: got %v, want ErrInvalidCredentials", err)
		}
		codes, err := s.GenerateRecoveryCodes(ctx, ann.ID, a)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, c := range codes {
			if !recoveryCodeForm.MatchString(c) || seen[c] {
				t.Errorf("code %q: want a new xxxxx-xxxxx code", c)
			}
			seen[c] = true
		}
		if got, want := len(codes), RecoveryCodeCount; got != want {
			t.Fatalf("codes: got %d, want %d", got, want)
		}
		if f, _ := s.SecondFactors(ctx, ann.ID); f.RecoveryLeft != 10 || f.Any() {
			t.Fatalf("factors: got %+v, want 10 codes left and no factor", f)
		}

		steps := []struct {
			name     string
			code     string
			wantErr  bool
			wantLeft int
		}{
			{"first code", codes[0], false, 9},
			{"same code again", codes[0], true, 9},
			{"second code, loosely typed", strings.ToUpper(strings.ReplaceAll(codes[1], "-", " ")), false, 8},
			{"wrong code", "zzzzz-zzzzz", true, 8},
			{"malformed", "not a code", true, 8},
		}
		for _, st := range steps {
			left, err := s.UseRecoveryCode(ctx, ann.ID, st.code, a)
			if st.wantErr != (err != nil) || (err != nil && !errors.Is(err, ErrInvalidCredentials)) {
				t.Errorf("%s: got %v, want error %v (ErrInvalidCredentials)", st.name, err, st.wantErr)
			}
			if !st.wantErr && left != st.wantLeft {
				t.Errorf("%s: got %d left, want %d", st.name, left, st.wantLeft)
			}
			if f, _ := s.SecondFactors(ctx, ann.ID); f.RecoveryLeft != st.wantLeft {
				t.Errorf("%s: got %d codes left, want %d", st.name, f.RecoveryLeft, st.wantLeft)
			}
		}

		uses, err := s.ListAudit(ctx, AuditFilter{Action: ActionRecoveryUse})
		if err != nil {
			t.Fatal(err)
		}
		if len(uses) != 2 || uses[0].Detail["left"] != "8" || uses[1].Detail["left"] != "9" || uses[0].IP != "192.0.2.7" {
			t.Errorf("recovery_use events: got %+v, want two (left 9 then 8, from 192.0.2.7)", uses)
		}
		var events int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox_events WHERE type = ? AND user_id = ?`,
			EventRecoveryUsed, ann.ID).Scan(&events); err != nil || events != 2 {
			t.Errorf("recovery e-mail events: got %d, %v, want 2", events, err)
		}

		clock.Advance(time.Minute)
		fresh, err := s.GenerateRecoveryCodes(ctx, ann.ID, a)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseRecoveryCode(ctx, ann.ID, codes[2], a); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("old code after regenerating: got %v, want ErrInvalidCredentials", err)
		}
		if left, err := s.UseRecoveryCode(ctx, ann.ID, fresh[9], a); err != nil || left != 9 {
			t.Errorf("new code: got %d left, %v, want 9", left, err)
		}
		gens, _ := s.ListAudit(ctx, AuditFilter{Action: ActionRecoveryGenerate})
		if len(gens) != 2 {
			t.Errorf("recovery_generate events: got %d, want 2", len(gens))
		}
		for _, e := range append(gens, uses...) {
			for _, v := range e.Detail {
				for _, c := range append(codes, fresh...) {
					if strings.Contains(v, c) || strings.Contains(v, strings.ReplaceAll(c, "-", "")) {
						t.Errorf("audit %s detail holds a code", e.Action)
					}
				}
			}
		}
	})
}

// TestPendingTOTPAndStatus: the pending setup reads back with its secret (for the
// QR after a wrong first code); a confirmed one never does.
func TestPendingTOTPAndStatus(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		if _, err := s.PendingTOTP(ctx, ann.ID, "Keyward", ann.Email); !errors.Is(err, ErrNotFound) {
			t.Fatalf("nothing begun: got %v, want ErrNotFound", err)
		}
		if st, err := s.TOTPStatus(ctx, ann.ID); err != nil || st != (TOTPStatus{}) {
			t.Fatalf("status before: got %+v, %v, want none", st, err)
		}
		setup, err := s.BeginTOTP(ctx, ann.ID, "Keyward", ann.Email)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := s.TOTPStatus(ctx, ann.ID); err != nil || st != (TOTPStatus{Pending: true}) {
			t.Fatalf("status pending: got %+v, %v, want pending", st, err)
		}
		got, err := s.PendingTOTP(ctx, ann.ID, "Keyward", ann.Email)
		if err != nil || got != setup {
			t.Fatalf("pending: got %+v, %v, want %+v", got, err, setup)
		}
		if err := s.ConfirmTOTP(ctx, ann.ID, codeAt(t, setup.Secret, clock.Now()), Actor{UserID: ann.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PendingTOTP(ctx, ann.ID, "Keyward", ann.Email); !errors.Is(err, ErrNotFound) {
			t.Errorf("confirmed: got %v, want ErrNotFound", err)
		}
		if st, err := s.TOTPStatus(ctx, ann.ID); err != nil || !st.Confirmed || !st.ConfirmedAt.Equal(clock.Now()) {
			t.Errorf("status confirmed: got %+v, %v, want confirmed at %v", st, err, clock.Now())
		}
	})
}
