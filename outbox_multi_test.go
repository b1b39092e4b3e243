package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/pgtest"
)

// multiOutbox: two instances on one PostgreSQL database share one outbox.
// K events are committed while both run, so both workers drain the same
// rows at once; the receiver (de-duplicating by webhook-id) must get
// exactly K distinct events, none twice, and the two instances' delivered
// counters (/metrics) must add up to K: no row was sent by both.
func multiOutbox(t *testing.T, bin string) {
	const events = 300
	ctx := context.Background()
	target := pgtest.Database(t)
	st := openPG(t, target, nil)
	recv := newHookReceiver(t)
	addHookEndpoint(t, st, recv, db.EventKeyEnabled)
	start := time.Now()
	a, b := startPair(t, bin, target)
	// Committed while both run, by a third process: each
	// instance finds them at its poll and they drain the backlog together.
	for i := range events {
		if err := st.Enqueue(ctx, &db.OutboxEvent{Type: db.EventKeyEnabled, Data: map[string]any{"n": i}}); err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
	}
	if !waitUntil(60*time.Second, func() bool {
		n, err := st.OutboxPending(ctx)
		return err == nil && n == 0
	}) {
		_, delivered, _ := recv.counts()
		t.Fatalf("got %d of %d events delivered within 60 s", len(delivered), events)
	}
	t.Logf("%d events delivered by two instances in %v", events, time.Since(start).Round(10*time.Millisecond))
	arrived, _, bad := recv.counts()
	if bad != 0 {
		t.Errorf("got %d requests whose signature did not verify, want 0", bad)
	}
	for id, n := range arrived {
		if n != 1 {
			t.Errorf("event %s: got %d requests, want 1", id, n)
		}
	}
	na, nb := deliveredCount(t, a.url), deliveredCount(t, b.url)
	t.Logf("delivered by A: %d, by B: %d", na, nb)
	if na+nb != events {
		t.Errorf("instances' delivered counters: got %d + %d = %d, want %d", na, nb, na+nb, events)
	}
	log, err := st.ListDeliveries(ctx, db.DeliveryFilter{Channel: db.ChannelWebhook, Limit: events})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range log {
		if d.Status != db.DeliveryDelivered || d.Attempts != 1 {
			t.Errorf("delivery %d: got %s after %d attempts, want delivered after 1", d.ID, d.Status, d.Attempts)
		}
	}
}

var webhookDelivered = regexp.MustCompile(`(?m)^keyward_notifications_delivered_total\{channel="webhook"\} (\d+)$`)

// deliveredCount reads an instance's webhook deliveries from its /metrics.
func deliveredCount(t *testing.T, base string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := webhookDelivered.FindSubmatch(body)
	if m == nil {
		t.Fatalf("%s/metrics: no webhook delivered counter:\n%s", base, body)
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		t.Fatal(fmt.Errorf("%s/metrics: %w", base, err))
	}
	return n
}
