package web

import (
	"context"
	"maps"
	"strings"
	"testing"

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
