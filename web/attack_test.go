package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// Attack tests: what a hostile client sends, field by field. The session,
// CSRF and throttle mechanics have their own tests (auth_test.go,
// security_test.go, session_test.go); these send the payloads.

// TestAttackSQLInjection sends SQL payloads in every field and query
// parameter of the sign-in, setup, keys and account pages. Nothing changes
// that the request did not legitimately ask for, no response shows a
// database error or another user's data, and payloads that are stored
// (key names) are stored literally.
func TestAttackSQLInjection(t *testing.T) {
	a := newTestApp(t)
	d := attackDB(t, a)
	visitor := a.browser()

	// /setup while no admin exists: a wrong token in every way, and with
	// the right token, payloads that the rules refuse.
	before := snapshot(t, d)
	for _, p := range sqlPayloads {
		wantNoLeak(t, "GET /setup?token", visitor.get("/setup?token="+url.QueryEscape(p)))
		for _, f := range []url.Values{
			{"token": {p}, "email": {"a@example.com"}, "password": {testPassword}, "password_confirm": {testPassword}},
			{"token": {a.setupToken}, "email": {p}, "password": {testPassword}, "password_confirm": {testPassword}},
			// An email the rules accept reaches SQL; the short password
			// then stops the setup.
			{"token": {a.setupToken}, "email": {emailShaped(p)}, "password": {"short"}, "password_confirm": {"short"}},
			{"token": {a.setupToken}, "email": {"a@example.com"}, "password": {p}, "password_confirm": {p + "x"}},
		} {
			wantNoLeak(t, "POST /setup", visitor.post("/setup", f))
		}
	}
	if after := snapshot(t, d); after != before {
		t.Fatalf("/setup payloads changed the database: %s", snapshotDiff(before, after))
	}

	other := a.createUser("other@example.com", db.RoleMember)
	otherKey, _, err := a.store.CreateKey(context.Background(), other.ID, db.KeyInput{Name: "other-secret-name"}, db.CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	otherID := fmt.Sprint(otherKey.ID)
	a.createUser("mallory@example.com", db.RoleMember)
	m := a.browser()
	m.login("mallory@example.com", testPassword)

	// Sign-in: every field. (Fewer than 20 failures: the per-IP throttle
	// must not hide the payloads from the database.)
	before = snapshot(t, d)
	for _, p := range sqlPayloads {
		for _, f := range []url.Values{
			{"email": {p}, "password": {testPassword}},
			{"email": {"other@example.com"}, "password": {p}},
			{"email": {emailShaped(p)}, "password": {p}, "next": {p}},
		} {
			r := visitor.post("/login", f)
			wantNoLeak(t, "POST /login", r, "other-secret-name")
			if r.StatusCode == http.StatusSeeOther {
				t.Errorf("POST /login %v: signed in", f)
			}
		}
	}
	if after := snapshot(t, d); after != before {
		t.Fatalf("/login payloads changed the database: %s", snapshotDiff(before, after))
	}

	// Key list filters, key pages and edits, the password form.
	for _, p := range sqlPayloads {
		q := url.QueryEscape(p)
		for _, path := range []string{"/keys?status=" + q, "/keys?page=" + q, "/keys?status=active&page=" + q,
			"/keys/" + url.PathEscape(p), "/keys/" + otherID + "%20OR%201=1", "/keys/new?name=" + q} {
			wantNoLeak(t, "GET "+path, m.get(path), "other-secret-name")
		}
		before = snapshot(t, d)
		for _, f := range []url.Values{
			{"current_password": {p}, "new_password": {testPassword + " 2"}, "new_password_confirm": {testPassword + " 2"}},
			{"current_password": {testPassword}, "new_password": {p}, "new_password_confirm": {p + "x"}},
			{"current_password": {testPassword}, "new_password": {testPassword + " 2"}, "new_password_confirm": {p}},
		} {
			wantNoLeak(t, "POST /account/password", m.post("/account/password", f), "other-secret-name")
		}
		wantNoLeak(t, "POST /keys/{other}/edit", m.post("/keys/"+otherID+"/edit", url.Values{"name": {p}, "description": {p}}))
		wantNoLeak(t, "POST /keys (bad scopes)", m.post("/keys", keyForm("x", "scopes", p)))
		wantNoLeak(t, "POST /keys (bad expiry)", m.post("/keys", keyForm("x", "expiry", p, "expiry_date", p)))
		if after := snapshot(t, d); after != before {
			t.Fatalf("payload %q changed the database: %s", p, snapshotDiff(before, after))
		}
	}

	// Stored payloads are stored literally, and only where asked.
	for _, p := range sqlPayloads {
		r := m.post("/keys", keyForm(p, "description", p))
		wantNoLeak(t, "POST /keys", r, "other-secret-name")
		id, _ := revealedAttack(t, r)
		k := a.getKey(id)
		if k.Name != p || k.Description != p {
			t.Errorf("key %d: got name %q description %q, want both %q", id, k.Name, k.Description, p)
		}
		edited := p + " edited"
		if r := m.post(fmt.Sprintf("/keys/%d/edit", id), url.Values{"name": {edited}, "description": {p}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("edit key %d: got %d, want 303", id, r.StatusCode)
		}
		if k := a.getKey(id); k.Name != edited {
			t.Errorf("key %d after edit: got name %q, want %q", id, k.Name, edited)
		}
	}
	if k := a.getKey(otherKey.ID); k.Name != "other-secret-name" || k.RevokedAt != nil || k.DisabledAt != nil {
		t.Errorf("another user's key changed: %+v", k)
	}
	if _, err := a.store.Authenticate(context.Background(), "mallory@example.com", testPassword); err != nil {
		t.Errorf("mallory's password no longer works: %v", err)
	}
}

// TestAttackXSS stores script payloads in a key's name and description, a
// user's email, a session's user agent, a revocation reason and a caller's
// user agent, and checks every page that shows them.
func TestAttackXSS(t *testing.T) {
	a := newTestApp(t)
	a.createUser(xssEmail, db.RoleMember)
	m := a.browser()
	form := url.Values{"email": {xssEmail}, "password": {testPassword}, "_csrf": {m.csrf()}}
	if r := attackSend(m, http.MethodPost, "/login", form.Encode(), map[string]string{"User-Agent": xssImg}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in as %q: got %d, want 303", xssEmail, r.StatusCode)
	}

	r := m.post("/keys", keyForm(xssScript, "description", xssImg, "scopes", "read"))
	wantEscaped(t, "show-once page", r, xssScript)
	id, secret := revealedAttack(t, r)
	keyPage := fmt.Sprintf("/keys/%d", id)

	// A caller with a hostile user agent: "last used" and the new-address
	// audit event show it.
	vr := a.apiAttack(http.MethodPost, "/api/v1/keys/verify", `{"key":"`+secret+`"}`,
		http.Header{"User-Agent": {xssScript}, "Content-Type": {"application/json"}})
	if !strings.Contains(vr.body, `"valid":true`) {
		t.Fatalf("verify: got %s", vr.body)
	}
	a.flush()

	// Hostile request headers are not reflected into the page either.
	wantEscaped(t, "keys list", m.getWith("/keys", http.Header{"User-Agent": {xssScript}, "Referer": {xssImg}}), xssScript)
	wantEscaped(t, "key page", m.get(keyPage), xssScript, xssImg, xssEmail)
	wantEscaped(t, "account page", m.get("/account"), xssEmail, xssImg)

	// A revocation reason lands in the key's audit events.
	if r := m.post(keyPage+"/revoke", url.Values{"reason": {xssImg + xssScript}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: got %d", r.StatusCode)
	}
	wantEscaped(t, "key page after revoke", m.get(keyPage), xssImg+xssScript)
	wantEscaped(t, "keys list filtered", m.get("/keys?status=revoked&page=1"), xssScript)
	wantEscaped(t, "sign-in page with a hostile next", a.browser().get("/login?next="+url.QueryEscape("/"+xssImg)), "/"+xssImg)
}

// TestAttackForgedPostsEveryRoute sends each state-changing browser route
// without a CSRF token, with a wrong one, and with the right token from
// another origin: all 403, and the database is unchanged (adminState:
// the admin's settings, endpoints and outbox too, the victim being an admin).
func TestAttackForgedPostsEveryRoute(t *testing.T) {
	a := newTestApp(t)
	d := attackDB(t, a)
	u := a.createUser("victim@example.com", db.RoleAdmin)
	b := a.browser()
	b.login("victim@example.com", testPassword)
	k, _, err := a.store.CreateKey(context.Background(), u.ID, db.KeyInput{Name: "target"}, db.CLIActor())
	if err != nil {
		t.Fatal(err)
	}
	kp := fmt.Sprintf("/keys/%d", k.ID)
	hook, delivery := webhookWithDelivery(t, a)
	hp := fmt.Sprintf("/admin/webhooks/%d", hook)
	routes := map[string]url.Values{
		"/logout": {}, "/keys": {"name": {"forged"}, "expiry": {"30"}},
		kp + "/edit": {"name": {"forged"}}, kp + "/disable": {}, kp + "/enable": {},
		kp + "/roll": {"grace": {"0"}}, kp + "/revoke": {"reason": {"forged"}},
		"/account/password":            {"current_password": {testPassword}, "new_password": {"forged forged forged 1"}, "new_password_confirm": {"forged forged forged 1"}},
		"/account/sessions/end-others": {}, "/account/sessions/1/end": {},
		"/account/notifications": {"kinds": {db.NotifyExpiry}},
		// The victim is an admin: the notification settings of issue 17.
		"/admin/webhooks":            {"url": {"https://93.184.216.34/forged"}, "event_types": {"*"}},
		"/admin/webhook-settings":    {"allow_private": {"1"}},
		"/admin/settings/test-email": {"to": {"attacker@example.com"}},
		"/admin/secret-scanning":     {"leak_action": {"disable"}},
		hp:                           {"url": {"https://93.184.216.34/forged"}, "event_types": {"*"}}, hp + "/disable": {}, hp + "/enable": {},
		hp + "/delete": {}, hp + "/test": {}, hp + "/secret": {},
		fmt.Sprintf("%s/deliveries/%d/resend", hp, delivery): {},
	}
	token := b.csrf()
	before := adminState(t, d)
	for path, form := range routes {
		for _, c := range []struct {
			name, token string
			hdr         map[string]string
		}{
			{"no token", "", nil},
			{"wrong token", strings.Repeat("x", len(token)), nil},
			{"cross-site Origin", token, map[string]string{"Origin": "https://evil.example"}},
			{"cross-site fetch", token, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if c.token != "" {
				f.Set("_csrf", c.token)
			}
			if r := attackSend(b, http.MethodPost, path, f.Encode(), c.hdr); r.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s: got %d, want 403", path, c.name, r.StatusCode)
			}
		}
	}
	if after := adminState(t, d); after != before {
		t.Fatalf("forged posts changed the database: %s", snapshotDiff(before, after))
	}
}

// TestAttackPlantedCookies: a CSRF cookie planted before sign-in (by a
// sibling subdomain or a shared computer) is replaced at sign-in and its
// token refused afterwards; an attacker's own valid session cookie planted
// in a victim's browser is ended by the victim's sign-in, so neither party
// gains the other's session.
func TestAttackPlantedCookies(t *testing.T) {
	a := newTestApp(t)
	a.createUser("victim@example.com", db.RoleMember)
	a.createUser("attacker@example.com", db.RoleMember)
	attacker := a.browser()
	attacker.login("attacker@example.com", testPassword)
	planted := attacker.sessionCookie()

	victim := a.browser()
	preToken := victim.csrf()
	jarURL, _ := url.Parse(a.http.URL)
	var name string
	for _, c := range attacker.c.Jar.Cookies(jarURL) {
		if strings.HasSuffix(c.Name, sessionName) {
			name = c.Name
		}
	}
	victim.c.Jar.SetCookies(jarURL, []*http.Cookie{{Name: name, Value: planted, Path: "/"}})
	victim.login("victim@example.com", testPassword)
	if got := victim.sessionCookie(); got == planted || got == "" {
		t.Fatalf("victim's session cookie after sign-in: got the planted one (or none)")
	}
	if victim.csrf() == preToken {
		t.Errorf("the CSRF token from before sign-in is still the token after it")
	}
	r := attackSend(victim, http.MethodPost, "/keys", url.Values{"name": {"x"}, "expiry": {"30"}, "_csrf": {preToken}}.Encode(), nil)
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("POST with the pre-sign-in CSRF token: got %d, want 403", r.StatusCode)
	}
	if r := attacker.get("/keys"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("the planted (attacker's) session after the victim signed in with it: got %d, want a redirect to sign in", r.StatusCode)
	}
}

// TestAttackSpoofedClientIP: headers that name a client address other than
// X-Forwarded-For never count, and behind a trusted proxy, addresses
// prepended to X-Forwarded-For by the client do not change who it is.
func TestAttackSpoofedClientIP(t *testing.T) {
	spoof := []string{"X-Real-IP", "Forwarded", "True-Client-IP", "X-Client-IP", "CF-Connecting-IP", "X-Forwarded-For"}
	trust := func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }
	for _, behindProxy := range []bool{false, true} {
		t.Run(fmt.Sprintf("behind proxy=%v", behindProxy), func(t *testing.T) {
			var a *testApp
			if behindProxy {
				a = newTestApp(t, trust)
			} else {
				a = newTestApp(t)
			}
			hdr := func(i int) http.Header {
				h := http.Header{"Content-Type": {"application/json"}}
				fake := fmt.Sprintf("198.51.100.%d", i%250+1)
				for _, name := range spoof {
					h.Set(name, fake)
				}
				h.Set("Forwarded", "for="+fake)
				if behindProxy {
					// What the proxy sends: the client's invented list, then
					// the client's real address, appended by the proxy.
					h.Set("X-Forwarded-For", fake+", 203.0.113.7")
				}
				return h
			}
			limited := 0
			for i := range 150 {
				r := a.apiAttack(http.MethodPost, "/api/v1/keys/verify", `{"key":"kw_guess"}`, hdr(i))
				if r.StatusCode == http.StatusTooManyRequests {
					limited = i
					break
				}
			}
			if limited == 0 || limited > 101 {
				t.Errorf("verify: got the first 429 at attempt %d, want it after the 100-failure burst", limited)
			}
			b := a.browser()
			for i := range 40 {
				h := map[string]string{}
				for k, v := range hdr(i) {
					h[k] = v[0]
				}
				r := b.postWithHeadersAttack(fmt.Sprintf("user%d@example.com", i), h)
				if r.StatusCode == http.StatusTooManyRequests {
					return
				}
			}
			t.Errorf("sign-in: 40 failures from one client with invented addresses got no 429")
		})
	}
}

// TestAttackJunkKeysCostNothing: 10,000 random or corrupted keys are all
// refused as MALFORMED without a single database query.
func TestAttackJunkKeysCostNothing(t *testing.T) {
	a := newTestApp(t)
	rng := rand.New(rand.NewPCG(7, 11))
	before := a.verifier.Lookups()
	const n = 10_000
	for i := range n {
		key := junkKey(t, rng, i)
		res, err := a.verifier.Verify(context.Background(), db.VerifyRequest{Key: key, IP: "203.0.113.9"})
		if err != nil || res.Valid || res.Code != db.CodeMalformed {
			t.Fatalf("key %q: got %+v, %v, want MALFORMED", key, res, err)
		}
	}
	if got := a.verifier.Lookups() - before; got != 0 {
		t.Errorf("database lookups for %d junk keys: got %d, want 0", n, got)
	}
	// The same junk over HTTP: refused as well, and by the throttle after
	// the burst, still without a lookup.
	for i := range 300 {
		body := fmt.Sprintf(`{"key":%q}`, junkKey(t, rng, i))
		r := a.apiAttack(http.MethodPost, "/api/v1/keys/verify", body, http.Header{"Content-Type": {"application/json"}})
		if r.StatusCode != http.StatusOK && r.StatusCode != http.StatusTooManyRequests && r.StatusCode != http.StatusBadRequest {
			t.Fatalf("junk %s: got %d", body, r.StatusCode)
		}
	}
	if got := a.verifier.Lookups() - before; got != 0 {
		t.Errorf("database lookups after junk over HTTP: got %d, want 0", got)
	}
}

// TestAttackOversizedAndMalformedBodies: bodies over the limit are 413
// even when sent chunked (no Content-Length to trust), and JSON that is
// broken in any of the usual ways is a 400 with an error code.
func TestAttackOversizedAndMalformedBodies(t *testing.T) {
	a := newTestApp(t)
	a.createUser("mallory@example.com", db.RoleMember)
	m := a.browser()
	m.login("mallory@example.com", testPassword)
	before := a.verifier.Lookups()

	chunked := func(path, contentType string, body io.Reader, b *browser) response {
		req, _ := http.NewRequest(http.MethodPost, a.http.URL+path, body)
		req.ContentLength = -1 // Transfer-Encoding: chunked
		req.Header.Set("Content-Type", contentType)
		return b.do(req)
	}
	big := strings.Repeat("A", 5<<10)
	if r := chunked("/api/v1/keys/verify", "application/json", strings.NewReader(`{"key":"`+big+`"}`), a.browser()); r.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, `"BODY_TOO_LARGE"`) {
		t.Errorf("chunked 5 KiB verify body: got %d %.200s, want 413 BODY_TOO_LARGE", r.StatusCode, r.body)
	}
	form := io.MultiReader(strings.NewReader("_csrf="+m.csrf()+"&expiry=30&name="), strings.NewReader(strings.Repeat("x", 2<<20)))
	if r := chunked("/keys", "application/x-www-form-urlencoded", form, m); r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 2 MiB key form: got %d, want 413", r.StatusCode)
	}

	for _, body := range []string{
		`{"key":"kw_x"} trailing`,
		`{"key":"kw_x"}{"key":"kw_y"}`,
		"\xef\xbb\xbf" + `{"key":"kw_x"}`,
		`{"key":["kw_x"]}`,
		`{"key":{"$ne":null}}`,
		`{"key":"kw_x","scope":7}`,
		`{'key':'kw_x'}`,
		`{"key":"kw_x",}`,
		strings.Repeat("[", 4000),
		`{"key":"kw_x"` + strings.Repeat(" ", 5000) + `}`,
	} {
		r := a.apiAttack(http.MethodPost, "/api/v1/keys/verify", body, http.Header{"Content-Type": {"application/json"}})
		if r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("body %.40q: got %d, want 400 or 413", body, r.StatusCode)
			continue
		}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("body %.40q: answer %q is not {\"error\":{\"code\",\"message\"}}", body, r.body)
		}
	}
	if got := a.verifier.Lookups() - before; got != 0 {
		t.Errorf("database lookups for refused bodies: got %d, want 0", got)
	}
}
