package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// The cookie names are part of what a browser sees (and what a proxy
// config may name): spelled out here so that a rename shows as a failure.
const (
	sessionName = "keyward"
	csrfName    = "kw_csrf"
	// Session cookies on the loopback test server carry the __Host- prefix.
	hostSessionCookie = "__Host-" + sessionName
	hostCSRFCookie    = "__Host-" + csrfName
)

// signedIn creates a user and returns a browser signed in as them.
func (a *testApp) signedIn(email string, role db.Role) *browser {
	a.t.Helper()
	a.createUser(email, role)
	b := a.browser()
	b.login(email, testPassword)
	return b
}

// browserWithSession returns a fresh browser whose only cookie is the
// given session cookie value: what an attacker holding a copy would send.
func (a *testApp) browserWithSession(value string) *browser {
	b := a.browser()
	b.c.Jar.SetCookies(b.base, []*http.Cookie{{Name: hostSessionCookie, Value: value, Path: "/", Secure: true}})
	return b
}

// send issues a request with a raw body and extra headers; unlike post it
// adds no CSRF field, so tests control exactly what is sent.
func (b *browser) send(method, path, body string, header map[string]string) response {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.app.http.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

// postWithHeaders is post (with the CSRF field) plus extra request headers.
func (b *browser) postWithHeaders(path string, form url.Values, header map[string]string) response {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("_csrf") {
		form.Set("_csrf", b.csrf())
	}
	return b.send(http.MethodPost, path, form.Encode(), header)
}

// wantSignedOut fails unless GET /keys sends the browser to the sign-in page.
func wantSignedOut(t *testing.T, b *browser) {
	t.Helper()
	r := b.get("/keys")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("GET /keys: got %d Location %q, want 303 to /login (signed out)", r.StatusCode, r.Header.Get("Location"))
	}
}

// wantSignedIn fails unless GET /keys renders for email.
func wantSignedIn(t *testing.T, b *browser, email string) {
	t.Helper()
	r := b.get("/keys")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /keys: got %d Location %q, want 200 (signed in as %s)", r.StatusCode, r.Header.Get("Location"), email)
	}
	if got := strings.TrimSpace(r.doc(t).Find("[data-testid=user-email]").Text()); got != email {
		t.Fatalf("signed-in email: got %q, want %q", got, email)
	}
}

// accountSessions reads the session rows of /account: every id, and the
// id of the row marked as this device.
func accountSessions(t *testing.T, b *browser) (ids []int64, current int64) {
	t.Helper()
	r := b.get("/account")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /account: got %d, want 200", r.StatusCode)
	}
	r.doc(t).Find("[data-testid=session-row]").Each(func(_ int, s *goquery.Selection) {
		id, err := strconv.ParseInt(s.AttrOr("data-session-id", ""), 10, 64)
		if err != nil {
			t.Fatalf("session row id %q: %v", s.AttrOr("data-session-id", ""), err)
		}
		ids = append(ids, id)
		if s.Find("[data-testid=current-session]").Length() > 0 {
			current = id
		}
	})
	return ids, current
}

func TestSessionIDChangesAtSignIn(t *testing.T) {
	a := newTestApp(t)
	a.createUser("alice@example.com", db.RoleMember)
	a.createUser("bob@example.com", db.RoleMember)

	planted := make([]byte, 32)
	_, _ = rand.Read(planted)

	tests := []struct {
		name  string
		setup func(b *browser) string // returns the cookie value present before the sign-in
	}{
		{"previous sign-in of another user", func(b *browser) string {
			b.login("alice@example.com", testPassword)
			return b.sessionCookie()
		}},
		{"planted cookie", func(b *browser) string {
			v := base64.RawURLEncoding.EncodeToString(planted)
			b.c.Jar.SetCookies(b.base, []*http.Cookie{{Name: hostSessionCookie, Value: v, Path: "/", Secure: true}})
			return v
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := a.browser()
			before := tt.setup(b)
			if before == "" {
				t.Fatal("no session cookie before sign-in")
			}
			b.login("bob@example.com", testPassword)
			after := b.sessionCookie()
			if after == "" || after == before {
				t.Fatalf("session cookie after sign-in: got %q, want a new value (before %q)", after, before)
			}
			wantSignedIn(t, b, "bob@example.com")
			wantSignedOut(t, a.browserWithSession(before))
		})
	}
}

func TestLogoutInvalidatesCookie(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("alice@example.com", db.RoleMember)
	stolen := b.sessionCookie()
	wantSignedIn(t, a.browserWithSession(stolen), "alice@example.com")

	r := b.post("/logout", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login?m=signed_out" {
		t.Fatalf("POST /logout: got %d %q, want 303 /login?m=signed_out", r.StatusCode, r.Header.Get("Location"))
	}
	if got := b.sessionCookie(); got != "" {
		t.Errorf("session cookie after logout: got %q, want it cleared", got)
	}
	wantSignedOut(t, b)
	wantSignedOut(t, a.browserWithSession(stolen))
}

func TestSessionIdleTimeout(t *testing.T) {
	a := newTestApp(t, func(c *Config) { c.SessionIdle = 10 * time.Minute; c.SessionAbsolute = 12 * time.Hour })
	b := a.signedIn("alice@example.com", db.RoleMember)

	// Activity keeps the session alive well past one idle period...
	for range 3 {
		a.clock.Advance(9 * time.Minute)
		wantSignedIn(t, b, "alice@example.com")
	}
	// ...and a pause longer than the idle timeout ends it.
	a.clock.Advance(10*time.Minute + time.Second)
	wantSignedOut(t, b)
	// The timed-out row is deleted, not merely ignored.
	if rows, err := a.store.ListUserSessions(context.Background(), mustUser(t, a, "alice@example.com").ID); err != nil || len(rows) != 0 {
		t.Fatalf("sessions after idle timeout: got %d rows (err %v), want 0", len(rows), err)
	}
}

func TestSessionAbsoluteTimeout(t *testing.T) {
	a := newTestApp(t, func(c *Config) { c.SessionIdle = 30 * time.Minute; c.SessionAbsolute = time.Hour })
	b := a.signedIn("alice@example.com", db.RoleMember)

	elapsed := time.Duration(0)
	for elapsed+10*time.Minute < time.Hour {
		a.clock.Advance(10 * time.Minute)
		elapsed += 10 * time.Minute
		wantSignedIn(t, b, "alice@example.com")
	}
	a.clock.Advance(time.Hour - elapsed)
	wantSignedOut(t, b)
}

func TestTamperedSessionCookie(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("alice@example.com", db.RoleMember)
	good := b.sessionCookie()
	flipped := []byte(good)
	if flipped[0] == 'A' {
		flipped[0] = 'B'
	} else {
		flipped[0] = 'A'
	}

	tests := []struct {
		name, value string
	}{
		{"one character changed", string(flipped)},
		{"truncated", good[:len(good)-4]},
		{"extended", good + "AAAA"},
		{"not base64", "!!!not-a-session!!!"},
		{"huge", strings.Repeat("A", 3000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := a.browserWithSession(tt.value)
			wantSignedOut(t, tb)
			if r := tb.get("/login"); r.StatusCode != http.StatusOK {
				t.Fatalf("GET /login with tampered cookie: got %d, want 200", r.StatusCode)
			}
		})
	}
	wantSignedIn(t, b, "alice@example.com")
}

func mustUser(t *testing.T, a *testApp, email string) db.User {
	t.Helper()
	u, err := a.store.GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("get user %s: %v", email, err)
	}
	return u
}

func TestAccountPasswordChangeValidation(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("alice@example.com", db.RoleMember)
	const strong = "violet tractor humming seaweed"

	tests := []struct {
		name                   string
		current, next, confirm string
		field                  string
	}{
		{"wrong current password", "not my password at all", strong, strong, "current_password"},
		{"too short", testPassword, "short pass", "short pass", "new_password"},
		{"too easy to guess", testPassword, "passwordpassword", "passwordpassword", "new_password"},
		{"contains the email", testPassword, "alice horse battery zebra", "alice horse battery zebra", "new_password"},
		{"same as current", testPassword, testPassword, testPassword, "new_password"},
		{"confirmation differs", testPassword, strong, strong + "!", "new_password_confirm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.post("/account/password", url.Values{
				"current_password": {tt.current}, "new_password": {tt.next}, "new_password_confirm": {tt.confirm},
			})
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("got status %d, want 422", r.StatusCode)
			}
			doc := r.doc(t)
			msg := doc.Find("#" + tt.field).Parent().Find("[data-testid=" + tt.field + "-error]")
			if strings.TrimSpace(msg.Text()) == "" {
				t.Fatalf("no field error next to %s", tt.field)
			}
			if got := doc.Find("#"+tt.field).AttrOr("aria-invalid", ""); got != "true" {
				t.Errorf("%s aria-invalid: got %q, want \"true\"", tt.field, got)
			}
			for _, secret := range []string{tt.current, tt.next, tt.confirm} {
				if strings.Contains(r.body, secret) {
					t.Errorf("page echoes a submitted password %q", secret)
				}
			}
		})
	}
	// None of those changed anything.
	b2 := a.browser()
	b2.login("alice@example.com", testPassword)
}

func TestAccountPasswordChangeEndsOtherSessions(t *testing.T) {
	a := newTestApp(t)
	const email, next = "alice@example.com", "violet tractor humming seaweed"
	here := a.signedIn(email, db.RoleMember)
	there := a.browser()
	there.login(email, testPassword)

	r := here.post("/account/password", url.Values{
		"current_password": {testPassword}, "new_password": {next}, "new_password_confirm": {next},
	})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
		t.Fatalf("POST /account/password: got %d %q, want 303 /account", r.StatusCode, r.Header.Get("Location"))
	}
	wantSignedIn(t, here, email)
	wantSignedOut(t, there)

	if r := a.browser().post("/login", url.Values{"email": {email}, "password": {testPassword}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign-in with the old password: got %d, want 401", r.StatusCode)
	}
	a.browser().login(email, next)
}

func TestAccountSessions(t *testing.T) {
	const email = "alice@example.com"

	t.Run("list and end one", func(t *testing.T) {
		a := newTestApp(t)
		here := a.signedIn(email, db.RoleMember)
		there := a.browser()
		there.login(email, testPassword)

		ids, current := accountSessions(t, here)
		if len(ids) != 2 || current == 0 {
			t.Fatalf("sessions on /account: got %v (current %d), want 2 with one marked current", ids, current)
		}
		_, otherID := accountSessions(t, there)
		if otherID == current || otherID == 0 {
			t.Fatalf("other browser's session id: got %d, want a second id (current %d)", otherID, current)
		}

		r := here.post("/account/sessions/"+strconv.FormatInt(otherID, 10)+"/end", nil)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
			t.Fatalf("end session: got %d %q, want 303 /account", r.StatusCode, r.Header.Get("Location"))
		}
		wantSignedOut(t, there)
		wantSignedIn(t, here, email)
		if ids, _ := accountSessions(t, here); len(ids) != 1 || ids[0] != current {
			t.Fatalf("sessions after ending one: got %v, want [%d]", ids, current)
		}

		r = here.post("/account/sessions/"+strconv.FormatInt(current, 10)+"/end", nil)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("end the current session from the list: got %d, want 400 (use Sign out)", r.StatusCode)
		}
		wantSignedIn(t, here, email)
	})

	t.Run("end all others", func(t *testing.T) {
		a := newTestApp(t)
		here := a.signedIn(email, db.RoleMember)
		others := []*browser{a.browser(), a.browser()}
		for _, o := range others {
			o.login(email, testPassword)
		}
		if ids, _ := accountSessions(t, here); len(ids) != 3 {
			t.Fatalf("sessions before: got %d, want 3", len(ids))
		}
		r := here.post("/account/sessions/end-others", nil)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
			t.Fatalf("end others: got %d %q, want 303 /account", r.StatusCode, r.Header.Get("Location"))
		}
		for _, o := range others {
			wantSignedOut(t, o)
		}
		wantSignedIn(t, here, email)
		if ids, _ := accountSessions(t, here); len(ids) != 1 {
			t.Fatalf("sessions after: got %d, want 1", len(ids))
		}
	})

	t.Run("another user's session is not found", func(t *testing.T) {
		a := newTestApp(t)
		alice := a.signedIn(email, db.RoleMember)
		bob := a.signedIn("bob@example.com", db.RoleMember)
		_, bobSession := accountSessions(t, bob)

		for _, id := range []string{strconv.FormatInt(bobSession, 10), "999999", "abc", "-1"} {
			r := alice.post("/account/sessions/"+id+"/end", nil)
			if r.StatusCode != http.StatusNotFound {
				t.Errorf("end session %s of another user: got %d, want 404", id, r.StatusCode)
			}
		}
		wantSignedIn(t, bob, "bob@example.com")
	})
}

func TestDisabledUserIsSignedOut(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("alice@example.com", db.RoleMember)
	u := mustUser(t, a, "alice@example.com")
	if err := a.store.SetUserDisabled(context.Background(), u.ID, true, db.CLIActor()); err != nil {
		t.Fatalf("disable user: %v", err)
	}
	wantSignedOut(t, b)
	if err := a.store.SetUserDisabled(context.Background(), u.ID, false, db.CLIActor()); err != nil {
		t.Fatalf("enable user: %v", err)
	}
	// Re-enabling does not bring the ended session back.
	wantSignedOut(t, b)
}
