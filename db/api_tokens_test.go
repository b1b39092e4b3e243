package db

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestAPITokenFormat(t *testing.T) {
	tok, err := GenerateAPIToken()
	if err != nil {
		t.Fatal(err)
	}
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		s             string
		asKey, asTokn bool
	}{
		{"a token", tok, false, true},
		{"a key", key, true, false},
		{"a token with its prefix made a key's", KeyPrefix + tok[len(APITokenPrefix):], false, false},
		{"a token with a wrong checksum", tok[:len(tok)-1] + string(rune('A'+(tok[len(tok)-1]-'A'+1)%26)), false, false},
		{"empty", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseKey(tt.s) == nil; got != tt.asKey {
				t.Errorf("ParseKey(%q) accepted: got %v, want %v", tt.s, got, tt.asKey)
			}
			if got := ParseAPIToken(tt.s) == nil; got != tt.asTokn {
				t.Errorf("ParseAPIToken(%q) accepted: got %v, want %v", tt.s, got, tt.asTokn)
			}
		})
	}
	if len(tok) != APITokenLength || APITokenLength != 53 {
		t.Errorf("token length: got %d (const %d), want 53", len(tok), APITokenLength)
	}
}

func TestAPITokenLifecycle(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ctx := context.Background()
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		in90 := clock.Now().Add(90 * 24 * time.Hour)

		// A member cannot hold admin powers, nor can her token.
		_, _, err := s.CreateAPIToken(ctx, ann.ID, APITokenInput{Name: "ci", Permissions: []Permission{PermKeysRead, PermAdminRead}}, CLIActor())
		if got := FieldErrors(err)["permissions"]; got == "" {
			t.Fatalf("member asks for admin:read: got %v, want a permissions field error", err)
		}
		past := clock.Now().Add(-time.Hour)
		_, _, err = s.CreateAPIToken(ctx, ann.ID, APITokenInput{Name: " ", Permissions: []Permission{PermKeysRead}, ExpiresAt: &past}, CLIActor())
		if fe := FieldErrors(err); fe["name"] == "" || fe["expires"] == "" {
			t.Fatalf("blank name and past expiry: got %v, want name and expires field errors", err)
		}

		tok, secret, err := s.CreateAPIToken(ctx, admin.ID, APITokenInput{Name: "deploy", ExpiresAt: &in90,
			Permissions: []Permission{PermAdminWrite, PermKeysRead}}, CLIActor())
		if err != nil {
			t.Fatalf("CreateAPIToken: %v", err)
		}
		if want := []Permission{PermKeysRead, PermAdminWrite}; !slices.Equal(tok.Permissions, want) {
			t.Errorf("permissions: got %v, want %v (display order)", tok.Permissions, want)
		}
		if tok.Hint != APITokenHint(secret) || ParseAPIToken(secret) != nil {
			t.Errorf("secret %q / hint %q: want a well-formed token and its hint", secret, tok.Hint)
		}

		got, u, err := s.AuthenticateAPIToken(ctx, secret, "203.0.113.5")
		if err != nil || got.ID != tok.ID || u.ID != admin.ID {
			t.Fatalf("AuthenticateAPIToken: got %d, user %d, %v; want token %d of admin", got.ID, u.ID, err, tok.ID)
		}
		list, err := s.ListAPITokens(ctx, admin.ID)
		if err != nil || len(list) != 1 || list[0].LastUsedIP != "203.0.113.5" || list[0].LastUsedAt == nil {
			t.Fatalf("ListAPITokens after use: got %+v, %v; want one token last used from 203.0.113.5", list, err)
		}

		// Demoted: the token keeps only what a member holds.
		if err := s.SetUserRole(ctx, admin.ID, RoleMember, CLIActor()); err == nil {
			t.Fatal("demoting the only admin: got success, want a conflict")
		}
		mustCreateUser(t, s, "root@example.com", RoleAdmin)
		if err := s.SetUserRole(ctx, admin.ID, RoleMember, CLIActor()); err != nil {
			t.Fatalf("SetUserRole: %v", err)
		}
		got, _, err = s.AuthenticateAPIToken(ctx, secret, "203.0.113.5")
		if err != nil || !slices.Equal(got.Permissions, []Permission{PermKeysRead}) {
			t.Errorf("after demotion: got %v, %v; want [keys:read]", got.Permissions, err)
		}

		// Disabled: refused; enabled again: accepted.
		if err := s.SetUserDisabled(ctx, admin.ID, true, CLIActor()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.AuthenticateAPIToken(ctx, secret, ""); !errors.Is(err, ErrTokenDisabled) {
			t.Errorf("owner disabled: got %v, want ErrTokenDisabled", err)
		}
		if err := s.SetUserDisabled(ctx, admin.ID, false, CLIActor()); err != nil {
			t.Fatal(err)
		}

		// Another person cannot revoke it; its owner can, once.
		if _, err := s.RevokeAPIToken(ctx, ann.ID, tok.ID, CLIActor()); !errors.Is(err, ErrNotFound) {
			t.Errorf("ann revokes admin's token: got %v, want not found", err)
		}
		if _, err := s.RevokeAPIToken(ctx, admin.ID, tok.ID, Actor{UserID: admin.ID, Label: admin.Email}); err != nil {
			t.Fatalf("RevokeAPIToken: %v", err)
		}
		if _, err := s.RevokeAPIToken(ctx, admin.ID, tok.ID, CLIActor()); !errors.Is(err, ErrConflict) {
			t.Errorf("revoke twice: got %v, want conflict", err)
		}
		if _, _, err := s.AuthenticateAPIToken(ctx, secret, ""); !errors.Is(err, ErrTokenRevoked) {
			t.Errorf("revoked: got %v, want ErrTokenRevoked", err)
		}

		// Expiry.
		in1 := clock.Now().Add(time.Hour)
		_, secret2, err := s.CreateAPIToken(ctx, ann.ID, APITokenInput{Name: "short", ExpiresAt: &in1, Permissions: []Permission{PermKeysWrite}}, CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		if _, _, err := s.AuthenticateAPIToken(ctx, secret2, ""); !errors.Is(err, ErrTokenExpired) {
			t.Errorf("expired: got %v, want ErrTokenExpired", err)
		}
		key, _ := GenerateKey()
		for _, bad := range []string{"", key, "kwt_short"} {
			if _, _, err := s.AuthenticateAPIToken(ctx, bad, ""); !errors.Is(err, ErrTokenInvalid) {
				t.Errorf("AuthenticateAPIToken(%q): got %v, want ErrTokenInvalid", bad, err)
			}
		}

		// Changes made with a token name it in the audit log.
		actor := TokenActor(ann, APIToken{ID: 42}, "203.0.113.9")
		if _, _, err := s.CreateKey(ctx, ann.ID, KeyInput{Name: "via-token"}, actor); err != nil {
			t.Fatal(err)
		}
		ev, err := s.ListAudit(ctx, AuditFilter{TokenID: 42})
		if err != nil || len(ev) != 1 || ev[0].Action != ActionKeyCreate || ev[0].TokenID != 42 || ev[0].Actor != ann.Email {
			t.Errorf("audit by token 42: got %+v, %v; want the key.create by ann with token_id 42", ev, err)
		}
	})
}
