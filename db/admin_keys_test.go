package db

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// adminKeysEnv holds keys of alice and bob with known scopes, last uses and
// expiries, for the admin filters and orders.
type adminKeysEnv struct {
	*keyTestEnv
	// a1..a4 are alice's, b1..b2 bob's, in creation order.
	a1, a2, a3, a4, b1, b2 Key
}

func newAdminKeysEnv(t *testing.T) *adminKeysEnv {
	t.Helper()
	const day = 24 * time.Hour
	env := &adminKeysEnv{keyTestEnv: newKeyTestEnv(t)}
	scopes := func(sc ...string) func(*KeyInput) { return func(in *KeyInput) { in.Scopes = sc } }
	env.a1, _ = env.key(t, env.alice, "a1", scopes("read", "write"))
	env.a2, _ = env.key(t, env.alice, "a2", scopes("read:all"), expiresIn(env.clock, 10*day))
	env.a3, _ = env.key(t, env.alice, "a3", expiresIn(env.clock, 5*day))
	env.a4, _ = env.key(t, env.alice, "a4", scopes("write"))
	env.b1, _ = env.key(t, env.bob, "b1", scopes("read"), expiresIn(env.clock, 5*day))
	env.b2, _ = env.key(t, env.bob, "b2")
	// Last used: a1 long ago, b2 recently, a3 most recently; others never.
	now := env.clock.Now()
	for id, at := range map[int64]time.Time{env.a1.ID: now.Add(-3 * day), env.b2.ID: now.Add(-day), env.a3.ID: now.Add(-time.Hour)} {
		if _, err := env.s.w.Exec(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`, toMillis(at), id); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

func TestKeyFilterAdmin(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newAdminKeysEnv(t)
		ctx := context.Background()
		ids := func(keys ...Key) []int64 { return keyIDs(keys) }
		tests := []struct {
			name string
			f    KeyFilter
			want []int64
		}{
			{"default newest first", KeyFilter{}, ids(env.b2, env.b1, env.a4, env.a3, env.a2, env.a1)},
			{"created", KeyFilter{Sort: KeySortCreated}, ids(env.b2, env.b1, env.a4, env.a3, env.a2, env.a1)},
			{"owner email any case", KeyFilter{OwnerEmail: " BOB@Example.com "}, ids(env.b2, env.b1)},
			{"unknown owner", KeyFilter{OwnerEmail: "nobody@example.com"}, ids()},
			{"scope is a whole word", KeyFilter{Scope: "read"}, ids(env.b1, env.a1)},
			{"scope with colon", KeyFilter{Scope: "read:all"}, ids(env.a2)},
			{"scope prefix does not match", KeyFilter{Scope: "rea"}, ids()},
			{"owner and scope", KeyFilter{OwnerEmail: "alice@example.com", Scope: "write"}, ids(env.a4, env.a1)},
			{"last used, never used last", KeyFilter{Sort: KeySortLastUsed}, ids(env.a3, env.b2, env.a1, env.b1, env.a4, env.a2)},
			{"expires soonest, ties newest first, none last", KeyFilter{Sort: KeySortExpires}, ids(env.b1, env.a3, env.a2, env.b2, env.a4, env.a1)},
			{"sorted page", KeyFilter{Sort: KeySortLastUsed, Limit: 2, Offset: 1}, ids(env.b2, env.a1)},
			{"sort with filter", KeyFilter{Sort: KeySortExpires, Scope: "read"}, ids(env.b1, env.a1)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				keys, err := env.s.ListKeys(ctx, AnyOwner(), tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(keys...); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("ListKeys = %v, want %v", got, tt.want)
				}
				if tt.f.Limit != 0 {
					return
				}
				if n, err := env.s.CountKeys(ctx, AnyOwner(), tt.f); err != nil || n != len(tt.want) {
					t.Errorf("CountKeys = %d, %v, want %d", n, err, len(tt.want))
				}
				got, err := env.s.KeyIDs(ctx, AnyOwner(), tt.f, 0)
				if err != nil || !reflect.DeepEqual(append([]int64{}, got...), tt.want) {
					t.Errorf("KeyIDs = %v, %v, want %v", got, err, tt.want)
				}
				var each []int64
				err = env.s.EachKey(ctx, AnyOwner(), tt.f, func(k Key) error { each = append(each, k.ID); return nil })
				if err != nil || !reflect.DeepEqual(append([]int64{}, each...), tt.want) {
					t.Errorf("EachKey = %v, %v, want %v", each, err, tt.want)
				}
			})
		}

		// Owner scoping still applies under the new filters.
		keys, err := env.s.ListKeys(ctx, OwnedBy(env.alice.ID), KeyFilter{OwnerEmail: "bob@example.com"})
		if err != nil || len(keys) != 0 {
			t.Errorf("alice filtering on bob: got %d keys, %v, want none", len(keys), err)
		}
		for _, fn := range []func() error{
			func() error { _, err := env.s.ListKeys(ctx, AnyOwner(), KeyFilter{Sort: "name"}); return err },
			func() error { _, err := env.s.KeyIDs(ctx, AnyOwner(), KeyFilter{Sort: "name"}, 0); return err },
			func() error {
				return env.s.EachKey(ctx, AnyOwner(), KeyFilter{Sort: "name"}, func(Key) error { return nil })
			},
		} {
			if err := fn(); !errors.Is(err, ErrInvalid) {
				t.Errorf("unknown sort: got %v, want ErrInvalid", err)
			}
		}
	})
}

func TestKeyIDsLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newAdminKeysEnv(t)
		got, err := env.s.KeyIDs(context.Background(), OwnedBy(env.alice.ID), KeyFilter{Limit: 1, Offset: 3}, 3)
		if want := keyIDs([]Key{env.a4, env.a3, env.a2}); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("KeyIDs = %v, %v, want %v (f.Limit and f.Offset ignored)", got, err, want)
		}
	})
}

func TestEachKeyStreamsAll(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		const n = 2*MaxKeyLimit + 7 // more than any page
		seeded := seedKeys(t, env.s, []int64{env.alice.ID, env.bob.ID}, n, env.clock.Now())
		var got []int64
		err := env.s.EachKey(ctx, AnyOwner(), KeyFilter{Limit: 5, Offset: 100}, func(k Key) error {
			if k.OwnerEmail == "" || k.Name == "" {
				t.Fatalf("got key %+v without owner or name", k)
			}
			got = append(got, k.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("got %d keys, want %d", len(got), n)
		}
		for i, id := range got {
			if want := seeded[n-1-i]; id != want {
				t.Fatalf("key %d: got id %d, want %d (newest first)", i, id, want)
			}
		}

		// fn's error stops the stream and comes back as is.
		stop := errors.New("client went away")
		var calls int
		err = env.s.EachKey(ctx, AnyOwner(), KeyFilter{}, func(Key) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("got %v after %d calls, want the callback's error after 1", err, calls)
		}
	})
}
