package web

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
)

// seedSecondFactor gives email's person an authenticator app, so the users
// list shows a second factor and the reset button.
func seedSecondFactor(t *testing.T, a *testApp, email string) {
	t.Helper()
	u, err := a.store.GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	policyTOTP(t, a, u)
}

// shootSignInCard takes the settings page's Sign-in card alone, as stored
// and with a refused value beside its field.
func (tb *tab) shootSignInCard(vp viewport, shoot func(viewport, string)) {
	tb.t.Helper()
	tb.allowHTTPError(422)
	tb.do("scroll to the sign-in card", chromedp.ScrollIntoView(testID("settings-signin")))
	tb.fill("Confirm identity again after (minutes)", "0")
	tb.navigates("save", chromedp.Click(button("Save sign-in rules")))
	tb.waitVisible(`#s-reauth_minutes[aria-invalid="true"]`)
	tb.do("scroll to the error", chromedp.ScrollIntoView(testID("settings-signin")))
	shoot(vp, "admin-settings-signin-error")
}
