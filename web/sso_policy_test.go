package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward/db"
)

// TestSSOProviderMFA: the provider's multi-factor sign-in (amr) counts as
// the second factor; a single factor leaves Keyward's own to be given.
func TestSSOProviderMFA(t *testing.T) {
	a, o := newSSOApp(t)
	ctx := context.Background()
	o.addUser(opUser{id: "ann", email: "ann@corp.example", verified: true, amr: []string{"pwd"}})
	o.asUser("ann")
	b := a.browser()
	wantSSOSignedIn(t, b, ssoSignIn(t, b, ""), "/keys")
	ann, err := a.store.GetUserByEmail(ctx, "ann@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	setup, err := a.store.BeginTOTP(ctx, ann.ID, "Keyward", ann.Email)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCodeCustom(setup.Secret, a.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err := a.store.ConfirmTOTP(ctx, ann.ID, code, db.Actor{UserID: ann.ID, Label: ann.Email}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		amr        []string
		wantTo     string
		wantFactor string
	}{
		{[]string{"pwd"}, "/login/2fa?next=%2Fkeys", ""},
		{[]string{"hwk"}, "/login/2fa?next=%2Fkeys", ""},
		{[]string{"mfa"}, "/keys", db.FactorProvider},
		{[]string{"pwd", "otp"}, "/keys", db.FactorProvider},
		{[]string{"hwk", "face"}, "/keys", db.FactorProvider},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.amr, "+"), func(t *testing.T) {
			o.addUser(opUser{id: "ann", email: "ann@corp.example", verified: true, amr: tt.amr})
			b := a.browser()
			r := ssoSignIn(t, b, "")
			if got := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || got != tt.wantTo {
				t.Fatalf("callback: got %d to %q, want 303 to %q", r.StatusCode, got, tt.wantTo)
			}
			if tt.wantFactor == "" {
				if r := b.get("/keys"); r.StatusCode != http.StatusSeeOther {
					t.Errorf("GET /keys with the second factor pending: got %d, want 303", r.StatusCode)
				}
				return
			}
			logins, _ := a.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionLoginSuccess, TargetID: ann.ID})
			if len(logins) == 0 || logins[0].Detail["second_factor"] != tt.wantFactor {
				t.Errorf("audit: got %+v, want login.success with second factor %q", logins, tt.wantFactor)
			}
		})
	}
}

// TestPasswordSignInOff: with password sign-in off, the sign-in page leads
// with single sign-on and folds the password form; a right password is
// refused (and counted) for everyone but the break-glass admin.
func TestPasswordSignInOff(t *testing.T) {
	a, _ := newSSOApp(t)
	ctx := context.Background()
	root := a.createUser("root@corp.example", db.RoleAdmin)
	ann := a.createUser("ann@corp.example", db.RoleMember)
	p := db.DefaultSignInPolicy()
	p.PasswordSignInOff, p.BreakGlassUserID = true, root.ID
	if err := a.store.SetSignInPolicy(ctx, p, db.Actor{UserID: root.ID, Label: root.Email}); err != nil {
		t.Fatal(err)
	}
	b := a.browser()
	doc := b.get("/login").doc(t)
	if doc.Find(`[data-testid="sso-button"]`).Length() != 1 || doc.Find(`details[data-testid="password-folded"] [data-testid="login-form"]`).Length() != 1 {
		t.Fatal("sign-in page: want the SSO button and the password form folded in a disclosure")
	}
	if html, _ := doc.Find("main").Html(); strings.Index(html, "sso-button") > strings.Index(html, "password-folded") {
		t.Error("sign-in page: the SSO button should come before the password form")
	}

	r := b.post("/login", url.Values{"email": {ann.Email}, "password": {"wrong password, quite long"}})
	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: got %d, want 401 (the generic refusal)", r.StatusCode)
	}
	r = b.post("/login", url.Values{"email": {ann.Email}, "password": {testPassword}})
	if r.StatusCode != http.StatusForbidden || !strings.Contains(r.doc(t).Find(`[data-testid="login-error"]`).Text(), "Password sign-in is turned off") {
		t.Fatalf("member's right password: got %d, want 403 with the policy message", r.StatusCode)
	}
	if r := b.get("/keys"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /keys after a refused password: got %d, want 303", r.StatusCode)
	}
	events, _ := a.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionLoginFailure, TargetID: ann.ID})
	if len(events) != 1 || events[0].Detail["reason"] != "password sign-in off" {
		t.Errorf("audit: got %+v, want one login.failure with reason password sign-in off", events)
	}
	b.login(root.Email, testPassword)
	if r := b.get("/admin/users"); r.StatusCode != http.StatusOK {
		t.Errorf("break-glass admin: got %d at /admin/users, want 200", r.StatusCode)
	}
}

func TestSSODisabledAccountRefused(t *testing.T) {
	a, o := newSSOApp(t)
	root := a.createUser("root@corp.example", db.RoleAdmin)
	o.addUser(opUser{id: "ann", email: "ann@corp.example", verified: true})
	o.asUser("ann")
	b := a.browser()
	wantSSOSignedIn(t, b, ssoSignIn(t, b, ""), "/keys")
	ann, _ := a.store.GetUserByEmail(context.Background(), "ann@corp.example")
	if err := a.store.SetUserDisabled(context.Background(), ann.ID, true, db.Actor{UserID: root.ID, Label: root.Email}); err != nil {
		t.Fatal(err)
	}
	b2 := a.browser()
	wantRefused(t, a, b2, ssoSignIn(t, b2, ""), http.StatusForbidden, "This account is disabled", "disabled")
}

// TestSSOProviderDownAtStart: Keyward serves while the provider is down;
// the button says so, and works once the provider is back.
func TestSSOProviderDownAtStart(t *testing.T) {
	a, o := newSSOApp(t)
	o.down.Store(true)
	b := a.browser()
	if r := b.get("/login"); r.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page with the provider down: got %d, want 200", r.StatusCode)
	}
	r := b.get("/login/sso")
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.doc(t).Find(`[data-testid="login-error"]`).Text(), "can't be reached") {
		t.Fatalf("button with the provider down: got %d, want 503 with a message", r.StatusCode)
	}
	o.down.Store(false)
	o.addUser(opUser{id: "ann", email: "ann@corp.example", verified: true})
	o.asUser("ann")
	wantSSOSignedIn(t, b, ssoSignIn(t, b, ""), "/keys")
}

// TestSSOOff: without configuration, the routes are 404 and the sign-in
// page has no button.
func TestSSOOff(t *testing.T) {
	a := newTestApp(t)
	b := a.browser()
	for _, p := range []string{"/login/sso", ssoCallback + "?state=x"} {
		if r := b.get(p); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: got %d, want 404", p, r.StatusCode)
		}
	}
	if b.get("/login").doc(t).Find(`[data-testid="sso-button"]`).Length() != 0 {
		t.Error("sign-in page: got an SSO button without single sign-on")
	}
}
