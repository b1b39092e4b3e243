package handlers

import (
	"testing"
	"time"

	"github.com/keyward/keyward/db/dbtest"
)

func TestTokenLimiterBucket(t *testing.T) {
	clock := dbtest.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	l := newTokenLimiter(clock.Now, 2) // burst 10
	if l.burst != 10 {
		t.Fatalf("burst: got %d, want 10 (five seconds of 2/s)", l.burst)
	}
	for i := range 10 {
		st := l.take(1)
		if !st.allowed || st.remaining != 9-i {
			t.Fatalf("call %d: got %+v, want allowed with %d left", i+1, st, 9-i)
		}
	}
	st := l.take(1)
	if st.allowed || st.remaining != 0 || st.retry != 500*time.Millisecond || st.reset != 5*time.Second {
		t.Errorf("11th call: got %+v, want refused, retry in 0.5s, whole in 5s", st)
	}
	if other := l.take(2); !other.allowed || other.remaining != 9 {
		t.Errorf("another token: got %+v, want its own full bucket", other)
	}
	clock.Advance(500 * time.Millisecond)
	if st := l.take(1); !st.allowed || st.remaining != 0 {
		t.Errorf("after 0.5s: got %+v, want one call allowed", st)
	}
}

func TestTokenLimiterBounded(t *testing.T) {
	clock := dbtest.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	l := newTokenLimiter(clock.Now, 0)
	if got, want := l.capacity*l.entryBytes, apiLimitsBound.bytes; got > want {
		t.Fatalf("capacity: %d entries of %d bytes = %d, want at most %d", l.capacity, l.entryBytes, got, want)
	}
	if float64(l.rate) != DefaultAPIRate || l.burst != 50 {
		t.Errorf("default: got %v/s burst %d, want 10/s burst 50", l.rate, l.burst)
	}
	l.capacity = 64
	for id := range int64(1000) {
		l.take(id)
		if got, want := l.bytes(), l.capacity*l.entryBytes; got > want {
			t.Fatalf("after %d tokens: got %d bytes, want at most %d", id+1, got, want)
		}
	}
}
