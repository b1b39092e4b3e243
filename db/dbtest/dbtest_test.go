package dbtest_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
)

func TestOpenGivesARealDatabase(t *testing.T) {
	clock := dbtest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s, path := dbtest.Open(t, db.Options{Now: clock.Now})
	if path == "" {
		t.Fatal("got no path")
	}
	u, err := s.CreateUser(t.Context(), "ann@example.com", "plum Orbit cascade 47 lantern", db.RoleMember, db.CLIActor())
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if !u.CreatedAt.Equal(clock.Now()) {
		t.Errorf("got created_at %v, want the test clock's %v", u.CreatedAt, clock.Now())
	}
	clock.Advance(time.Hour)
	if got, want := clock.Now(), time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC); !got.Equal(want) {
		t.Errorf("after Advance: got %v, want %v", got, want)
	}
}
