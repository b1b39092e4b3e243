package db

import (
	"context"
	"encoding/base64"
	"testing"
)

// TestSetupToken: two processes on one database get the same setup token;
// creating an admin, by the setup page or otherwise, deletes it in the
// same transaction, so the next token (should every admin go) is another.
// A member leaves setup open and the token as it was.
func TestSetupToken(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		tests := []struct {
			name     string
			create   func(s *Store) error
			wantSame bool
		}{
			{"setup page makes the first admin", func(s *Store) error {
				_, err := s.CreateFirstAdmin(context.Background(), "root@example.com", testPassword, "192.0.2.1")
				return err
			}, false},
			{"the CLI makes an admin", func(s *Store) error {
				_, err := s.CreateUser(context.Background(), "root@example.com", testPassword, RoleAdmin, CLIActor())
				return err
			}, false},
			{"a member is created", func(s *Store) error {
				_, err := s.CreateUser(context.Background(), "bob@example.com", testPassword, RoleMember, CLIActor())
				return err
			}, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				target := engineOf(t)(t)
				a, b := openAt(t, target), openAt(t, target)
				tokA, err := a.SetupToken(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if raw, err := base64.RawURLEncoding.DecodeString(tokA); err != nil || len(raw) != serverSecretSize {
					t.Fatalf("token %d characters: got %d bytes (err %v), want %d in base64url", len(tokA), len(raw), err, serverSecretSize)
				}
				tokB, err := b.SetupToken(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if tokA != tokB {
					t.Fatalf("second process: got another token, want the first's")
				}
				if err := tt.create(b); err != nil {
					t.Fatal(err)
				}
				var rows int
				if err := a.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM server_secrets WHERE name = ?`, setupTokenSecret).Scan(&rows); err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{true: 1, false: 0}[tt.wantSame]; rows != want {
					t.Errorf("setup token rows afterwards: got %d, want %d", rows, want)
				}
				after, err := a.SetupToken(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got := after == tokA; got != tt.wantSame {
					t.Errorf("token asked for afterwards is the old one: got %v, want %v", got, tt.wantSame)
				}
			})
		}
	})
}
