package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

const ssoCallback = "/login/sso/callback"

// newSSOApp is a Keyward with single sign-on through a provider of its
// own, on which Keyward is registered.
func newSSOApp(t *testing.T, opts ...func(*OIDCConfig)) (*testApp, *testOP) {
	t.Helper()
	o := newTestOP(t)
	a := newTestApp(t, func(c *Config) {
		c.OIDC = &OIDCConfig{Issuer: o.issuer, ClientID: "keyward", ClientSecret: "keyward-secret",
			ButtonLabel: "Sign in with Acme", GroupsClaim: "groups"}
		for _, fn := range opts {
			fn(c.OIDC)
		}
	})
	o.addClient(a.http.URL + ssoCallback)
	return a, o
}

// getURL opens an absolute URL (the provider's pages) in the browser.
func (b *browser) getURL(u string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// ssoToProvider presses the single sign-on button and follows the
// browser through the provider (its login page signs in whoever asUser
// chose), returning the callback URL the provider sends the browser to,
// not yet opened.
func ssoToProvider(t *testing.T, b *browser, next string) string {
	t.Helper()
	r := b.get("/login/sso?next=" + url.QueryEscape(next))
	for range 10 {
		loc, err := r.Request.URL.Parse(r.Header.Get("Location"))
		if r.StatusCode < 300 || r.StatusCode > 303 || err != nil {
			t.Fatalf("GET %s: got %d to %q, want a redirect; body: %.300s", r.Request.URL, r.StatusCode, r.Header.Get("Location"), r.body)
		}
		if strings.HasPrefix(loc.String(), b.app.http.URL+ssoCallback) {
			return loc.String()
		}
		r = b.getURL(loc.String())
	}
	t.Fatal("the provider never sent the browser back")
	return ""
}

// ssoSignIn runs the whole sign-in and returns the callback's answer.
func ssoSignIn(t *testing.T, b *browser, next string) response {
	t.Helper()
	return b.getURL(ssoToProvider(t, b, next))
}

// wantSSOSignedIn checks that r signed the browser in and sent it to want.
func wantSSOSignedIn(t *testing.T, b *browser, r response, want string) {
	t.Helper()
	if got := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || got != want {
		t.Fatalf("callback: got %d to %q, want 303 to %q; body: %.500s", r.StatusCode, got, want, r.body)
	}
	if r := b.get("/keys"); r.StatusCode != http.StatusOK {
		t.Fatalf("GET /keys after single sign-on: got %d, want 200", r.StatusCode)
	}
}

// wantRefused checks a refused callback: its status and message on the
// sign-in page, nobody signed in, and login.sso_failure audited with reason.
func wantRefused(t *testing.T, a *testApp, b *browser, r response, status int, msg, reason string) {
	t.Helper()
	if r.StatusCode != status {
		t.Errorf("callback: got %d, want %d; body: %.300s", r.StatusCode, status, r.body)
	}
	if got := r.doc(t).Find(`[data-testid="login-error"]`).Text(); !strings.Contains(got, msg) {
		t.Errorf("message: got %q, want it to say %q", strings.TrimSpace(got), msg)
	}
	if r := b.get("/keys"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Errorf("GET /keys after a refused callback: got %d to %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
	}
	events, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionLoginSSOFailure})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 || events[0].Detail["reason"] != reason {
		t.Errorf("audit: got %+v, want login.sso_failure with reason %q first", events, reason)
	}
	for _, e := range events {
		if raw, _ := json.Marshal(e); strings.Contains(string(raw), "eyJ") {
			t.Errorf("audit event %s holds a token", raw)
		}
	}
}

func TestSSOJustInTimeMember(t *testing.T) {
	a, o := newSSOApp(t)
	o.addUser(opUser{id: "ann", email: "Ann@Corp.example", verified: true})
	o.asUser("ann")

	r := a.browser().get("/login")
	if got := r.doc(t).Find(`[data-testid="sso-button"]`).Text(); got != "Sign in with Acme" {
		t.Fatalf("sign-in page button: got %q, want %q", got, "Sign in with Acme")
	}
	b := a.browser()
	wantSSOSignedIn(t, b, ssoSignIn(t, b, "/keys/new"), "/keys/new")
	u, err := a.store.GetUserByEmail(context.Background(), "ann@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != db.RoleMember {
		t.Errorf("role: got %s, want member", u.Role)
	}
	events, _ := a.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionUserCreate, TargetID: u.ID})
	if len(events) != 1 || events[0].Detail["source"] != "sso" {
		t.Errorf("audit: got %+v, want one user.create with source sso", events)
	}
	logins, _ := a.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionLoginSuccess, TargetID: u.ID})
	if len(logins) != 1 || logins[0].Detail["method"] != db.AuthSSO {
		t.Errorf("audit: got %+v, want one login.success with method sso", logins)
	}
	if r := b.get("/admin/users"); r.StatusCode != http.StatusForbidden {
		t.Errorf("member at /admin/users: got %d, want 403", r.StatusCode)
	}

	// The second sign-in finds the same account by its identity.
	b2 := a.browser()
	wantSSOSignedIn(t, b2, ssoSignIn(t, b2, ""), "/keys")
	if got, _ := a.store.GetUserByEmail(context.Background(), "ann@corp.example"); got.ID != u.ID {
		t.Errorf("second sign-in: got user %d, want %d", got.ID, u.ID)
	}
}

func TestSSOAllowedDomains(t *testing.T) {
	a, o := newSSOApp(t, func(c *OIDCConfig) { c.AllowedDomains = []string{"corp.example"} })
	o.addUser(opUser{id: "eve", email: "eve@elsewhere.example", verified: true})
	o.addUser(opUser{id: "ann", email: "ann@corp.example", verified: true})
	o.asUser("eve")
	b := a.browser()
	wantRefused(t, a, b, ssoSignIn(t, b, ""), http.StatusForbidden, "Addresses at elsewhere.example can", "domain_not_allowed")
	if _, err := a.store.GetUserByEmail(context.Background(), "eve@elsewhere.example"); err == nil {
		t.Error("an account was created for a domain that is not allowed")
	}
	o.asUser("ann")
	wantSSOSignedIn(t, b, ssoSignIn(t, b, ""), "/keys")
}

func TestSSOAdminGroup(t *testing.T) {
	a, o := newSSOApp(t, func(c *OIDCConfig) { c.AdminGroup = "keyward-admins" })
	a.createUser("root@corp.example", db.RoleAdmin)
	o.addUser(opUser{id: "ada", email: "ada@corp.example", verified: true, groups: []string{"staff", "keyward-admins"}})
	o.asUser("ada")
	b := a.browser()
	wantSSOSignedIn(t, b, ssoSignIn(t, b, ""), "/keys")
	if r := b.get("/admin/users"); r.StatusCode != http.StatusOK {
		t.Fatalf("admin group member at /admin/users: got %d, want 200", r.StatusCode)
	}
	// Out of the group, the next single sign-on makes her a member again.
	o.addUser(opUser{id: "ada", email: "ada@corp.example", verified: true, groups: []string{"staff"}})
	b2 := a.browser()
	wantSSOSignedIn(t, b2, ssoSignIn(t, b2, ""), "/keys")
	u, _ := a.store.GetUserByEmail(context.Background(), "ada@corp.example")
	if u.Role != db.RoleMember {
		t.Errorf("after leaving the group: got role %s, want member", u.Role)
	}
	if r := b2.get("/admin/users"); r.StatusCode != http.StatusForbidden {
		t.Errorf("former admin at /admin/users: got %d, want 403", r.StatusCode)
	}
}

func TestSSOLinksExistingAccountAfterPassword(t *testing.T) {
	a, o := newSSOApp(t)
	bob := a.createUser("bob@corp.example", db.RoleMember)
	o.addUser(opUser{id: "bob-at-idp", email: "bob@corp.example", verified: true})
	o.asUser("bob-at-idp")
	ctx := context.Background()

	b := a.browser()
	r := ssoSignIn(t, b, "")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.doc(t).Text(), "sign in with your password once to link single sign-on") {
		t.Fatalf("callback for an existing address: got %d, want 200 with the link notice; body: %.500s", r.StatusCode, r.body)
	}
	if r := b.get("/keys"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /keys before the password: got %d, want 303 (not signed in)", r.StatusCode)
	}
	if _, err := a.store.UserByOIDCIdentity(ctx, o.issuer, "bob-at-idp"); err == nil {
		t.Fatal("identity linked before the password sign-in")
	}
	// Another browser's password sign-in links nothing.
	other := a.browser()
	other.login("bob@corp.example", testPassword)
	if r := other.post("/account/security/sso/link", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("link from another browser: got %d, want 303", r.StatusCode)
	}
	if _, err := a.store.UserByOIDCIdentity(ctx, o.issuer, "bob-at-idp"); err == nil {
		t.Fatal("identity linked from another browser")
	}

	next := r.doc(t).Find(`input[name="next"]`).AttrOr("value", "")
	r = b.post("/login", url.Values{"email": {"bob@corp.example"}, "password": {testPassword}, "next": {next}})
	if got := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || got != "/account/security/sso/link" {
		t.Fatalf("password sign-in: got %d to %q, want 303 to the link page", r.StatusCode, got)
	}
	if r := b.get("/account/security/sso/link"); r.doc(t).Find(`[data-testid="sso-link-confirm"]`).Length() != 1 {
		t.Fatalf("link page: got %d without the confirm button", r.StatusCode)
	}
	if r := b.post("/account/security/sso/link", nil); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/security" {
		t.Fatalf("confirm: got %d to %q, want 303 to /account/security", r.StatusCode, r.Header.Get("Location"))
	}
	if u, err := a.store.UserByOIDCIdentity(ctx, o.issuer, "bob-at-idp"); err != nil || u.ID != bob.ID {
		t.Fatalf("linked identity: got %d, %v; want bob (%d)", u.ID, err, bob.ID)
	}
	links, _ := a.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionSSOLink})
	if len(links) != 1 || links[0].TargetID != bob.ID {
		t.Errorf("audit: got %+v, want one sso.link of bob", links)
	}
	// From now on single sign-on signs bob in.
	b3 := a.browser()
	wantSSOSignedIn(t, b3, ssoSignIn(t, b3, ""), "/keys")
}

// TestSSOForgedCallbacks: each callback a provider would never send (or
// an attacker replays or carries to another browser) is refused with a
// message, signs nobody in, and is audited with its reason.
func TestSSOForgedCallbacks(t *testing.T) {
	tests := []struct {
		name   string
		run    func(t *testing.T, a *testApp, o *testOP, b *browser) response
		status int
		msg    string
		reason string
	}{
		{"wrong state", func(t *testing.T, a *testApp, o *testOP, b *browser) response {
			cb := ssoToProvider(t, b, "")
			return b.getURL(setQuery(t, cb, "state", "forged-state"))
		}, http.StatusBadRequest, "expired or was already used", "state"},
		{"replayed state", func(t *testing.T, a *testApp, o *testOP, b *browser) response {
			cb := ssoToProvider(t, b, "")
			wantSSOSignedIn(t, b, b.getURL(cb), "/keys")
			if r := b.post("/logout", nil); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign out: got %d", r.StatusCode)
			}
			return b.getURL(cb)
		}, http.StatusBadRequest, "expired or was already used", "state"},
		{"state from another browser", func(t *testing.T, a *testApp, o *testOP, b *browser) response {
			cb := ssoToProvider(t, a.browser(), "")
			return b.getURL(cb)
		}, http.StatusBadRequest, "started in another browser", "browser"},
		{"wrong nonce", func(t *testing.T, a *testApp, o *testOP, b *browser) response {
			o.forgeIDToken(func(c map[string]any) { c["nonce"] = "forged-nonce" }, false)
			return ssoSignIn(t, b, "")
		}, http.StatusUnauthorized, "could not be verified", "nonce"},
		{"wrong audience", func(t *testing.T, a *testApp, o *testOP, b *browser) response {
			o.forgeIDToken(func(c map[string]any) { c["aud"] = []string{"another-client"}; c["azp"] = "another-client" }, false)
			return ssoSignIn(t, b, "")
		}, http.StatusUnauthorized, "could not be verified", "audience"},
		{"expired token", func(t *testing.T, a *testApp, o *testOP, b *browser) response {
			exp := a.clock.Now().Add(-time.Minute).Unix()
			o.forgeIDToken(func(c map[string]any) { c["exp"] = exp; c["iat"] = exp - 3600 }, false)
			return ssoSignIn(t, b, "")
		}, http.StatusUnauthorized, "could not be verified", "expired"},
		{"bad signature", func(t *testing.T, a *testApp, o *testOP, b *browser) response {
			o.forgeIDToken(func(map[string]any) {}, true)
			return ssoSignIn(t, b, "")
		}, http.StatusUnauthorized, "could not be verified", "signature"},
		{"unverified e-mail", func(t *testing.T, a *testApp, o *testOP, b *browser) response {
			o.asUser("unverified")
			return ssoSignIn(t, b, "")
		}, http.StatusForbidden, "has not verified your e-mail address", "email_unverified"},
		{"provider error", func(t *testing.T, a *testApp, o *testOP, b *browser) response {
			cb := ssoToProvider(t, b, "")
			u, _ := url.Parse(cb)
			return b.getURL(a.http.URL + ssoCallback + "?error=access_denied&state=" + url.QueryEscape(u.Query().Get("state")))
		}, http.StatusUnauthorized, "cancelled or refused at the provider", "provider_error:access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, o := newSSOApp(t)
			o.addUser(opUser{id: "ann", email: "ann@corp.example", verified: true})
			o.addUser(opUser{id: "unverified", email: "mallory@corp.example"})
			o.asUser("ann")
			b := a.browser()
			wantRefused(t, a, b, tt.run(t, a, o, b), tt.status, tt.msg, tt.reason)
		})
	}
}

func setQuery(t *testing.T, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestSSOFailuresThrottled: past five failed callbacks an address waits,
// doubling, and the wait is said with Retry-After.
func TestSSOFailuresThrottled(t *testing.T) {
	a, _ := newSSOApp(t)
	b := a.browser()
	for i := range 5 {
		if r := b.get(ssoCallback + "?state=guess&code=x"); r.StatusCode != http.StatusBadRequest {
			t.Fatalf("failure %d: got %d, want 400", i+1, r.StatusCode)
		}
	}
	r := b.get(ssoCallback + "?state=guess&code=x")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("sixth: got %d with Retry-After %q, want 429 with 1", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if got := r.doc(t).Find(`[data-testid="login-error"]`).Text(); !strings.Contains(got, "Too many failed single sign-on attempts") {
		t.Errorf("message: got %q", strings.TrimSpace(got))
	}
	a.clock.Advance(time.Second)
	if r := b.get(ssoCallback + "?state=guess&code=x"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("after the wait: got %d, want 400", r.StatusCode)
	}
	if r := b.get(ssoCallback + "?state=guess&code=x"); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "2" {
		t.Fatalf("eighth: got %d with Retry-After %q, want 429 with 2 (doubling)", r.StatusCode, r.Header.Get("Retry-After"))
	}
}
