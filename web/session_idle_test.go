package web

import (
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// TestSessionShortIdleTimeout: last_seen_at is written often enough for
// an idle timeout under a minute to keep active sessions alive. With a
// fixed one-minute interval, a 40 s timeout ended a session used every
// 20 s (its activity was never recorded).
func TestSessionShortIdleTimeout(t *testing.T) {
	tests := []struct {
		name     string
		idle     time.Duration
		activity time.Duration
	}{
		{"40 s idle, a request every 20 s", 40 * time.Second, 20 * time.Second},
		{"10 s idle, a request every 6 s", 10 * time.Second, 6 * time.Second},
		{"30 min idle, a request every 20 min", 30 * time.Minute, 20 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, func(c *Config) { c.SessionIdle = tt.idle; c.SessionAbsolute = 12 * time.Hour })
			b := a.signedIn("alice@example.com", db.RoleMember)
			for i := range 6 {
				a.clock.Advance(tt.activity)
				r := b.get("/keys")
				if r.StatusCode != 200 {
					t.Fatalf("request %d, %v after the previous one: got %d Location %q, want 200 (still signed in)",
						i+1, tt.activity, r.StatusCode, r.Header.Get("Location"))
				}
			}
			a.clock.Advance(tt.idle + time.Second)
			wantSignedOut(t, b)
		})
	}
}
