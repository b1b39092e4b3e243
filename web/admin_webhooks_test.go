package web

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/keyward/keyward/db"
)

// webhookWithDelivery registers an endpoint (on a public IP literal, so no
// DNS is needed, subscribed to key.expired only, so no other test event
// reaches it) with one delivery in its log, for the authorization table.
func webhookWithDelivery(t *testing.T, a *testApp) (endpoint, delivery int64) {
	t.Helper()
	ctx := context.Background()
	ep, _, err := a.store.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: "https://93.184.216.34/in",
		EventTypes: []string{db.EventKeyExpired}}, db.CLIActor())
	if err != nil {
		t.Fatalf("CreateWebhookEndpoint: %v", err)
	}
	if _, err := a.store.SendTestEvent(ctx, ep.ID, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.FanOut(ctx, db.FanOutOptions{}); err != nil {
		t.Fatal(err)
	}
	logs, err := a.store.ListDeliveries(ctx, db.DeliveryFilter{EndpointID: ep.ID})
	if err != nil || len(logs) != 1 {
		t.Fatalf("deliveries of the test endpoint: got %d, %v; want 1", len(logs), err)
	}
	return ep.ID, logs[0].ID
}

// hookReceiver is a real webhook receiver: it verifies every request with
// the Standard Webhooks library once it knows the secret, and keeps what
// it got.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	secret string
	got    []hookRequest
}

type hookRequest struct {
	ID, Type string
	Data     map[string]any
	Err      error // Verify's answer
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		req := hookRequest{ID: r.Header.Get("webhook-id")}
		wh, err := standardwebhooks.NewWebhook(h.secret)
		if err == nil {
			err = wh.Verify(body, r.Header)
		}
		req.Err = err
		var payload struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &payload); err != nil && req.Err == nil {
			req.Err = err
		}
		req.Type, req.Data = payload.Type, payload.Data
		h.got = append(h.got, req)
		if req.Err != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) setSecret(s string) {
	h.mu.Lock()
	h.secret = s
	h.mu.Unlock()
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

// runNotify runs a's delivery worker until the test ends.
func runNotify(t *testing.T, a *testApp) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.server.notify.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// addEndpoint submits the add form and returns the endpoint's page and
// the secret it shows once.
func addEndpoint(t *testing.T, admin *browser, hookURL string, types ...string) (response, string) {
	t.Helper()
	r := admin.post("/admin/webhooks", url.Values{"url": {hookURL}, "description": {"test receiver"}, "event_types": types,
		"form_token": {rand.Text()}})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("add endpoint: got %d, want 201; body %.500s", r.StatusCode, r.body)
	}
	secret := r.doc(t).Find(`[data-testid="webhook-secret"] input#webhook-secret`).AttrOr("value", "")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("add endpoint: got secret %q, want a whsec_ secret shown once", secret)
	}
	return r, secret
}

// TestWebhookRevocationReachesReceiver is the done-when: an
// admin's receiver gets a signed key.revoked within seconds of a
// revocation, on each engine.
func TestWebhookRevocationReachesReceiver(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			a := newEngineApp(t, engine)
			admin, adminUser := a.userBrowser("admin@example.com", db.RoleAdmin)
			ann := a.createUser("ann@example.com", db.RoleMember)
			key, _ := a.storeKey(ann.ID, db.KeyInput{Name: "deploy"})
			if err := a.store.SetWebhooksAllowPrivate(context.Background(), true, db.Actor{UserID: adminUser.ID, Label: adminUser.Email}); err != nil {
				t.Fatal(err)
			}
			rcv := newHookReceiver(t)
			_, secret := addEndpoint(t, admin, rcv.URL+"/hook", db.EventKeyRevoked)
			rcv.setSecret(secret)
			runNotify(t, a)

			start := time.Now()
			wantRedirect(t, admin.post("/keys/"+itoa(key.ID)+"/revoke", url.Values{"reason": {"left the company"}}), "/keys/"+itoa(key.ID))
			waitFor(t, "key.revoked at the receiver", func() bool { return len(rcv.requests()) > 0 })
			t.Logf("key.revoked received %v after the revocation", time.Since(start).Round(time.Millisecond))
			got := rcv.requests()
			if len(got) != 1 {
				t.Fatalf("receiver got %d requests, want 1 (key.revoked only): %+v", len(got), got)
			}
			r := got[0]
			if r.Err != nil || r.Type != db.EventKeyRevoked || !strings.HasPrefix(r.ID, "msg_") {
				t.Fatalf("got %+v, want a verified key.revoked with a msg_ id", r)
			}
			k, _ := r.Data["key"].(map[string]any)
			if k["name"] != "deploy" || k["owner"] != "ann@example.com" || r.Data["reason"] != "left the company" {
				t.Errorf("data: got %v, want the key, its owner and the reason", r.Data)
			}
		})
	}
}

func TestAdminWebhookFormErrors(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	tests := []struct {
		name, url, field, want string
		types                  []string
	}{
		{"not https", "http://93.184.216.34/in", "url", "Use https://", []string{"*"}},
		{"too long", "https://93.184.216.34/" + strings.Repeat("a", db.MaxWebhookURLLength), "url", "at most", []string{"*"}},
		{"localhost resolves to loopback", "https://localhost/in", "url", "loopback", []string{"*"}},
		{"loopback literal", "https://127.0.0.1:8443/in", "url", "loopback", []string{"*"}},
		{"metadata address", "https://169.254.169.254/latest", "url", "link-local", []string{"*"}},
		{"private literal", "https://10.0.0.8/in", "url", "private", []string{"*"}},
		{"no event type", "https://93.184.216.34/in", "event_types", "at least one", nil},
		{"empty", "", "url", "Enter the URL", []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.post("/admin/webhooks", url.Values{"url": {tt.url}, "event_types": tt.types})
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422", r.StatusCode)
			}
			msg := r.doc(t).Find(`[data-testid="` + tt.field + `-error"]`).Text()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("%s error: got %q, want one containing %q", tt.field, msg, tt.want)
			}
			if v := r.doc(t).Find("#webhook-url").AttrOr("value", ""); v != tt.url {
				t.Errorf("URL field: got %q, want it kept as typed", v)
			}
		})
	}
	eps, err := a.store.ListWebhookEndpoints(context.Background())
	if err != nil || len(eps) != 0 {
		t.Errorf("endpoints after refused adds: got %d, %v; want none", len(eps), err)
	}
	// The setting lets the loopback receiver through.
	wantRedirect(t, admin.post("/admin/webhook-settings", url.Values{"allow_private": {"1"}}), "/admin/webhooks")
	addEndpoint(t, admin, "http://localhost:9/in", "*")
}

// TestAdminWebhookPages: the list's empty state, the secret shown once,
// "Send test event" and "Resend" reaching a real receiver with the same
// webhook-id, the delivery log, disable and delete.
func TestAdminWebhookPages(t *testing.T) {
	a := newTestApp(t)
	admin, adminUser := a.userBrowser("admin@example.com", db.RoleAdmin)
	if r := admin.get("/admin/webhooks"); r.doc(t).Find(`[data-testid="empty-state"]`).Length() != 1 {
		t.Errorf("no endpoint: got no empty state")
	}
	if err := a.store.SetWebhooksAllowPrivate(context.Background(), true, db.Actor{UserID: adminUser.ID, Label: adminUser.Email}); err != nil {
		t.Fatal(err)
	}
	rcv := newHookReceiver(t)
	page, secret := addEndpoint(t, admin, rcv.URL+"/hook", db.EventKeyRevoked)
	rcv.setSecret(secret)
	runNotify(t, a)
	eps, _ := a.store.ListWebhookEndpoints(context.Background())
	if len(eps) != 1 {
		t.Fatalf("got %d endpoints, want 1", len(eps))
	}
	path := "/admin/webhooks/" + itoa(eps[0].ID)
	if page.doc(t).Find(`[data-testid="delivery-log-empty"]`).Length() != 1 {
		t.Errorf("new endpoint: got no empty delivery log")
	}
	for _, p := range []string{path, "/admin/webhooks"} {
		if r := admin.get(p); strings.Contains(r.body, secret) || r.StatusCode != http.StatusOK {
			t.Errorf("GET %s: got %d, secret shown again: %v", p, r.StatusCode, strings.Contains(r.body, secret))
		}
	}

	wantRedirect(t, admin.post(path+"/test", nil), path)
	waitFor(t, "the test event", func() bool { return len(rcv.requests()) == 1 })
	test := rcv.requests()[0]
	if test.Err != nil || test.Type != db.EventWebhookTest {
		t.Fatalf("test event: got %+v, want a verified webhook.test", test)
	}
	var row response
	waitFor(t, "the delivery logged", func() bool {
		row = admin.get(path)
		return row.doc(t).Find(`[data-testid="delivery-row"][data-status="delivered"]`).Length() == 1
	})
	doc := row.doc(t)
	if got := doc.Find(`[data-testid="delivery-code"]`).First().Text(); strings.TrimSpace(got) != "200" {
		t.Errorf("log response code: got %q, want 200", got)
	}
	if got := doc.Find(`[data-testid="delivery-event-id"]`).First().Text(); got != test.ID {
		t.Errorf("log event id: got %q, want %s", got, test.ID)
	}
	resend, ok := doc.Find(`[data-testid="delivery-resend"]`).First().Closest("form").Attr("action")
	if !ok {
		t.Fatal("no Resend form in the log")
	}
	wantRedirect(t, admin.post(resend, nil), path)
	waitFor(t, "the resend", func() bool { return len(rcv.requests()) == 2 })
	if again := rcv.requests()[1]; again.ID != test.ID || again.Err != nil {
		t.Errorf("resend: got %+v, want the same webhook-id %s, verified", again, test.ID)
	}
	list := admin.get("/admin/webhooks").doc(t)
	if got := list.Find(`[data-testid="webhook-status"]`).Text(); got != "Active" {
		t.Errorf("list status: got %q, want Active", got)
	}

	wantRedirect(t, admin.post(path+"/disable", nil), path)
	if got := admin.get("/admin/webhooks").doc(t).Find(`[data-testid="webhook-disabled-reason"]`).Text(); !strings.Contains(got, "admin@example.com") {
		t.Errorf("disabled reason: got %q, want who disabled it", got)
	}
	wantRedirect(t, admin.post(path+"/delete", nil), "/admin/webhooks")
	if r := admin.get(path); r.StatusCode != http.StatusNotFound {
		t.Errorf("GET after delete: got %d, want 404", r.StatusCode)
	}
	actions := map[string]bool{}
	evs, _ := a.store.ListAudit(context.Background(), db.AuditFilter{TargetType: "webhook"})
	for _, e := range evs {
		actions[e.Action] = true
		if strings.Contains(e.Detail["secret"], "whsec_") || strings.Contains(e.Target, "whsec_") {
			t.Errorf("audit %s carries the secret", e.Action)
		}
	}
	for _, want := range []string{db.ActionWebhookCreate, db.ActionWebhookTest, db.ActionWebhookResend,
		db.ActionWebhookDisable, db.ActionWebhookDelete} {
		if !actions[want] {
			t.Errorf("audit: no %s (got %v)", want, actions)
		}
	}
}

// TestAdminWebhookLogPages: the delivery log shows 25 deliveries a page,
// newest first, and links to the older ones.
func TestAdminWebhookLogPages(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	ep, _, err := a.store.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: "https://93.184.216.34/in",
		EventTypes: []string{db.EventKeyExpired}}, db.CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	for range 27 {
		if _, err := a.store.SendTestEvent(ctx, ep.ID, db.CLIActor()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.store.FanOut(ctx, db.FanOutOptions{}); err != nil {
		t.Fatal(err)
	}
	path := "/admin/webhooks/" + itoa(ep.ID)
	first := admin.get(path).doc(t)
	rows := first.Find(`[data-testid="delivery-row"]`)
	if rows.Length() != 25 {
		t.Fatalf("first page: got %d rows, want 25", rows.Length())
	}
	newest, _ := rows.First().Attr("data-id")
	older, ok := first.Find(`[data-testid="delivery-older"]`).Attr("href")
	if !ok || newest != "27" {
		t.Fatalf("first page: newest row %s, older link %q; want row 27 and a link", newest, older)
	}
	second := admin.get(older).doc(t)
	var ids []string
	second.Find(`[data-testid="delivery-row"]`).Each(func(_ int, s *goquery.Selection) { ids = append(ids, s.AttrOr("data-id", "")) })
	if strings.Join(ids, ",") != "2,1" || second.Find(`[data-testid="delivery-older"]`).Length() != 0 {
		t.Errorf("second page: got rows %v, want 2,1 and no older link", ids)
	}
}

// TestWebhookAddFormSubmittedTwice: reloading the page that shows a new
// endpoint's secret posts the add form again; it must lead to the endpoint
// already added, not add a second one with a second secret. A form without
// its token (a hand-made request) is refused next to the form.
func TestWebhookAddFormSubmittedTwice(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	form := url.Values{"url": {"https://93.184.216.34/in"}, "event_types": {"*"}, "form_token": {rand.Text()}}
	first := admin.post("/admin/webhooks", form)
	if first.StatusCode != http.StatusCreated {
		t.Fatalf("first submission: got %d, want 201", first.StatusCode)
	}
	eps, err := a.store.ListWebhookEndpoints(context.Background())
	if err != nil || len(eps) != 1 {
		t.Fatalf("endpoints after the first submission: got %d, %v; want 1", len(eps), err)
	}
	path := "/admin/webhooks/" + strconv.FormatInt(eps[0].ID, 10)
	wantRedirect(t, admin.post("/admin/webhooks", form), path)
	page := admin.get(path)
	if got := page.doc(t).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "already added") {
		t.Errorf("flash after the second submission: got %q, want it to say the endpoint was already added", got)
	}
	if n := page.doc(t).Find(`[data-testid="webhook-secret"]`).Length(); n != 0 {
		t.Errorf("endpoint page after the second submission: got %d secret panels, want none (shown once)", n)
	}
	delete(form, "form_token")
	r := admin.post("/admin/webhooks", form)
	if r.StatusCode != http.StatusUnprocessableEntity || r.doc(t).Find(`[data-testid="form_token-error"]`).Length() != 1 {
		t.Errorf("submission without a token: got %d, want 422 with the form's error", r.StatusCode)
	}
	if tok := r.doc(t).Find(`input[name="form_token"]`).AttrOr("value", ""); len(tok) < 16 {
		t.Errorf("form after a refused token: got token %q, want a fresh one", tok)
	}
	if eps, _ := a.store.ListWebhookEndpoints(context.Background()); len(eps) != 1 {
		t.Errorf("endpoints at the end: got %d, want still 1", len(eps))
	}
}
