package web

import (
	"fmt"
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
