package db

import (
	"context"
	"testing"
	"time"
)

// TestPruneOutbox: events older than the retention whose deliveries are
// all done go, with their deliveries and attempts; an old event still
// being retried, an old event not yet fanned out and a recent one stay;
// once-markers go only after a year, so a reminder cannot repeat within
// its own lifetime.
func TestPruneOutbox(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		if _, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://hooks.example.com/in",
			EventTypes: []string{EventKeyRevoked, EventKeyEnabled, EventKeyCreated}}, Actor{UserID: admin.ID}); err != nil {
			t.Fatalf("CreateWebhookEndpoint: %v", err)
		}
		// send enqueues an event of type typ, fans it out and reports one
		// attempt for its delivery (a retry of an earlier one that fell
		// due meanwhile is claimed too, and left pending).
		send := func(typ string, ok bool) *OutboxEvent {
			t.Helper()
			ev := &OutboxEvent{Type: typ}
			if err := s.Enqueue(ctx, ev); err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
			if _, err := s.FanOut(ctx, FanOutOptions{}); err != nil {
				t.Fatalf("FanOut: %v", err)
			}
			ds, err := s.ClaimDeliveries(ctx, "w", 10, time.Minute)
			if err != nil {
				t.Fatalf("claim: %v", err)
			}
			for _, d := range ds {
				if d.Event.ID != ev.ID {
					continue
				}
				if err := s.CompleteDelivery(ctx, "w", d, AttemptResult{OK: ok, StatusCode: 500}); err != nil {
					t.Fatalf("CompleteDelivery: %v", err)
				}
				return ev
			}
			t.Fatalf("claim: got %d deliveries, none of event %s", len(ds), ev.EventID)
			return nil
		}
		oldMarker := &OutboxEvent{Type: EventKeyExpiring}
		if _, err := s.EnqueueOnce(ctx, "old reminder", oldMarker); err != nil {
			t.Fatalf("EnqueueOnce: %v", err)
		}
		clock.Advance(340 * 24 * time.Hour)
		oldDone := send(EventKeyRevoked, true)
		oldRetrying := send(EventKeyEnabled, false)
		oldAt := clock.Now()
		clock.Advance(31 * 24 * time.Hour)
		if _, err := s.EnqueueOnce(ctx, "recent reminder", &OutboxEvent{Type: EventKeyExpiring}); err != nil {
			t.Fatalf("EnqueueOnce: %v", err)
		}
		recentDone := send(EventKeyCreated, true)
		// Old but never fanned out: the worker has not handled it yet.
		oldWaiting := &OutboxEvent{Type: EventKeyDisabled, At: oldAt}
		if err := s.Enqueue(ctx, oldWaiting); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}

		n, err := s.PruneOutbox(ctx, 30*24*time.Hour)
		if err != nil {
			t.Fatalf("PruneOutbox: %v", err)
		}
		// The old reminder's event had no receiver (fanned out to nobody
		// by the first send) and goes with the old delivered one.
		if n != 2 {
			t.Errorf("got %d events pruned, want 2 (the old delivered one and the old reminder's)", n)
		}
		tests := []struct {
			name  string
			query string
			arg   any
			want  int
		}{
			{"old reminder's event", `SELECT COUNT(*) FROM outbox_events WHERE event_id = ?`, oldMarker.EventID, 0},
			{"old delivered event", `SELECT COUNT(*) FROM outbox_events WHERE event_id = ?`, oldDone.EventID, 0},
			{"its deliveries", `SELECT COUNT(*) FROM outbox_deliveries WHERE event_id = ?`, oldDone.ID, 0},
			{"its attempts", `SELECT COUNT(*) FROM delivery_attempts a JOIN outbox_deliveries d ON d.id = a.delivery_id WHERE d.event_id = ?`, oldDone.ID, 0},
			{"old event still retried", `SELECT COUNT(*) FROM outbox_events WHERE event_id = ?`, oldRetrying.EventID, 1},
			{"its attempt", `SELECT COUNT(*) FROM delivery_attempts a JOIN outbox_deliveries d ON d.id = a.delivery_id WHERE d.event_id = ?`, oldRetrying.ID, 1},
			{"old event not fanned out", `SELECT COUNT(*) FROM outbox_events WHERE event_id = ?`, oldWaiting.EventID, 1},
			{"recent delivered event", `SELECT COUNT(*) FROM outbox_events WHERE event_id = ?`, recentDone.EventID, 1},
			{"marker older than a year", `SELECT COUNT(*) FROM notices_sent WHERE notice = ?`, "old reminder", 0},
			{"recent marker", `SELECT COUNT(*) FROM notices_sent WHERE notice = ?`, "recent reminder", 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var got int
				if err := s.r.QueryRowContext(ctx, tt.query, tt.arg).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("got %d rows, want %d", got, tt.want)
				}
			})
		}
	})
}
