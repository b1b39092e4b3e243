package db

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// openTwice opens two Stores on one new database of t's engine, as two
// instances would, both on clock.
func openTwice(t *testing.T, clock *fakeClock) (*Store, *Store) {
	t.Helper()
	st := openInstances(t, 2, clock)
	return st[0], st[1]
}

func accountOf(email string) LoginSubject { return AccountSubject(sha256.Sum256([]byte(email))) }

// failuresOf reads subject's count as stored (0 without a row).
func failuresOf(t *testing.T, s *Store, subject LoginSubject) int64 {
	t.Helper()
	var n int64
	err := s.r.QueryRowContext(context.Background(),
		`SELECT CAST(COALESCE(SUM(failures), 0) AS BIGINT) FROM login_failures WHERE subject = ?`, []byte(subject)).Scan(&n)
	if err != nil {
		t.Fatalf("read failures: %v", err)
	}
	return n
}

// TestLoginBackoffArithmetic records failures at chosen times and checks
// the wait each one earns: 5 free, then 1 s doubling to 15 min, and a
// fresh start an hour after the last failure.
func TestLoginBackoffArithmetic(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		type step struct {
			after    time.Duration // clock advance before this failure
			failures int           // failures recorded at that instant
			wantWait time.Duration // wait after the last of them
		}
		tests := []struct {
			name  string
			steps []step
		}{
			{"four failures are free", []step{{0, 4, 0}}},
			{"the fifth earns 1 s", []step{{0, 5, time.Second}}},
			{"then it doubles", []step{{0, 6, 2 * time.Second}, {0, 1, 4 * time.Second}, {0, 1, 8 * time.Second}}},
			{"512 s after fourteen", []step{{0, 14, 512 * time.Second}}},
			{"capped at 15 min", []step{{0, 15, 15 * time.Minute}, {0, 30, 15 * time.Minute}}},
			{"still capped far beyond the shift limit", []step{{0, 100, 15 * time.Minute}}},
			{"the wait runs from the last failure", []step{{0, 7, 4 * time.Second}, {3 * time.Second, 1, 8 * time.Second}}},
			{"remembered 59 minutes on", []step{{0, 5, time.Second}, {59 * time.Minute, 1, 2 * time.Second}}},
			{"forgotten an hour on", []step{{0, 9, 16 * time.Second}, {time.Hour, 1, 0}, {0, 3, 0}, {0, 1, time.Second}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				clock := newFakeClock()
				s := newTestStore(t, withClock(clock))
				ctx := context.Background()
				sub := accountOf("alice@example.com")
				for i, st := range tt.steps {
					clock.Advance(st.after)
					var until time.Time
					for range st.failures {
						var err error
						if until, err = s.RecordLoginFailure(ctx, sub, clock.Now()); err != nil {
							t.Fatalf("step %d: %v", i+1, err)
						}
					}
					read, err := s.LoginBlockedUntil(ctx, sub)
					if err != nil {
						t.Fatalf("step %d: LoginBlockedUntil: %v", i+1, err)
					}
					if !read.Equal(until) {
						t.Errorf("step %d: read back %v, want %v as recorded", i+1, read, until)
					}
					if got := max(until.Sub(clock.Now()), 0); got != st.wantWait {
						t.Errorf("step %d: got wait %v, want %v", i+1, got, st.wantWait)
					}
				}
			})
		}
	})
}

// TestLoginBlockedUntilSubjects: each subject has its own count, one read
// answers for the most throttled of several, and clearing one leaves the
// others.
func TestLoginBlockedUntilSubjects(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ctx := context.Background()
		account := accountOf("alice@example.com")
		device := DeviceSubject([16]byte{1, 2, 3})
		other := accountOf("bob@example.com")
		for range 6 {
			if _, err := s.RecordLoginFailure(ctx, account, clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		for range 5 {
			if _, err := s.RecordLoginFailure(ctx, device, clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		now := clock.Now()
		tests := []struct {
			name     string
			subjects []LoginSubject
			want     time.Duration
		}{
			{"account", []LoginSubject{account}, 2 * time.Second},
			{"device", []LoginSubject{device}, time.Second},
			{"untouched account", []LoginSubject{other}, 0},
			{"the longest of several", []LoginSubject{other, device, account}, 2 * time.Second},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				until, err := s.LoginBlockedUntil(ctx, tt.subjects...)
				if err != nil {
					t.Fatal(err)
				}
				if got := max(until.Sub(now), 0); got != tt.want {
					t.Errorf("got wait %v, want %v", got, tt.want)
				}
			})
		}
		if err := s.ClearLoginFailures(ctx, account); err != nil {
			t.Fatal(err)
		}
		if got := failuresOf(t, s, account); got != 0 {
			t.Errorf("account after clearing: got %d failures, want 0", got)
		}
		if got := failuresOf(t, s, device); got != 5 {
			t.Errorf("device after clearing the account: got %d failures, want 5", got)
		}
		if _, err := s.LoginBlockedUntil(ctx); err == nil {
			t.Errorf("LoginBlockedUntil with no subject: got no error, want one")
		}
	})
}

// TestRecordLoginFailureRace: instances recording failures of one account
// at the same time lose none of them.
func TestRecordLoginFailureRace(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		const perWorker, workersPerStore = 25, 2
		clock := newFakeClock()
		a, b := openTwice(t, clock)
		sub := accountOf("alice@example.com")
		var wg sync.WaitGroup
		errs := make(chan error, 2*workersPerStore*perWorker)
		for _, s := range []*Store{a, b} {
			for range workersPerStore {
				wg.Go(func() {
					for range perWorker {
						if _, err := s.RecordLoginFailure(context.Background(), sub, clock.Now()); err != nil {
							errs <- err
						}
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("RecordLoginFailure: %v", err)
		}
		if got, want := failuresOf(t, a, sub), int64(2*workersPerStore*perWorker); got != want {
			t.Errorf("failures: got %d, want %d", got, want)
		}
	})
}

// TestDeleteForgottenLoginFailures: the hourly job deletes the subjects an
// hour past their last failure and keeps the others.
func TestDeleteForgottenLoginFailures(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		ctx := context.Background()
		ages := []time.Duration{2 * time.Hour, time.Hour, 59 * time.Minute, 0}
		start := clock.Now()
		for i, age := range ages {
			if _, err := s.RecordLoginFailure(ctx, accountOf(fmt.Sprint(i)), start.Add(-age)); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.DeleteForgottenLoginFailures(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("deleted: got %d, want 2 (the rows an hour old or more)", n)
		}
		for i, age := range ages {
			want := int64(0)
			if age < time.Hour {
				want = 1
			}
			if got := failuresOf(t, s, accountOf(fmt.Sprint(i))); got != want {
				t.Errorf("subject last failing %v ago: got %d failures, want %d", age, got, want)
			}
		}
	})
}

// BenchmarkLoginThrottleStatements is what the database back-off adds to a
// failed sign-in: one read of the subject's wait and one upsert of the
// failure (the clock moves an hour each time, so the count never grows past
// one). Run with `go test -run '^$' -bench LoginThrottle ./db/`.
func BenchmarkLoginThrottleStatements(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "keyward.db"), Options{Argon2: testArgon2})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	sub := accountOf("alice@example.com")
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		if _, err := s.LoginBlockedUntil(ctx, sub); err != nil {
			b.Fatal(err)
		}
		at = at.Add(time.Hour)
		if _, err := s.RecordLoginFailure(ctx, sub, at); err != nil {
			b.Fatal(err)
		}
	}
}
