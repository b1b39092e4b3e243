package db

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestSessionLifecycle(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		u := mustCreateUser(t, s, "sess@example.com", RoleMember)

		sess := Session{
			TokenHash: []byte("hash-one"),
			UserID:    u.ID,
			ExpiresAt: clock.Now().Add(12 * time.Hour),
			IP:        "192.0.2.10",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
			Data:      []byte(`{"csrf":"x"}`),
		}
		if err := s.CreateSession(ctx, &sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		if sess.ID == 0 {
			t.Fatalf("got ID 0, want it filled in")
		}
		got, err := s.SessionByTokenHash(ctx, []byte("hash-one"))
		if err != nil {
			t.Fatalf("SessionByTokenHash: %v", err)
		}
		if got.ID != sess.ID || got.UserID != u.ID || got.IP != sess.IP || got.UserAgent != sess.UserAgent ||
			!bytes.Equal(got.Data, sess.Data) || !got.CreatedAt.Equal(clock.Now()) ||
			!got.LastSeenAt.Equal(clock.Now()) || !got.ExpiresAt.Equal(sess.ExpiresAt) {
			t.Errorf("got %+v, want %+v", got, sess)
		}

		clock.Advance(time.Minute)
		if err := s.TouchSession(ctx, sess.ID, clock.Now(), []byte(`{"csrf":"y"}`)); err != nil {
			t.Fatalf("TouchSession: %v", err)
		}
		got, err = s.SessionByTokenHash(ctx, []byte("hash-one"))
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastSeenAt.Equal(clock.Now()) || string(got.Data) != `{"csrf":"y"}` {
			t.Errorf("got last seen %v data %s, want %v and the new data", got.LastSeenAt, got.Data, clock.Now())
		}

		if _, err := s.SessionByTokenHash(ctx, []byte("other")); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown hash: got %v, want ErrNotFound", err)
		}
		if err := s.DeleteSession(ctx, sess.ID); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		if err := s.DeleteSession(ctx, sess.ID); err != nil {
			t.Errorf("DeleteSession twice: got %v, want nil", err)
		}
		if _, err := s.SessionByTokenHash(ctx, []byte("hash-one")); !errors.Is(err, ErrNotFound) {
			t.Errorf("after delete: got %v, want ErrNotFound", err)
		}
		if err := s.TouchSession(ctx, sess.ID, clock.Now(), nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("touch deleted: got %v, want ErrNotFound", err)
		}
	})
}

func TestCreateSessionRequiresFields(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		s := newTestStore(t)
		u := mustCreateUser(t, s, "req@example.com", RoleMember)
		exp := s.Now().Add(time.Hour)
		tests := []struct {
			name string
			sess Session
		}{
			{"no hash", Session{UserID: u.ID, ExpiresAt: exp}},
			{"no user", Session{TokenHash: []byte("h"), ExpiresAt: exp}},
			{"no expiry", Session{TokenHash: []byte("h"), UserID: u.ID}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := s.CreateSession(context.Background(), &tt.sess); err == nil {
					t.Errorf("got nil error, want a refusal")
				}
			})
		}
		dup := Session{TokenHash: []byte("same"), UserID: u.ID, ExpiresAt: exp}
		if err := s.CreateSession(context.Background(), &dup); err != nil {
			t.Fatal(err)
		}
		dup2 := dup
		if err := s.CreateSession(context.Background(), &dup2); err == nil {
			t.Errorf("duplicate token hash: got nil error, want a unique violation")
		}
	})
}

func TestUserSessions(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		bob := mustCreateUser(t, s, "bob@example.com", RoleMember)

		create := func(hash string, userID int64, ttl time.Duration) Session {
			t.Helper()
			clock.Advance(time.Second)
			ss := Session{TokenHash: []byte(hash), UserID: userID, ExpiresAt: clock.Now().Add(ttl)}
			if err := s.CreateSession(ctx, &ss); err != nil {
				t.Fatal(err)
			}
			return ss
		}
		a1 := create("a1", ann.ID, time.Hour)
		a2 := create("a2", ann.ID, time.Hour)
		a3 := create("a3", ann.ID, time.Hour)
		aShort := create("a-short", ann.ID, time.Minute)
		b1 := create("b1", bob.ID, time.Hour)

		// a1 used most recently, so it is listed first.
		clock.Advance(time.Second)
		if err := s.TouchSession(ctx, a1.ID, clock.Now(), nil); err != nil {
			t.Fatal(err)
		}
		assertIDs := func(t *testing.T, userID int64, want ...int64) {
			t.Helper()
			list, err := s.ListUserSessions(ctx, userID)
			if err != nil {
				t.Fatal(err)
			}
			got := sessionIDs(list)
			if len(got) != len(want) {
				t.Fatalf("got sessions %v, want %v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("got sessions %v, want %v", got, want)
				}
			}
		}
		assertIDs(t, ann.ID, a1.ID, aShort.ID, a3.ID, a2.ID)

		clock.Advance(2 * time.Minute)
		assertIDs(t, ann.ID, a1.ID, a3.ID, a2.ID)
		if _, err := s.SessionByTokenHash(ctx, []byte("a-short")); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired session: got %v, want ErrNotFound", err)
		}
		n, err := s.DeleteExpiredSessions(ctx)
		if err != nil || n != 1 {
			t.Errorf("DeleteExpiredSessions: got %d, %v, want 1, nil", n, err)
		}

		t.Run("scoped delete", func(t *testing.T) {
			if err := s.DeleteUserSession(ctx, bob.ID, a2.ID, SystemActor()); !errors.Is(err, ErrNotFound) {
				t.Errorf("bob ending ann's session: got %v, want ErrNotFound", err)
			}
			assertIDs(t, ann.ID, a1.ID, a3.ID, a2.ID)
			if err := s.DeleteUserSession(ctx, ann.ID, a2.ID, SystemActor()); err != nil {
				t.Errorf("ann ending her session: got %v, want nil", err)
			}
			assertIDs(t, ann.ID, a1.ID, a3.ID)
			if err := s.DeleteUserSession(ctx, ann.ID, a2.ID, SystemActor()); !errors.Is(err, ErrNotFound) {
				t.Errorf("ending it again: got %v, want ErrNotFound", err)
			}
		})

		t.Run("delete all but current", func(t *testing.T) {
			n, err := s.DeleteUserSessions(ctx, ann.ID, a1.ID, SystemActor())
			if err != nil || n != 1 {
				t.Errorf("got %d, %v, want 1, nil", n, err)
			}
			assertIDs(t, ann.ID, a1.ID)
			assertIDs(t, bob.ID, b1.ID)
			n, err = s.DeleteUserSessions(ctx, ann.ID, 0, SystemActor())
			if err != nil || n != 1 {
				t.Errorf("got %d, %v, want 1, nil", n, err)
			}
			assertIDs(t, ann.ID)
			assertIDs(t, bob.ID, b1.ID)
		})
	})
}
