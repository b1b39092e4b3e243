package db

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// keyTestEnv is a store on a fake clock with two members, alice and bob.
type keyTestEnv struct {
	s          *Store
	clock      *fakeClock
	alice, bob User
	hookCalls  int
}

func newKeyTestEnv(t *testing.T) *keyTestEnv {
	t.Helper()
	env := &keyTestEnv{clock: newFakeClock()}
	env.s = newTestStore(t, withClock(env.clock))
	env.s.SetKeyChangeHook(func() { env.hookCalls++ })
	env.alice = ktUser(t, env.s, "alice@example.com")
	env.bob = ktUser(t, env.s, "bob@example.com")
	mustCatalog(t, env.s, testCatalog...)
	return env
}

func ktUser(t *testing.T, s *Store, email string) User {
	t.Helper()
	pw, err := GeneratePassword(email)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(context.Background(), email, pw, RoleMember, CLIActor())
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

// key creates a key named name for u.
func (env *keyTestEnv) key(t *testing.T, u User, name string, opts ...func(*KeyInput)) (Key, string) {
	t.Helper()
	in := KeyInput{Name: name}
	for _, o := range opts {
		o(&in)
	}
	k, secret, err := env.s.CreateKey(context.Background(), u.ID, in, Actor{UserID: u.ID, Label: u.Email})
	if err != nil {
		t.Fatalf("CreateKey(%s): %v", name, err)
	}
	return k, secret
}

func expiresIn(clock *fakeClock, d time.Duration) func(*KeyInput) {
	return func(in *KeyInput) { t := clock.Now().Add(d); in.ExpiresAt = &t }
}

func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want %v", err, kind)
	}
}

func TestCreateKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		exp := env.clock.Now().Add(30 * 24 * time.Hour)
		k, secret, err := env.s.CreateKey(ctx, env.alice.ID, KeyInput{
			Name: "  deploy bot ", Description: "CI\nline two", Scopes: []string{"read", "write", "read"}, ExpiresAt: &exp,
		}, Actor{UserID: env.alice.ID, Label: env.alice.Email, IP: "192.0.2.1"})
		if err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		if err := ParseKey(secret); err != nil {
			t.Fatalf("secret %q does not parse: %v", secret, err)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"name", k.Name, "deploy bot"},
			{"description", k.Description, "CI\nline two"},
			{"scopes", k.Scopes, []string{"read", "write"}},
			{"hint", k.Hint, KeyHint(secret)},
			{"owner", k.OwnerEmail, "alice@example.com"},
			{"user", k.UserID, env.alice.ID},
			{"created", k.CreatedAt, env.clock.Now()},
			{"expires", *k.ExpiresAt, exp},
			{"status", k.Status(env.clock.Now()), KeyActive},
			{"hook calls", env.hookCalls, 1},
		}
		for _, c := range checks {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		var stored []byte
		if err := env.s.r.QueryRow(`SELECT key_hash FROM api_keys WHERE id = ?`, k.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if h := HashKey(secret); string(stored) != string(h[:]) {
			t.Errorf("stored hash = %x, want %x", stored, h)
		}
		events, err := env.s.KeyEvents(ctx, OwnedBy(env.alice.ID), k.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Action != ActionKeyCreate || events[0].Target != "deploy bot" ||
			events[0].IP != "192.0.2.1" || events[0].Detail["scopes"] != "read write" {
			t.Errorf("events = %+v, want one key.create for deploy bot from 192.0.2.1 with scopes", events)
		}
	})
}

func TestCreateKeyValidation(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		past := env.clock.Now().Add(-time.Second)
		now := env.clock.Now()
		tests := []struct {
			name  string
			in    KeyInput
			field string
		}{
			{"empty name", KeyInput{Name: "  "}, "name"},
			{"long name", KeyInput{Name: strings.Repeat("é", 101)}, "name"},
			{"control character", KeyInput{Name: "a\x00b"}, "name"},
			{"newline in name", KeyInput{Name: "a\nb"}, "name"},
			{"long description", KeyInput{Name: "ok", Description: strings.Repeat("x", 501)}, "description"},
			{"control in description", KeyInput{Name: "ok", Description: "bell\a"}, "description"},
			{"uppercase scope", KeyInput{Name: "ok", Scopes: []string{"Read"}}, "scopes"},
			{"too many scopes", KeyInput{Name: "ok", Scopes: strings.Fields("a b c d e f g h i j k l m n o p q r s t u")}, "scopes"},
			{"past expiry", KeyInput{Name: "ok", ExpiresAt: &past}, "expires_at"},
			{"expiry now", KeyInput{Name: "ok", ExpiresAt: &now}, "expires_at"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := env.s.CreateKey(context.Background(), env.alice.ID, tt.in, CLIActor())
				wantKind(t, err, ErrInvalid)
				if msg := FieldErrors(err)[tt.field]; msg == "" {
					t.Errorf("field errors = %v, want one for %q", FieldErrors(err), tt.field)
				}
			})
		}
		if got := env.hookCalls; got != 0 {
			t.Errorf("hook calls = %d, want 0", got)
		}
		if _, _, err := env.s.CreateKey(context.Background(), 9999, KeyInput{Name: "x"}, CLIActor()); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: err = %v, want ErrNotFound", err)
		}
	})
}

func TestCreateKeyForDisabledUser(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		if err := env.s.SetUserDisabled(ctx, env.bob.ID, true, CLIActor()); err != nil {
			t.Fatal(err)
		}
		_, _, err := env.s.CreateKey(ctx, env.bob.ID, KeyInput{Name: "x"}, CLIActor())
		wantKind(t, err, ErrConflict)
	})
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{" , ,", nil, false},
		{"read", []string{"read"}, false},
		{"read,write", []string{"read", "write"}, false},
		{"read, write\tadmin:all  read", []string{"read", "write", "admin:all"}, false},
		{"a.b_c-d:e", []string{"a.b_c-d:e"}, false},
		{strings.Repeat("a", 64), []string{strings.Repeat("a", 64)}, false},
		{strings.Repeat("a", 65), nil, true},
		{"Read", nil, true},
		{"read/write", nil, true},
		{"lecture:écrire", nil, true},
		{strings.Repeat("x ", 30), []string{"x"}, false},
		{"a b c d e f g h i j k l m n o p q r s t", strings.Fields("a b c d e f g h i j k l m n o p q r s t"), false},
		{"a b c d e f g h i j k l m n o p q r s t u", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseScopes(tt.in)
			if msg := fieldMessage(t, err); (msg != "") != tt.wantErr {
				t.Fatalf("message = %q, want error %v", msg, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("scopes = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeyStatus(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	tests := []struct {
		name string
		k    Key
		want KeyStatus
	}{
		{"no expiry", Key{}, KeyActive},
		{"far expiry", Key{ExpiresAt: at(8 * 24 * time.Hour)}, KeyActive},
		{"expiring window edge", Key{ExpiresAt: at(ExpiringWindow)}, KeyExpiring},
		{"expiring soon", Key{ExpiresAt: at(time.Minute)}, KeyExpiring},
		{"expires now", Key{ExpiresAt: at(0)}, KeyExpired},
		{"expired", Key{ExpiresAt: at(-time.Hour)}, KeyExpired},
		{"disabled and expired", Key{ExpiresAt: at(-time.Hour), DisabledAt: at(-time.Hour)}, KeyDisabled},
		{"revoked and disabled", Key{RevokedAt: at(-time.Hour), DisabledAt: at(-time.Hour)}, KeyRevoked},
		{"owner disabled", Key{OwnerDisabled: true}, KeyDisabled},
		{"owner disabled and expired", Key{ExpiresAt: at(-time.Hour), OwnerDisabled: true}, KeyDisabled},
		{"owner disabled and expiring", Key{ExpiresAt: at(time.Minute), OwnerDisabled: true}, KeyDisabled},
		{"owner disabled and revoked", Key{RevokedAt: at(-time.Hour), OwnerDisabled: true}, KeyRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.k.Status(now); got != tt.want {
				t.Errorf("Status = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeysScopedByOwner(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		env := newKeyTestEnv(t)
		ctx := context.Background()
		a1, _ := env.key(t, env.alice, "a1")
		a2, _ := env.key(t, env.alice, "a2")
		b1, _ := env.key(t, env.bob, "b1")

		list := func(access KeyAccess) []int64 {
			keys, err := env.s.ListKeys(ctx, access, KeyFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, k := range keys {
				ids = append(ids, k.ID)
			}
			return ids
		}
		if got, want := list(OwnedBy(env.alice.ID)), []int64{a2.ID, a1.ID}; !reflect.DeepEqual(got, want) {
			t.Errorf("alice's keys = %v, want %v", got, want)
		}
		if got, want := list(AnyOwner()), []int64{b1.ID, a2.ID, a1.ID}; !reflect.DeepEqual(got, want) {
			t.Errorf("all keys = %v, want %v", got, want)
		}
		if n, err := env.s.CountKeys(ctx, OwnedBy(env.bob.ID), KeyFilter{}); err != nil || n != 1 {
			t.Errorf("CountKeys(bob) = %d, %v, want 1", n, err)
		}
		if k, err := env.s.GetKey(ctx, AnyOwner(), b1.ID); err != nil || k.OwnerEmail != "bob@example.com" {
			t.Errorf("GetKey(any, b1) = %+v, %v, want bob's key", k, err)
		}

		bob := OwnedBy(env.bob.ID)
		actor := Actor{UserID: env.bob.ID, Label: env.bob.Email}
		calls := []struct {
			name string
			fn   func() error
		}{
			{"GetKey", func() error { _, err := env.s.GetKey(ctx, bob, a1.ID); return err }},
			{"UpdateKey", func() error { _, err := env.s.UpdateKey(ctx, bob, a1.ID, "mine", "", actor); return err }},
			{"SetKeyDisabled", func() error { _, err := env.s.SetKeyDisabled(ctx, bob, a1.ID, true, "", actor); return err }},
			{"RevokeKey", func() error { _, err := env.s.RevokeKey(ctx, bob, a1.ID, "", actor); return err }},
			{"RollKey", func() error { _, _, _, err := env.s.RollKey(ctx, env.bob.ID, a1.ID, 0, actor); return err }},
			{"KeyUsage", func() error { _, err := env.s.KeyUsage(ctx, bob, a1.ID, 30); return err }},
			{"KeyEvents", func() error { _, err := env.s.KeyEvents(ctx, bob, a1.ID, 10); return err }},
			{"missing key", func() error { _, err := env.s.GetKey(ctx, AnyOwner(), 12345); return err }},
		}
		for _, c := range calls {
			t.Run(c.name, func(t *testing.T) { wantKind(t, c.fn(), ErrNotFound) })
		}
		k, err := env.s.GetKey(ctx, AnyOwner(), a1.ID)
		if err != nil || k.Name != "a1" || k.DisabledAt != nil || k.RevokedAt != nil {
			t.Errorf("a1 after bob's attempts = %+v, %v, want unchanged", k, err)
		}
	})
}
