package db

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func idem(key string, body byte) Idempotency {
	return Idempotency{Key: key, Operation: "create-key", Request: bytes.Repeat([]byte{body}, 32)}
}

// TestCreateKeyIdempotentConcurrent: ten concurrent retries of one create
// make exactly one key; every other one is told that key's id.
func TestCreateKeyIdempotentConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		const n = 10
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			created []int64
			replays []int64
			others  []error
		)
		for range n {
			wg.Go(func() {
				k, secret, err := env.s.CreateKeyIdempotent(ctx, env.alice.ID, KeyInput{Name: "deploy"}, idem("retry-1", 1), CLIActor())
				mu.Lock()
				defer mu.Unlock()
				var replay *IdempotencyReplayError
				switch {
				case err == nil && secret != "":
					created = append(created, k.ID)
				case errors.As(err, &replay):
					replays = append(replays, replay.KeyID)
				default:
					others = append(others, err)
				}
			})
		}
		wg.Wait()
		if len(created) != 1 || len(replays) != n-1 || len(others) != 0 {
			t.Fatalf("got %d created, %d replays, errors %v; want 1, %d, none", len(created), len(replays), others, n-1)
		}
		for _, id := range replays {
			if id != created[0] {
				t.Errorf("replay names key %d, want %d", id, created[0])
			}
		}
		if got, err := env.s.CountKeys(ctx, ManagedBy(env.alice.ID), KeyFilter{}); err != nil || got != 1 {
			t.Errorf("alice has %d keys (%v), want 1", got, err)
		}
	})
}

func TestCreateKeyIdempotentRules(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		first, _, err := env.s.CreateKeyIdempotent(ctx, env.alice.ID, KeyInput{Name: "a"}, idem("k1", 1), CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = env.s.CreateKeyIdempotent(ctx, env.alice.ID, KeyInput{Name: "b"}, idem("k1", 2), CLIActor())
		if !errors.Is(err, ErrIdempotencyMismatch) {
			t.Errorf("same key, other request: got %v, want ErrIdempotencyMismatch", err)
		}
		// Scoped per person: bob's k1 is his own.
		if _, _, err := env.s.CreateKeyIdempotent(ctx, env.bob.ID, KeyInput{Name: "a"}, idem("k1", 1), CLIActor()); err != nil {
			t.Errorf("bob's k1: %v", err)
		}
		// After the window the key names a new request.
		env.clock.Advance(IdempotencyWindow + time.Second)
		second, _, err := env.s.CreateKeyIdempotent(ctx, env.alice.ID, KeyInput{Name: "a"}, idem("k1", 1), CLIActor())
		if err != nil || second.ID == first.ID {
			t.Errorf("after 24h: got key %d, %v; want a new key", second.ID, err)
		}
		n, err := env.s.PruneIdempotency(ctx)
		if err != nil || n != 1 {
			t.Errorf("prune: got %d, %v; want bob's one stale record", n, err)
		}
	})
}

// TestIdempotencyRaceIsReplay: should the insert of the record ever lose
// to a concurrent one (the primary key refusing it), the request is
// answered with the winner's key, not a failure.
func TestIdempotencyRaceIsReplay(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		k, _ := env.key(t, env.alice, "won")
		in := idem("race", 3)
		if err := env.s.RecordIdempotency(ctx, env.alice.ID, in, k.ID); err != nil {
			t.Fatal(err)
		}
		err := env.s.RecordIdempotency(ctx, env.alice.ID, in, k.ID)
		if !errors.Is(err, errIdempotencyRace) {
			t.Fatalf("second insert: got %v, want errIdempotencyRace", err)
		}
		var replay *IdempotencyReplayError
		if err := env.s.settleIdempotencyRace(ctx, env.alice.ID, &in, err); !errors.As(err, &replay) || replay.KeyID != k.ID {
			t.Errorf("settled: got %v, want a replay of key %d", err, k.ID)
		}
	})
}

func TestRollKeyIdempotent(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		old, _ := env.key(t, env.alice, "svc")
		in := Idempotency{Key: "roll-1", Operation: "roll-key", Request: bytes.Repeat([]byte{1}, 32)}
		nk, _, _, err := env.s.RollKeyIdempotent(ctx, env.alice.ID, old.ID, time.Hour, &in, CLIActor())
		if err != nil {
			t.Fatal(err)
		}
		var replay *IdempotencyReplayError
		_, _, _, err = env.s.RollKeyIdempotent(ctx, env.alice.ID, old.ID, time.Hour, &in, CLIActor())
		if !errors.As(err, &replay) || replay.KeyID != nk.ID {
			t.Errorf("repeat: got %v, want a replay of %d", err, nk.ID)
		}
		other := in
		other.Request = bytes.Repeat([]byte{2}, 32)
		if _, _, _, err = env.s.RollKeyIdempotent(ctx, env.alice.ID, old.ID, 0, &other, CLIActor()); !errors.Is(err, ErrIdempotencyMismatch) {
			t.Errorf("other grace: got %v, want ErrIdempotencyMismatch", err)
		}
	})
}

// TestRollGraceWithinLifetimeCap: where keys may live 1 day, no grace is
// longer.
func TestRollGraceWithinLifetimeCap(t *testing.T) {
	env := newKeyTestEnv(t)
	ctx := context.Background()
	exp := env.clock.Now().Add(12 * time.Hour)
	old, _ := env.key(t, env.alice, "svc", func(in *KeyInput) { in.ExpiresAt = &exp })
	if err := env.s.SetPolicy(ctx, Policy{MaxKeyLifetime: oneDay, StaleAfter: 90 * oneDay, NeverUsedAfter: 30 * oneDay}, CLIActor()); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := env.s.RollKeyItself(ctx, old.ID, 2*oneDay, nil, KeyActor(old.ID, old.Name))
	if FieldErrors(err)["grace"] == "" {
		t.Errorf("grace 2d under a 1d cap: got %v, want a grace field error", err)
	}
	nk, _, prev, err := env.s.RollKeyItself(ctx, old.ID, 20*time.Hour, nil, KeyActor(old.ID, old.Name))
	if err != nil {
		t.Fatal(err)
	}
	if !prev.ExpiresAt.Equal(exp) || nk.ExpiresAt == nil {
		t.Errorf("old expires %v (want its own %v: a grace never extends), new %v", prev.ExpiresAt, exp, nk.ExpiresAt)
	}
}
