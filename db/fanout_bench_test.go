package db

import (
	"context"
	"testing"
)

// BenchmarkFanOutBacklog fans out a backlog of 5,000 events (a bulk
// revoke's worth) to one subscribed endpoint, 100 events a transaction as
// the worker does.
func BenchmarkFanOutBacklog(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, err := Open(ctx, engines[0].target(b), Options{Argon2: testArgon2})
		if err != nil {
			b.Fatal(err)
		}
		admin, err := s.CreateUser(ctx, "admin@example.com", testPassword, RoleAdmin, CLIActor())
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://hooks.example.com/in",
			EventTypes: []string{EventKeyRevoked}}, Actor{UserID: admin.ID, Label: admin.Email}); err != nil {
			b.Fatal(err)
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		batchEvents(tx)
		for k := 0; k < 5000; k++ {
			if err := enqueue(ctx, tx, s.Now(), &OutboxEvent{Type: EventKeyRevoked, KeyID: int64(k + 1)}); err != nil {
				b.Fatal(err)
			}
		}
		if err := flushEvents(ctx, tx); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for {
			n, err := s.FanOut(ctx, FanOutOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		b.StopTimer()
		_ = s.Close()
	}
}
