package db

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestClaimGivesUpUnreadableDeliveries: a delivery that can never be sent
// (its endpoint's sealed secret does not open, its event's payload does
// not parse) is given up at claim time with the reason in its log, and
// the claim hands out the deliveries behind it instead of failing on it
// at every poll, which would stop every notification for good.
func TestClaimGivesUpUnreadableDeliveries(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		var eps []WebhookEndpoint
		for _, u := range []string{"https://good.example.com/in", "https://broken.example.com/in"} {
			ep, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: u, EventTypes: []string{EventKeyRevoked}}, Actor{UserID: admin.ID})
			if err != nil {
				t.Fatal(err)
			}
			eps = append(eps, ep)
		}
		good, garbled := &OutboxEvent{Type: EventKeyRevoked}, &OutboxEvent{Type: EventKeyRevoked}
		for _, ev := range []*OutboxEvent{good, garbled} {
			if err := s.Enqueue(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.FanOut(ctx, FanOutOptions{}); err != nil {
			t.Fatal(err)
		}
		// A secret sealed under another key, and a payload cut short.
		if _, err := s.w.ExecContext(ctx, `UPDATE webhook_endpoints SET secret = ? WHERE id = ?`,
			[]byte(strings.Repeat("x", 60)), eps[1].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.w.ExecContext(ctx, `UPDATE outbox_events SET payload = '{"key":' WHERE id = ?`, garbled.ID); err != nil {
			t.Fatal(err)
		}

		for i, want := range []error{nil, errSealBroken} {
			var sealed []byte
			if err := s.r.QueryRowContext(ctx, `SELECT secret FROM webhook_endpoints WHERE id = ?`, eps[i].ID).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			plain, err := s.unseal(ctx, sealed)
			if !errors.Is(err, want) || (want == nil && !strings.HasPrefix(string(plain), "whsec_")) {
				t.Fatalf("endpoint %d's secret: got %v, want %v", eps[i].ID, err, want)
			}
		}

		ds, err := s.ClaimDeliveries(ctx, "w", 10, time.Minute)
		if err != nil {
			t.Fatalf("ClaimDeliveries: %v", err)
		}
		if len(ds) != 1 || ds[0].Event.EventID != good.EventID || ds[0].EndpointID != eps[0].ID {
			t.Fatalf("claimed %+v, want only the good event's delivery to the good endpoint", ds)
		}
		log, err := s.ListDeliveries(ctx, DeliveryFilter{Channel: ChannelWebhook})
		if err != nil {
			t.Fatal(err)
		}
		failed := map[string]int{}
		for _, d := range log {
			if d.Status != DeliveryFailed {
				continue
			}
			switch {
			case strings.Contains(d.LastError, "sealed secret does not open"):
				failed["secret"]++
			case strings.Contains(d.LastError, "payload is not JSON"):
				failed["payload"]++
			default:
				t.Errorf("delivery %d: got error %q, want the reason it cannot be read", d.ID, d.LastError)
			}
			if d.Last == nil || d.Last.OK || d.Attempts != 1 {
				t.Errorf("delivery %d: got %d attempts, last %+v; want one failed attempt in the log", d.ID, d.Attempts, d.Last)
			}
		}
		// The garbled event's delivery to the broken endpoint fails on
		// whichever it reads first.
		if failed["secret"]+failed["payload"] != 3 || failed["payload"] == 0 || failed["secret"] == 0 {
			t.Errorf("got failures %v, want 3: the good event to the broken endpoint, the garbled one to both", failed)
		}
		if again, err := s.ClaimDeliveries(ctx, "w2", 10, time.Minute); err != nil || len(again) != 0 {
			t.Errorf("second claim: got %d, %v; want none (the good one is leased, the rest given up)", len(again), err)
		}
	})
}

// TestFanOutSkipsUnreadableEvents: an event whose payload does not parse,
// or whose sealed part does not open, is marked done without deliveries
// and reported, and the events behind it are fanned out as usual: before,
// one such row failed every fan-out and stopped every notification.
func TestFanOutSkipsUnreadableEvents(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		if _, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://hooks.example.com/in",
			EventTypes: []string{EventUserInvited}}, Actor{UserID: admin.ID}); err != nil {
			t.Fatal(err)
		}
		evs := []*OutboxEvent{
			{Type: EventUserInvited}, // payload garbled below
			{Type: EventUserInvited, Private: map[string]string{"token": "t"}}, // seal garbled below
			{Type: EventUserInvited}, // fine
		}
		for _, ev := range evs {
			if err := s.Enqueue(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.w.ExecContext(ctx, `UPDATE outbox_events SET payload = '{"key":' WHERE event_id = ?`, evs[0].EventID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.w.ExecContext(ctx, `UPDATE outbox_events SET private = ? WHERE event_id = ?`,
			[]byte(strings.Repeat("x", 60)), evs[1].EventID); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		n, err := s.FanOut(ctx, FanOutOptions{Email: true, Unreadable: func(id string, err error) { got[id] = err.Error() }})
		if err != nil || n != 3 {
			t.Fatalf("FanOut: got %d, %v; want 3 events handled", n, err)
		}
		if !strings.Contains(got[evs[0].EventID], "payload is not JSON") || !strings.Contains(got[evs[1].EventID], "does not open") || len(got) != 2 {
			t.Errorf("reported unreadable: got %q, want the garbled payload and the garbled seal", got)
		}
		for i, ev := range evs {
			var deliveries, pending int
			if err := s.r.QueryRowContext(ctx, `SELECT
				(SELECT COUNT(*) FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event_id WHERE e.event_id = ?),
				(SELECT COUNT(*) FROM outbox_events WHERE event_id = ? AND (fanned_out_at IS NULL OR private IS NOT NULL))`,
				ev.EventID, ev.EventID).Scan(&deliveries, &pending); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[i == 2]; deliveries != want || pending != 0 {
				t.Errorf("event %d: got %d deliveries, %d not done or keeping a private part; want %d and 0", i, deliveries, pending, want)
			}
		}
	})
}
