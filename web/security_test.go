package web

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/static"
)

// wantCSP is the policy DESIGN.md fixes: no inline script or style anywhere.
const wantCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

func wantErrorPage(t *testing.T, r response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("got status %d, want %d; body %.300s", r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type: got %q, want text/html", ct)
	}
	if r.doc(t).Find("[data-testid=error-page]").Length() != 1 {
		t.Fatalf("no error page (data-testid=error-page) in %.300s", r.body)
	}
}

func TestCSRFRejectsForgedPosts(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("alice@example.com", db.RoleMember)
	token := b.csrf()
	forms := map[string]url.Values{
		"/logout":                      {},
		"/keys":                        {"name": {"forged"}, "expiry": {"30"}},
		"/account/password":            {"current_password": {testPassword}, "new_password": {"violet tractor humming seaweed"}, "new_password_confirm": {"violet tractor humming seaweed"}},
		"/account/sessions/end-others": {},
		"/account/notifications":       {"kinds": {db.NotifyExpiry}},
	}
	tests := []struct {
		name   string
		token  string // "" sends no _csrf field at all
		header map[string]string
	}{
		{"no token", "", nil},
		{"empty token", "\x00empty", nil},
		{"wrong token", strings.Repeat("A", len(token)), nil},
		{"token of another browser", a.browser().csrf(), nil},
		{"valid token, Sec-Fetch-Site cross-site", token, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"valid token, Sec-Fetch-Site same-site", token, map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"valid token, foreign Origin", token, map[string]string{"Origin": "https://evil.example"}},
	}
	for path, form := range forms {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				f := url.Values{}
				for k, v := range form {
					f[k] = v
				}
				switch tt.token {
				case "":
				case "\x00empty":
					f.Set("_csrf", "")
				default:
					f.Set("_csrf", tt.token)
				}
				r := b.send(http.MethodPost, path, f.Encode(), tt.header)
				wantErrorPage(t, r, http.StatusForbidden)
			})
		}
	}
	// None of the forged requests did anything.
	wantSignedIn(t, b, "alice@example.com")
	if r := b.get("/keys"); strings.Contains(r.body, "forged") {
		t.Error("a forged POST /keys created a key")
	}
	a.browser().login("alice@example.com", testPassword)
}

func TestCSRFLoginNeedsToken(t *testing.T) {
	a := newTestApp(t)
	a.createUser("alice@example.com", db.RoleMember)
	b := a.browser()
	b.csrf()
	r := b.send(http.MethodPost, "/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}}.Encode(), nil)
	wantErrorPage(t, r, http.StatusForbidden)
	if b.sessionCookie() != "" {
		t.Fatal("sign-in without a CSRF token set a session cookie")
	}
}

func TestCSRFTokenAccepted(t *testing.T) {
	tests := []struct {
		name   string
		send   func(b *browser) response
		status int
	}{
		{"form field", func(b *browser) response {
			return b.post("/account/sessions/end-others", nil)
		}, http.StatusSeeOther},
		{"X-CSRF-Token header (htmx)", func(b *browser) response {
			return b.send(http.MethodPost, "/account/sessions/end-others", "",
				map[string]string{"X-CSRF-Token": b.csrf(), "HX-Request": "true"})
		}, http.StatusNoContent},
		{"form field with Sec-Fetch-Site same-origin", func(b *browser) response {
			return b.postWithHeaders("/account/sessions/end-others", nil, map[string]string{"Sec-Fetch-Site": "same-origin"})
		}, http.StatusSeeOther},
		{"form field with our own Origin", func(b *browser) response {
			return b.postWithHeaders("/account/sessions/end-others", nil, map[string]string{"Origin": b.app.http.URL})
		}, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t)
			b := a.signedIn("alice@example.com", db.RoleMember)
			other := a.browser()
			other.login("alice@example.com", testPassword)
			r := tt.send(b)
			if r.StatusCode != tt.status {
				t.Fatalf("got status %d, want %d; body %.300s", r.StatusCode, tt.status, r.body)
			}
			wantSignedOut(t, other)
			wantSignedIn(t, b, "alice@example.com")
		})
	}

	t.Run("logout by header", func(t *testing.T) {
		a := newTestApp(t)
		b := a.signedIn("alice@example.com", db.RoleMember)
		r := b.send(http.MethodPost, "/logout", "", map[string]string{"X-CSRF-Token": b.csrf(), "HX-Request": "true"})
		if r.StatusCode != http.StatusNoContent || r.Header.Get("HX-Redirect") != "/login?m=signed_out" {
			t.Fatalf("got %d HX-Redirect %q, want 204 /login?m=signed_out", r.StatusCode, r.Header.Get("HX-Redirect"))
		}
		wantSignedOut(t, b)
	})
}

func TestSecurityHeaders(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("alice@example.com", db.RoleMember)
	visitor := a.browser()
	tests := []struct {
		name      string
		b         *browser
		path      string
		status    int
		wantCache string
	}{
		{"login", visitor, "/login", http.StatusOK, "no-store"},
		{"keys", b, "/keys", http.StatusOK, "no-store"},
		{"account", b, "/account", http.StatusOK, "no-store"},
		{"keys/new", b, "/keys/new", http.StatusOK, "no-store"},
		{"error page", b, "/no-such-page", http.StatusNotFound, "no-store"},
		{"setup refusal", visitor, "/setup", http.StatusForbidden, "no-store"},
		{"static css", visitor, static.URL("css/app.css"), http.StatusOK, "public, max-age=31536000, immutable"},
		{"static js", visitor, static.URL("js/htmx.min.js"), http.StatusOK, "public, max-age=31536000, immutable"},
		{"api", visitor, "/api/v1/auth", http.StatusUnauthorized, ""},
		{"api verify by GET", visitor, "/api/v1/keys/verify", http.StatusMethodNotAllowed, ""},
		{"api unknown", visitor, "/api/v1/nothing", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.b.get(tt.path)
			if r.StatusCode != tt.status {
				t.Fatalf("GET %s: got %d, want %d", tt.path, r.StatusCode, tt.status)
			}
			want := map[string]string{
				"Content-Security-Policy": wantCSP,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
			}
			if strings.HasPrefix(tt.path, "/api/") {
				// JSON is never a document: nothing loads from it or frames
				// it, and the document-only headers are left out.
				want = map[string]string{
					"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
					"X-Content-Type-Options":  "nosniff",
					"Referrer-Policy":         "",
					"X-Frame-Options":         "",
				}
			}
			if tt.wantCache != "" {
				want["Cache-Control"] = tt.wantCache
			}
			for h, v := range want {
				if got := r.Header.Get(h); got != v {
					t.Errorf("%s: got %q, want %q", h, got, v)
				}
			}
			if got := r.Header.Get("Strict-Transport-Security"); got != "" {
				t.Errorf("Strict-Transport-Security over plain HTTP: got %q, want none", got)
			}
		})
	}
}

func TestCookieAttributes(t *testing.T) {
	a := newTestApp(t)
	a.createUser("alice@example.com", db.RoleMember)
	b := a.browser()
	r := b.post("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login: got %d, want 303", r.StatusCode)
	}
	got := map[string]*http.Cookie{}
	for _, c := range r.Cookies() {
		got[c.Name] = c
	}
	for _, name := range []string{hostSessionCookie, hostCSRFCookie} {
		t.Run(name, func(t *testing.T) {
			c, ok := got[name]
			if !ok {
				t.Fatalf("no %s cookie set at sign-in; got %v", name, r.Header.Values("Set-Cookie"))
			}
			if !c.HttpOnly {
				t.Error("HttpOnly: got false, want true")
			}
			if !c.Secure {
				t.Error("Secure: got false, want true (loopback is a secure context)")
			}
			if c.SameSite != http.SameSiteLaxMode {
				t.Errorf("SameSite: got %v, want Lax", c.SameSite)
			}
			if c.Path != "/" || c.Domain != "" {
				t.Errorf("Path, Domain: got %q, %q, want \"/\" and none (required by __Host-)", c.Path, c.Domain)
			}
			if len(c.Value) < 43 {
				t.Errorf("value length: got %d, want at least 43 (256 bits)", len(c.Value))
			}
		})
	}
	for _, c := range r.Cookies() {
		if !strings.HasPrefix(c.Name, "__Host-") {
			t.Errorf("cookie %s: want the __Host- prefix", c.Name)
		}
	}
}

func TestErrorPagesRevealNothing(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("alice@example.com", db.RoleMember)
	leaks := []string{"goroutine", "code=", "message=", ".go:", "runtime", "sql", "echo"}

	t.Run("unknown page", func(t *testing.T) {
		for _, br := range []*browser{a.browser(), b} {
			r := br.get("/no/such/page")
			wantErrorPage(t, r, http.StatusNotFound)
			for _, s := range leaks {
				if strings.Contains(strings.ToLower(r.body), s) {
					t.Errorf("404 page contains %q", s)
				}
			}
		}
	})

	t.Run("unknown key id", func(t *testing.T) {
		wantErrorPage(t, b.get("/keys/999999"), http.StatusNotFound)
	})

	t.Run("unknown API path", func(t *testing.T) {
		r := b.send(http.MethodGet, "/api/v1/nope", "", nil)
		if r.StatusCode != http.StatusNotFound {
			t.Fatalf("got %d, want 404", r.StatusCode)
		}
		// Under /api/v1 the management API answers in problem details.
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("Content-Type: got %q, want application/problem+json", ct)
		}
		var body struct{ Code, Detail string }
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("decode %q: %v", r.body, err)
		}
		if body.Code != "NOT_FOUND" || body.Detail == "" {
			t.Errorf("problem: got %+v, want code NOT_FOUND with a detail", body)
		}
		for _, s := range leaks {
			if strings.Contains(strings.ToLower(r.body), s) {
				t.Errorf("API 404 contains %q", s)
			}
		}
	})

	t.Run("healthz", func(t *testing.T) {
		r := b.get("/healthz")
		var body map[string]string
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.StatusCode != http.StatusOK || body["status"] != "ok" {
			t.Fatalf("GET /healthz: got %d %q, want 200 {\"status\":\"ok\"}", r.StatusCode, r.body)
		}
	})
}

// TestInternalErrorsAreGeneric: a failure that is not the database being
// away (here a table renamed behind the server's back, as a damaged schema
// would be) is a 500 with the generic page, never the error's text.
func TestInternalErrorsAreGeneric(t *testing.T) {
	a := newTestApp(t)
	b := a.signedIn("alice@example.com", db.RoleMember)
	conn, err := sql.Open("sqlite", a.dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(`ALTER TABLE api_keys RENAME TO api_keys_gone`); err != nil {
		t.Fatalf("rename table: %v", err)
	}

	r := b.get("/keys")
	wantErrorPage(t, r, http.StatusInternalServerError)
	if !strings.Contains(r.body, "An unexpected error happened on our side") {
		t.Errorf("500 page lacks the generic message: %.500s", r.body)
	}
	for _, s := range []string{"sql", "api_keys", "no such table", "goroutine", ".go:"} {
		if strings.Contains(strings.ToLower(r.body), s) {
			t.Errorf("500 page contains %q", s)
		}
	}
}

func TestAdminRoutesRefuseMembers(t *testing.T) {
	a := newTestApp(t)
	admin := a.signedIn("admin@example.com", db.RoleAdmin)
	member := a.signedIn("member@example.com", db.RoleMember)
	found := 0
	for _, p := range []string{"/admin", "/admin/keys", "/admin/users", "/admin/audit"} {
		if r := admin.get(p); r.StatusCode != http.StatusOK {
			continue
		}
		found++
		t.Run(p, func(t *testing.T) {
			wantErrorPage(t, member.get(p), http.StatusForbidden)
		})
	}
	if found == 0 {
		t.Skip("no /admin routes yet")
	}
}

func TestBodyLimit(t *testing.T) {
	a := newTestApp(t)
	a.createUser("alice@example.com", db.RoleMember)
	b := a.browser()
	form := url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "_csrf": {b.csrf()},
		"pad": {strings.Repeat("x", 1<<20)}}
	r := b.send(http.MethodPost, "/login", form.Encode(), nil)
	wantErrorPage(t, r, http.StatusRequestEntityTooLarge)
	if b.sessionCookie() != "" {
		t.Fatal("an oversized sign-in set a session cookie")
	}
}
