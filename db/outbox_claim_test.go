package db

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestClaimDeliveriesConcurrentClaimers is what several instances on one
// database do: N stores (as N processes would open them) claim and
// complete M due deliveries at once. Every delivery must be claimed by
// exactly one of them and attempted exactly once: a row handed to two
// claimers would be a message sent twice.
func TestClaimDeliveriesConcurrentClaimers(t *testing.T) {
	const (
		claimers   = 6
		deliveries = 120
		batch      = 7
	)
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		target := engineOf(t)(t)
		stores := make([]*Store, claimers)
		for i := range stores {
			s, err := Open(ctx, target, Options{Argon2: testArgon2})
			if err != nil {
				t.Fatalf("Open %d: %v", i, err)
			}
			t.Cleanup(func() { _ = s.Close() })
			stores[i] = s
		}
		seed := stores[0]
		admin := mustCreateUser(t, seed, "admin@example.com", RoleAdmin)
		if _, _, err := seed.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://hooks.example.com/in",
			EventTypes: []string{"*"}}, Actor{UserID: admin.ID, Label: admin.Email}); err != nil {
			t.Fatalf("CreateWebhookEndpoint: %v", err)
		}
		for i := range deliveries {
			if err := seed.Enqueue(ctx, &OutboxEvent{Type: EventKeyEnabled, Data: map[string]any{"n": i}}); err != nil {
				t.Fatalf("Enqueue %d: %v", i, err)
			}
		}
		if n, err := seed.FanOut(ctx, FanOutOptions{Limit: deliveries}); err != nil || n != deliveries {
			t.Fatalf("FanOut: got %d, %v; want %d events", n, err, deliveries)
		}

		var (
			mu      sync.Mutex
			claimed = map[int64]string{} // delivery id -> holder
			dupes   []string
			errs    []error
			wg      sync.WaitGroup
		)
		for i, s := range stores {
			holder := fmt.Sprintf("instance-%d", i)
			wg.Go(func() {
				for {
					ds, err := s.ClaimDeliveries(ctx, holder, batch, time.Minute)
					if err == nil {
						for _, d := range ds {
							if err = s.CompleteDelivery(ctx, holder, d, AttemptResult{OK: true, StatusCode: 204}); err != nil {
								break
							}
						}
					}
					mu.Lock()
					if err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", holder, err))
					}
					if len(ds) > batch {
						errs = append(errs, fmt.Errorf("%s: claimed %d deliveries at once, want at most %d", holder, len(ds), batch))
					}
					for _, d := range ds {
						if prev, ok := claimed[d.ID]; ok {
							dupes = append(dupes, fmt.Sprintf("delivery %d by %s and %s", d.ID, prev, holder))
						}
						claimed[d.ID] = holder
					}
					mu.Unlock()
					if err != nil || len(ds) == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			t.Error(err)
		}
		for _, d := range dupes {
			t.Errorf("claimed twice: %s", d)
		}
		if len(claimed) != deliveries {
			t.Errorf("got %d deliveries claimed, want %d", len(claimed), deliveries)
		}
		holders := map[string]int{}
		for _, h := range claimed {
			holders[h]++
		}
		t.Logf("claims per instance: %v", holders)
		var attempts, delivered int
		if err := seed.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM delivery_attempts`).Scan(&attempts); err != nil {
			t.Fatal(err)
		}
		if err := seed.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox_deliveries WHERE status = 'delivered' AND attempts = 1`).Scan(&delivered); err != nil {
			t.Fatal(err)
		}
		if attempts != deliveries || delivered != deliveries {
			t.Errorf("got %d attempts and %d deliveries delivered at the first attempt, want %d of each", attempts, delivered, deliveries)
		}
		if left, err := seed.ClaimDeliveries(ctx, "late", deliveries, time.Minute); err != nil || len(left) != 0 {
			t.Errorf("claim after all were delivered: got %d, %v; want none", len(left), err)
		}
	})
}

// TestClaimDeliveriesAfterLease: a worker that claimed a delivery and died
// holds it only until its lease runs out; then another takes it, and the
// dead worker's late report no longer decides its state.
func TestClaimDeliveriesAfterLease(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		if _, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://hooks.example.com/in",
			EventTypes: []string{EventKeyEnabled}}, Actor{UserID: admin.ID}); err != nil {
			t.Fatalf("CreateWebhookEndpoint: %v", err)
		}
		if err := s.Enqueue(ctx, &OutboxEvent{Type: EventKeyEnabled}); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		if _, err := s.FanOut(ctx, FanOutOptions{}); err != nil {
			t.Fatalf("FanOut: %v", err)
		}
		dead, err := s.ClaimDeliveries(ctx, "dead", 10, time.Minute)
		if err != nil || len(dead) != 1 {
			t.Fatalf("first claim: got %d, %v; want 1", len(dead), err)
		}
		tests := []struct {
			advance time.Duration
			want    int
		}{
			{59 * time.Second, 0}, // still the dead worker's
			{time.Second, 1},      // its lease ran out
		}
		var taken []Delivery
		for _, tt := range tests {
			clock.Advance(tt.advance)
			taken, err = s.ClaimDeliveries(ctx, "alive", 10, time.Minute)
			if err != nil || len(taken) != tt.want {
				t.Fatalf("claim at lease+%v: got %d, %v; want %d", tt.advance, len(taken), err, tt.want)
			}
		}
		if taken[0].ID != dead[0].ID || taken[0].Attempts != 0 {
			t.Errorf("taken over: got delivery %d after %d attempts, want %d after 0", taken[0].ID, taken[0].Attempts, dead[0].ID)
		}
		// The dead worker's late failure is logged but does not reschedule.
		if err := s.CompleteDelivery(ctx, "dead", dead[0], AttemptResult{Error: "late"}); err != nil {
			t.Fatalf("late CompleteDelivery: %v", err)
		}
		if err := s.CompleteDelivery(ctx, "alive", taken[0], AttemptResult{OK: true, StatusCode: 200}); err != nil {
			t.Fatalf("CompleteDelivery: %v", err)
		}
		var status string
		if err := s.r.QueryRowContext(ctx, `SELECT status FROM outbox_deliveries WHERE id = ?`, taken[0].ID).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != DeliveryDelivered {
			t.Errorf("got status %s, want %s", status, DeliveryDelivered)
		}
	})
}

// TestClaimDeliveriesLimit: a claim leases at most limit deliveries, the
// earliest due first. (On PostgreSQL, UPDATE … WHERE id IN (SELECT … LIMIT
// n FOR UPDATE SKIP LOCKED) leased more than n: the subquery was rescanned
// as rows were updated.)
func TestClaimDeliveriesLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		if _, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://hooks.example.com/in",
			EventTypes: []string{EventKeyRevoked}}, Actor{UserID: admin.ID}); err != nil {
			t.Fatal(err)
		}
		for range 12 {
			if err := s.Enqueue(ctx, &OutboxEvent{Type: EventKeyRevoked}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.FanOut(ctx, FanOutOptions{}); err != nil {
			t.Fatal(err)
		}
		var last int64
		for i, tt := range []struct{ limit, want int }{{1, 1}, {3, 3}, {5, 5}, {10, 3}, {10, 0}} {
			ds, err := s.ClaimDeliveries(ctx, fmt.Sprintf("w%d", i), tt.limit, time.Hour)
			if err != nil || len(ds) != tt.want {
				t.Fatalf("claim %d with limit %d: got %d, %v; want %d", i+1, tt.limit, len(ds), err, tt.want)
			}
			// Every delivery of a claim comes after those of the claims
			// before it (the order within one claim is the engine's).
			var high int64
			for _, d := range ds {
				if d.ID <= last {
					t.Errorf("claim %d: got delivery %d, claimed before %d; want the earliest due first", i+1, d.ID, last)
				}
				high = max(high, d.ID)
			}
			last = max(last, high)
		}
	})
}
