package db

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPasskeysLifecycle(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		bob := mustCreateUser(t, s, "bob@example.com", RoleMember)
		a := Actor{UserID: ann.ID, Label: ann.Email}

		h1, err := s.WebAuthnHandle(ctx, ann.ID)
		if err != nil || len(h1) != webauthnHandleSize {
			t.Fatalf("handle: got %x, %v, want %d bytes", h1, err, webauthnHandleSize)
		}
		if h2, _ := s.WebAuthnHandle(ctx, ann.ID); !bytes.Equal(h1, h2) {
			t.Fatalf("handle again: got %x, want the same %x", h2, h1)
		}
		if hb, _ := s.WebAuthnHandle(ctx, bob.ID); bytes.Equal(hb, h1) {
			t.Fatal("two people share a handle")
		}
		if u, err := s.UserByWebAuthnHandle(ctx, h1); err != nil || u.ID != ann.ID {
			t.Fatalf("user by handle: got %d, %v, want %d", u.ID, err, ann.ID)
		}
		if _, err := s.UserByWebAuthnHandle(ctx, []byte("nobody")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown handle: got %v, want ErrNotFound", err)
		}

		first, err := s.AddPasskey(ctx, ann.ID, NewPasskey{CredentialID: []byte("cred-1"), Name: " Laptop ", Credential: []byte(`{"id":"1"}`), SignCount: 0}, a)
		if err != nil || first.Name != "Laptop" {
			t.Fatalf("add: got %+v, %v, want name Laptop", first, err)
		}
		clock.Advance(time.Minute)
		if _, err := s.AddPasskey(ctx, ann.ID, NewPasskey{CredentialID: []byte("cred-2"), Name: "Phone", Credential: []byte(`{}`), SignCount: 5}, a); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			p    NewPasskey
			want error
		}{
			{"duplicate credential", NewPasskey{CredentialID: []byte("cred-1"), Name: "Again", Credential: []byte(`{}`)}, ErrPasskeyExists},
			{"empty name", NewPasskey{CredentialID: []byte("cred-3"), Name: "  ", Credential: []byte(`{}`)}, ErrInvalid},
			{"long name", NewPasskey{CredentialID: []byte("cred-3"), Name: strings.Repeat("x", 65), Credential: []byte(`{}`)}, ErrInvalid},
			{"control character", NewPasskey{CredentialID: []byte("cred-3"), Name: "a\x00b", Credential: []byte(`{}`)}, ErrInvalid},
		} {
			if _, err := s.AddPasskey(ctx, ann.ID, tc.p, a); !errors.Is(err, tc.want) {
				t.Errorf("add %s: got %v, want %v", tc.name, err, tc.want)
			}
		}

		list, err := s.Passkeys(ctx, ann.ID)
		if err != nil || len(list) != 2 || list[0].Name != "Phone" || list[1].Name != "Laptop" {
			t.Fatalf("list: got %+v, %v, want Phone then Laptop", list, err)
		}
		if f, _ := s.SecondFactors(ctx, ann.ID); f.Passkeys != 2 || !f.Any() {
			t.Fatalf("factors: got %+v, want 2 passkeys", f)
		}
		if p, err := s.PasskeyByCredentialID(ctx, []byte("cred-2")); err != nil || p.UserID != ann.ID || p.SignCount != 5 {
			t.Fatalf("by credential id: got %+v, %v", p, err)
		}

		// Counters: 0 → anything is fine; non-zero must grow.
		if err := s.UsePasskey(ctx, ann.ID, []byte("cred-1"), 0, []byte(`{"id":"1"}`)); err != nil {
			t.Fatalf("use with zero counters: %v", err)
		}
		for _, tc := range []struct {
			count uint32
			want  error
		}{{5, ErrPasskeyCounter}, {4, ErrPasskeyCounter}, {6, nil}, {0, nil}} {
			if err := s.UsePasskey(ctx, ann.ID, []byte("cred-2"), tc.count, []byte(`{"n":1}`)); !errors.Is(err, tc.want) {
				t.Errorf("use cred-2 with counter %d: got %v, want %v", tc.count, err, tc.want)
			}
		}
		if err := s.UsePasskey(ctx, bob.ID, []byte("cred-2"), 9, []byte(`{}`)); !errors.Is(err, ErrNotFound) {
			t.Errorf("use another's passkey: got %v, want ErrNotFound", err)
		}
		p, _ := s.PasskeyByCredentialID(ctx, []byte("cred-2"))
		if p.SignCount != 0 || p.LastUsedAt == nil || !p.LastUsedAt.Equal(clock.Now().Truncate(time.Millisecond)) || string(p.Credential) != `{"n":1}` {
			t.Errorf("after use: got count %d, last used %v, credential %s", p.SignCount, p.LastUsedAt, p.Credential)
		}

		if err := s.RenamePasskey(ctx, bob.ID, first.ID, "Mine", Actor{UserID: bob.ID, Label: bob.Email}); !errors.Is(err, ErrNotFound) {
			t.Errorf("rename another's: got %v, want ErrNotFound", err)
		}
		if err := s.RenamePasskey(ctx, ann.ID, first.ID, "Work laptop", a); err != nil {
			t.Fatal(err)
		}
		if err := s.RemovePasskey(ctx, bob.ID, first.ID, Actor{UserID: bob.ID, Label: bob.Email}); !errors.Is(err, ErrNotFound) {
			t.Errorf("remove another's: got %v, want ErrNotFound", err)
		}

		// With a second factor required of everyone, the last one stays.
		pol := DefaultSignInPolicy()
		pol.RequireMFA = MFAEveryone
		if err := s.SetSignInPolicy(ctx, pol, CLIActor()); err != nil {
			t.Fatal(err)
		}
		if err := s.RemovePasskey(ctx, ann.ID, first.ID, a); err != nil {
			t.Fatalf("remove one of two: %v", err)
		}
		if err := s.RemovePasskey(ctx, ann.ID, list[0].ID, a); !errors.Is(err, ErrLastSecondFactor) {
			t.Fatalf("remove the last under policy: got %v, want ErrLastSecondFactor", err)
		}
		pol.RequireMFA = MFAAdmins
		if err := s.SetSignInPolicy(ctx, pol, CLIActor()); err != nil {
			t.Fatal(err)
		}
		if err := s.RemovePasskey(ctx, ann.ID, list[0].ID, a); err != nil {
			t.Fatalf("remove a member's last with admins-only policy: %v", err)
		}

		events := passkeyAuditActions(t, s, ann.ID)
		want := []string{ActionPasskeyAdd, ActionPasskeyAdd, ActionPasskeyRename, ActionPasskeyRemove, ActionPasskeyRemove}
		if strings.Join(events, ",") != strings.Join(want, ",") {
			t.Errorf("audit: got %v, want %v", events, want)
		}
	})
}

// passkeyAuditActions lists the actions of actorID's audit events, oldest first.
func passkeyAuditActions(t *testing.T, s *Store, actorID int64) []string {
	t.Helper()
	events, err := s.ListAudit(context.Background(), AuditFilter{ActorID: actorID})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(events) - 1; i >= 0; i-- {
		out = append(out, events[i].Action)
	}
	return out
}
