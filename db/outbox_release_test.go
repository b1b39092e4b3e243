package db

import (
	"context"
	"testing"
	"time"
)

// TestReleaseDeliveries: a worker stopping on purpose hands back what it
// claimed and did not finish; another worker claims it at once, without
// waiting for the lease. Another holder's claims and finished deliveries
// are left alone.
func TestReleaseDeliveries(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		if _, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://hooks.example.com/in",
			EventTypes: []string{EventKeyRevoked}}, Actor{UserID: admin.ID}); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			if err := s.Enqueue(ctx, &OutboxEvent{Type: EventKeyRevoked}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.FanOut(ctx, FanOutOptions{}); err != nil {
			t.Fatal(err)
		}
		mine, err := s.ClaimDeliveries(ctx, "stopping", 3, time.Hour)
		if err != nil || len(mine) != 3 {
			t.Fatalf("claim: got %d, %v; want 3", len(mine), err)
		}
		theirs, err := s.ClaimDeliveries(ctx, "other", 10, time.Hour)
		if err != nil || len(theirs) != 1 {
			t.Fatalf("other claim: got %d, %v; want 1", len(theirs), err)
		}
		if err := s.CompleteDelivery(ctx, "stopping", mine[0], AttemptResult{OK: true}); err != nil {
			t.Fatal(err)
		}
		n, err := s.ReleaseDeliveries(ctx, "stopping")
		if err != nil || n != 2 {
			t.Fatalf("ReleaseDeliveries: got %d, %v; want the 2 unfinished", n, err)
		}
		next, err := s.ClaimDeliveries(ctx, "next", 10, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]bool{}
		for _, d := range next {
			got[d.ID] = true
		}
		if len(next) != 2 || !got[mine[1].ID] || !got[mine[2].ID] {
			t.Errorf("claim after the release: got %d deliveries %v, want exactly %d and %d", len(next), got, mine[1].ID, mine[2].ID)
		}
	})
}
