package db

import (
	"context"
	"testing"
	"time"
)

// failAuditInserts makes every later audit insert fail, as a full disk or a
// broken table would: what must never happen then is a change that lands
// without its audit record.
func failAuditInserts(t *testing.T, s *Store) {
	t.Helper()
	stmts := map[string][]string{
		"sqlite": {`CREATE TRIGGER audit_fails BEFORE INSERT ON audit_events
			BEGIN SELECT RAISE(ABORT, 'audit insert refused by the test'); END`},
		"postgres": {`CREATE FUNCTION audit_fails() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'audit insert refused by the test'; END; $$`,
			`CREATE TRIGGER audit_fails BEFORE INSERT ON audit_events
			FOR EACH ROW EXECUTE FUNCTION audit_fails()`},
	}[s.Engine()]
	for _, q := range stmts {
		if _, err := s.w.db.Exec(q); err != nil {
			t.Fatalf("create trigger: %v", err)
		}
	}
}

func countRows(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestSessionChangesAreAudited holds every change to a user's sessions to
// its audit event: written with the change, and when the event cannot be
// written the change does not happen either.
func TestSessionChangesAreAudited(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		actorOf := func(u User) Actor { return Actor{UserID: u.ID, Label: u.Email, IP: "192.0.2.7"} }
		tests := []struct {
			name       string
			change     func(s *Store, u User, sessions []Session) error
			wantAction string
			wantLeft   int // sessions left after the change succeeds
		}{
			{"sign-in", func(s *Store, u User, _ []Session) error {
				return s.CreateSession(ctx, &Session{TokenHash: []byte("new"), UserID: u.ID, IP: "192.0.2.7", ExpiresAt: s.Now().Add(time.Hour)})
			}, ActionLoginSuccess, 3},
			{"sign-out", func(s *Store, u User, ss []Session) error {
				return s.EndSession(ctx, ss[0].ID, actorOf(u))
			}, ActionLogout, 1},
			{"end one session", func(s *Store, u User, ss []Session) error {
				return s.DeleteUserSession(ctx, u.ID, ss[1].ID, actorOf(u))
			}, ActionSessionEnd, 1},
			{"end other sessions", func(s *Store, u User, ss []Session) error {
				_, err := s.DeleteUserSessions(ctx, u.ID, ss[0].ID, actorOf(u))
				return err
			}, ActionSessionEnd, 1},
		}
		for _, tt := range tests {
			for _, failing := range []bool{false, true} {
				name := tt.name
				if failing {
					name += "/audit insert fails"
				}
				t.Run(name, func(t *testing.T) {
					s := newTestStore(t)
					u := mustCreateUser(t, s, "ann@example.com", RoleMember)
					sessions := make([]Session, 2)
					for i := range sessions {
						sessions[i] = Session{TokenHash: []byte{byte(i)}, UserID: u.ID, ExpiresAt: s.Now().Add(time.Hour)}
						if err := s.CreateSession(ctx, &sessions[i]); err != nil {
							t.Fatal(err)
						}
					}
					eventsBefore := countRows(t, s, `SELECT COUNT(*) FROM audit_events WHERE action = ?`, tt.wantAction)
					if failing {
						failAuditInserts(t, s)
					}
					err := tt.change(s, u, sessions)
					gotLeft := countRows(t, s, `SELECT COUNT(*) FROM sessions WHERE user_id = ?`, u.ID)
					gotEvents := countRows(t, s, `SELECT COUNT(*) FROM audit_events WHERE action = ?`, tt.wantAction) - eventsBefore
					if failing {
						if err == nil {
							t.Fatalf("got no error with the audit insert failing, want one")
						}
						if gotLeft != 2 || gotEvents != 0 {
							t.Errorf("got %d sessions and %d new %s events, want the change rolled back (2 and 0)", gotLeft, gotEvents, tt.wantAction)
						}
						return
					}
					if err != nil {
						t.Fatalf("change: %v", err)
					}
					if gotLeft != tt.wantLeft || gotEvents != 1 {
						t.Errorf("got %d sessions and %d new %s events, want %d and 1", gotLeft, gotEvents, tt.wantAction, tt.wantLeft)
					}
				})
			}
		}
	})
}

// TestCreateSessionRecordsSignIn: the sign-in time is the session's start,
// whichever way the person came in.
func TestCreateSessionRecordsSignIn(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		u := mustCreateUser(t, s, "ann@example.com", RoleMember)
		clock.Advance(time.Hour)
		if err := s.CreateSession(ctx, &Session{TokenHash: []byte("x"), UserID: u.ID, IP: "192.0.2.1", ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastLoginAt == nil || !got.LastLoginAt.Equal(clock.Now()) {
			t.Errorf("got last sign-in %v, want %v", got.LastLoginAt, clock.Now())
		}
		events, err := s.ListAudit(ctx, AuditFilter{Action: ActionLoginSuccess})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].ActorID != u.ID || events[0].Actor != u.Email || events[0].IP != "192.0.2.1" {
			t.Errorf("got events %+v, want one sign-in by %s from 192.0.2.1", events, u.Email)
		}
		// A sign-out of a session that is already gone is not an error and
		// records nothing.
		if err := s.EndSession(ctx, 9999, Actor{UserID: u.ID, Label: u.Email}); err != nil {
			t.Errorf("EndSession of a missing session: got %v, want nil", err)
		}
		if n := countRows(t, s, `SELECT COUNT(*) FROM audit_events WHERE action = ?`, ActionLogout); n != 0 {
			t.Errorf("got %d logout events for a missing session, want 0", n)
		}
	})
}
