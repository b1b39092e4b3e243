package web

import (
	"reflect"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserKeyLimits: a person locks a key to networks and gives it
// metadata in a real browser: on the inline (htmx) create form, where a
// bad network comes back beside its field with everything typed kept, and
// then on the key page's "Limits" card. Services see each change at once.
func TestBrowserKeyLimits(t *testing.T) {
	a := newTestApp(t)
	tb, u := signedInTab(t, a, "ada@example.com")
	seedKey(t, a, u.ID, "Existing key") // the list, with its quick create, shows once there is a key
	from := func(key, ip string) verifyAnswer {
		t.Helper()
		return a.verifyBody(mustJSON(map[string]string{"key": key, "ip": ip}), nil)
	}

	tb.open("/keys")
	tb.click(summary("Quick create — without leaving this page"))
	tb.fill("Name", "Office printer")
	tb.click(summary("Advanced: limits"))
	// Empty textareas have no text node for chromedp.Clear: type into them.
	typeInto := func(label, value string) {
		t.Helper()
		tb.do("type into "+label, chromedp.SendKeys(chromedp.ID(tb.fieldFor(label)), value))
	}
	typeInto("Allowed networks (optional)", "10.0.0.0/8, office-wifi")
	typeInto("Metadata (optional)", `{"tenant": "acme", "floor": 3}`)
	tb.click(button("Create key"))
	tb.waitFor("the allowlist error", `!!document.querySelector('[data-testid="allowed_ips-error"]')`)
	if got := tb.text(testID("allowed_ips-error")); !strings.Contains(got, "office-wifi") {
		t.Errorf("error beside the networks: got %q, want it to name office-wifi", got)
	}
	if got := tb.value(`#key-meta`); got != `{"tenant": "acme", "floor": 3}` {
		t.Errorf("metadata after the error: got %q, want it kept", got)
	}
	if n := a.countKeys(); n != 1 {
		t.Fatalf("keys after a refused create: got %d, want 1 (the existing one)", n)
	}

	tb.fill("Allowed networks (optional)", "10.0.0.0/8, 2001:db8::/32")
	tb.click(button("Create key"))
	key := tb.revealedKey()
	if v := from(key, "10.9.8.7"); !v.Valid || !reflect.DeepEqual(v.Key["meta"], map[string]any{"tenant": "acme", "floor": float64(3)}) {
		t.Errorf("verify from inside: got %+v, want valid with the metadata", v)
	}
	if v := from(key, "192.0.2.1"); v.Code != "IP_NOT_ALLOWED" {
		t.Errorf("verify from outside: got %q, want IP_NOT_ALLOWED", v.Code)
	}

	tb.navigates("Done", chromedp.Click(link("Done — I've saved my key")))
	if got, want := tb.texts(`[data-testid="allowed-ip"]`), []string{"10.0.0.0/8", "2001:db8::/32"}; !reflect.DeepEqual(got, want) {
		t.Errorf("key page allowlist: got %q, want %q", got, want)
	}
	tb.click(summary("Change limits"))
	tb.fill("Allowed networks (optional)", "192.0.2.0/24")
	tb.navigates("save limits", chromedp.Click(button("Save limits")))
	if got, want := tb.texts(`[data-testid="allowed-ip"]`), []string{"192.0.2.0/24"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after saving: got %q, want %q", got, want)
	}
	if v := from(key, "192.0.2.1"); !v.Valid {
		t.Errorf("verify from the new network: got %q, want valid", v.Code)
	}
	if v := from(key, "10.9.8.7"); v.Code != "IP_NOT_ALLOWED" {
		t.Errorf("verify from the old network: got %q, want IP_NOT_ALLOWED", v.Code)
	}
}
