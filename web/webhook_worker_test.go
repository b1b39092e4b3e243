package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/db"
)

// failingReceiver answers every request with 503 and keeps the ids.
type failingReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	ids []string
}

func newFailingReceiver(t *testing.T) *failingReceiver {
	t.Helper()
	f := &failingReceiver{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.ids = append(f.ids, r.Header.Get("webhook-id"))
		f.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *failingReceiver) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

// TestWebhookRetriesThenDisable drives the real worker and sender with the
// fake clock: a receiver answering 503 gets the event again on the retry
// schedule, with the same webhook-id, until the endpoint has failed for 24
// hours; then the endpoint is disabled and the admin who added it is the
// one the webhook.endpoint_disabled e-mail goes to.
func TestWebhookRetriesThenDisable(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleMember)
	actor := db.Actor{UserID: admin.ID, Label: admin.Email}
	if err := a.store.SetWebhooksAllowPrivate(ctx, true, actor); err != nil {
		t.Fatal(err)
	}
	rcv := newFailingReceiver(t)
	ep, _, err := a.store.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: rcv.URL, EventTypes: []string{db.EventKeyRevoked},
		AllowHTTP: true}, actor)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := a.storeKey(ann.ID, db.KeyInput{Name: "deploy"})
	if _, err := a.store.RevokeKey(ctx, db.AnyOwner(), key.ID, "", actor); err != nil {
		t.Fatal(err)
	}
	start := a.clock.Now()
	for round := 0; ; round++ {
		if round > 20 {
			t.Fatal("more than 20 rounds in 24 hours")
		}
		if _, err := a.server.notify.RunOnce(ctx); err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		logs, err := a.store.ListDeliveries(ctx, db.DeliveryFilter{EndpointID: ep.ID})
		if err != nil || len(logs) != 1 {
			t.Fatalf("deliveries: got %d, %v; want 1", len(logs), err)
		}
		d := logs[0]
		if d.Last == nil || d.Last.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("round %d: last attempt %+v, want a 503", round, d.Last)
		}
		if d.Status != db.DeliveryPending {
			break
		}
		a.clock.Advance(d.NextAttemptAt.Sub(a.clock.Now()))
	}
	ids := rcv.got()
	if len(ids) < 7 {
		t.Errorf("receiver got %d attempts in 24 hours, want the schedule's 7 or more", len(ids))
	}
	for _, id := range ids {
		if id != ids[0] || !strings.HasPrefix(id, "msg_") {
			t.Errorf("attempt ids: got %v, want one msg_ id on every retry", ids)
			break
		}
	}
	if el := a.clock.Now().Sub(start); el < db.RetryWindow {
		t.Errorf("given up after %v, want 24 h", el)
	}
	got, err := a.store.GetWebhookEndpoint(ctx, ep.ID)
	if err != nil || got.DisabledAt == nil || got.DisabledReason == "" {
		t.Fatalf("endpoint after 24 h of 503s: got %+v, %v; want disabled with a reason", got, err)
	}
	// This server has no e-mail settings, so fan the notice out as a
	// server with them would, and see whom it is for.
	if _, err := a.store.FanOut(ctx, db.FanOutOptions{Email: true}); err != nil {
		t.Fatal(err)
	}
	mails, err := a.store.ListDeliveries(ctx, db.DeliveryFilter{Channel: db.ChannelEmail})
	if err != nil {
		t.Fatal(err)
	}
	var told []string
	for _, m := range mails {
		if m.EventType == db.EventEndpointDisabled {
			told = append(told, m.Recipient)
		}
	}
	if len(told) != 1 || told[0] != admin.Email {
		t.Errorf("webhook.endpoint_disabled e-mails: got %v, want one to %s", told, admin.Email)
	}
}

// TestWebhookSSRFAtSendTime: an endpoint saved while private receivers
// were allowed is refused at send time once the setting is off, for good,
// with the reason in its log; the receiver never hears of it.
func TestWebhookSSRFAtSendTime(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	actor := db.Actor{UserID: admin.ID, Label: admin.Email}
	rcv := newFailingReceiver(t)
	port := rcv.URL[strings.LastIndex(rcv.URL, ":"):]
	if err := a.store.SetWebhooksAllowPrivate(ctx, true, actor); err != nil {
		t.Fatal(err)
	}
	var eps []db.WebhookEndpoint
	tests := []struct{ name, url, want string }{
		{"localhost over https", "https://localhost" + port + "/in", "loopback"},
		{"loopback literal", "https://127.0.0.1" + port + "/in", "loopback"},
		{"plain http", "http://localhost" + port + "/in", "not https"},
	}
	for _, tt := range tests {
		ep, _, err := a.store.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: tt.url, EventTypes: []string{"*"},
			AllowHTTP: true}, actor)
		if err != nil {
			t.Fatal(err)
		}
		eps = append(eps, ep)
	}
	if err := a.store.SetWebhooksAllowPrivate(ctx, false, actor); err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		ep := eps[i]
		t.Run(tt.name, func(t *testing.T) {
			if _, err := a.store.SendTestEvent(ctx, ep.ID, actor); err != nil {
				t.Fatal(err)
			}
			if _, err := a.server.notify.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			logs, err := a.store.ListDeliveries(ctx, db.DeliveryFilter{EndpointID: ep.ID})
			if err != nil || len(logs) != 1 {
				t.Fatalf("deliveries: got %d, %v", len(logs), err)
			}
			if d := logs[0]; d.Status != db.DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.LastError, tt.want) {
				t.Errorf("got %s after %d attempts, error %q; want failed at once with %q", d.Status, d.Attempts, d.LastError, tt.want)
			}
		})
	}
	if ids := rcv.got(); len(ids) != 0 {
		t.Errorf("receiver got %d requests, want none", len(ids))
	}
}
