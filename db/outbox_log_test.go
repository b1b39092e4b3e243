package db

import (
	"context"
	"testing"
	"time"
)

// TestDeliveryLog builds a log of e-mail and webhook deliveries to two
// endpoints, with failures and a success, and reads it back through each
// filter: channel, endpoint, paging by BeforeID, and one delivery's
// attempts newest first.
func TestDeliveryLog(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		clock := newFakeClock()
		s := newTestStore(t, withClock(clock))
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		adminActor := Actor{UserID: admin.ID, Label: admin.Email}
		hookA, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://a.example.com/in", EventTypes: []string{"*"}}, adminActor)
		if err != nil {
			t.Fatalf("CreateWebhookEndpoint: %v", err)
		}
		hookB, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://b.example.com/in", EventTypes: []string{EventKeyRevoked}}, adminActor)
		if err != nil {
			t.Fatalf("CreateWebhookEndpoint: %v", err)
		}
		k, _, err := s.CreateKey(ctx, ann.ID, KeyInput{Name: "deploy"}, Actor{UserID: ann.ID, Label: ann.Email})
		if err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		if _, err := s.RevokeKey(ctx, AnyOwner(), k.ID, "left", adminActor); err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
		if _, err := s.FanOut(ctx, FanOutOptions{Email: true}); err != nil {
			t.Fatalf("FanOut: %v", err)
		}
		// key.created: hook A; key.revoked: ann's e-mail, hook A, hook B.
		ds, err := s.ClaimDeliveries(ctx, "w", 10, time.Minute)
		if err != nil || len(ds) != 4 {
			t.Fatalf("ClaimDeliveries: got %d, %v; want 4", len(ds), err)
		}
		var mail Delivery
		for _, d := range ds {
			r := AttemptResult{OK: true, StatusCode: 204, Latency: 12 * time.Millisecond}
			if d.Channel == ChannelEmail {
				mail = d
				r = AttemptResult{StatusCode: 451, Error: "451 4.3.0 try later", Latency: 30 * time.Millisecond}
			}
			if err := s.CompleteDelivery(ctx, "w", d, r); err != nil {
				t.Fatalf("CompleteDelivery: %v", err)
			}
		}
		clock.Advance(5 * time.Second)
		retry, err := s.ClaimDeliveries(ctx, "w", 10, time.Minute)
		if err != nil || len(retry) != 1 || retry[0].ID != mail.ID {
			t.Fatalf("retry claim: got %+v, %v; want the e-mail", retry, err)
		}
		if err := s.CompleteDelivery(ctx, "w", retry[0], AttemptResult{OK: true, StatusCode: 250}); err != nil {
			t.Fatalf("CompleteDelivery: %v", err)
		}

		emails, err := s.ListDeliveries(ctx, DeliveryFilter{Channel: ChannelEmail})
		if err != nil {
			t.Fatalf("ListDeliveries(email): %v", err)
		}
		if len(emails) != 1 {
			t.Fatalf("e-mail log: got %d rows, want 1", len(emails))
		}
		e := emails[0]
		if e.Recipient != "ann@example.com" || e.EventType != EventKeyRevoked || e.Status != DeliveryDelivered ||
			e.Attempts != 2 || e.DoneAt == nil || e.Last == nil || e.Last.StatusCode != 250 || !e.Last.OK || e.Last.Attempt != 2 {
			t.Errorf("e-mail row: got %+v (last %+v), want ann's key.revoked delivered on attempt 2 with 250", e, e.Last)
		}
		if e.EventID == "" || e.EventID[:4] != "msg_" {
			t.Errorf("event id: got %q, want msg_…", e.EventID)
		}

		tests := []struct {
			name string
			f    DeliveryFilter
			want int
		}{
			{"every delivery", DeliveryFilter{}, 4},
			{"webhooks", DeliveryFilter{Channel: ChannelWebhook}, 3},
			{"endpoint A", DeliveryFilter{EndpointID: hookA.ID}, 2},
			{"endpoint B", DeliveryFilter{EndpointID: hookB.ID}, 1},
			{"limit", DeliveryFilter{Limit: 2}, 2},
			{"before the newest", DeliveryFilter{BeforeID: maxID(ds)}, 3},
			{"before the first", DeliveryFilter{BeforeID: minID(ds)}, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.ListDeliveries(ctx, tt.f)
				if err != nil {
					t.Fatalf("ListDeliveries: %v", err)
				}
				if len(got) != tt.want {
					t.Fatalf("got %d rows, want %d", len(got), tt.want)
				}
				for i := 1; i < len(got); i++ {
					if got[i].ID >= got[i-1].ID {
						t.Errorf("row %d: id %d after %d, want newest first", i, got[i].ID, got[i-1].ID)
					}
				}
				for _, l := range got {
					if tt.f.EndpointID != 0 && l.EndpointID != tt.f.EndpointID {
						t.Errorf("row %d: endpoint %d, want %d", l.ID, l.EndpointID, tt.f.EndpointID)
					}
				}
			})
		}

		attempts, err := s.ListAttempts(ctx, mail.ID)
		if err != nil {
			t.Fatalf("ListAttempts: %v", err)
		}
		if len(attempts) != 2 {
			t.Fatalf("attempts: got %d, want 2", len(attempts))
		}
		if a := attempts[1]; a.Attempt != 1 || a.OK || a.StatusCode != 451 || a.Error != "451 4.3.0 try later" || a.Latency != 30*time.Millisecond {
			t.Errorf("first attempt: got %+v, want the 451 refusal after 30 ms", a)
		}
		if a := attempts[0]; a.Attempt != 2 || !a.OK || a.StatusCode != 250 {
			t.Errorf("second attempt: got %+v, want 250 OK", a)
		}
		if none, err := s.ListAttempts(ctx, 999999); err != nil || len(none) != 0 {
			t.Errorf("attempts of an unknown delivery: got %d, %v; want none", len(none), err)
		}
	})
}

func maxID(ds []Delivery) int64 {
	var m int64
	for _, d := range ds {
		m = max(m, d.ID)
	}
	return m
}

func minID(ds []Delivery) int64 {
	m := ds[0].ID
	for _, d := range ds {
		m = min(m, d.ID)
	}
	return m
}
