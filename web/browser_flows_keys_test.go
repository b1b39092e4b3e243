package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// btKeyFormat is the shape of a plaintext key (see DESIGN.md).
var btKeyFormat = regexp.MustCompile(`^kw_[0-9A-Za-z]{49}$`)

// serviceVerify asks the verify API about key, as a service would.
func serviceVerify(t *testing.T, a *testApp, key string) (valid bool, code string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"key": key})
	resp, err := http.Post(a.http.URL+"/api/v1/keys/verify", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	defer resp.Body.Close()
	var v struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("verify: decode answer (status %d): %v", resp.StatusCode, err)
	}
	return v.Valid, v.Code
}

// wantVerify fails the test unless key verifies with code ("" for valid).
func wantVerify(t *testing.T, a *testApp, key, code string) {
	t.Helper()
	valid, got := serviceVerify(t, a, key)
	if code == "" && !valid {
		t.Errorf("verify: got invalid (%s), want valid", got)
	}
	if code != "" && (valid || got != code) {
		t.Errorf("verify: got valid=%v code %q, want code %q", valid, got, code)
	}
}

// seedKey creates a key for userID directly in the store, expiring in 90
// days, and returns it with its plaintext.
func seedKey(t *testing.T, a *testApp, userID int64, name string, scopes ...string) (db.Key, string) {
	t.Helper()
	exp := a.clock.Now().Add(90 * 24 * time.Hour)
	k, secret, err := a.store.CreateKey(context.Background(), userID,
		db.KeyInput{Name: name, Scopes: scopes, ExpiresAt: &exp}, db.CLIActor())
	if err != nil {
		t.Fatalf("seed key %q: %v", name, err)
	}
	return k, secret
}

// signedInTab is a browser signed in as a new member.
func signedInTab(t *testing.T, a *testApp, email string) (*tab, db.User) {
	t.Helper()
	u := a.createUser(email, db.RoleMember)
	tb := newTab(t, a)
	tb.login(email, testPassword)
	return tb, u
}

// waitFor polls a JavaScript condition until it holds.
func (tb *tab) waitFor(what, cond string) {
	tb.t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil {
		tb.t.Fatalf("wait for %s: %v", what, err)
	}
}

// revealedKey reads the key from the show-once panel.
func (tb *tab) revealedKey() string {
	tb.t.Helper()
	tb.waitVisible(testID("key-reveal"))
	key := tb.value(`[data-testid="new-key"]`)
	if !btKeyFormat.MatchString(key) {
		tb.t.Fatalf("revealed key: got %q, want kw_ and 49 base62 characters", key)
	}
	return key
}

// copyAndCheck presses the key's Copy button and checks that the clipboard
// then holds exactly the key.
func (tb *tab) copyAndCheck(key string) {
	tb.t.Helper()
	tb.click(button("Copy the API key"))
	tb.waitFor(`"Copied" on the button`,
		`document.querySelector('[data-copy="#new-key"] [data-copy-label]').textContent === "Copied"`)
	if got := tb.clipboard(); got != key {
		tb.t.Errorf("clipboard: got %q, want the key %q", got, key)
	}
	tb.waitFor("the copy announcement", `document.getElementById("live-region").textContent === "Copied to clipboard"`)
}

// wantKeyGone checks that the plaintext is nowhere in the page now.
func (tb *tab) wantKeyGone(key, where string) {
	tb.t.Helper()
	if strings.Contains(tb.html(), key) {
		tb.t.Errorf("%s: the plaintext key is in the DOM; want it shown only once", where)
	}
}

func keyIDFromPath(t *testing.T, p string) int64 {
	t.Helper()
	var id int64
	if _, err := fmt.Sscanf(p, "/keys/%d", &id); err != nil {
		t.Fatalf("path %q is not a key page: %v", p, err)
	}
	return id
}

// TestBrowserCreateKey creates a key both ways a person can: on its own
// page (a plain form post) and inline on /keys (htmx, no page load). Each
// time the Copy button puts exactly the key on the clipboard, the key works,
// "Done" leaves without a prompt, and afterwards the key is nowhere.
func TestBrowserCreateKey(t *testing.T) {
	t.Run("page", func(t *testing.T) {
		a := newTestApp(t)
		tb, _ := signedInTab(t, a, "ada@example.com")
		tb.grantClipboard()

		tb.navigates("open the create page", chromedp.Click(link("Create key")))
		if p := tb.path(); p != "/keys/new" {
			t.Fatalf("Create key: got %s, want /keys/new", p)
		}
		tb.fill("Name", "Billing service")
		tb.checkScope("read:orders")
		tb.checkScope("write:orders")
		if st := tb.navigates("create", chromedp.Click(button("Create key"))); st != 200 {
			t.Fatalf("create: got status %d, want 200", st)
		}
		key := tb.revealedKey()
		tb.copyAndCheck(key)
		wantVerify(t, a, key, "")
		if got := tb.text(testID("curl-example")); !strings.Contains(got, key) || !strings.Contains(got, "/api/v1/keys/verify") {
			t.Errorf("curl example: got %q, want a verify call with the key", got)
		}

		// Leaving any other way asks first; "Stay" keeps the key on screen.
		tb.setDismissDialogs(true)
		tb.click(link("Keys"))
		tb.waitDialog("beforeunload")
		tb.setDismissDialogs(false)
		if got := tb.value(`[data-testid="new-key"]`); got != key {
			t.Fatalf("after staying: got key field %q, want the key still shown", got)
		}

		tb.navigates("Done", chromedp.Click(link("Done — I've saved my key")))
		if d := tb.seenDialogs(); len(d) > 0 {
			t.Errorf("Done: got dialogs %v, want none", d)
		}
		id := keyIDFromPath(t, tb.path())
		tb.wantKeyGone(key, "key page after Done")
		if got := tb.text(testID("key-hint")); !strings.HasSuffix(got, key[len(key)-4:]) {
			t.Errorf("hint: got %q, want it to end with the key's last 4 characters", got)
		}
		tb.open("/keys")
		tb.wantKeyGone(key, "/keys")
		tb.open(fmt.Sprintf("/keys/%d", id))
		tb.wantKeyGone(key, "key page")
	})

	t.Run("inline", func(t *testing.T) {
		a := newTestApp(t)
		tb, u := signedInTab(t, a, "ada@example.com")
		seedKey(t, a, u.ID, "Existing key")
		tb.grantClipboard()
		tb.open("/keys")
		// A marker that survives only if the page is never reloaded.
		evalJS[bool](tb, `window.kwNoReload = true`)

		tb.click(summary("Quick create — without leaving this page"))
		tb.fill("Name", "Inline key")
		tb.click(button("Create key"))
		key := tb.revealedKey()
		if !evalJS[bool](tb, `window.kwNoReload === true`) || tb.path() != "/keys" {
			t.Errorf("inline create reloaded the page (now at %s); want an in-place swap", tb.path())
		}
		tb.copyAndCheck(key)
		wantVerify(t, a, key, "")

		tb.navigates("Done", chromedp.Click(link("Done — I've saved my key")))
		if d := tb.seenDialogs(); len(d) > 0 {
			t.Errorf("Done: got dialogs %v, want none", d)
		}
		id := keyIDFromPath(t, tb.path())
		if got := tb.text(testID("key-name")); got != "Inline key" {
			t.Errorf("key page: got name %q, want Inline key", got)
		}
		tb.wantKeyGone(key, "key page after Done")
		tb.open("/keys")
		tb.wantKeyGone(key, "/keys")
		if n := tb.count(`[data-testid="key-row"]`); n != 2 {
			t.Errorf("/keys: got %d rows, want 2", n)
		}
		tb.open(fmt.Sprintf("/keys/%d", id))
		tb.wantKeyGone(key, "key page")
	})
}

// waitDialog waits until the page has opened a dialog of type typ.
func (tb *tab) waitDialog(typ page.DialogType) {
	tb.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		tb.mu.Lock()
		for _, d := range tb.dialogs {
			if d.Type == typ {
				tb.dialogs = nil
				tb.mu.Unlock()
				return
			}
		}
		tb.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	tb.t.Fatalf("no %s dialog appeared; got %v", typ, tb.seenDialogs())
}

func TestBrowserRollKey(t *testing.T) {
	a := newTestApp(t)
	tb, u := signedInTab(t, a, "ada@example.com")
	old, oldKey := seedKey(t, a, u.ID, "Orders API", "read:orders")
	tb.grantClipboard()

	tb.open(fmt.Sprintf("/keys/%d", old.ID))
	tb.choose("Old key keeps working", "Keep the old key for 1 hour")
	if st := tb.navigates("roll", chromedp.Click(button("Roll key"))); st != 200 {
		t.Fatalf("roll: got status %d, want 200", st)
	}
	newKey := tb.revealedKey()
	if newKey == oldKey {
		t.Fatal("roll: got the old key back, want a new one")
	}
	if got := tb.text(`#key-reveal-title`); !strings.Contains(got, "keeps working until") {
		t.Errorf("reveal heading: got %q, want it to say the old key keeps working", got)
	}
	tb.copyAndCheck(newKey)
	wantVerify(t, a, newKey, "")
	wantVerify(t, a, oldKey, "")

	tb.navigates("Done", chromedp.Click(link("Done — I've saved my key")))
	newID := keyIDFromPath(t, tb.path())
	tb.wantKeyGone(newKey, "new key's page")
	tb.open("/keys")
	tb.wantKeyGone(newKey, "/keys")
	statuses := evalJS[map[string]string](tb, `Object.fromEntries([...document.querySelectorAll('[data-testid="key-row"]')]
		.map(r => [r.dataset.keyId, r.querySelector('[data-testid="status-badge"]').dataset.status]))`)
	if got := statuses[fmt.Sprint(old.ID)]; got != "expiring" {
		t.Errorf("old key status: got %q, want expiring", got)
	}
	if got := statuses[fmt.Sprint(newID)]; got != "active" {
		t.Errorf("new key status: got %q, want active", got)
	}
	if got := tb.text(chromedp.CSS(fmt.Sprintf(`[data-key-id="%d"] [data-testid="status-badge"]`, old.ID))); got != "Expiring soon" {
		t.Errorf("old key badge: got %q, want Expiring soon", got)
	}
}

func TestBrowserDisableEnable(t *testing.T) {
	a := newTestApp(t)
	tb, u := signedInTab(t, a, "ada@example.com")
	k, key := seedKey(t, a, u.ID, "Reports")
	tb.open(fmt.Sprintf("/keys/%d", k.ID))

	tb.navigates("disable", chromedp.Click(button("Disable key")))
	if got := tb.attr(testID("status-badge"), "data-status"); got != "disabled" {
		t.Errorf("after disable: got status %q, want disabled", got)
	}
	if got := tb.text(testID("flash")); !strings.Contains(got, "is disabled") {
		t.Errorf("flash: got %q, want it to say the key is disabled", got)
	}
	wantVerify(t, a, key, "DISABLED")

	tb.navigates("enable", chromedp.Click(button("Enable key")))
	if got := tb.attr(testID("status-badge"), "data-status"); got != "active" {
		t.Errorf("after enable: got status %q, want active", got)
	}
	wantVerify(t, a, key, "")
}

func TestBrowserRevoke(t *testing.T) {
	a := newTestApp(t)
	tb, u := signedInTab(t, a, "ada@example.com")
	k, key := seedKey(t, a, u.ID, "Legacy importer")
	tb.open(fmt.Sprintf("/keys/%d", k.ID))

	tb.click(summary("Revoke key…"))
	tb.fill("Reason (optional)", "Leaked in a build log")
	tb.navigates("revoke", chromedp.Click(button("Revoke permanently")))
	confirmed := false
	for _, d := range tb.seenDialogs() {
		if d.Type == page.DialogTypeConfirm && strings.Contains(d.Message, "permanently") {
			confirmed = true
		}
	}
	if !confirmed {
		t.Error("revoke: no confirmation was asked")
	}
	tb.wantRevokedPage(k.ID)
	wantVerify(t, a, key, "REVOKED")
}

// wantRevokedPage checks the key page of a revoked key: it says so and
// offers nothing to do.
func (tb *tab) wantRevokedPage(id int64) {
	tb.t.Helper()
	if p := tb.path(); p != fmt.Sprintf("/keys/%d", id) {
		tb.t.Errorf("after revoke: got %s, want the key page", p)
	}
	if got := tb.attr(testID("status-badge"), "data-status"); got != "revoked" {
		tb.t.Errorf("status: got %q, want revoked", got)
	}
	tb.waitVisible(testID("key-revoked"))
	if n := tb.count(`[data-testid="key-actions"], main form, main button`); n != 0 {
		tb.t.Errorf("revoked key page: got %d actions, want none", n)
	}
}

// attr is an attribute of the first element matching sel.
func (tb *tab) attr(sel chromedp.CSS, name string) string {
	tb.t.Helper()
	r, err := chromedp.Run(tb.ctx, chromedp.AttributeValue(sel, name))
	if err != nil {
		tb.t.Fatalf("%s of %s: %v", name, sel, err)
	}
	return r.Value
}
