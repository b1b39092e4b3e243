package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// TestBrowserEditKey edits a key on its page in Chromium: a new name,
// description and an earlier expiry are saved and shown; an expiry beyond
// the lifetime policy comes back beside the field with what was typed;
// an auditor sees the same key with no action at all.
func TestBrowserEditKey(t *testing.T) {
	a := newTestApp(t)
	tb, u := signedInTab(t, a, "ada@example.com")
	k, key := seedKey(t, a, u.ID, "Reports")
	tb.open(fmt.Sprintf("/keys/%d", k.ID))

	shorter := a.clock.Now().Add(10 * day).Format(time.DateOnly)
	tb.fill("Name", "Nightly reports")
	tb.do("type a description", chromedp.SendKeys(chromedp.ID(tb.fieldFor("Description")), "Runs at 02:00 UTC"))
	// A date field's typed format follows the browser's locale; set the
	// value the form sends instead.
	tb.do("set the expiry", chromedp.SetValue(chromedp.CSS("#edit-expires"), shorter))
	tb.navigates("save", chromedp.Click(button("Save changes")))
	if got := tb.text(testID("flash")); !strings.Contains(got, "Key details saved.") {
		t.Errorf("flash: got %q, want Key details saved.", got)
	}
	if got := tb.text(testID("key-name")); got != "Nightly reports" {
		t.Errorf("name: got %q, want Nightly reports", got)
	}
	if got := tb.text(testID("key-description")); got != "Runs at 02:00 UTC" {
		t.Errorf("description: got %q, want Runs at 02:00 UTC", got)
	}
	if got := tb.text(testID("key-expires")); !strings.Contains(got, shorter) {
		t.Errorf("expires: got %q, want it to show %s", got, shorter)
	}
	if got := tb.value("#edit-expires"); got != shorter {
		t.Errorf("expiry field after saving: got %q, want %s", got, shorter)
	}
	if got := tb.texts(`[data-testid="event-row"]`); len(got) == 0 || !strings.Contains(got[0], "Key edited") {
		t.Errorf("activity: got %q, want the edit first", got)
	}
	wantVerify(t, a, key, "")

	p := db.DefaultPolicy()
	p.MaxKeyLifetime = 30 * day
	if err := a.store.SetPolicy(context.Background(), p, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	tb.allowHTTPError(422)
	longer := a.clock.Now().Add(60 * day).Format(time.DateOnly)
	tb.do("set a later expiry", chromedp.SetValue(chromedp.CSS("#edit-expires"), longer))
	tb.navigates("save over the policy", chromedp.Click(button("Save changes")))
	if got := tb.text(chromedp.CSS("#expires_on-error")); !strings.Contains(got, "Keys may live at most 30 days from their creation") {
		t.Errorf("field error: got %q, want the lifetime rule", got)
	}
	if got := tb.value("#edit-expires"); got != longer {
		t.Errorf("expiry field after the refusal: got %q, want what was chosen, %s", got, longer)
	}
	if got := tb.attr(chromedp.CSS("#edit-expires"), "aria-describedby"); !strings.Contains(got, "expires_on-error") {
		t.Errorf("aria-describedby: got %q, want it to name the error", got)
	}
	if got := a.getKey(k.ID).ExpiresAt.Format(time.DateOnly); got != shorter {
		t.Errorf("stored expiry after the refusal: got %s, want %s", got, shorter)
	}

	auditor := newTab(t, a)
	a.createUser("iris@example.com", db.RoleAuditor)
	auditor.login("iris@example.com", testPassword)
	auditor.open(fmt.Sprintf("/keys/%d", k.ID))
	auditor.waitVisible(testID("read-only-note"))
	if n := auditor.count(`[data-testid="key-actions"], main form, main button`); n != 0 {
		t.Errorf("auditor's view of the key: got %d actions, want none", n)
	}
	if got := auditor.text(testID("key-owner")); got != "ada@example.com" {
		t.Errorf("owner: got %q, want ada@example.com", got)
	}
}
