package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// TestMetricsOutbox: /metrics shows the outbox's backlog and this
// server's delivery attempts by channel. One event goes to two endpoints,
// one answering 204 and one 503: after a round of the worker, one webhook
// is delivered, one failed, and the failed one waits for its retry.
func TestMetricsOutbox(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t)
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	actor := db.Actor{UserID: admin.ID, Label: admin.Email}
	if err := a.store.SetWebhooksAllowPrivate(ctx, true, actor); err != nil {
		t.Fatal(err)
	}
	for _, status := range []int{http.StatusNoContent, http.StatusServiceUnavailable} {
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(status)
		}))
		t.Cleanup(recv.Close)
		if _, _, err := a.store.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: recv.URL,
			EventTypes: []string{db.EventKeyRevoked}, AllowHTTP: true}, actor); err != nil {
			t.Fatal(err)
		}
	}
	scrape := func() string {
		t.Helper()
		resp, err := http.Get(a.http.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"nothing yet", func() {}, []string{
			"keyward_outbox_pending 0",
			`keyward_notifications_delivered_total{channel="email"} 0`,
			`keyward_notifications_delivered_total{channel="webhook"} 0`,
			`keyward_notifications_failed_total{channel="webhook"} 0`,
		}},
		{"an event enqueued", func() {
			if err := a.store.Enqueue(ctx, &db.OutboxEvent{Type: db.EventKeyRevoked}); err != nil {
				t.Fatal(err)
			}
		}, []string{"keyward_outbox_pending 1"}},
		{"one round of the worker", func() {
			if n, err := a.server.notify.RunOnce(ctx); err != nil || n != 2 {
				t.Fatalf("RunOnce: got %d, %v; want 2 deliveries", n, err)
			}
		}, []string{
			"keyward_outbox_pending 1",
			`keyward_notifications_delivered_total{channel="webhook"} 1`,
			`keyward_notifications_failed_total{channel="webhook"} 1`,
			`keyward_notifications_failed_total{channel="email"} 0`,
		}},
	}
	for _, st := range steps {
		st.do()
		text := scrape()
		for _, want := range st.want {
			if !strings.Contains(text, want+"\n") {
				t.Errorf("%s: /metrics lacks %q", st.name, want)
			}
		}
	}
}
