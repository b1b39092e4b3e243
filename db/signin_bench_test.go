package db

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// BenchmarkSecondFactorChecks measures what a second factor costs at
// sign-in with the production argon2id parameters (m=19456 KiB, t=2, p=1)
// on SQLite (the cost is the hashing, not the engine): an authenticator
// code (the sealed secret opened, three HMACs), and a recovery code in its
// worst case — a wrong one, compared with all ten unused hashes — which is
// what a guesser makes the server pay per try before the throttle stops
// them. Measured on the 2-core development machine (2026-11-27, three runs
// of 20): authenticator code 59–119 µs; wrong recovery code 310–318 ms.
// Only a person past the password reaches either, and the per-account
// code back-off (5 tries) and the cap on concurrent hashes bound the rest.
func BenchmarkSecondFactorChecks(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	u, err := s.CreateUser(ctx, "ann@example.com", "correct horse battery staple", RoleMember, CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.GenerateRecoveryCodes(ctx, u.ID, CLIActor()); err != nil {
		b.Fatal(err)
	}
	if _, err := s.BeginTOTP(ctx, u.ID, "Keyward", u.Email); err != nil {
		b.Fatal(err)
	}
	b.Run("authenticator code", func(b *testing.B) {
		for b.Loop() {
			// "000000" is the right code once in a million steps; wrong or
			// right, the check costs the same.
			if err := s.useTOTP(ctx, u.ID, "000000", false, nil); err != nil && !errors.Is(err, ErrInvalidCredentials) {
				b.Fatal(err)
			}
		}
	})
	b.Run("recovery code, wrong (ten hashes)", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.UseRecoveryCode(ctx, u.ID, "zzzzz-zzzzz", CLIActor()); !errors.Is(err, ErrInvalidCredentials) {
				b.Fatalf("wrong recovery code: got %v, want a refusal", err)
			}
		}
	})
}
