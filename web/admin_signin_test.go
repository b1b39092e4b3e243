package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward/db"
)

// policyTOTP gives u a confirmed authenticator app, as if they had
// enrolled one on their security page, and returns its secret.
func policyTOTP(t *testing.T, a *testApp, u db.User) string {
	t.Helper()
	ctx := context.Background()
	setup, err := a.store.BeginTOTP(ctx, u.ID, "Keyward", u.Email)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(setup.Secret, a.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.ConfirmTOTP(ctx, u.ID, code, db.Actor{UserID: u.ID, Label: u.Email}); err != nil {
		t.Fatal(err)
	}
	return setup.Secret
}

func signInForm(requireMFA, minutes, off, breakGlass string) url.Values {
	f := url.Values{"require_mfa": {requireMFA}, "reauth_minutes": {minutes}, "break_glass_user": {breakGlass}}
	if off != "" {
		f.Set("password_signin_off", off)
	}
	return f
}

func TestAdminSignInSettings(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t, longSessions)
	admin, adminUser := a.userBrowser("admin@example.com", db.RoleAdmin)
	member := a.createUser("member@example.com", db.RoleMember)
	other := a.createUser("other-admin@example.com", db.RoleAdmin)
	policyTOTP(t, a, other)

	card := admin.get("/admin/settings").doc(t).Find(`[data-testid="settings-signin"]`)
	if card.Find(`form[action="/admin/signin-settings"]`).Length() != 1 {
		t.Fatalf("got no sign-in form on the settings page")
	}
	if _, checked := card.Find(`input[name="require_mfa"][value="0"]`).Attr("checked"); !checked {
		t.Errorf("require_mfa: got %q checked, want Nobody (0) by default", card.Find(`input[name="require_mfa"][checked]`).AttrOr("value", ""))
	}
	if got := card.Find(`input[name="reauth_minutes"]`).AttrOr("value", ""); got != "10" {
		t.Errorf("reauth_minutes: got %q, want 10", got)
	}
	var choices []string
	card.Find(`select[name="break_glass_user"] option`).Each(func(_ int, s *goquery.Selection) { choices = append(choices, s.Text()) })
	if want := "None|admin@example.com|other-admin@example.com"; strings.Join(choices, "|") != want {
		t.Errorf("break-glass choices: got %q, want %q (active admins only)", strings.Join(choices, "|"), want)
	}
	if got := squish(card.Find(`[data-testid="signin-without-factor"]`).Text()); !strings.Contains(got, "1 admin, 2 people in all") {
		t.Errorf("people without a second factor: got %q, want 1 admin, 2 people", got)
	}

	t.Run("save", func(t *testing.T) {
		wantRedirect(t, admin.post("/admin/signin-settings", signInForm("2", "30", "", "")), "/admin/settings#signin")
		got, err := a.store.SignInPolicy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := (db.SignInPolicy{RequireMFA: db.MFAEveryone, ReauthAfter: 30 * time.Minute}); got != want {
			t.Errorf("policy: got %+v, want %+v", got, want)
		}
		evs, err := a.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionSettingChange, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		changed := map[string]string{}
		for _, e := range evs {
			changed[e.Detail["setting"]] = e.Detail["new"]
		}
		if changed[db.SettingRequireMFA] != "2" || changed[db.SettingReauthMinutes] != "30" {
			t.Errorf("audit: got %v, want require_mfa 2 and reauth 30", changed)
		}
	})

	bad := []struct {
		name  string
		form  url.Values
		field string
		want  string
	}{
		{"no choice", signInForm("", "10", "", ""), "require_mfa", "Choose who must use a second factor."},
		{"unknown choice", signInForm("7", "10", "", ""), "require_mfa", "Choose who must use a second factor."},
		{"minutes not a number", signInForm("0", "soon", "", ""), "reauth_minutes", "from 1 to 1440"},
		{"zero minutes", signInForm("0", "0", "", ""), "reauth_minutes", "from 1 to 1440"},
		{"too many minutes", signInForm("0", "1441", "", ""), "reauth_minutes", "from 1 to 1440"},
		{"passwords off without break-glass", signInForm("0", "10", "1", ""), "break_glass_user", "Choose the admin who may still sign in with a password."},
		{"member as break-glass", signInForm("0", "10", "1", itoa(member.ID)), "break_glass_user", "Choose an active admin."},
		{"unknown break-glass", signInForm("0", "10", "1", "999999"), "break_glass_user", "Choose an active admin."},
		{"garbage break-glass", signInForm("0", "10", "1", "x"), "break_glass_user", "Choose an active admin."},
	}
	for _, tt := range bad {
		t.Run("refused "+tt.name, func(t *testing.T) {
			before, _ := a.store.SignInPolicy(ctx)
			r := admin.post("/admin/signin-settings", tt.form)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422; body %.300s", r.StatusCode, r.body)
			}
			doc := r.doc(t)
			if got := doc.Find(`[data-testid="` + tt.field + `-error"]`).Text(); !strings.Contains(got, tt.want) {
				t.Errorf("error next to %s: got %q, want %q", tt.field, got, tt.want)
			}
			if got := doc.Find(`input[name="reauth_minutes"]`).AttrOr("value", "?"); got != tt.form.Get("reauth_minutes") {
				t.Errorf("minutes: got %q, want %q as typed", got, tt.form.Get("reauth_minutes"))
			}
			if after, _ := a.store.SignInPolicy(ctx); after != before {
				t.Errorf("policy changed by a refused form: %+v → %+v", before, after)
			}
		})
	}

	t.Run("passwords off with a break-glass admin", func(t *testing.T) {
		wantRedirect(t, admin.post("/admin/signin-settings", signInForm("2", "30", "1", itoa(adminUser.ID))), "/admin/settings#signin")
		got, _ := a.store.SignInPolicy(ctx)
		if !got.PasswordSignInOff || got.BreakGlassUserID != adminUser.ID {
			t.Errorf("policy: got %+v, want passwords off, break-glass %d", got, adminUser.ID)
		}
		card := admin.get("/admin/settings").doc(t).Find(`[data-testid="settings-signin"]`)
		if _, checked := card.Find(`input[name="password_signin_off"]`).Attr("checked"); !checked {
			t.Errorf("password switch: got unchecked after turning passwords off")
		}
		if got := card.Find(`select[name="break_glass_user"] option[selected]`).Text(); got != "admin@example.com" {
			t.Errorf("break-glass: got %q selected, want admin@example.com", got)
		}
		wantRedirect(t, admin.post("/admin/signin-settings", signInForm("0", "10", "", "")), "/admin/settings#signin")
	})

	t.Run("auditor reads only", func(t *testing.T) {
		auditor, _ := a.userBrowser("auditor@example.com", db.RoleAuditor)
		card := auditor.get("/admin/settings").doc(t).Find(`[data-testid="settings-signin"]`)
		if card.Find("form").Length() != 0 || card.Find("button").Length() != 0 {
			t.Errorf("auditor: got a form or a button in the card, want none")
		}
		if card.Find(`fieldset[disabled] input[name="reauth_minutes"]`).Length() != 1 {
			t.Errorf("auditor: got no disabled minutes field")
		}
		wantErrorPage(t, auditor.post("/admin/signin-settings", signInForm("2", "10", "", "")), http.StatusForbidden)
	})

	t.Run("asks to confirm identity after the window", func(t *testing.T) {
		before, _ := a.store.SignInPolicy(ctx)
		a.clock.Advance(before.ReauthAfter + time.Minute)
		r := admin.post("/admin/signin-settings", signInForm("2", "5", "", ""))
		if r.StatusCode == http.StatusSeeOther && r.Header.Get("Location") == "/admin/settings#signin" {
			t.Fatalf("saved without confirming identity after %v", before.ReauthAfter)
		}
		if after, _ := a.store.SignInPolicy(ctx); after != before {
			t.Errorf("policy changed without re-authentication: %+v → %+v", before, after)
		}
	})
}
