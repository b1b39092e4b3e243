package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward/db"
)

// TestSudoGuardsDangerousRoutes: every dangerous route, after the window,
// sends the person to /sudo and writes nothing (no audit event, the row
// unchanged); the resumed form then does what was asked.
func TestSudoGuardsDangerousRoutes(t *testing.T) {
	a := newTestApp(t)
	admin, adminU := a.userBrowser("admin@example.com", db.RoleAdmin)
	bob := a.createUser("bob@example.com", db.RoleMember)
	ownKey, _ := admin.createKey(keyForm("deploy"))
	bobKey, _ := a.storeKey(bob.ID, db.KeyInput{Name: "bob's"})
	tokens := func() int {
		ts, err := a.store.ListAPITokens(context.Background(), adminU.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(ts)
	}
	user := func() db.User {
		u, err := a.store.GetUser(context.Background(), bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	cases := []struct {
		name, path string
		form       url.Values
		label      string
		unchanged  func() bool
	}{
		{"create key", "/keys", keyForm("fresh"), "Continue: Create key “fresh”", func() bool { return a.countKeys() == 2 }},
		{"roll key", "/keys/" + itoa(ownKey) + "/roll", url.Values{"grace": {"1h"}}, "Continue: Roll key “deploy”",
			func() bool { return a.countKeys() == 3 }},
		{"create management token", "/account/tokens", url.Values{"name": {"ci"}, "permissions": {"keys:read"}, "expiry": {"30"}},
			"Continue: Create management token “ci”", func() bool { return tokens() == 0 }},
		{"change a role", "/admin/users/" + itoa(bob.ID) + "/role", url.Values{"role": {"auditor"}},
			"Continue: Change the role of bob@example.com", func() bool { return user().Role == db.RoleMember }},
		{"bulk revoke", "/admin/keys/bulk", url.Values{"action": {"revoke"}, "id": {itoa(bobKey.ID)}, "confirm": {"1"}, "reason": {"left"}},
			"Continue: Revoke 1 key", func() bool { return a.getKey(bobKey.ID).RevokedAt == nil }},
		{"disable a person", "/admin/users/" + itoa(bob.ID) + "/disable", url.Values{"keys": {"user"}, "user": {"admin@example.com"}},
			"Continue: Disable bob@example.com", func() bool { return !user().Disabled() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.clock.Advance(staleAfter)
			before := a.auditCount("")
			tok := sudoReturn(t, admin.post(tc.path, tc.form))
			if got := a.auditCount(""); got != before {
				t.Errorf("audit events: got %d, want %d (nothing written)", got, before)
			}
			if !tc.unchanged() {
				t.Errorf("%s changed before re-authentication", tc.path)
			}
			admin.post("/sudo", url.Values{"return": {tok}, "password": {testPassword}})
			action, vals, label := resumeForm(t, admin.get("/sudo/resume?return="+url.QueryEscape(tok)))
			if action != tc.path || label != tc.label {
				t.Errorf("resumed: got %q labelled %q, want %q labelled %q", action, label, tc.path, tc.label)
			}
			for k := range tc.form {
				if k == "_csrf" {
					continue
				}
				if vals.Get(k) != tc.form.Get(k) {
					t.Errorf("resumed %s: got %q, want %q", k, vals.Get(k), tc.form.Get(k))
				}
			}
			if r := admin.post(action, vals); r.StatusCode >= 400 {
				t.Errorf("continue: got %d", r.StatusCode)
			}
			if tc.unchanged() {
				t.Errorf("%s did nothing after continuing", tc.path)
			}
		})
	}
}

// TestSudoHTMXAndJSON: an htmx request is sent to /sudo with HX-Redirect,
// a JSON call gets a 403 naming the page; neither does anything.
func TestSudoHTMXAndJSON(t *testing.T) {
	a := newTestApp(t)
	b, _ := a.userBrowser("ann@example.com", db.RoleMember)
	a.clock.Advance(staleAfter)
	r := b.postWith("/keys", keyForm("fresh"), http.Header{"HX-Request": {"true"}})
	if r.StatusCode != http.StatusNoContent {
		t.Errorf("htmx: got %d, want 204 with HX-Redirect", r.StatusCode)
	}
	sudoReturn(t, r)
	r = b.postWith("/keys", keyForm("fresh"), http.Header{"Accept": {"application/json"}})
	var body struct{ Code, Redirect string }
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.StatusCode != http.StatusForbidden ||
		body.Code != "REAUTH_REQUIRED" || body.Redirect != "/sudo?next=%2Fkeys%2Fnew" {
		t.Errorf("JSON: got %d %s, want 403 REAUTH_REQUIRED to /sudo?next=%%2Fkeys%%2Fnew", r.StatusCode, r.body)
	}
	if got := a.countKeys(); got != 0 {
		t.Errorf("keys: got %d, want 0", got)
	}
}

// TestSudoWithAuthenticatorCode: a person with an authenticator app is
// offered a code first; a wrong or replayed code is refused beside the
// field and audited, the current one re-authenticates.
func TestSudoWithAuthenticatorCode(t *testing.T) {
	a := newTestApp(t)
	b, ann := a.userBrowser("ann@example.com", db.RoleMember)
	ctx := context.Background()
	setup, err := a.store.BeginTOTP(ctx, ann.ID, "Keyward", ann.Email)
	if err != nil {
		t.Fatal(err)
	}
	code := func() string {
		c, err := totp.GenerateCodeCustom(setup.Secret, a.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := code()
	if err := a.store.ConfirmTOTP(ctx, ann.ID, first, db.Actor{UserID: ann.ID, Label: ann.Email}); err != nil {
		t.Fatal(err)
	}
	id, _ := b.createKey(keyForm("deploy"))
	a.clock.Advance(staleAfter)
	tok := sudoReturn(t, b.post("/keys/"+itoa(id)+"/roll", url.Values{"grace": {"1h"}}))
	page := b.get("/sudo?return=" + url.QueryEscape(tok)).doc(t)
	if _, focus := page.Find(`#sudo-code`).Attr("autofocus"); !focus {
		t.Error("code field: want it offered first, with the focus")
	}
	for _, bad := range []string{"000000", first} {
		r := b.post("/sudo", url.Values{"return": {tok}, "code": {bad}})
		if r.StatusCode != http.StatusUnprocessableEntity || r.doc(t).Find(`[data-testid="code-error"]`).Length() != 1 {
			t.Errorf("code %s: got %d, want 422 with a message beside the code", bad, r.StatusCode)
		}
	}
	if got := a.auditCount(db.ActionReauthFailure); got != 2 {
		t.Errorf("auth.reauth_failure: got %d, want 2", got)
	}
	a.clock.Advance(30 * time.Second)
	r := b.post("/sudo", url.Values{"return": {tok}, "code": {code()}})
	if got := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || got != "/sudo/resume?return="+url.QueryEscape(tok) {
		t.Fatalf("right code: got %d to %q, want 303 to the resumed form", r.StatusCode, got)
	}
	evs, _ := a.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionReauth})
	if len(evs) != 1 {
		t.Errorf("auth.reauth events: got %d, want 1", len(evs))
	}
}
