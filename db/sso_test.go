package db

import (
	"context"
	"errors"
	"testing"
)

func TestSSOUsersAndIdentities(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		idp := Actor{Label: "single sign-on"}
		ann := OIDCIdentity{Issuer: "https://idp.example", Subject: "sub-ann", Email: "Ann@Example.com"}

		if _, err := s.UserByOIDCIdentity(ctx, ann.Issuer, ann.Subject); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown identity: got %v, want ErrNotFound", err)
		}
		u, err := s.CreateSSOUser(ctx, ann, RoleMember, idp)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if u.Email != "ann@example.com" || u.Role != RoleMember {
			t.Fatalf("created: got %s %s, want ann@example.com member", u.Email, u.Role)
		}
		got, err := s.UserByOIDCIdentity(ctx, ann.Issuer, ann.Subject)
		if err != nil || got.ID != u.ID {
			t.Fatalf("by identity: got %d, %v; want %d", got.ID, err, u.ID)
		}
		// The account has no password anyone knows.
		if _, err := s.Authenticate(ctx, u.Email, ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("password sign-in of an sso user: got %v, want ErrInvalidCredentials", err)
		}
		if err := s.TouchOIDCIdentity(ctx, ann); err != nil {
			t.Fatal(err)
		}
		events, err := s.ListAudit(ctx, AuditFilter{Action: ActionUserCreate})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Detail["source"] != "sso" {
			t.Fatalf("audit: got %+v, want one user.create with source sso", events)
		}

		for name, tc := range map[string]struct {
			id   OIDCIdentity
			want error
		}{
			"address taken":  {OIDCIdentity{Issuer: ann.Issuer, Subject: "other", Email: "ann@example.com"}, ErrConflict},
			"identity taken": {OIDCIdentity{Issuer: ann.Issuer, Subject: ann.Subject, Email: "new@example.com"}, ErrConflict},
			"bad address":    {OIDCIdentity{Issuer: ann.Issuer, Subject: "x", Email: "not an address"}, ErrInvalid},
		} {
			if _, err := s.CreateSSOUser(ctx, tc.id, RoleMember, idp); !errors.Is(err, tc.want) {
				t.Errorf("%s: got %v, want %v", name, err, tc.want)
			}
		}

		bob := mustCreateUser(t, s, "bob@example.com", RoleMember)
		bobID := OIDCIdentity{Issuer: ann.Issuer, Subject: "sub-bob", Email: "bob@example.com"}
		if err := s.LinkOIDCIdentity(ctx, bob.ID, bobID, Actor{UserID: bob.ID, Label: bob.Email}); err != nil {
			t.Fatalf("link: %v", err)
		}
		if got, err := s.UserByOIDCIdentity(ctx, bobID.Issuer, bobID.Subject); err != nil || got.ID != bob.ID {
			t.Fatalf("linked identity: got %d, %v; want %d", got.ID, err, bob.ID)
		}
		if err := s.LinkOIDCIdentity(ctx, bob.ID, bobID, Actor{}); !errors.Is(err, ErrConflict) {
			t.Fatalf("link twice: got %v, want ErrConflict", err)
		}
		links, err := s.ListAudit(ctx, AuditFilter{Action: ActionSSOLink})
		if err != nil {
			t.Fatal(err)
		}
		if len(links) != 1 || links[0].TargetID != bob.ID {
			t.Fatalf("audit: got %+v, want one sso.link of bob", links)
		}
	})
}
