package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// passkeyFixture: ann, signed in with her password in b, has registered
// key through the security page's two requests.
type passkeyFixture struct {
	a   *testApp
	ann db.User
	b   *browser
	key *softKey
}

func newPasskeyFixture(t *testing.T) passkeyFixture {
	t.Helper()
	a := newTestApp(t).onLocalhost()
	f := passkeyFixture{a: a, ann: a.createUser("ann@example.com", db.RoleMember), b: a.browser(), key: newSoftKey(t, a)}
	f.b.login("ann@example.com", testPassword)
	f.b.registerPasskey(f.key, "Laptop")
	return f
}

// TestPasskeyRegisterThenSignInWithoutPassword: a registered passkey is
// listed, and signs its person in alone (user verified: two factors).
func TestPasskeyRegisterThenSignInWithoutPassword(t *testing.T) {
	f := newPasskeyFixture(t)
	ctx := context.Background()
	d := f.b.get("/account/security").doc(t)
	if got := strings.TrimSpace(d.Find(`[data-testid="passkey-name"]`).Text()); got != "Laptop" {
		t.Errorf("listed passkey: got %q, want Laptop", got)
	}
	if got := strings.TrimSpace(d.Find(`[data-testid="passkey-last-used"]`).Text()); got != "Never used" {
		t.Errorf("last used: got %q, want Never used", got)
	}
	if n := f.a.auditCount(db.ActionPasskeyAdd); n != 1 {
		t.Errorf("mfa.passkey_add events: got %d, want 1", n)
	}

	b := f.a.browser()
	beg := b.begin("login", map[string]string{})
	r := b.postJSON("/webauthn/login/finish", map[string]any{"token": beg.Token, "next": "/keys/new", "credential": f.key.assert(beg.Options)})
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"redirect":"/keys/new"`) {
		t.Fatalf("passwordless finish: got %d %s, want 200 redirect /keys/new", r.StatusCode, r.body)
	}
	if r := b.get("/keys"); r.StatusCode != http.StatusOK {
		t.Fatalf("GET /keys after passkey sign-in: got %d, want 200", r.StatusCode)
	}
	sessions, _ := f.a.store.ListUserSessions(ctx, f.ann.ID)
	found := false
	for _, s := range sessions {
		if s.AuthMethod == db.AuthPasskey && s.SecondFactor == db.FactorUserVerified && s.Stage == db.StageDone {
			found = true
		}
	}
	if !found {
		t.Errorf("sessions: got %+v, want one signed in by passkey with uv", sessions)
	}
	if d := b.get("/account/security").doc(t); !strings.Contains(d.Find(`[data-testid="passkey-last-used"]`).Text(), "Last used") {
		t.Errorf("last used after sign-in: got %q", d.Find(`[data-testid="passkey-last-used"]`).Text())
	}
}

// TestPasskeySignInRefusals: each forged or broken answer is refused with
// a JSON message, audited, and signs nobody in.
func TestPasskeySignInRefusals(t *testing.T) {
	f := newPasskeyFixture(t)
	for _, tc := range []struct {
		name   string
		answer func(b *browser) response
		status int
		want   string
	}{
		{"unknown token", func(b *browser) response {
			beg := b.begin("login", map[string]string{})
			return b.postJSON("/webauthn/login/finish", map[string]any{"token": "not-a-token", "credential": f.key.assert(beg.Options)})
		}, http.StatusBadRequest, "expired or was already used"},
		{"reused token", func(b *browser) response {
			// Someone else's browser uses it first; this one replays it.
			other := f.a.browser()
			beg := other.begin("login", map[string]string{})
			if r := other.postJSON("/webauthn/login/finish", map[string]any{"token": beg.Token, "credential": f.key.assert(beg.Options)}); r.StatusCode != http.StatusOK {
				t.Fatalf("first use: got %d %s", r.StatusCode, r.body)
			}
			return b.postJSON("/webauthn/login/finish", map[string]any{"token": beg.Token, "credential": f.key.assert(beg.Options)})
		}, http.StatusBadRequest, "expired or was already used"},
		{"garbage JSON", func(b *browser) response {
			return b.postJSON("/webauthn/login/finish", `{"token": 7, "credential": [}`)
		}, http.StatusBadRequest, "not valid"},
		{"garbage credential", func(b *browser) response {
			beg := b.begin("login", map[string]string{})
			return b.postJSON("/webauthn/login/finish", map[string]any{"token": beg.Token, "credential": map[string]string{"id": "x"}})
		}, http.StatusBadRequest, "not valid"},
		{"another origin", func(b *browser) response {
			beg := b.begin("login", map[string]string{})
			k := *f.key
			k.origin = "https://evil.example"
			return b.postJSON("/webauthn/login/finish", map[string]any{"token": beg.Token, "credential": k.assert(beg.Options)})
		}, http.StatusUnauthorized, "not accepted"},
		{"another relying party", func(b *browser) response {
			beg := b.begin("login", map[string]string{})
			k := *f.key
			k.rpID = "evil.example"
			return b.postJSON("/webauthn/login/finish", map[string]any{"token": beg.Token, "credential": k.assert(beg.Options)})
		}, http.StatusUnauthorized, "not accepted"},
		{"stale counter", func(b *browser) response {
			beg := b.begin("login", map[string]string{})
			f.key.counter = 0 // assert counts to 1, not above what was stored
			return b.postJSON("/webauthn/login/finish", map[string]any{"token": beg.Token, "credential": f.key.assert(beg.Options)})
		}, http.StatusUnauthorized, "counter went backwards"},
		{"token of another ceremony", func(b *browser) response {
			beg := f.b.begin("register", map[string]string{"name": "x"})
			return b.postJSON("/webauthn/login/finish", map[string]any{"token": beg.Token, "credential": f.key.assert(beg.Options)})
		}, http.StatusBadRequest, "not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.a.auditCount(db.ActionLoginMFAFailure)
			f.key.counter = 10
			b := f.a.browser()
			r := tc.answer(b)
			if r.StatusCode != tc.status || !strings.Contains(jsonError(t, r), tc.want) {
				t.Errorf("got %d %q, want %d containing %q", r.StatusCode, r.body, tc.status, tc.want)
			}
			if got := f.a.auditCount(db.ActionLoginMFAFailure); got != before+1 {
				t.Errorf("login.mfa_failure events: got %d, want %d", got, before+1)
			}
			if r := b.get("/keys"); r.StatusCode != http.StatusSeeOther {
				t.Errorf("GET /keys after a refused passkey: got %d, want 303 to sign-in", r.StatusCode)
			}
		})
	}
}

// TestPasskeySecondFactor: after ann's password, only her own passkey
// completes the sign-in; bob's (another account's credential) is refused.
func TestPasskeySecondFactor(t *testing.T) {
	f := newPasskeyFixture(t)
	bob := f.a.createUser("bob@example.com", db.RoleMember)
	bb := f.a.browser()
	bb.login(bob.Email, testPassword)
	bobKey := newSoftKey(t, f.a)
	bb.registerPasskey(bobKey, "Bob's key")

	b := f.a.browser()
	r := b.post("/login", url.Values{"email": {"ann@example.com"}, "password": {testPassword}, "next": {"/account"}})
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "/login/2fa") {
		t.Fatalf("password of someone with a passkey: got %d to %q, want the second-factor page", r.StatusCode, loc)
	}
	beg := b.begin("2fa", map[string]string{})
	if strings.Contains(string(beg.Options), b64u.EncodeToString(bobKey.id)) || !strings.Contains(string(beg.Options), b64u.EncodeToString(f.key.id)) {
		t.Errorf("allowed credentials: got %s, want ann's only", beg.Options)
	}
	bobKey.counter = 5
	r = b.postJSON("/webauthn/2fa/finish", map[string]any{"token": beg.Token, "next": "/account", "credential": bobKey.assert(beg.Options)})
	if r.StatusCode != http.StatusUnauthorized || jsonError(t, r) == "" {
		t.Fatalf("another account's passkey: got %d %s, want 401 with a message", r.StatusCode, r.body)
	}
	if r := b.get("/keys"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("after a refused second factor: got %d, want 303 (not signed in)", r.StatusCode)
	}
	f.key.counter = 20
	beg = b.begin("2fa", map[string]string{})
	r = b.postJSON("/webauthn/2fa/finish", map[string]any{"token": beg.Token, "next": "/account", "credential": f.key.assert(beg.Options)})
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"redirect":"/account"`) {
		t.Fatalf("own passkey: got %d %s, want 200 redirect /account", r.StatusCode, r.body)
	}
	if r := b.get("/account"); r.StatusCode != http.StatusOK {
		t.Errorf("GET /account after the second factor: got %d, want 200", r.StatusCode)
	}
	// A visitor has no pending sign-in to finish.
	if r := f.a.browser().postJSON("/webauthn/2fa/begin", map[string]string{}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("2fa begin without a password: got %d, want 401", r.StatusCode)
	}
}

// TestPasskeyReauthentication: a passkey confirms the signed-in person
// (audited) and the answer names the page to resume, made safe.
func TestPasskeyReauthentication(t *testing.T) {
	f := newPasskeyFixture(t)
	for _, tc := range []struct{ next, want string }{{"/keys/new?x=1", "/keys/new?x=1"}, {"//evil.example", "/keys"}} {
		beg := f.b.begin("sudo", map[string]string{})
		r := f.b.postJSON("/webauthn/sudo/finish", map[string]any{"token": beg.Token, "next": tc.next, "credential": f.key.assert(beg.Options)})
		if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"redirect":"`+tc.want+`"`) {
			t.Errorf("sudo with next %q: got %d %s, want redirect %q", tc.next, r.StatusCode, r.body, tc.want)
		}
	}
	if n := f.a.auditCount(db.ActionReauth); n != 2 {
		t.Errorf("auth.reauth events: got %d, want 2", n)
	}
	beg := f.b.begin("sudo", map[string]string{})
	k := *f.key
	k.origin = "http://localhost:1"
	r := f.b.postJSON("/webauthn/sudo/finish", map[string]any{"token": beg.Token, "credential": k.assert(beg.Options)})
	if r.StatusCode != http.StatusUnauthorized || f.a.auditCount(db.ActionReauthFailure) != 1 {
		t.Errorf("sudo from another origin: got %d, %d failures audited; want 401 and 1", r.StatusCode, f.a.auditCount(db.ActionReauthFailure))
	}
}

// TestPasskeyRenameRemove: rename and remove are the owner's only, a bad
// name is shown beside its field, and the last second factor stays while
// policy requires one.
func TestPasskeyRenameRemove(t *testing.T) {
	f := newPasskeyFixture(t)
	ctx := context.Background()
	keys, _ := f.a.store.Passkeys(ctx, f.ann.ID)
	id := keys[0].ID
	path := "/account/security/passkeys/" + itoa(id)

	r := f.b.post(path+"/rename", url.Values{"name": {strings.Repeat("n", 65)}})
	field := "passkey-" + itoa(id) + "-name"
	if r.StatusCode != http.StatusUnprocessableEntity || r.doc(t).Find(`[data-testid="`+field+`-error"]`).Length() != 1 {
		t.Errorf("long name: got %d, want 422 with the message beside the field", r.StatusCode)
	}
	if r := f.b.post(path+"/rename", url.Values{"name": {"Work laptop"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("rename: got %d, want 303", r.StatusCode)
	}
	mallory := f.a.createUser("mallory@example.com", db.RoleMember)
	mb := f.a.browser()
	mb.login(mallory.Email, testPassword)
	for _, action := range []string{"/rename", "/remove"} {
		if r := mb.post(path+action, url.Values{"name": {"Mine"}}); r.StatusCode != http.StatusNotFound {
			t.Errorf("mallory %s ann's passkey: got %d, want 404", action, r.StatusCode)
		}
	}
	p := db.DefaultSignInPolicy()
	p.RequireMFA = db.MFAEveryone
	if err := f.a.store.SetSignInPolicy(ctx, p, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	r = f.b.post(path+"/remove", nil)
	if r.StatusCode != http.StatusConflict || r.doc(t).Find(`[data-testid="passkeys-error"]`).Length() != 1 {
		t.Errorf("remove the last factor under policy: got %d, want 409 with the reason on the card", r.StatusCode)
	}
	p.RequireMFA = db.MFAOptional
	if err := f.a.store.SetSignInPolicy(ctx, p, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	if r := f.b.post(path+"/remove", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("remove: got %d, want 303", r.StatusCode)
	}
	if keys, _ := f.a.store.Passkeys(ctx, f.ann.ID); len(keys) != 0 {
		t.Errorf("passkeys after removal: got %d, want 0", len(keys))
	}
}

// TestPasskeyFailuresThrottled: wrong answers for a known account count
// like wrong passwords: after the account's free failures the ceremony
// waits (429 with Retry-After), and the person stays signed out.
func TestPasskeyFailuresThrottled(t *testing.T) {
	f := newPasskeyFixture(t)
	b := f.a.browser()
	b.login("ann@example.com", testPassword)
	var r response
	for i := range 10 {
		r = b.postJSON("/webauthn/2fa/finish", `{"token": "x", "credential": "garbage"}`)
		if r.StatusCode == http.StatusTooManyRequests {
			if i < 5 {
				t.Fatalf("throttled after %d failures, want at least 5 free", i)
			}
			break
		}
	}
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(jsonError(t, r), "Too many") {
		t.Fatalf("after repeated failures: got %d %s (Retry-After %q), want 429 with Retry-After", r.StatusCode, r.body, r.Header.Get("Retry-After"))
	}
	if r := b.postJSON("/webauthn/2fa/begin", map[string]string{}); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("begin while throttled: got %d, want 429", r.StatusCode)
	}
}

// TestPasskeyEnrolmentAndRefusedRegistration: with a second factor
// required of everyone, a member without one registers a passkey from the
// enrolment stage and is then fully signed in; a registration answered for
// another origin stores nothing; a disabled member's passkey signs nobody in.
func TestPasskeyEnrolmentAndRefusedRegistration(t *testing.T) {
	a := newTestApp(t).onLocalhost()
	ctx := context.Background()
	ann := a.createUser("ann@example.com", db.RoleMember)
	p := db.DefaultSignInPolicy()
	p.RequireMFA = db.MFAEveryone
	if err := a.store.SetSignInPolicy(ctx, p, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	b := a.browser()
	r := b.post("/login", url.Values{"email": {ann.Email}, "password": {testPassword}})
	if loc := r.Header.Get("Location"); loc != "/account/security" {
		t.Fatalf("sign-in under policy: got %d to %q, want enrolment", r.StatusCode, loc)
	}
	forged := newSoftKey(t, a)
	forged.origin = "https://evil.example"
	beg := b.begin("register", map[string]string{"name": "Forged"})
	r = b.postJSON("/webauthn/register/finish", map[string]any{"token": beg.Token, "name": "Forged", "credential": forged.register(beg.Options)})
	if r.StatusCode != http.StatusBadRequest || jsonError(t, r) == "" {
		t.Errorf("registration for another origin: got %d %s, want 400 with a message", r.StatusCode, r.body)
	}
	if keys, _ := a.store.Passkeys(ctx, ann.ID); len(keys) != 0 {
		t.Fatalf("passkeys after a forged registration: got %d, want 0", len(keys))
	}
	if r := b.postJSON("/webauthn/register/begin", map[string]string{"name": strings.Repeat("n", 65)}); r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(jsonError(t, r), "at most 64") {
		t.Errorf("begin with a long name: got %d %s, want 422 naming the limit", r.StatusCode, r.body)
	}
	if r := b.get("/keys"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /keys before enrolling: got %d, want 303 to enrolment", r.StatusCode)
	}
	key := newSoftKey(t, a)
	b.registerPasskey(key, "")
	if r := b.get("/keys"); r.StatusCode != http.StatusOK {
		t.Fatalf("GET /keys after enrolling a passkey: got %d, want 200", r.StatusCode)
	}
	if keys, _ := a.store.Passkeys(ctx, ann.ID); len(keys) != 1 || !strings.HasPrefix(keys[0].Name, "Passkey ") {
		t.Errorf("passkeys: got %+v, want one named by default", keys)
	}

	if err := a.store.SetUserDisabled(ctx, ann.ID, true, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	v := a.browser()
	beg = v.begin("login", map[string]string{})
	r = v.postJSON("/webauthn/login/finish", map[string]any{"token": beg.Token, "credential": key.assert(beg.Options)})
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(jsonError(t, r), "cannot sign in") {
		t.Errorf("disabled member's passkey: got %d %s, want 401", r.StatusCode, r.body)
	}
	if r := v.get("/keys"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("after a disabled member's passkey: got %d, want 303 to sign-in", r.StatusCode)
	}
}
