package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward/db"
)

// TestBrowserSudoResumesRoll: eleven minutes after signing in, rolling a
// key with a 24-hour grace period lands on "Confirm it's you"; after the
// password the kept form continues with one click, and the key page shows
// the new key once with the old one working for 24 more hours.
func TestBrowserSudoResumesRoll(t *testing.T) {
	a := newTestApp(t)
	tb, u := signedInTab(t, a, "ada@example.com")
	old, oldKey := seedKey(t, a, u.ID, "deploy", "read:orders")
	a.clock.Advance(11 * time.Minute)

	tb.open(fmt.Sprintf("/keys/%d", old.ID))
	tb.choose("Old key keeps working", "Keep the old key for 24 hours")
	if st := tb.navigates("roll", chromedp.Click(button("Roll key"))); st != 200 {
		t.Fatalf("roll: got status %d, want 200 (the sudo page)", st)
	}
	if p := tb.path(); !strings.HasPrefix(p, "/sudo?return=") {
		t.Fatalf("after roll: got %s, want /sudo?return=…", p)
	}
	if got := tb.text("h1"); got != "Confirm it's you" {
		t.Errorf("heading: got %q, want Confirm it's you", got)
	}
	if n := a.countKeys(); n != 1 {
		t.Fatalf("keys before confirming: got %d, want 1 (nothing rolled)", n)
	}

	tb.fill("Password", testPassword)
	if st := tb.navigates("confirm", chromedp.Click(button("Confirm with password"))); st != 200 {
		t.Fatalf("confirm: got status %d, want 200", st)
	}
	if p := tb.path(); !strings.HasPrefix(p, "/sudo/resume?return=") {
		t.Fatalf("after confirming: got %s, want /sudo/resume?return=…", p)
	}
	if st := tb.navigates("continue", chromedp.Click(button("Continue: Roll key “deploy”"))); st != 200 {
		t.Fatalf("continue: got status %d, want 200", st)
	}
	newKey := tb.revealedKey()
	if newKey == oldKey {
		t.Fatal("roll: got the old key back, want a new one")
	}
	until := a.clock.Now().Add(24 * time.Hour)
	if got, want := tb.text(`#key-reveal-title`), "keeps working until "+until.Format("2006-01-02 15:04:05"); !strings.Contains(got, want) {
		t.Errorf("reveal heading: got %q, want it to say %q", got, want)
	}
	k, err := a.store.GetKey(context.Background(), db.AnyOwner(), old.ID)
	if err != nil || k.ExpiresAt == nil || !k.ExpiresAt.Equal(until) {
		t.Errorf("old key: got expiry %v (%v), want %v", k.ExpiresAt, err, until)
	}
	wantVerify(t, a, newKey, "")
	wantVerify(t, a, oldKey, "")
	if n := a.countKeys(); n != 2 {
		t.Errorf("keys: got %d, want 2 (rolled once)", n)
	}
	tb.navigates("Done", chromedp.Click(link("Done — I've saved my key")))
	tb.wantKeyGone(newKey, "new key's page")
}

// shootSudo takes the re-authentication pages as ada, signed in: a roll
// eleven minutes on, the page that interrupts it (with a wrong password,
// then with an authenticator app too), and the resumed form, which it
// cancels, so later screenshots show the key unrolled.
func shootSudo(t *testing.T, a *testApp, tb *tab, vp viewport, keyID int64, shoot func(viewport, string)) {
	t.Helper()
	a.clock.Advance(11 * time.Minute)
	tb.open(fmt.Sprintf("/keys/%d", keyID))
	tb.choose("Old key keeps working", "Keep the old key for 24 hours")
	tb.navigates("roll", chromedp.Click(button("Roll key")))
	tb.waitVisible(testID("sudo"))
	sudo := tb.path()
	shoot(vp, "sudo")
	tb.allowHTTPError(422)
	tb.fill("Password", "not my password at all")
	tb.navigates("confirm", chromedp.Click(button("Confirm with password")))
	tb.waitVisible(`#sudo-password[aria-invalid="true"]`)
	shoot(vp, "sudo-failed")

	// With an authenticator app the code comes first (set up here, after
	// the sign-in, which would otherwise ask for it).
	ctx := context.Background()
	ada, err := a.store.GetUserByEmail(ctx, "ada@acme.dev")
	if err != nil {
		t.Fatal(err)
	}
	setup, err := a.store.BeginTOTP(ctx, ada.ID, "Keyward", ada.Email)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(setup.Secret, a.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.ConfirmTOTP(ctx, ada.ID, code, db.Actor{UserID: ada.ID, Label: ada.Email}); err != nil {
		t.Fatal(err)
	}
	tb.open(sudo)
	tb.waitVisible(testID("sudo-code-form"))
	shoot(vp, "sudo-with-code")
	if err := a.store.DisableTOTP(ctx, ada.ID, db.Actor{UserID: ada.ID, Label: ada.Email}); err != nil {
		t.Fatal(err)
	}

	tb.open(sudo)
	tb.fill("Password", testPassword)
	tb.navigates("confirm", chromedp.Click(button("Confirm with password")))
	tb.waitVisible(testID("sudo-resume-form"))
	shoot(vp, "sudo-resume")
	tb.navigates("cancel", chromedp.Click(link("Cancel")))
}
