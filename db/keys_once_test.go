package db

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

const formTokenA = "JQ3ZK7WNRMPX4D2YHCAV6TBE5G"

// TestCreateKeyOnce: the first submission of a form creates the key; the
// same form again names that key and creates nothing, whatever changed in
// between; another form, or another person's, creates its own.
func TestCreateKeyOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		bob := mustCreateUser(t, s, "bob@example.com", RoleMember)
		actor := Actor{UserID: ann.ID, Label: ann.Email}

		first, secret, err := s.CreateKeyOnce(ctx, ann.ID, KeyInput{Name: "billing"}, formTokenA, actor)
		if err != nil || secret == "" {
			t.Fatalf("first submission: got %v (secret %t), want a key", err, secret != "")
		}

		t.Run("same form again", func(t *testing.T) {
			k, secret, err := s.CreateKeyOnce(ctx, ann.ID, KeyInput{Name: "billing (again)"}, formTokenA, actor)
			var ac *AlreadyCreatedError
			if !errors.As(err, &ac) || ac.KeyID != first.ID || ac.KeyName != "billing" {
				t.Fatalf("got %v, want *AlreadyCreatedError for key %d billing", err, first.ID)
			}
			if !errors.Is(err, ErrConflict) {
				t.Errorf("got %v, want it to unwrap to ErrConflict", err)
			}
			if secret != "" || k.ID != 0 {
				t.Errorf("got key %d and a secret %t, want neither", k.ID, secret != "")
			}
		})
		t.Run("same form after the owner was disabled", func(t *testing.T) {
			if err := s.SetUserDisabled(ctx, ann.ID, true, CLIActor()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.SetUserDisabled(ctx, ann.ID, false, CLIActor()) })
			var ac *AlreadyCreatedError
			if _, _, err := s.CreateKeyOnce(ctx, ann.ID, KeyInput{Name: "billing"}, formTokenA, actor); !errors.As(err, &ac) {
				t.Fatalf("got %v, want *AlreadyCreatedError: the submission was already honoured", err)
			}
		})
		t.Run("another form", func(t *testing.T) {
			if _, _, err := s.CreateKeyOnce(ctx, ann.ID, KeyInput{Name: "billing"}, formTokenA+"b", actor); err != nil {
				t.Fatalf("got %v, want a second key from a second form", err)
			}
		})
		t.Run("another person with the same token", func(t *testing.T) {
			k, _, err := s.CreateKeyOnce(ctx, bob.ID, KeyInput{Name: "bob's"}, formTokenA, Actor{UserID: bob.ID, Label: bob.Email})
			if err != nil || k.UserID != bob.ID {
				t.Fatalf("got %v (owner %d), want bob's own key", err, k.UserID)
			}
		})
		t.Run("without a form (CLI)", func(t *testing.T) {
			for range 2 {
				if _, _, err := s.CreateKey(ctx, ann.ID, KeyInput{Name: "billing"}, CLIActor()); err != nil {
					t.Fatalf("CreateKey: %v", err)
				}
			}
		})

		counts := map[int64]int{}
		keys, err := s.ListKeys(ctx, AnyOwner(), KeyFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			counts[k.UserID]++
		}
		if counts[ann.ID] != 4 || counts[bob.ID] != 1 {
			t.Errorf("keys: got ann %d, bob %d; want 4 (two forms, two CLI) and 1", counts[ann.ID], counts[bob.ID])
		}
		events, err := s.ListAudit(ctx, AuditFilter{Action: ActionKeyCreate})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 5 {
			t.Errorf("key.create events: got %d, want 5 (one per key)", len(events))
		}
	})
}

func TestCreateKeyOnceRefusesBadTokens(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		tests := []struct {
			name, token string
		}{
			{"empty", ""},
			{"too short", "abc123"},
			{"one short of the minimum", strings.Repeat("a", minFormTokenLength-1)},
			{"too long", strings.Repeat("a", maxFormTokenLength+1)},
			{"outside the alphabet", "JQ3ZK7WNRMPX4D2YHCAV6TBE5G!"},
			{"a space", "JQ3ZK7WNRMPX4D2 YHCAV6TBE5G"},
			{"not ASCII", "JQ3ZK7WNRMPX4D2YHCAV6TBE5GÄ"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := s.CreateKeyOnce(ctx, ann.ID, KeyInput{Name: "x"}, tt.token, CLIActor())
				if got := FieldErrors(err)["form_token"]; got != ErrFormToken.Error() {
					t.Errorf("got %v, want the form_token field error %q", err, ErrFormToken)
				}
			})
		}
		for _, ok := range []string{strings.Repeat("a", minFormTokenLength), strings.Repeat("Z9-_", maxFormTokenLength/4)} {
			if err := CheckFormToken(ok); err != nil {
				t.Errorf("CheckFormToken(%q): got %v, want nil", ok, err)
			}
		}
		if n, err := s.CountKeys(ctx, AnyOwner(), KeyFilter{}); err != nil || n != 0 {
			t.Errorf("keys: got %d (%v), want 0", n, err)
		}
	})
}

// TestCreateKeyOnceRace: the same form submitted many times at once (a
// double click, several reloads) makes exactly one key.
func TestCreateKeyOnceRace(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		secrets := make([]string, n)
		for i := range n {
			wg.Go(func() {
				_, secrets[i], errs[i] = s.CreateKeyOnce(ctx, ann.ID, KeyInput{Name: "raced"}, formTokenA, CLIActor())
			})
		}
		wg.Wait()
		created, already := 0, 0
		for i, err := range errs {
			var ac *AlreadyCreatedError
			switch {
			case err == nil && secrets[i] != "":
				created++
			case errors.As(err, &ac):
				already++
			default:
				t.Errorf("submission %d: got %v, want a key or *AlreadyCreatedError", i, err)
			}
		}
		if created != 1 || already != n-1 {
			t.Errorf("got %d created and %d already created, want 1 and %d", created, already, n-1)
		}
		if c, err := s.CountKeys(ctx, AnyOwner(), KeyFilter{}); err != nil || c != 1 {
			t.Errorf("keys: got %d (%v), want 1", c, err)
		}
	})
}
