package web

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// teamsForBrowser makes team payments maintained by maintainer (and ops,
// maintained by nobody) and returns them.
func teamsForBrowser(t *testing.T, a *testApp, maintainer string) (db.Team, db.Team) {
	t.Helper()
	ctx := context.Background()
	pay, err := a.store.CreateTeam(ctx, "payments", "Card processing and refunds", db.CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	ops, err := a.store.CreateTeam(ctx, "ops", "", db.CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.AddTeamMember(ctx, pay.ID, maintainer, db.TeamMaintainer, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	return pay, ops
}

// TestBrowserCreateTeamKey: a maintainer opens their team, creates a key
// owned by it from "New team key", and the key verifies as the team's.
func TestBrowserCreateTeamKey(t *testing.T) {
	a := newTestApp(t)
	tb, _ := signedInTab(t, a, "mia@example.com")
	pay, _ := teamsForBrowser(t, a, "mia@example.com")
	tb.grantClipboard()

	tb.open("/teams")
	tb.navigates("open the team", chromedp.Click(link("payments")))
	if got := tb.text(testID("team-keys-empty")); !strings.Contains(got, "owns no keys yet") {
		t.Errorf("empty team keys: got %q", got)
	}
	tb.navigates("new team key", chromedp.Click(link("New team key")))
	if got := tb.value("#key-owner"); got != itoa(pay.ID) {
		t.Errorf("owner preselected: got %q, want the team %d", got, pay.ID)
	}
	tb.fill("Name", "Refund worker")
	if st := tb.navigates("create", chromedp.Click(button("Create key"))); st != 200 {
		t.Fatalf("create: got status %d, want 200", st)
	}
	key := tb.revealedKey()
	v := a.verify(key, "")
	if !v.Valid || v.Key["owner"] != "team:payments" || v.Key["owner_type"] != "team" {
		t.Errorf("verify: got %+v, want valid, owner team:payments, owner_type team", v)
	}
	tb.navigates("Done", chromedp.Click(link("Done — I've saved my key")))
	if got := tb.text(testID("key-owner")); got != "team:payments" {
		t.Errorf("key page owner: got %q, want team:payments", got)
	}
	tb.open("/teams/" + itoa(pay.ID))
	if got := tb.texts(`[data-testid="team-key"] a`); len(got) != 1 || got[0] != "Refund worker" {
		t.Errorf("team page keys: got %q, want the new key", got)
	}
}

// TestBrowserDisableWithTransfer: an admin disables a person who owns
// working keys, transferring them to a team first; the transferred keys
// keep verifying, as the team's.
func TestBrowserDisableWithTransfer(t *testing.T) {
	a := newTestApp(t)
	u := a.createUser("leaver@example.com", db.RoleMember)
	_, k1 := seedKey(t, a, u.ID, "Nightly export")
	_, k2 := seedKey(t, a, u.ID, "Webhook signer")
	_, ops := teamsForBrowser(t, a, "leaver@example.com")
	tb, _ := adminTab(t, a)

	tb.open("/admin/users")
	tb.navigates("disable", chromedp.Click(button("Disable leaver@example.com")))
	tb.waitVisible(testID("disable-choice"))
	if got := tb.texts(`[data-testid="disable-key"] a`); len(got) != 2 {
		t.Fatalf("keys listed: got %q, want the two keys", got)
	}
	tb.do("transfer to a team", chromedp.Click(chromedp.CSS("#choice-team")))
	tb.choose("Team", "ops")
	tb.navigates("confirm", chromedp.Click(button("Disable leaver@example.com")))
	if got := tb.text(testID("flash")); !strings.Contains(got, "2 key(s) transferred") {
		t.Errorf("flash: got %q, want the transfer counted", got)
	}
	for _, k := range []string{k1, k2} {
		v := a.verify(k, "")
		if !v.Valid || v.Key["owner"] != "team:"+ops.Name {
			t.Errorf("transferred key: got %+v, want valid, owned by team:ops", v)
		}
	}
	if got, _ := a.store.GetUserByEmail(context.Background(), "leaver@example.com"); !got.Disabled() {
		t.Errorf("leaver is not disabled")
	}
}

// TestScreenshotsTeams renders the team pages for people to look at, like
// TestScreenshots: only when KEYWARD_SCREENSHOTS names a directory.
func TestScreenshotsTeams(t *testing.T) {
	dir := os.Getenv("KEYWARD_SCREENSHOTS")
	if dir == "" {
		t.Skip("set KEYWARD_SCREENSHOTS=<dir> to write screenshots")
	}
	a := newTestApp(t)
	admin := a.createUser("root@example.com", db.RoleAdmin)
	pay, _ := teamsForBrowser(t, a, "root@example.com")
	member := a.createUser("sam@example.com", db.RoleMember)
	if err := a.store.AddTeamMember(context.Background(), pay.ID, member.Email, db.TeamMember, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	k, _ := a.storeKey(admin.ID, db.KeyInput{Name: "Refund worker", TeamID: pay.ID})
	seedKey(t, a, member.ID, "Sam's laptop")
	tb := newTabTimeout(t, a, 5*browserTimeout)
	tb.login("root@example.com", testPassword)
	pages := map[string]string{
		"teams": "/teams", "team": "/teams/" + itoa(pay.ID), "team-key": "/keys/" + itoa(k.ID),
		"new-team-key": "/keys/new?owner=team:" + itoa(pay.ID),
	}
	for _, vp := range screenshotViewports {
		opts := []chromedp.EmulateViewportOption{}
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		tb.do("viewport "+vp.name, chromedp.EmulateViewport(vp.width, vp.height, opts...))
		tb.colorScheme(vp.scheme)
		for name, path := range pages {
			tb.open(path)
			time.Sleep(150 * time.Millisecond) // fonts settle; nothing is asserted
			png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name+"-"+vp.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
