package web

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// notifyLabel is the visible checkbox label of the Notifications card
// whose text is text; clicking it toggles the box, as a person would.
func notifyLabel(text string) chromedp.JSPath {
	return visibleXPath("//section[@data-testid='notifications-card']//label[normalize-space()=" + xpathLiteral(text) + "]")
}

// saveNotifyChoices clicks "Save choices" with htmx running and waits for
// the swapped card's "Saved".
func (tb *tab) saveNotifyChoices() {
	tb.t.Helper()
	tb.click(button("Save choices"))
	tb.waitFor("Saved", `document.querySelector('[data-testid="notify-status"]')?.innerText.trim() === "Saved"`)
}

// TestBrowserAccountNotifications: with htmx, unticking a kind and saving
// swaps the card in place (no navigation) with "Saved", and the choice is
// stored and still unticked after a reload; without JavaScript the same
// form posts, the page comes back with a flash, and the choice is stored.
func TestBrowserAccountNotifications(t *testing.T) {
	a := newTestApp(t)
	tb, u := signedInTab(t, a, "ada@example.com")
	stored := func() map[string]bool {
		t.Helper()
		p, err := a.store.GetNotifyPrefs(context.Background(), u.ID)
		if err != nil {
			t.Fatalf("GetNotifyPrefs: %v", err)
		}
		return p
	}
	ticked := func() map[string]bool {
		t.Helper()
		return evalJS[map[string]bool](tb, `Object.fromEntries([...document.querySelectorAll(
			'[data-testid="notifications-card"] input[name="kinds"]')].map(i => [i.value, i.checked]))`)
	}

	t.Run("htmx", func(t *testing.T) {
		tb.open("/account")
		tb.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.keptPage = true`))
		tb.click(notifyLabel("A key of mine is used from a new address"))
		tb.saveNotifyChoices()
		if !evalJS[bool](tb, `window.keptPage === true`) {
			t.Errorf("saving navigated; want the card swapped in place")
		}
		want := map[string]bool{db.NotifyExpiry: true, db.NotifyNewAddress: false, db.NotifyUnused: true,
			db.NotifyApproval: true, db.NotifyDigest: true}
		if got := stored(); !maps.Equal(got, want) {
			t.Errorf("stored: got %v, want %v", got, want)
		}
		tb.open("/account")
		if got := ticked(); got[db.NotifyNewAddress] || !got[db.NotifyExpiry] {
			t.Errorf("after a reload: got %v, want new_address unticked and the rest ticked", got)
		}
	})

	t.Run("without JavaScript", func(t *testing.T) {
		tb.disableScripts()
		tb.open("/account")
		tb.click(notifyLabel("A key of mine expires soon or has expired"))
		tb.navigates("save", chromedp.Click(button("Save choices")))
		if p := tb.path(); p != "/account#notifications" {
			t.Errorf("after saving: got %s, want /account#notifications", p)
		}
		if got := tb.text(testID("flash")); !strings.Contains(got, "notification choices were saved") {
			t.Errorf("flash: got %q, want the saved message", got)
		}
		want := map[string]bool{db.NotifyExpiry: false, db.NotifyNewAddress: false, db.NotifyUnused: true,
			db.NotifyApproval: true, db.NotifyDigest: true}
		if got := stored(); !maps.Equal(got, want) {
			t.Errorf("stored: got %v, want %v", got, want)
		}
	})
}

// seedNotifications gives the admin console what its notification pages
// show: an endpoint whose delivery log has a row in each state (delivered,
// failing and waiting to retry, given up), a second endpoint an admin
// disabled, and every e-mail queued so far completed (alternately
// accepted and refused), so the settings page's log has rows too. No
// worker runs: the fake clock never reaches the retries, so the pages stay
// as seeded. It returns the first endpoint's id.
func seedNotifications(t *testing.T, a *testApp, admin db.User) int64 {
	t.Helper()
	ctx := context.Background()
	by := db.Actor{UserID: admin.ID, Label: admin.Email, IP: "192.0.2.5"}
	hook, _, err := a.store.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: "https://hooks.example.com/keyward/events",
		Description: "Deploy pipeline: rotates keys the day they are revoked",
		EventTypes:  []string{db.EventKeyRevoked, db.EventKeyExpiring, db.EventKeyExpired}}, by)
	if err != nil {
		t.Fatalf("CreateWebhookEndpoint: %v", err)
	}
	other, _, err := a.store.CreateWebhookEndpoint(ctx, db.WebhookInput{URL: "https://alerts.example.net/in",
		EventTypes: []string{"*"}}, by)
	if err != nil {
		t.Fatalf("CreateWebhookEndpoint: %v", err)
	}
	if _, err := a.store.SetWebhookEndpointDisabled(ctx, other.ID, true, by); err != nil {
		t.Fatalf("SetWebhookEndpointDisabled: %v", err)
	}
	for range 3 {
		if _, err := a.store.SendTestEvent(ctx, hook.ID, by); err != nil {
			t.Fatalf("SendTestEvent: %v", err)
		}
	}
	if _, err := a.store.FanOut(ctx, db.FanOutOptions{Email: true}); err != nil {
		t.Fatalf("FanOut: %v", err)
	}
	ds, err := a.store.ClaimDeliveries(ctx, "seed", 100, time.Minute)
	if err != nil {
		t.Fatalf("ClaimDeliveries: %v", err)
	}
	hookResults := []db.AttemptResult{
		{OK: true, StatusCode: 204, Latency: 87 * time.Millisecond},
		{StatusCode: 503, Latency: 1240 * time.Millisecond, Error: "503 Service Unavailable"},
		{Latency: 10 * time.Second, Error: "timeout after 10s: no answer from hooks.example.com", Permanent: true},
	}
	mailResults := []db.AttemptResult{
		{OK: true, StatusCode: 250, Latency: 310 * time.Millisecond},
		{StatusCode: 550, Latency: 180 * time.Millisecond, Error: "550 5.1.1 mailbox unavailable", Permanent: true},
	}
	var nh, nm int
	for _, d := range ds {
		var r db.AttemptResult
		if d.Channel == db.ChannelWebhook {
			r, nh = hookResults[nh%len(hookResults)], nh+1
		} else {
			r, nm = mailResults[nm%len(mailResults)], nm+1
		}
		if err := a.store.CompleteDelivery(ctx, "seed", d, r); err != nil {
			t.Fatalf("CompleteDelivery: %v", err)
		}
	}
	return hook.ID
}
