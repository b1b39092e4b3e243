package db

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// webhookFixture is an admin, a member with a key and one endpoint.
type webhookFixture struct {
	s      *Store
	clock  *fakeClock
	admin  User
	actor  Actor
	member User
	ep     WebhookEndpoint
	secret string
}

func newWebhookFixture(t *testing.T, types ...string) webhookFixture {
	t.Helper()
	clock := newFakeClock()
	s := newTestStore(t, withClock(clock))
	admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
	member := mustCreateUser(t, s, "ann@example.com", RoleMember)
	actor := Actor{UserID: admin.ID, Label: admin.Email}
	if len(types) == 0 {
		types = []string{"*"}
	}
	ep, secret, err := s.CreateWebhookEndpoint(context.Background(), WebhookInput{URL: "https://hooks.example.com/in",
		EventTypes: types}, actor)
	if err != nil {
		t.Fatalf("CreateWebhookEndpoint: %v", err)
	}
	return webhookFixture{s: s, clock: clock, admin: admin, actor: actor, member: member, ep: ep, secret: secret}
}

// revokeKey makes and revokes one of the member's keys: two events.
func (f webhookFixture) revokeKey(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	k, _, err := f.s.CreateKey(ctx, f.member.ID, KeyInput{Name: name}, Actor{UserID: f.member.ID, Label: f.member.Email})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if _, err := f.s.RevokeKey(ctx, AnyOwner(), k.ID, "test", f.actor); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
}

// claimWebhooks fans out and claims the due webhook deliveries.
func (f webhookFixture) claimWebhooks(t *testing.T) []Delivery {
	t.Helper()
	ctx := context.Background()
	if _, err := f.s.FanOut(ctx, FanOutOptions{}); err != nil {
		t.Fatalf("FanOut: %v", err)
	}
	ds, err := f.s.ClaimDeliveries(ctx, "w", 100, time.Minute)
	if err != nil {
		t.Fatalf("ClaimDeliveries: %v", err)
	}
	return ds
}

func auditActions(t *testing.T, s *Store, targetType string) []string {
	t.Helper()
	evs, err := s.ListAudit(context.Background(), AuditFilter{TargetType: targetType})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Action)
	}
	slices.Sort(out)
	return out
}

func TestWebhookEndpointUpdateDisableDelete(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		f := newWebhookFixture(t, EventKeyRevoked)
		s := f.s

		bad := []struct {
			name  string
			in    WebhookInput
			field string
		}{
			{"no event type", WebhookInput{URL: "https://a.example.com"}, "event_types"},
			{"plain http", WebhookInput{URL: "http://a.example.com", EventTypes: []string{"*"}}, "url"},
			{"unknown type", WebhookInput{URL: "https://a.example.com", EventTypes: []string{"key.eaten"}}, "event_types"},
		}
		for _, tt := range bad {
			_, err := s.UpdateWebhookEndpoint(ctx, f.ep.ID, tt.in, f.actor)
			if FieldErrors(err)[tt.field] == "" {
				t.Errorf("%s: got %v, want an error on %s", tt.name, err, tt.field)
			}
		}
		ep, err := s.UpdateWebhookEndpoint(ctx, f.ep.ID, WebhookInput{URL: "https://new.example.com/hook", Description: "ops",
			EventTypes: []string{EventKeyCreated, EventKeyRevoked}}, f.actor)
		if err != nil {
			t.Fatalf("UpdateWebhookEndpoint: %v", err)
		}
		if ep.URL != "https://new.example.com/hook" || ep.Description != "ops" || !slices.Equal(ep.EventTypes, []string{EventKeyCreated, EventKeyRevoked}) {
			t.Errorf("updated endpoint: got %+v", ep)
		}
		if _, err := s.UpdateWebhookEndpoint(ctx, 999, WebhookInput{URL: "https://x.example.com", EventTypes: []string{"*"}}, f.actor); !errors.Is(err, ErrNotFound) {
			t.Errorf("update of a missing endpoint: got %v, want ErrNotFound", err)
		}

		// One event pending, then the endpoint is disabled: the delivery
		// is given up and new events are not fanned out to it.
		f.revokeKey(t, "one")
		if _, err := s.FanOut(ctx, FanOutOptions{}); err != nil {
			t.Fatal(err)
		}
		ep, err = s.SetWebhookEndpointDisabled(ctx, f.ep.ID, true, f.actor)
		if err != nil || ep.DisabledAt == nil || ep.DisabledReason != "disabled by admin@example.com" {
			t.Fatalf("disable: got %+v, %v", ep, err)
		}
		if ds := f.claimWebhooks(t); len(ds) != 0 {
			t.Errorf("after disabling: got %d deliveries, want 0", len(ds))
		}
		f.revokeKey(t, "two")
		if ds := f.claimWebhooks(t); len(ds) != 0 {
			t.Errorf("event while disabled: got %d deliveries, want 0", len(ds))
		}
		logs, err := s.ListDeliveries(ctx, DeliveryFilter{EndpointID: f.ep.ID})
		if err != nil || len(logs) != 2 || logs[0].Status != DeliveryFailed || logs[0].LastError == "" {
			t.Errorf("log after disabling: got %+v, %v; want the two deliveries given up with a reason", logs, err)
		}
		// Disabling twice records nothing more.
		if _, err := s.SetWebhookEndpointDisabled(ctx, f.ep.ID, true, f.actor); err != nil {
			t.Fatal(err)
		}
		ep, err = s.SetWebhookEndpointDisabled(ctx, f.ep.ID, false, f.actor)
		if err != nil || ep.DisabledAt != nil || ep.DisabledReason != "" || ep.FailingSince != nil {
			t.Fatalf("enable: got %+v, %v", ep, err)
		}
		f.revokeKey(t, "three") // key.created and key.revoked, both subscribed
		if ds := f.claimWebhooks(t); len(ds) != 2 {
			t.Errorf("after enabling: got %d deliveries, want 2", len(ds))
		}

		if err := s.DeleteWebhookEndpoint(ctx, f.ep.ID, f.actor); err != nil {
			t.Fatalf("DeleteWebhookEndpoint: %v", err)
		}
		if _, err := s.GetWebhookEndpoint(ctx, f.ep.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("get after delete: got %v, want ErrNotFound", err)
		}
		if logs, _ := s.ListDeliveries(ctx, DeliveryFilter{EndpointID: f.ep.ID}); len(logs) != 0 {
			t.Errorf("deliveries after delete: got %d, want 0", len(logs))
		}
		if err := s.DeleteWebhookEndpoint(ctx, f.ep.ID, f.actor); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: got %v, want ErrNotFound", err)
		}
		want := []string{ActionWebhookCreate, ActionWebhookDelete, ActionWebhookDisable, ActionWebhookEnable, ActionWebhookUpdate}
		if got := auditActions(t, s, "webhook"); !slices.Equal(got, want) {
			t.Errorf("audit: got %v, want %v", got, want)
		}
	})
}

func TestWebhookResendAndTestEvent(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		f := newWebhookFixture(t, EventKeyRevoked)
		s := f.s
		woke := make(chan struct{}, 10)
		s.SetOutboxHook(func() { woke <- struct{}{} })
		f.revokeKey(t, "deploy")
		ds := f.claimWebhooks(t)
		if len(ds) != 1 {
			t.Fatalf("got %d deliveries, want 1", len(ds))
		}
		first := ds[0]
		if err := s.CompleteDelivery(ctx, "w", first, AttemptResult{OK: true, StatusCode: 200}); err != nil {
			t.Fatal(err)
		}
		for len(woke) > 0 {
			<-woke
		}
		newID, err := s.ResendDelivery(ctx, f.ep.ID, first.ID, f.actor)
		if err != nil || newID == first.ID {
			t.Fatalf("ResendDelivery: got %d, %v; want a new delivery", newID, err)
		}
		if len(woke) != 1 {
			t.Errorf("resend woke the worker %d times, want 1", len(woke))
		}
		again := f.claimWebhooks(t)
		if len(again) != 1 || again[0].ID != newID || again[0].Event.EventID != first.Event.EventID || again[0].Attempts != 0 {
			t.Fatalf("claim after resend: got %+v, want delivery %d of event %s", again, newID, first.Event.EventID)
		}
		if again[0].Endpoint == nil || again[0].Endpoint.Secret != f.secret {
			t.Errorf("resent delivery: got endpoint %+v, want the endpoint's secret", again[0].Endpoint)
		}
		other, _, err := s.CreateWebhookEndpoint(ctx, WebhookInput{URL: "https://other.example.com", EventTypes: []string{"*"}}, f.actor)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ResendDelivery(ctx, other.ID, first.ID, f.actor); !errors.Is(err, ErrNotFound) {
			t.Errorf("resend through another endpoint: got %v, want ErrNotFound", err)
		}

		// The test event goes to its endpoint alone, though the endpoint
		// subscribes to key.revoked only and the other to everything.
		ev, err := s.SendTestEvent(ctx, f.ep.ID, f.actor)
		if err != nil || ev.EventID == "" {
			t.Fatalf("SendTestEvent: got %+v, %v", ev, err)
		}
		tests := f.claimWebhooks(t)
		if len(tests) != 1 || tests[0].EndpointID != f.ep.ID || tests[0].Event.Type != EventWebhookTest {
			t.Fatalf("test event deliveries: got %+v, want one webhook.test to endpoint %d", tests, f.ep.ID)
		}
		epData, _ := tests[0].Event.Data["endpoint"].(map[string]any)
		if epData["url"] != f.ep.URL || tests[0].Event.Data["message"] == "" {
			t.Errorf("test event data: got %v", tests[0].Event.Data)
		}
		// A test event whose endpoint is deleted before fan-out goes
		// nowhere, and does not block the outbox.
		if _, err := s.SendTestEvent(ctx, other.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWebhookEndpoint(ctx, other.ID, f.actor); err != nil {
			t.Fatal(err)
		}
		if ds := f.claimWebhooks(t); len(ds) != 0 {
			t.Errorf("test event of a deleted endpoint: got %d deliveries, want 0", len(ds))
		}
		if _, err := s.SendTestEvent(ctx, other.ID, f.actor); !errors.Is(err, ErrNotFound) {
			t.Errorf("test event to a missing endpoint: got %v, want ErrNotFound", err)
		}
		evs, err := s.ListAudit(ctx, AuditFilter{Action: ActionWebhookResend})
		if err != nil || len(evs) != 1 || evs[0].Detail["event"] != first.Event.EventID {
			t.Errorf("resend audit: got %+v, %v", evs, err)
		}
	})
}

// TestWebhookEndpointDisabledAfter24Hours: an endpoint that fails every
// attempt for 24 hours is disabled, its other pending deliveries are
// given up, and its owner gets the webhook.endpoint_disabled e-mail.
func TestWebhookEndpointDisabledAfter24Hours(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		f := newWebhookFixture(t, EventKeyRevoked, EventKeyCreated)
		s := f.s
		f.revokeKey(t, "deploy") // key.created and key.revoked: two deliveries
		start := f.clock.Now()
		ds := f.claimWebhooks(t)
		if len(ds) != 2 {
			t.Fatalf("got %d deliveries, want 2", len(ds))
		}
		// The key.created delivery fails once and waits; the other is
		// retried on the schedule until the endpoint has failed for 24 h.
		if err := s.CompleteDelivery(ctx, "w", ds[0], AttemptResult{StatusCode: 500, Error: "HTTP 500"}); err != nil {
			t.Fatal(err)
		}
		d := ds[1]
		attempts := 0
		for {
			attempts++
			if err := s.CompleteDelivery(ctx, "w", d, AttemptResult{StatusCode: 503, Error: "HTTP 503"}); err != nil {
				t.Fatal(err)
			}
			next, ok := NextRetry(d.CreatedAt, f.clock.Now(), d.Attempts+1)
			if !ok {
				break
			}
			f.clock.Advance(next.Sub(f.clock.Now()))
			var got []Delivery
			for _, c := range f.claimWebhooks(t) {
				if c.ID == d.ID {
					got = append(got, c)
				} else if err := s.CompleteDelivery(ctx, "w", c, AttemptResult{StatusCode: 503, Error: "HTTP 503"}); err != nil {
					t.Fatal(err)
				}
			}
			if len(got) != 1 {
				break // given up with the endpoint
			}
			d = got[0]
			if attempts > 20 {
				t.Fatal("more than 20 attempts in 24 hours")
			}
		}
		if el := f.clock.Now().Sub(start); el < RetryWindow {
			t.Errorf("disabled after %v, want 24 h", el)
		}
		ep, err := s.GetWebhookEndpoint(ctx, f.ep.ID)
		if err != nil || ep.DisabledAt == nil || ep.DisabledReason != "failing for 24 hours" {
			t.Fatalf("endpoint after 24 h of failures: got %+v, %v; want disabled", ep, err)
		}
		logs, err := s.ListDeliveries(ctx, DeliveryFilter{EndpointID: f.ep.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range logs {
			if l.Status != DeliveryFailed {
				t.Errorf("delivery %d (%s): status %s, want failed", l.ID, l.EventType, l.Status)
			}
		}
		if _, err := s.FanOut(ctx, FanOutOptions{Email: true}); err != nil {
			t.Fatal(err)
		}
		mails, err := s.ListDeliveries(ctx, DeliveryFilter{Channel: ChannelEmail})
		if err != nil {
			t.Fatal(err)
		}
		var told []string
		for _, m := range mails {
			if m.EventType == EventEndpointDisabled {
				told = append(told, m.Recipient)
			}
		}
		if !slices.Equal(told, []string{f.admin.Email}) {
			t.Errorf("endpoint_disabled e-mails: got %v, want one to %s", told, f.admin.Email)
		}
		if got := auditActions(t, s, "webhook"); !slices.Contains(got, ActionWebhookDisable) {
			t.Errorf("audit: got %v, want a webhook.disable", got)
		}
	})
}

func TestWebhooksAllowPrivateSetting(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		actor := Actor{Label: "admin@example.com"}
		steps := []struct {
			set, want bool
			audits    int
		}{{false, false, 0}, {true, true, 1}, {true, true, 1}, {false, false, 2}}
		for i, st := range steps {
			if err := s.SetWebhooksAllowPrivate(ctx, st.set, actor); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			got, err := s.WebhooksAllowPrivate(ctx)
			if err != nil || got != st.want {
				t.Errorf("step %d: got %v, %v; want %v", i, got, err, st.want)
			}
			evs, _ := s.ListAudit(ctx, AuditFilter{Action: ActionSettingChange})
			if len(evs) != st.audits {
				t.Errorf("step %d: %d audit records, want %d", i, len(evs), st.audits)
			}
		}
	})
}

// TestWebhookSecretSealedAtRest: the signing secret is stored sealed, not
// as typed into a receiver's configuration; it opens with the server's
// seal secret, and a roll replaces it.
func TestWebhookSecretSealedAtRest(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		f := newWebhookFixture(t)
		stored := func() []byte {
			var b []byte
			if err := f.s.w.QueryRowContext(ctx, `SELECT secret FROM webhook_endpoints WHERE id = ?`, f.ep.ID).Scan(&b); err != nil {
				t.Fatal(err)
			}
			return b
		}
		for i, want := range []string{f.secret, ""} {
			if i == 1 {
				rolled, err := f.s.RollWebhookSecret(ctx, f.ep.ID, f.actor)
				if err != nil || rolled == f.secret || len(rolled) != len(f.secret) {
					t.Fatalf("RollWebhookSecret: got %q, %v; want a new secret", rolled, err)
				}
				want = rolled
			}
			b := stored()
			if strings.Contains(string(b), want) || strings.Contains(string(b), strings.TrimPrefix(want, "whsec_")) {
				t.Errorf("secret %d stored in plain", i)
			}
			plain, err := f.s.unseal(ctx, b)
			if err != nil || string(plain) != want {
				t.Errorf("secret %d: unseal got %q, %v; want the secret", i, plain, err)
			}
		}
		if _, err := f.s.RollWebhookSecret(ctx, 999, f.actor); !errors.Is(err, ErrNotFound) {
			t.Errorf("roll of a missing endpoint: got %v, want ErrNotFound", err)
		}
	})
}
