package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// unavailableMessage is what a page says while the database is away.
const unavailableMessage = "Keyward cannot reach its database right now. Try again in a minute."

// wantUnavailableJSON checks a 503 answer in JSON: code UNAVAILABLE, a
// Retry-After, and nothing of the internal error.
func wantUnavailableJSON(t *testing.T, r response) {
	t.Helper()
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("got status %d, want 503; body %.300s", r.StatusCode, r.body)
	}
	// The verify and forward-auth endpoints keep their stable
	// {"error":{…}} shape; the rest of /api/v1 (the management API, leak
	// reports) answers RFC 9457 problem details with the same code.
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
		Code  string                         `json:"code"`
	}
	err := json.Unmarshal([]byte(r.body), &body)
	ct := r.Header.Get("Content-Type")
	switch ct {
	case "application/problem+json":
		if err != nil || body.Code != "UNAVAILABLE" {
			t.Errorf("body: got %q, want a problem with \"code\":\"UNAVAILABLE\"", r.body)
		}
	case "application/json; charset=UTF-8":
		if err != nil || body.Error.Code != "UNAVAILABLE" {
			t.Errorf("body: got %q, want {\"error\":{\"code\":\"UNAVAILABLE\",…}}", r.body)
		}
	default:
		t.Errorf("Content-Type: got %q, want application/json; charset=UTF-8 or application/problem+json", ct)
	}
	if got := r.Header.Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After: got %q, want 30", got)
	}
	wantNoInternals(t, r)
}

// wantUnavailablePage checks the HTML page of a 503.
func wantUnavailablePage(t *testing.T, r response) {
	t.Helper()
	wantErrorPage(t, r, http.StatusServiceUnavailable)
	d := r.doc(t)
	if got := strings.TrimSpace(d.Find("[data-testid=error-page] h1").Text()); got != "Database unavailable" {
		t.Errorf("heading: got %q, want %q", got, "Database unavailable")
	}
	if !strings.Contains(r.body, unavailableMessage) {
		t.Errorf("page lacks %q", unavailableMessage)
	}
	if got := r.Header.Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After: got %q, want 30", got)
	}
	wantNoInternals(t, r)
}

func wantNoInternals(t *testing.T, r response) {
	t.Helper()
	for _, s := range []string{"sql", "closed", "goroutine", ".go:"} {
		if strings.Contains(strings.ToLower(r.body), s) {
			t.Errorf("body contains %q: %.300s", s, r.body)
		}
	}
}

// outageApp is a running server with an admin signed in, a key already in
// the verifier's cache and one that is not, and then its Store closed
// under it: every query answers database/sql's "database is closed", as
// an unreachable database does.
type outageApp struct {
	*testApp
	admin            *browser
	keyID            int64
	cached, uncached string
}

func newOutageApp(t *testing.T, opts ...appOption) outageApp {
	t.Helper()
	a := newTestApp(t, opts...)
	admin, u := a.userBrowser("admin@example.com", db.RoleAdmin)
	k, cached := a.storeKey(u.ID, db.KeyInput{Name: "cached"})
	_, uncached := a.storeKey(u.ID, db.KeyInput{Name: "uncached"})
	if v := a.verify(cached, ""); !v.Valid {
		t.Fatalf("verify before the outage: %+v, want valid", v)
	}
	admin.csrf() // the form token comes from a cookie: no database needed later
	if err := a.store.Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}
	// The verifier's own work fails as unavailable: its change poll (which
	// must not drop the cache for it) and its usage flush.
	if err := a.verifier.PollChanges(context.Background()); !errors.Is(err, db.ErrUnavailable) {
		t.Fatalf("PollChanges: %v, want ErrUnavailable", err)
	}
	// A use recorded now (a cache hit: no database) is pending whatever
	// the server's own flush loop took before the close, so this flush
	// has something to write and must fail.
	if v := a.verify(cached, ""); !v.Valid {
		t.Fatalf("verify of the cached key after the close: %+v, want valid", v)
	}
	if err := a.verifier.Flush(context.Background()); !errors.Is(err, db.ErrUnavailable) {
		t.Fatalf("Flush: %v, want ErrUnavailable", err)
	}
	return outageApp{testApp: a, admin: admin, keyID: k.ID, cached: cached, uncached: uncached}
}

func (a outageApp) verifyRaw(key string) response {
	body, _ := json.Marshal(map[string]string{"key": key})
	return a.api(http.MethodPost, "/api/v1/keys/verify", bytes.NewReader(body),
		http.Header{"Content-Type": {"application/json"}})
}

func (a outageApp) forwardAuth(key string) response {
	return a.api(http.MethodGet, "/api/v1/auth", nil, http.Header{"Authorization": {"Bearer " + key}})
}

// TestDatabaseUnavailable: with the database gone, a key in the cache is
// still answered, everything that needs the database is a 503 that says
// so (JSON under /api and /healthz, the "Database unavailable" page
// elsewhere), and nothing is a 500.
func TestDatabaseUnavailable(t *testing.T) {
	a := newOutageApp(t)
	tests := []struct {
		name  string
		do    func() response
		check func(*testing.T, response)
	}{
		{"verify a cached key", func() response { return a.verifyRaw(a.cached) }, func(t *testing.T, r response) {
			var v verifyAnswer
			if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.body), &v) != nil || !v.Valid {
				t.Errorf("got %d %s, want 200 valid", r.StatusCode, r.body)
			}
		}},
		{"verify an uncached key", func() response { return a.verifyRaw(a.uncached) }, wantUnavailableJSON},
		{"forward auth, cached key", func() response { return a.forwardAuth(a.cached) }, func(t *testing.T, r response) {
			if r.StatusCode != http.StatusOK || r.Header.Get("X-Keyward-Key-Id") == "" {
				t.Errorf("got %d (key id %q), want 200 with X-Keyward-Key-Id", r.StatusCode, r.Header.Get("X-Keyward-Key-Id"))
			}
		}},
		{"forward auth, uncached key", func() response { return a.forwardAuth(a.uncached) }, func(t *testing.T, r response) {
			wantUnavailableJSON(t, r)
			if h := r.Header.Get("WWW-Authenticate"); h != "" {
				t.Errorf("WWW-Authenticate: got %q, want none (the key was not refused)", h)
			}
		}},
		{"keys page", func() response { return a.admin.get("/keys") }, func(t *testing.T, r response) {
			wantUnavailablePage(t, r)
			if got, _ := r.doc(t).Find("[data-testid=error-retry]").Attr("href"); got != "/keys" {
				t.Errorf("Try again: got href %q, want /keys", got)
			}
		}},
		{"admin keys page with a query", func() response { return a.admin.get("/admin/keys?q=ci") }, func(t *testing.T, r response) {
			wantUnavailablePage(t, r)
			if got, _ := r.doc(t).Find("[data-testid=error-retry]").Attr("href"); got != "/admin/keys?q=ci" {
				t.Errorf("Try again: got href %q, want /admin/keys?q=ci", got)
			}
		}},
		{"a form", func() response { return a.admin.post("/keys", url.Values{"name": {"new"}}) }, func(t *testing.T, r response) {
			wantUnavailablePage(t, r)
			if n := r.doc(t).Find("[data-testid=error-retry]").Length(); n != 0 {
				t.Errorf("a failed POST offers Try again (%d links), want the usual way on", n)
			}
		}},
		{"sign-in", func() response {
			return a.browser().post("/login", url.Values{"email": {"admin@example.com"}, "password": {testPassword}})
		}, wantUnavailablePage},
		{"healthz", func() response { return a.api(http.MethodGet, "/healthz", nil, nil) }, wantUnavailableJSON},
		{"metrics", func() response { return a.api(http.MethodGet, "/metrics", nil, nil) }, func(t *testing.T, r response) {
			if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "keyward_usage_dropped_total 0") {
				t.Errorf("got %d, want 200 with keyward_usage_dropped_total 0; body %.300s", r.StatusCode, r.body)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, tc.do()) })
	}
}

// TestDatabaseUnavailableLogsOnce: every request answered 503 because the
// database is away is one line at its route's level (debug for the API,
// info for pages), and the error line that says why comes at most every
// 10 s: stopping PostgreSQL under load (TestPostgresOutage) logged each
// 503 at error level, about 290 lines a second for two instances under a
// modest load, and thousands at a service's verify rate.
func TestDatabaseUnavailableLogsOnce(t *testing.T) {
	logs := &lockedBuffer{}
	a := newOutageApp(t, logTo(logs))
	const n = 50
	for range n {
		wantUnavailableJSON(t, a.verifyRaw(a.uncached))
		wantUnavailableJSON(t, a.forwardAuth(a.uncached))
	}
	wantUnavailablePage(t, a.admin.get("/keys"))
	wantUnavailableJSON(t, a.api(http.MethodGet, "/healthz", nil, nil))

	logs.mu.Lock()
	text := logs.b.String()
	logs.mu.Unlock()
	tests := []struct {
		name string
		re   string
		want int
	}{
		{"the reason, once", `level=ERROR msg="database unavailable: answering 503`, 1},
		{"no request line at error level", `level=ERROR msg=request `, 0},
		{"the page's request line at info level", `level=INFO msg=request .* path=/keys .*status=503`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(regexp.MustCompile(tt.re).FindAllString(text, -1)); got != tt.want {
				t.Errorf("got %d lines matching %q after %d answers 503, want %d:\n%s", got, tt.re, 2*n+2, tt.want, text)
			}
		})
	}
}

// TestDatabaseUnavailableNo500: every route of the route table, asked by
// a signed-in admin and by an anonymous client while the database is
// gone, answers something other than a 500, and any 5xx is the 503 of an
// unavailable database.
func TestDatabaseUnavailableNo500(t *testing.T) {
	a := newOutageApp(t)
	params := strings.NewReplacer(":id", "1", ":token", "abcdef", "*", "x")
	clients := []struct {
		name string
		b    *browser
	}{{"admin", a.admin}, {"anonymous", a.browser()}}
	routes := 0
	for _, rt := range a.server.echo.Routes() {
		switch rt.Method {
		case http.MethodGet, http.MethodPost, http.MethodHead:
		default:
			continue // Echo's catch-all markers; other methods are the API's, asked below
		}
		routes++
		path := params.Replace(rt.Path)
		for _, c := range clients {
			t.Run(c.name+" "+rt.Method+" "+path, func(t *testing.T) {
				r := c.b.request(rt.Method, path, a.cached)
				if r.StatusCode >= 500 && r.StatusCode != http.StatusServiceUnavailable {
					t.Fatalf("got status %d, want no 5xx other than 503; body %.300s", r.StatusCode, r.body)
				}
				if r.StatusCode == http.StatusServiceUnavailable && rt.Method != http.MethodHead {
					if strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
						wantUnavailablePage(t, r)
					} else {
						wantUnavailableJSON(t, r)
						if stable := path == "/api/v1/keys/verify" || path == "/api/v1/auth"; stable && r.Header.Get("Content-Type") == "application/problem+json" {
							t.Errorf("%s answered problem+json, want its stable {\"error\":{…}} shape", path)
						}
					}
				}
			})
		}
	}
	if routes < 40 {
		t.Errorf("asked %d routes, want the whole route table (40 or more)", routes)
	}
}

// request sends method to path the way its kind of route expects: a form
// with the CSRF token for a browser POST, JSON for the verify API, the
// key in a header for forward auth.
func (b *browser) request(method, path, key string) response {
	b.t.Helper()
	var body *strings.Reader
	hdr := http.Header{}
	switch {
	case path == "/api/v1/keys/verify":
		body = strings.NewReader(`{"key": "` + key + `"}`)
		hdr.Set("Content-Type", "application/json")
	case path == "/api/v1/auth":
		body = strings.NewReader("")
		hdr.Set("Authorization", "Bearer "+key)
	case method == http.MethodPost:
		body = strings.NewReader(url.Values{"_csrf": {b.csrf()}}.Encode())
		hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		body = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, b.app.http.URL+path, body)
	req.Header = hdr
	return b.do(req)
}
