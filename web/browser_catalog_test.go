package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// checkScope ticks the catalog checkbox of scope name, with the mouse.
func (tb *tab) checkScope(name string) {
	tb.t.Helper()
	tb.do("check "+name, chromedp.Click(chromedp.CSS(`input[name="scopes"][value="`+name+`"]`)))
}

// TestBrowserApproval: a member creates a key asking for a scope that
// needs approval; it is shown once but waits (PENDING_APPROVAL) until an
// admin approves it on /admin/requests, then verifies. A second one is
// denied with a reason: it is revoked, and its page says why.
func TestBrowserApproval(t *testing.T) {
	a := catalogApp(t)
	member, _ := signedInTab(t, a, "ann@example.com")
	a.createUser("admin@example.com", db.RoleAdmin)
	admin := newTab(t, a)
	admin.login("admin@example.com", testPassword)

	create := func(name string) (int64, string) {
		t.Helper()
		member.open("/keys/new")
		member.fill("Name", name)
		member.checkScope("read")
		member.checkScope(approvalScope)
		if n := member.count(`input[name="scopes"][value="` + adminOnlyScope + `"]:disabled`); n != 1 {
			t.Errorf("admin-only scope: got %d disabled boxes, want 1", n)
		}
		member.navigates("create", chromedp.Click(button("Create key")))
		key := member.revealedKey()
		member.navigates("Done", chromedp.Click(link("Done — I've saved my key")))
		id := keyIDFromPath(t, member.path())
		if got := member.text(testID("approval-pending")); !strings.Contains(got, "Waiting for approval of "+approvalScope) {
			t.Errorf("key page: got %q, want the waiting state", got)
		}
		wantVerify(t, a, key, "PENDING_APPROVAL")
		return id, key
	}
	approved, approvedKey := create("Payments worker")
	denied, deniedKey := create("Payments sandbox")

	admin.open("/admin")
	if got := admin.text(testID("pending-count")); got != "2 keys wait for your approval." {
		t.Errorf("overview: got %q, want the pending count", got)
	}
	admin.navigates("open requests", chromedp.Click(testID("pending-requests")))
	if n := admin.count(`[data-testid="request"]`); n != 2 {
		t.Fatalf("requests: got %d, want 2", n)
	}
	admin.navigates("approve", chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-key-id="%d"] [data-testid="request-approve"]`, approved))))
	wantVerify(t, a, approvedKey, "")

	reason := fmt.Sprintf(`[data-key-id="%d"] [data-testid="request-reason"]`, denied)
	admin.do("type the reason", chromedp.SendKeys(chromedp.CSS(reason), "Sandbox keys may not take payments"))
	admin.navigates("deny", chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-key-id="%d"] [data-testid="request-deny"]`, denied))))
	wantVerify(t, a, deniedKey, "REVOKED")
	if n := admin.count(`[data-testid="request"]`); n != 0 {
		t.Errorf("requests after both decisions: got %d, want 0", n)
	}

	member.open(fmt.Sprintf("/keys/%d", denied))
	if got := member.text(testID("denial-reason")); got != "Sandbox keys may not take payments" {
		t.Errorf("denied key page: got reason %q, want it shown", got)
	}
	member.open(fmt.Sprintf("/keys/%d", approved))
	if n := member.count(`[data-testid="approval-pending"]`); n != 0 {
		t.Errorf("approved key page: got %d waiting notices, want 0", n)
	}
}

// TestScreenshotsCatalog renders the catalog and approval pages at every
// screenshot viewport (1280 px, 390 px, dark), for people to look at; it
// runs only when KEYWARD_SCREENSHOTS names the directory to write to.
func TestScreenshotsCatalog(t *testing.T) {
	dir := os.Getenv("KEYWARD_SCREENSHOTS")
	if dir == "" {
		t.Skip("set KEYWARD_SCREENSHOTS=<dir> to write screenshots")
	}
	a := catalogApp(t)
	ctx := context.Background()
	for _, in := range []db.ScopeInput{
		{Name: "orders:write", Description: "Create and change orders"},
		{Name: "reports", Description: "Download monthly reports"},
	} {
		if _, err := a.store.CreateScope(ctx, in, db.CLIActor()); err != nil {
			t.Fatal(err)
		}
	}
	member := a.createUser("ann@acme.dev", db.RoleMember)
	a.createUser("ada@acme.dev", db.RoleAdmin)
	waiting, _ := pendingKeys(t, a, member)
	tb := newTabTimeout(t, a, 5*browserTimeout)
	for _, vp := range screenshotViewports {
		opts := []chromedp.EmulateViewportOption{}
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		tb.do("viewport "+vp.name, chromedp.EmulateViewport(vp.width, vp.height, opts...))
		tb.colorScheme(vp.scheme)
		shoot := func(name string) {
			t.Helper()
			png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot %s: %v", name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, name+"-"+vp.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tb.clearCookies()
		tb.login("ann@acme.dev", testPassword)
		tb.open("/keys/new")
		shoot("catalog-keys-new")
		tb.open(fmt.Sprintf("/keys/%d", waiting.ID))
		shoot("catalog-key-pending")
		tb.clearCookies()
		tb.login("ada@acme.dev", testPassword)
		tb.open("/admin")
		shoot("catalog-admin")
		tb.open("/admin/scopes")
		shoot("catalog-scopes")
		tb.open("/admin/scopes/" + approvalScope)
		shoot("catalog-scope")
		tb.open("/admin/requests")
		shoot("catalog-requests")
	}
}
