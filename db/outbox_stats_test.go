package db

import (
	"context"
	"testing"
	"time"
)

// TestOutboxPending counts what is still to be sent as it moves through
// the outbox: an event not yet fanned out, its deliveries while pending
// (a retry waiting included), and nothing once they are done.
func TestOutboxPending(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		for _, u := range []string{"https://a.example.com/in", "https://b.example.com/in"} {
			if _, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: u, EventTypes: []string{"*"}}, Actor{UserID: admin.ID}); err != nil {
				t.Fatal(err)
			}
		}
		pending := func(want int64, when string) {
			t.Helper()
			if got, err := s.OutboxPending(ctx); err != nil || got != want {
				t.Errorf("%s: got %d pending (%v), want %d", when, got, err, want)
			}
		}
		pending(0, "empty")
		if err := s.Enqueue(ctx, &OutboxEvent{Type: EventKeyRevoked}); err != nil {
			t.Fatal(err)
		}
		pending(1, "enqueued")
		if _, err := s.FanOut(ctx, FanOutOptions{}); err != nil {
			t.Fatal(err)
		}
		pending(2, "fanned out to two endpoints")
		ds, err := s.ClaimDeliveries(ctx, "w", 10, time.Minute)
		if err != nil || len(ds) != 2 {
			t.Fatalf("claim: got %d, %v", len(ds), err)
		}
		pending(2, "claimed")
		if err := s.CompleteDelivery(ctx, "w", ds[0], AttemptResult{OK: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteDelivery(ctx, "w", ds[1], AttemptResult{Error: "503"}); err != nil {
			t.Fatal(err)
		}
		pending(1, "one delivered, one waiting for its retry")
		if err := s.CompleteDelivery(ctx, "w", Delivery{ID: ds[1].ID, Attempts: 1, CreatedAt: ds[1].CreatedAt, Event: ds[1].Event},
			AttemptResult{Error: "gone", Permanent: true}); err != nil {
			t.Fatal(err)
		}
		pending(1, "a stale report for a delivery no longer leased")
	})
}
