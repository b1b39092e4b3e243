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
	return env
}

func ktUser(t *testing.T, s *Store, email string) User {
	t.Helper()
	pw, err := GeneratePassword()
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
}

func TestCreateKeyValidation(t *testing.T) {
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
}

func TestCreateKeyForDisabledUser(t *testing.T) {
	env := newKeyTestEnv(t)
	ctx := context.Background()
	if err := env.s.SetUserDisabled(ctx, env.bob.ID, true, CLIActor()); err != nil {
		t.Fatal(err)
	}
	_, _, err := env.s.CreateKey(ctx, env.bob.ID, KeyInput{Name: "x"}, CLIActor())
	wantKind(t, err, ErrConflict)
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
			got, msg := ParseScopes(tt.in)
			if (msg != "") != tt.wantErr {
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
	env := newKeyTestEnv(t)
	ctx := context.Background()
	a1, _ := env.key(t, env.alice, "a1")
	a2, _ := env.key(t, env.alice, "a2")
	b1, _ := env.key(t, env.bob, "b1")

	list := func(scope Scope) []int64 {
		keys, err := env.s.ListKeys(ctx, scope, KeyFilter{})
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
		{"SetKeyDisabled", func() error { _, err := env.s.SetKeyDisabled(ctx, bob, a1.ID, true, actor); return err }},
		{"RevokeKey", func() error { _, err := env.s.RevokeKey(ctx, bob, a1.ID, "", actor); return err }},
		{"RollKey", func() error { _, _, _, err := env.s.RollKey(ctx, bob, a1.ID, 0, actor); return err }},
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
}

func TestKeyStateTransitions(t *testing.T) {
	env := newKeyTestEnv(t)
	ctx := context.Background()
	k, _ := env.key(t, env.alice, "svc")
	scope, actor := OwnedBy(env.alice.ID), Actor{UserID: env.alice.ID, Label: env.alice.Email}
	now := env.clock.Now

	steps := []struct {
		name       string
		do         func() (Key, error)
		wantErr    error
		wantStatus KeyStatus
		wantHooks  int // cumulative, after the create
	}{
		{"disable", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, true, actor) }, nil, KeyDisabled, 1},
		{"disable again is a no-op", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, true, actor) }, nil, KeyDisabled, 1},
		{"enable", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, false, actor) }, nil, KeyActive, 2},
		{"enable again is a no-op", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, false, actor) }, nil, KeyActive, 2},
		{"rename", func() (Key, error) { return env.s.UpdateKey(ctx, scope, k.ID, "svc-2", "desc", actor) }, nil, KeyActive, 3},
		{"same name is a no-op", func() (Key, error) { return env.s.UpdateKey(ctx, scope, k.ID, "svc-2", "desc", actor) }, nil, KeyActive, 3},
		{"revoke with too long a reason", func() (Key, error) {
			return env.s.RevokeKey(ctx, scope, k.ID, strings.Repeat("r", 501), actor)
		}, ErrInvalid, KeyActive, 3},
		{"revoke", func() (Key, error) { return env.s.RevokeKey(ctx, scope, k.ID, "leaked in a log", actor) }, nil, KeyRevoked, 4},
		{"revoke again", func() (Key, error) { return env.s.RevokeKey(ctx, scope, k.ID, "", actor) }, ErrConflict, KeyRevoked, 4},
		{"enable revoked", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, false, actor) }, ErrConflict, KeyRevoked, 4},
		{"disable revoked", func() (Key, error) { return env.s.SetKeyDisabled(ctx, scope, k.ID, true, actor) }, ErrConflict, KeyRevoked, 4},
		{"rename revoked", func() (Key, error) { return env.s.UpdateKey(ctx, scope, k.ID, "x", "", actor) }, ErrConflict, KeyRevoked, 4},
		{"roll revoked", func() (Key, error) {
			_, _, old, err := env.s.RollKey(ctx, scope, k.ID, time.Hour, actor)
			return old, err
		}, ErrConflict, KeyRevoked, 4},
	}
	env.hookCalls = 0
	for _, st := range steps {
		got, err := st.do()
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
			}
		} else if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		} else if s := got.Status(now()); s != st.wantStatus {
			t.Errorf("%s: returned status = %q, want %q", st.name, s, st.wantStatus)
		}
		stored, err := env.s.GetKey(ctx, scope, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s := stored.Status(now()); s != st.wantStatus {
			t.Errorf("%s: stored status = %q, want %q", st.name, s, st.wantStatus)
		}
		if env.hookCalls != st.wantHooks {
			t.Errorf("%s: hook calls = %d, want %d", st.name, env.hookCalls, st.wantHooks)
		}
	}
	final, err := env.s.GetKey(ctx, scope, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.RevokedBy != env.alice.ID || final.RevokeReason != "leaked in a log" || final.Name != "svc-2" {
		t.Errorf("revoked key = %+v, want revoked by alice, reason kept, name svc-2", final)
	}
	_, err = env.s.UpdateKey(ctx, scope, k.ID, "x", "", actor)
	var e *Error
	if !errors.As(err, &e) || e.Message != "This key is revoked and cannot be changed." {
		t.Errorf("edit revoked: err = %v, want the revoked message", err)
	}

	events, err := env.s.KeyEvents(ctx, scope, k.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	want := []string{ActionKeyRevoke, ActionKeyUpdate, ActionKeyEnable, ActionKeyDisable, ActionKeyCreate}
	if !reflect.DeepEqual(actions, want) {
		t.Errorf("audit actions = %v, want %v", actions, want)
	}
	if events[0].Detail["reason"] != "leaked in a log" || events[1].Detail["old_name"] != "svc" {
		t.Errorf("audit details = %v / %v, want reason and old name", events[0].Detail, events[1].Detail)
	}
}

func TestRollKey(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name       string
		lifetime   time.Duration // 0: no expiry
		age        time.Duration // how long after creation the roll happens
		grace      time.Duration
		wantOldExp time.Duration // from the roll
		wantNewExp time.Duration // from the roll; 0: none
	}{
		{"no expiry, grace now", 0, day, 0, 0, 0},
		{"no expiry, grace 1h", 0, day, time.Hour, time.Hour, 0},
		{"no expiry, grace 24h", 0, day, day, day, 0},
		{"no expiry, grace 7d", 0, day, 7 * day, 7 * day, 0},
		{"30d lifetime keeps its length", 30 * day, 10 * day, day, day, 30 * day},
		{"expiry sooner than grace is kept", 30 * day, 28 * day, 7 * day, 2 * day, 30 * day},
		{"expired key can be rolled", 30 * day, 31 * day, time.Hour, -day, 30 * day},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newKeyTestEnv(t)
			ctx := context.Background()
			opts := []func(*KeyInput){func(in *KeyInput) { in.Description = "d"; in.Scopes = []string{"a", "b"} }}
			if tt.lifetime > 0 {
				opts = append(opts, expiresIn(env.clock, tt.lifetime))
			}
			old, oldSecret := env.key(t, env.alice, "rolled", opts...)
			env.clock.Advance(tt.age)
			rollAt := env.clock.Now()
			env.hookCalls = 0
			nk, secret, oldAfter, err := env.s.RollKey(ctx, OwnedBy(env.alice.ID), old.ID, tt.grace, CLIActor())
			if err != nil {
				t.Fatalf("RollKey: %v", err)
			}
			if err := ParseKey(secret); err != nil || secret == oldSecret {
				t.Errorf("new secret %q: parse %v, want a fresh valid key", secret, err)
			}
			if nk.RolledFrom != old.ID || nk.Name != "rolled" || nk.Description != "d" ||
				!reflect.DeepEqual(nk.Scopes, []string{"a", "b"}) || nk.UserID != env.alice.ID || !nk.CreatedAt.Equal(rollAt) {
				t.Errorf("new key = %+v, want a copy of the old one rolled from %d", nk, old.ID)
			}
			if tt.wantNewExp == 0 && nk.ExpiresAt != nil {
				t.Errorf("new expiry = %v, want none", nk.ExpiresAt)
			}
			if tt.wantNewExp != 0 && (nk.ExpiresAt == nil || !nk.ExpiresAt.Equal(rollAt.Add(tt.wantNewExp))) {
				t.Errorf("new expiry = %v, want %v", nk.ExpiresAt, rollAt.Add(tt.wantNewExp))
			}
			if oldAfter.ExpiresAt == nil || !oldAfter.ExpiresAt.Equal(rollAt.Add(tt.wantOldExp)) {
				t.Errorf("old expiry = %v, want %v", oldAfter.ExpiresAt, rollAt.Add(tt.wantOldExp))
			}
			if env.hookCalls != 1 {
				t.Errorf("hook calls = %d, want 1", env.hookCalls)
			}
			oldEvents, err := env.s.KeyEvents(ctx, AnyOwner(), old.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(oldEvents) == 0 || oldEvents[0].Action != ActionKeyRoll {
				t.Errorf("old key's latest event = %+v, want key.roll", oldEvents)
			}
			newEvents, err := env.s.KeyEvents(ctx, AnyOwner(), nk.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(newEvents) != 1 || newEvents[0].Action != ActionKeyCreate || newEvents[0].Detail["rolled_from"] == "" {
				t.Errorf("new key's events = %+v, want one key.create with rolled_from", newEvents)
			}
		})
	}
	t.Run("grace must be offered", func(t *testing.T) {
		env := newKeyTestEnv(t)
		old, _ := env.key(t, env.alice, "x")
		_, _, _, err := env.s.RollKey(context.Background(), AnyOwner(), old.ID, 2*time.Hour, CLIActor())
		if FieldErrors(err)["grace"] == "" {
			t.Errorf("err = %v, want a field error for grace", err)
		}
	})
}

func TestListKeysFilters(t *testing.T) {
	env := newKeyTestEnv(t)
	ctx := context.Background()
	const day = 24 * time.Hour
	// Created 100 days ago.
	never, _ := env.key(t, env.alice, "never used")
	usedLongAgo, _ := env.key(t, env.alice, "used long ago")
	expired, _ := env.key(t, env.alice, "expired", expiresIn(env.clock, 50*day))
	env.clock.Advance(5 * day)
	if _, err := env.s.w.Exec(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`, toMillis(env.clock.Now()), usedLongAgo.ID); err != nil {
		t.Fatal(err)
	}
	env.clock.Advance(95 * day)
	// Created now.
	fresh, _ := env.key(t, env.alice, "fresh 100%_done")
	expiring, _ := env.key(t, env.alice, "expiring", expiresIn(env.clock, 3*day))
	disabled, _ := env.key(t, env.alice, "disabled")
	revoked, _ := env.key(t, env.alice, "revoked")
	if _, err := env.s.SetKeyDisabled(ctx, AnyOwner(), disabled.ID, true, CLIActor()); err != nil {
		t.Fatal(err)
	}
	if _, err := env.s.RevokeKey(ctx, AnyOwner(), revoked.ID, "", CLIActor()); err != nil {
		t.Fatal(err)
	}
	if _, err := env.s.w.Exec(`UPDATE api_keys SET last_used_at = ? WHERE id IN (?, ?)`, toMillis(env.clock.Now()), fresh.ID, expiring.ID); err != nil {
		t.Fatal(err)
	}
	bobs, _ := env.key(t, env.bob, "bob's")

	ids := func(keys ...Key) []int64 {
		out := []int64{}
		for _, k := range keys {
			out = append(out, k.ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    KeyFilter
		want []int64
	}{
		{"all", KeyFilter{}, ids(revoked, disabled, expiring, fresh, expired, usedLongAgo, never)},
		{"active includes expiring", KeyFilter{Status: KeyActive}, ids(expiring, fresh, usedLongAgo, never)},
		{"expiring", KeyFilter{Status: KeyExpiring}, ids(expiring)},
		{"expired", KeyFilter{Status: KeyExpired}, ids(expired)},
		{"disabled", KeyFilter{Status: KeyDisabled}, ids(disabled)},
		{"revoked", KeyFilter{Status: KeyRevoked}, ids(revoked)},
		{"stale", KeyFilter{Stale: true}, ids(usedLongAgo, never)},
		{"never used", KeyFilter{NeverUsed: true}, ids(revoked, disabled, expired, never)},
		{"expiring within 2 days", KeyFilter{ExpiringWithin: 2 * day}, ids()},
		{"expiring within 4 days", KeyFilter{ExpiringWithin: 4 * day}, ids(expiring)},
		{"search is literal", KeyFilter{Search: "100%_"}, ids(fresh)},
		{"search ignores case", KeyFilter{Search: "USED"}, ids(usedLongAgo, never)},
		{"search wildcard is literal", KeyFilter{Search: "%"}, ids(fresh)},
		{"limit", KeyFilter{Limit: 2}, ids(revoked, disabled)},
		{"offset", KeyFilter{Limit: 2, Offset: 5}, ids(usedLongAgo, never)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := env.s.ListKeys(ctx, OwnedBy(env.alice.ID), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(keys...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ListKeys = %v, want %v", got, tt.want)
			}
			if tt.f.Limit == 0 {
				n, err := env.s.CountKeys(ctx, OwnedBy(env.alice.ID), tt.f)
				if err != nil || n != len(tt.want) {
					t.Errorf("CountKeys = %d, %v, want %d", n, err, len(tt.want))
				}
			}
			if tt.f.Stale {
				unused, neverUsed, _ := env.s.StaleThresholds(ctx)
				for _, k := range keys {
					if !k.Stale(env.clock.Now(), unused, neverUsed) {
						t.Errorf("key %q listed as stale but Key.Stale = false", k.Name)
					}
				}
			}
		})
	}
	if n, err := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{NeverUsed: true}); err != nil || n != 5 {
		t.Errorf("CountKeys(any, never used) = %d, %v, want 5 (with %d)", n, err, bobs.ID)
	}
	if _, err := env.s.ListKeys(ctx, AnyOwner(), KeyFilter{Status: "bogus"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown status: err = %v, want ErrInvalid", err)
	}

	// A longer stale threshold makes the key used 95 days ago fresh again.
	if err := env.s.SetSetting(ctx, "stale_days", "120", CLIActor()); err != nil {
		t.Fatal(err)
	}
	keys, err := env.s.ListKeys(ctx, OwnedBy(env.alice.ID), KeyFilter{Stale: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(keys...), ids(never); !reflect.DeepEqual(got, want) {
		t.Errorf("stale with stale_days=120 = %v, want %v", got, want)
	}
}

func TestStaleThresholds(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name                string
		settings            map[string]string
		wantUnused, wantNew time.Duration
	}{
		{"defaults", nil, 90 * day, 30 * day},
		{"set", map[string]string{"stale_days": "60", "never_used_days": "7"}, 60 * day, 7 * day},
		{"unusable values fall back", map[string]string{"stale_days": "soon", "never_used_days": "-3"}, 90 * day, 30 * day},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t)
			ctx := context.Background()
			for k, v := range tt.settings {
				if err := s.SetSetting(ctx, k, v, CLIActor()); err != nil {
					t.Fatal(err)
				}
			}
			unused, neverUsed, err := s.StaleThresholds(ctx)
			if err != nil || unused != tt.wantUnused || neverUsed != tt.wantNew {
				t.Errorf("StaleThresholds = %v, %v, %v, want %v, %v", unused, neverUsed, err, tt.wantUnused, tt.wantNew)
			}
		})
	}
}

func TestKeyUsageZeroFilled(t *testing.T) {
	env := newKeyTestEnv(t)
	ctx := context.Background()
	k, _ := env.key(t, env.alice, "k")
	today := dayNumber(env.clock.Now())
	for day, n := range map[int64]int64{today: 7, today - 1: 3, today - 29: 5, today - 30: 100, today + 1: 100} {
		if _, err := env.s.w.Exec(`INSERT INTO key_usage_daily (key_id, day, count) VALUES (?, ?, ?)`, k.ID, day, n); err != nil {
			t.Fatal(err)
		}
	}
	got, err := env.s.KeyUsage(ctx, OwnedBy(env.alice.ID), k.ID, 30)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 30 {
		t.Fatalf("len = %d, want 30", len(got))
	}
	midnight := env.clock.Now().Truncate(24 * time.Hour)
	for i, d := range got {
		if want := midnight.AddDate(0, 0, i-29); !d.Day.Equal(want) {
			t.Errorf("day %d = %v, want %v", i, d.Day, want)
		}
		var want int64
		switch i {
		case 29:
			want = 7
		case 28:
			want = 3
		case 0:
			want = 5
		}
		if d.Count != want {
			t.Errorf("count on day %d = %d, want %d", i, d.Count, want)
		}
	}
	if got, err := env.s.KeyUsage(ctx, AnyOwner(), k.ID, 0); err != nil || len(got) != 30 {
		t.Errorf("KeyUsage(days=0) = %d days, %v, want 30", len(got), err)
	}
}

// Deleting a user deletes their keys, including a rolled chain, and usage.
func TestUserDeletionCascadesToKeys(t *testing.T) {
	env := newKeyTestEnv(t)
	ctx := context.Background()
	old, _ := env.key(t, env.bob, "chain")
	if _, _, _, err := env.s.RollKey(ctx, AnyOwner(), old.ID, time.Hour, CLIActor()); err != nil {
		t.Fatal(err)
	}
	if _, err := env.s.w.Exec(`DELETE FROM users WHERE id = ?`, env.bob.ID); err != nil {
		t.Fatalf("delete user: %v", err)
	}
	if n, err := env.s.CountKeys(ctx, AnyOwner(), KeyFilter{}); err != nil || n != 0 {
		t.Errorf("keys left = %d, %v, want 0", n, err)
	}
}
