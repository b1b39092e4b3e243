package db

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestTryLease: a lease goes to the first to ask, is renewed by its holder,
// refused to others until it expires, and then goes to whoever asks first.
func TestTryLease(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		clock := newFakeClock()
		a, b := openTwice(t, clock)
		ctx := context.Background()
		const ttl = 55 * time.Minute
		steps := []struct {
			name    string
			job     string
			advance time.Duration
			store   *Store
			holder  string
			want    bool
		}{
			{"first asker takes it", "jobs", 0, a, "A", true},
			{"another is refused", "jobs", 0, b, "B", false},
			{"the holder renews it", "jobs", 10 * time.Minute, a, "A", true},
			{"still refused just before expiry", "jobs", ttl - time.Millisecond, b, "B", false},
			{"taken over once expired", "jobs", time.Millisecond, b, "B", true},
			{"the old holder is refused", "jobs", 0, a, "A", false},
			{"another job's lease is its own", "other job", 0, a, "A", true},
		}
		for _, st := range steps {
			clock.Advance(st.advance)
			got, err := st.store.TryLease(ctx, st.job, st.holder, ttl)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if got != st.want {
				t.Errorf("%s: got %v, want %v", st.name, got, st.want)
			}
		}
		if _, err := a.TryLease(ctx, "jobs", "A", 0); err == nil {
			t.Errorf("a lease for no time: got no error, want one")
		}
	})
}

// TestTryLeaseRace: of many instances asking at the same instant, exactly
// one gets the lease.
func TestTryLeaseRace(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		clock := newFakeClock()
		a, b := openTwice(t, clock)
		holders := []string{"A1", "A2", "A3", "B1", "B2", "B3"}
		var mu sync.Mutex
		var won []string
		var wg sync.WaitGroup
		for i, h := range holders {
			s := a
			if i >= len(holders)/2 {
				s = b
			}
			wg.Go(func() {
				ok, err := s.TryLease(context.Background(), "jobs", h, time.Minute)
				if err != nil {
					t.Errorf("%s: %v", h, err)
				}
				if ok {
					mu.Lock()
					won = append(won, h)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(won) != 1 {
			t.Errorf("holders that got the lease: got %v, want exactly one", won)
		}
	})
}
