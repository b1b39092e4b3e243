package db

import (
	"context"
	"testing"
	"time"
)

// TestOutboxRevocationReachesOwnerAndEndpoint follows one event from the
// change that causes it to its deliveries: an admin revokes ann's key; the
// revocation's transaction wrote a key.revoked event; fan-out makes one
// e-mail to ann (not to the admin who did it) and one POST to the endpoint
// subscribed to key.revoked, none to the endpoint that is not; a claim
// leases both with the endpoint's signing secret; a failure is retried on
// the schedule; success ends it and erases nothing it should keep.
func TestOutboxRevocationReachesOwnerAndEndpoint(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		adminActor := Actor{UserID: admin.ID, Label: admin.Email}
		hook, secret, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://hooks.example.com/in",
			EventTypes: []string{EventKeyRevoked}}, adminActor)
		if err != nil {
			t.Fatalf("CreateWebhookEndpoint: %v", err)
		}
		if _, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://other.example.com/in",
			EventTypes: []string{EventKeyEnabled}}, adminActor); err != nil {
			t.Fatalf("CreateWebhookEndpoint: %v", err)
		}
		woke := make(chan struct{}, 10)
		s.SetOutboxHook(func() { woke <- struct{}{} })
		k, _, err := s.CreateKey(ctx, ann.ID, KeyInput{Name: "deploy"}, Actor{UserID: ann.ID, Label: ann.Email})
		if err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		if _, err := s.RevokeKey(ctx, AnyOwner(), k.ID, "left the company", adminActor); err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
		if got := len(woke); got != 2 {
			t.Errorf("got %d wake-ups, want 2 (key.created and key.revoked committed)", got)
		}
		n, err := s.FanOut(ctx, FanOutOptions{Email: true})
		if err != nil || n != 2 {
			t.Fatalf("FanOut: got %d, %v; want 2 events", n, err)
		}
		ds, err := s.ClaimDeliveries(ctx, "worker-a", 10, time.Minute)
		if err != nil {
			t.Fatalf("ClaimDeliveries: %v", err)
		}
		if len(ds) != 2 {
			t.Fatalf("got %d deliveries, want 2 (an e-mail to ann and the subscribed endpoint): %+v", len(ds), ds)
		}
		var mail, post Delivery
		for _, d := range ds {
			if d.Event.Type != EventKeyRevoked {
				t.Errorf("delivery %d: got type %s, want %s", d.ID, d.Event.Type, EventKeyRevoked)
			}
			switch d.Channel {
			case ChannelEmail:
				mail = d
			case ChannelWebhook:
				post = d
			}
		}
		if mail.Recipient != "ann@example.com" || mail.UserID != ann.ID {
			t.Errorf("e-mail: got %q (user %d), want ann@example.com (%d)", mail.Recipient, mail.UserID, ann.ID)
		}
		if post.EndpointID != hook.ID || post.Endpoint == nil || post.Endpoint.Secret != secret {
			t.Errorf("webhook: got endpoint %d %+v, want %d with its secret", post.EndpointID, post.Endpoint, hook.ID)
		}
		if got := post.Event.Data["reason"]; got != "left the company" {
			t.Errorf("payload reason: got %v, want the revocation's reason", got)
		}
		if again, err := s.ClaimDeliveries(ctx, "worker-b", 10, time.Minute); err != nil || len(again) != 0 {
			t.Errorf("second claim while leased: got %d deliveries, %v; want none", len(again), err)
		}
		if err := s.CompleteDelivery(ctx, "worker-a", mail, AttemptResult{OK: true, StatusCode: 250}); err != nil {
			t.Fatalf("CompleteDelivery: %v", err)
		}
		if err := s.CompleteDelivery(ctx, "worker-a", post, AttemptResult{StatusCode: 503, Error: "503 Service Unavailable"}); err != nil {
			t.Fatalf("CompleteDelivery: %v", err)
		}
		if again, err := s.ClaimDeliveries(ctx, "worker-b", 10, time.Minute); err != nil || len(again) != 0 {
			t.Errorf("claim before the retry is due: got %d, %v; want none", len(again), err)
		}
		clock.Advance(5 * time.Second)
		retry, err := s.ClaimDeliveries(ctx, "worker-b", 10, time.Minute)
		if err != nil || len(retry) != 1 || retry[0].ID != post.ID || retry[0].Attempts != 1 {
			t.Fatalf("claim of the retry after 5 s: got %+v, %v; want delivery %d after 1 attempt", retry, err, post.ID)
		}
		if err := s.CompleteDelivery(ctx, "worker-b", retry[0], AttemptResult{OK: true, StatusCode: 204}); err != nil {
			t.Fatalf("CompleteDelivery: %v", err)
		}
		if left, err := s.ClaimDeliveries(ctx, "worker-b", 10, time.Hour); err != nil || len(left) != 0 {
			t.Errorf("after success: got %d deliveries, %v; want none", len(left), err)
		}
	})
}

func TestNextRetry(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		now      time.Duration // after created
		attempts int
		want     time.Duration // after created; -1: give up
	}{
		{"first failure", 0, 1, 5 * time.Second},
		{"second", 5 * time.Second, 2, 5*time.Second + 5*time.Minute},
		{"sixth waits 10 h", 7 * time.Hour, 6, 17 * time.Hour},
		{"later ones wait 10 h, capped at 24 h", 17 * time.Hour, 9, 24 * time.Hour},
		{"at 24 h it is given up", 24 * time.Hour, 10, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, ok := NextRetry(created, created.Add(tt.now), tt.attempts)
			if tt.want < 0 {
				if ok {
					t.Errorf("got retry at %v, want given up", next)
				}
				return
			}
			if got := next.Sub(created); !ok || got != tt.want {
				t.Errorf("got %v (ok %v), want %v", got, ok, tt.want)
			}
		})
	}
}

// TestCompleteDeliveryOfDeletedEndpoint: an endpoint deleted while one of
// its deliveries is on the wire takes the delivery with it; recording the
// attempt afterwards is not an error (it used to fail on the foreign key).
func TestCompleteDeliveryOfDeletedEndpoint(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		actor := Actor{UserID: admin.ID, Label: admin.Email}
		hook, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://hooks.example.com/in",
			EventTypes: []string{EventKeyCreated}}, actor)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.CreateKey(ctx, admin.ID, KeyInput{Name: "deploy"}, actor); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FanOut(ctx, FanOutOptions{}); err != nil {
			t.Fatal(err)
		}
		ds, err := s.ClaimDeliveries(ctx, "w", 10, time.Minute)
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim: got %d deliveries, %v; want 1", len(ds), err)
		}
		if err := s.DeleteWebhookEndpoint(ctx, hook.ID, actor); err != nil {
			t.Fatalf("DeleteWebhookEndpoint: %v", err)
		}
		if err := s.CompleteDelivery(ctx, "w", ds[0], AttemptResult{OK: true, StatusCode: 204}); err != nil {
			t.Errorf("CompleteDelivery after the endpoint was deleted: got %v, want nil", err)
		}
	})
}

// TestFanOutBatch: one fan-out over more events than a marking chunk
// reads the endpoints once and still gives each event exactly the
// endpoints it should: the subscribed enabled one, not the disabled one,
// and a test event its own endpoint even when disabled.
func TestFanOutBatch(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		actor := Actor{UserID: admin.ID, Label: admin.Email}
		on, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://on.example.com/in",
			EventTypes: []string{EventKeyRevoked}}, actor)
		if err != nil {
			t.Fatal(err)
		}
		off, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://off.example.com/in",
			EventTypes: []string{"*"}}, actor)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.w.ExecContext(ctx, `UPDATE webhook_endpoints SET disabled_at = 1 WHERE id = ?`, off.ID); err != nil {
			t.Fatal(err)
		}
		const n = outboxChunk + 50
		for i := 0; i < n; i++ {
			if err := s.Enqueue(ctx, &OutboxEvent{Type: EventKeyRevoked, KeyID: int64(i + 1)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Enqueue(ctx, &OutboxEvent{Type: EventWebhookTest, EndpointID: off.ID}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.FanOut(ctx, FanOutOptions{Limit: n + 1}); err != nil || got != n+1 {
			t.Fatalf("FanOut: got %d, %v; want %d events", got, err, n+1)
		}
		var pending, toOn, toOff int
		if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox_events WHERE fanned_out_at IS NULL`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		for id, dst := range map[int64]*int{on.ID: &toOn, off.ID: &toOff} {
			if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox_deliveries WHERE endpoint_id = ?`, id).Scan(dst); err != nil {
				t.Fatal(err)
			}
		}
		if pending != 0 || toOn != n || toOff != 1 {
			t.Errorf("got %d events left, %d deliveries to the enabled endpoint, %d to the disabled one; want 0, %d, 1 (its test event)",
				pending, toOn, toOff, n)
		}
	})
}
