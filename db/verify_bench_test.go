package db

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

// The verification path's cost, piece by piece. Run with
// `go test -run '^$' -bench . -benchmem ./db/`.

func BenchmarkParseAndHash(b *testing.B) {
	k, err := GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var sink [32]byte
	for b.Loop() {
		if ParseKey(k) != nil {
			b.Fatal("ParseKey refused a generated key")
		}
		sink = HashKey(k)
	}
	_ = sink
}

func BenchmarkVerifyCacheHit(b *testing.B) {
	benchVerifyCacheHit(b, KeyInput{Name: "bench", Scopes: []string{"read"}}, "")
}

// BenchmarkVerifyCacheHitAllowlist is the same with an IP allowlist of
// eight networks (the client matches the last) and metadata on the key:
// what a locked-down key costs on the hot path.
func BenchmarkVerifyCacheHitAllowlist(b *testing.B) {
	var allowed []netip.Prefix
	for i := range 7 {
		allowed = append(allowed, netip.MustParsePrefix(fmt.Sprintf("2001:db8:%x::/48", i)))
	}
	allowed = append(allowed, netip.MustParsePrefix("10.0.0.0/8"))
	benchVerifyCacheHit(b, KeyInput{Name: "bench", Scopes: []string{"read"}, AllowedIPs: allowed,
		Meta: `{"tenant":"acme","plan":"pro","limits":{"rps":100}}`}, "10.20.30.40")
}

func benchVerifyCacheHit(b *testing.B, in KeyInput, clientIP string) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "keyward.db"), Options{Argon2: testArgon2})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pw, err := GeneratePassword("")
	if err != nil {
		b.Fatal(err)
	}
	u, err := s.CreateUser(ctx, "bench@example.com", pw, RoleMember, CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	mustCatalog(b, s, in.Scopes...)
	_, secret, err := s.CreateKey(ctx, u.ID, in, CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	v := NewVerifier(s, VerifierOptions{CacheTTL: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	req := VerifyRequest{Key: secret, Scope: "read", IP: "192.0.2.1", UserAgent: "bench/1", ClientIP: clientIP}
	if res, err := v.Verify(ctx, req); err != nil || !res.Valid {
		b.Fatalf("Verify = %+v, %v", res, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := v.Verify(ctx, req); err != nil || !res.Valid {
				b.Errorf("Verify = %+v, %v", res, err)
				return
			}
		}
	})
	b.StopTimer()
	if got := v.Lookups(); got != 1 {
		b.Errorf("Lookups = %d, want 1 (every verification after the first is a cache hit)", got)
	}
}

func BenchmarkRecordUse(b *testing.B) {
	var r usageRecorder
	r.reset(defaultMaxPendingKeys)
	now := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		r.record(42, now, "192.0.2.1", "bench/1")
	}
}

// BenchmarkRecordRefusal is BenchmarkRecordUse for a refusal: what a
// client retrying a revoked key costs the recorder.
func BenchmarkRecordRefusal(b *testing.B) {
	var r usageRecorder
	r.reset(defaultMaxPendingKeys)
	now := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		r.refuse(42, now, "192.0.2.1", "bench/1", CodeRevoked)
	}
}

// BenchmarkVerifyRefused is BenchmarkVerifyCacheHit for a revoked key:
// the refusal is answered from the cache and counted in memory.
func BenchmarkVerifyRefused(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "keyward.db"), Options{Argon2: testArgon2})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pw, err := GeneratePassword("")
	if err != nil {
		b.Fatal(err)
	}
	u, err := s.CreateUser(ctx, "bench@example.com", pw, RoleMember, CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	k, secret, err := s.CreateKey(ctx, u.ID, KeyInput{Name: "bench"}, CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); err != nil {
		b.Fatal(err)
	}
	v := NewVerifier(s, VerifierOptions{CacheTTL: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	req := VerifyRequest{Key: secret, Scope: "read", IP: "192.0.2.1", UserAgent: "bench/1"}
	if res, err := v.Verify(ctx, req); err != nil || res.Code != CodeRevoked {
		b.Fatalf("Verify = %+v, %v", res, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := v.Verify(ctx, req); err != nil || res.Code != CodeRevoked {
				b.Errorf("Verify = %+v, %v", res, err)
				return
			}
		}
	})
	b.StopTimer()
	if got := v.Lookups(); got != 1 {
		b.Errorf("Lookups = %d, want 1", got)
	}
}
