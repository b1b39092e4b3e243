package db

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// newVerifyEnv is a key test environment plus a Verifier with the default
// TTLs on the same fake clock.
func newVerifyEnv(t *testing.T) (*keyTestEnv, *Verifier) {
	t.Helper()
	env := newKeyTestEnv(t)
	return env, NewVerifier(env.s, VerifierOptions{})
}

func verify(t *testing.T, v *Verifier, key, scope string) VerifyResult {
	t.Helper()
	res, err := v.Verify(context.Background(), VerifyRequest{Key: key, Scope: scope, IP: "192.0.2.10", UserAgent: "test/1"})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return res
}

func wantCode(t *testing.T, res VerifyResult, code VerifyCode) {
	t.Helper()
	if res.Code != code || res.Valid != (code == "") {
		t.Fatalf("result = %+v, want code %q", res, code)
	}
	// Whatever needs every code up front (the metrics series) reads
	// VerifyCodes: each code a verification returns must be listed there.
	if code != "" && !slices.Contains(VerifyCodes, code) {
		t.Fatalf("code %q is missing from VerifyCodes %q", code, VerifyCodes)
	}
}

func TestVerifyMalformedCostsNoLookup(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		_, v := newVerifyEnv(t)
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"", "kw_", "Bearer " + k, k[:KeyLength-1] + "#", k[:10] + "0" + k[11:]} {
			if s == k {
				continue
			}
			wantCode(t, verify(t, v, s, ""), CodeMalformed)
		}
		if got := v.Lookups(); got != 0 {
			t.Errorf("Lookups = %d, want 0", got)
		}
	})
}

func TestVerifyCodes(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		unknown, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name  string
			setup func(t *testing.T, env *keyTestEnv, k Key)
			key   string // "" means the created key
			scope string
			want  VerifyCode
		}{
			{"valid", nil, "", "", ""},
			{"valid with scope", nil, "", "read", ""},
			{"malformed", nil, "kw_nope", "", CodeMalformed},
			{"not found", nil, unknown, "", CodeNotFound},
			{"insufficient scope", nil, "", "admin", CodeInsufficientScope},
			{"revoked", func(t *testing.T, env *keyTestEnv, k Key) {
				if _, err := env.s.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); err != nil {
					t.Fatal(err)
				}
			}, "", "", CodeRevoked},
			{"disabled", func(t *testing.T, env *keyTestEnv, k Key) {
				if _, err := env.s.SetKeyDisabled(ctx, AnyOwner(), k.ID, true, "", CLIActor()); err != nil {
					t.Fatal(err)
				}
			}, "", "", CodeDisabled},
			{"owner disabled", func(t *testing.T, env *keyTestEnv, k Key) {
				if err := env.s.SetUserDisabled(ctx, env.alice.ID, true, CLIActor()); err != nil {
					t.Fatal(err)
				}
			}, "", "", CodeDisabled},
			{"expired", func(t *testing.T, env *keyTestEnv, k Key) { env.clock.Advance(31 * 24 * time.Hour) }, "", "", CodeExpired},
			{"revoked beats disabled and expired", func(t *testing.T, env *keyTestEnv, k Key) {
				if _, err := env.s.SetKeyDisabled(ctx, AnyOwner(), k.ID, true, "", CLIActor()); err != nil {
					t.Fatal(err)
				}
				if _, err := env.s.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); err != nil {
					t.Fatal(err)
				}
				env.clock.Advance(31 * 24 * time.Hour)
			}, "", "", CodeRevoked},
			{"expired beats missing scope", func(t *testing.T, env *keyTestEnv, k Key) { env.clock.Advance(31 * 24 * time.Hour) }, "", "admin", CodeExpired},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				env, v := newVerifyEnv(t)
				k, secret := env.key(t, env.alice, "svc", expiresIn(env.clock, 30*24*time.Hour),
					func(in *KeyInput) { in.Scopes = []string{"read", "write"} })
				if tt.setup != nil {
					tt.setup(t, env, k)
				}
				key := tt.key
				if key == "" {
					key = secret
				}
				res := verify(t, v, key, tt.scope)
				wantCode(t, res, tt.want)
				switch {
				case tt.want == "":
					if res.KeyID != k.ID || res.Name != "svc" || res.OwnerID != env.alice.ID || res.Owner != "alice@example.com" ||
						len(res.Scopes) != 2 || res.ExpiresAt == nil || !res.ExpiresAt.Equal(*k.ExpiresAt) {
						t.Errorf("valid result = %+v, want the key's details", res)
					}
				case tt.key == "":
					if res.KeyID != k.ID || res.Name != "" || res.Owner != "" {
						t.Errorf("refused result = %+v, want only the key id", res)
					}
				}
			})
		}
	})
}

func TestVerifyCacheHit(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env, v := newVerifyEnv(t)
		_, secret := env.key(t, env.alice, "svc")
		unknown, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name        string
			key         string
			advance     time.Duration
			want        VerifyCode
			wantLookups int64
		}{
			{"first use looks up", secret, 0, "", 1},
			{"second use is cached", secret, 0, "", 1},
			{"still cached before the TTL", secret, time.Minute - time.Millisecond, "", 1},
			{"looked up again at the TTL", secret, time.Millisecond, "", 2},
			{"unknown key looks up", unknown, 0, CodeNotFound, 3},
			{"unknown key is cached", unknown, time.Second, CodeNotFound, 3},
			{"negative entry ends at its TTL", unknown, time.Second, CodeNotFound, 4},
		}
		for _, st := range steps {
			env.clock.Advance(st.advance)
			wantCode(t, verify(t, v, st.key, ""), st.want)
			if got := v.Lookups(); got != st.wantLookups {
				t.Errorf("%s: Lookups = %d, want %d", st.name, got, st.wantLookups)
			}
		}
	})
}

// Changes made through the Store reach the verifier synchronously: no TTL
// wait, no clock advance.
func TestVerifyChangesAreImmediate(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name   string
			change func(env *keyTestEnv, k Key) error
			want   VerifyCode
		}{
			{"revoke", func(env *keyTestEnv, k Key) error {
				_, err := env.s.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor())
				return err
			}, CodeRevoked},
			{"disable", func(env *keyTestEnv, k Key) error {
				_, err := env.s.SetKeyDisabled(ctx, AnyOwner(), k.ID, true, "", CLIActor())
				return err
			}, CodeDisabled},
			{"owner disable", func(env *keyTestEnv, k Key) error {
				return env.s.SetUserDisabled(ctx, env.alice.ID, true, CLIActor())
			}, CodeDisabled},
			{"roll with no grace", func(env *keyTestEnv, k Key) error {
				_, _, _, err := env.s.RollKey(ctx, k.UserID, k.ID, 0, CLIActor())
				return err
			}, CodeExpired},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				env, v := newVerifyEnv(t)
				k, secret := env.key(t, env.alice, "svc")
				wantCode(t, verify(t, v, secret, ""), "")
				if err := tt.change(env, k); err != nil {
					t.Fatal(err)
				}
				wantCode(t, verify(t, v, secret, ""), tt.want)
			})
		}
		t.Run("rename", func(t *testing.T) {
			env, v := newVerifyEnv(t)
			k, secret := env.key(t, env.alice, "old name")
			verify(t, v, secret, "")
			if _, err := env.s.UpdateKey(ctx, AnyOwner(), k.ID, "new name", "", CLIActor()); err != nil {
				t.Fatal(err)
			}
			if got := verify(t, v, secret, "").Name; got != "new name" {
				t.Errorf("Name = %q, want %q", got, "new name")
			}
		})
	})
}

// A revocation that has returned is effective on the very next Verify, even
// while other goroutines keep verifying (and refilling the cache) the key.
func TestVerifyRevokeRacesWithLookups(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env, v := newVerifyEnv(t)
		ctx := context.Background()
		for round := range 10 {
			k, secret := env.key(t, env.alice, "race")
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := v.Verify(ctx, VerifyRequest{Key: secret}); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			if _, err := env.s.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				if res := verify(t, v, secret, ""); res.Code != CodeRevoked {
					t.Fatalf("round %d, check %d after revoke: %+v, want REVOKED", round, i, res)
				}
			}
			close(stop)
			wg.Wait()
		}
	})
}

// The CLI changes keys from another process. The server sees it at its
// next change poll, and, should polling fail, once the cache entry is older
// than CacheTTL.
func TestVerifySeesOtherProcess(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "keyward.db")
	open := func() *Store {
		s, err := Open(ctx, path, Options{Now: clock.Now, Argon2: testArgon2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	server, cli := open(), open()
	v := NewVerifier(server, VerifierOptions{CacheTTL: 5 * time.Second})
	if err := v.PollChanges(ctx); err != nil {
		t.Fatal(err)
	}
	u := ktUser(t, server, "alice@example.com")
	newKey := func(name string) (Key, string) {
		k, secret, err := server.CreateKey(ctx, u.ID, KeyInput{Name: name}, CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		return k, secret
	}

	t.Run("at the next poll", func(t *testing.T) {
		k, secret := newKey("polled")
		if err := v.PollChanges(ctx); err != nil { // takes note of the creation
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, secret, ""), "")
		if _, err := cli.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, secret, ""), "") // cached until the poll
		if err := v.PollChanges(ctx); err != nil {
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, secret, ""), CodeRevoked)
	})

	t.Run("owner disabled elsewhere", func(t *testing.T) {
		other := ktUser(t, server, "bob@example.com")
		_, secret, err := server.CreateKey(ctx, other.ID, KeyInput{Name: "bob's"}, CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		if err := v.PollChanges(ctx); err != nil {
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, secret, ""), "")
		if _, err := cli.w.ExecContext(ctx, `UPDATE users SET disabled_at = 1 WHERE id = ?`, other.ID); err != nil {
			t.Fatal(err)
		}
		if err := v.PollChanges(ctx); err != nil {
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, secret, ""), CodeDisabled)
	})

	t.Run("usage flushes do not drop the cache", func(t *testing.T) {
		_, secret := newKey("busy")
		if err := v.PollChanges(ctx); err != nil {
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, secret, ""), "")
		lookups := v.Lookups()
		if err := v.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := v.PollChanges(ctx); err != nil {
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, secret, ""), "")
		if got := v.Lookups(); got != lookups {
			t.Errorf("Lookups after a flush and a poll: got %d, want %d (last_used_* must not move the change counter)", got, lookups)
		}
	})

	t.Run("after the TTL without polling", func(t *testing.T) {
		k, secret := newKey("unpolled")
		if err := v.PollChanges(ctx); err != nil {
			t.Fatal(err)
		}
		wantCode(t, verify(t, v, secret, ""), "")
		if _, err := cli.RevokeKey(ctx, AnyOwner(), k.ID, "", CLIActor()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(4 * time.Second)
		wantCode(t, verify(t, v, secret, ""), "")
		clock.Advance(time.Second)
		wantCode(t, verify(t, v, secret, ""), CodeRevoked)
	})
}

func TestVerifyExpiryBoundary(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env, v := newVerifyEnv(t)
		_, secret := env.key(t, env.alice, "svc", expiresIn(env.clock, time.Hour))
		env.clock.Advance(time.Hour - 2*time.Second)
		wantCode(t, verify(t, v, secret, ""), "")
		lookups := v.Lookups()
		env.clock.Advance(2*time.Second - time.Millisecond)
		wantCode(t, verify(t, v, secret, ""), "")
		env.clock.Advance(time.Millisecond)
		wantCode(t, verify(t, v, secret, ""), CodeExpired)
		if got := v.Lookups(); got != lookups {
			t.Errorf("Lookups = %d, want %d: expiry must be decided from the cached snapshot", got, lookups)
		}
	})
}

func TestVerifyCacheIsBounded(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		v := NewVerifier(env.s, VerifierOptions{MaxEntries: 64})
		for range 500 {
			k, err := GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, verify(t, v, k, ""), CodeNotFound)
		}
		n := 0
		for i := range v.shards {
			n += len(v.shards[i].entries)
		}
		if limit := 64 + cacheShards; n > limit {
			t.Errorf("cache entries = %d, want at most %d", n, limit)
		}
	})
}

func TestVerifyDatabaseError(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env, v := newVerifyEnv(t)
		_, secret := env.key(t, env.alice, "svc")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := v.Verify(ctx, VerifyRequest{Key: secret})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v: a cancelled request is not the database being unavailable", err)
		}
		wantCode(t, verify(t, v, secret, ""), "")
	})
}

// TestVerifyKnownValid: a key is known once a lookup found it valid, stays
// known when the cache is dropped (any key change drops it), and is
// forgotten a day after its last lookup. Guesses never become known.
func TestVerifyKnownValid(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		env, v := newVerifyEnv(t)
		_, secret := env.key(t, env.alice, "svc")
		_, other := env.key(t, env.alice, "other")
		revoked, revokedSecret := env.key(t, env.alice, "revoked")
		unknown, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name string
			do   func()
			key  string
			want bool
		}{
			{"never verified", nil, secret, false},
			{"verified valid", func() { verify(t, v, secret, "") }, secret, true},
			{"valid for another scope only", func() { verify(t, v, other, "admin") }, other, true},
			{"unknown key verified", func() { verify(t, v, unknown, "") }, unknown, false},
			{"malformed", nil, "kw_guess", false},
			{"revoked before its first lookup", func() {
				if _, err := env.s.RevokeKey(ctx, AnyOwner(), revoked.ID, "", CLIActor()); err != nil {
					t.Fatal(err)
				}
				verify(t, v, revokedSecret, "")
			}, revokedSecret, false},
			{"after the cache is dropped", func() { v.invalidate() }, secret, true},
			{"just under a day later", func() { env.clock.Advance(24*time.Hour - time.Second) }, secret, true},
			{"a day after the last lookup", func() { env.clock.Advance(time.Second) }, secret, false},
			{"looked up again", func() { verify(t, v, secret, "") }, secret, true},
		}
		for _, st := range steps {
			if st.do != nil {
				st.do()
			}
			if got := v.KnownValid(st.key); got != st.want {
				t.Errorf("%s: KnownValid = %v, want %v", st.name, got, st.want)
			}
		}
	})
}
