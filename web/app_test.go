package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
)

// testPassword passes the password policy.
const testPassword = "correct horse battery staple"

// newClock is the clock every test app starts with.
func newClock() *dbtest.Clock { return dbtest.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)) }

// testApp is a real Keyward server on a loopback port over a real SQLite
// file, with an injected clock.
type testApp struct {
	t          *testing.T
	store      *db.Store
	dbPath     string
	verifier   *db.Verifier
	server     *Server
	http       *httptest.Server
	clock      *dbtest.Clock
	setupToken string
	cancel     context.CancelFunc
	done       chan struct{}
}

type appOption func(*Config)

func newTestApp(t *testing.T, opts ...appOption) *testApp {
	t.Helper()
	clk := newClock()
	store, dbPath := dbtest.Open(t, db.Options{Now: clk.Now})
	dbtest.Catalog(t, store, testCatalog...)
	return serve(t, clk, store, dbPath, nil, "test-setup-token", opts...)
}

// serve runs a Keyward server on store until the test ends, as one
// `keyward serve` would: with v nil, a verifier of its own (running, and
// stopped after the server); with v set, that verifier, shared with the
// server that owns it (two servers of one process).
func serve(t *testing.T, clk *dbtest.Clock, store *db.Store, dbPath string, v *db.Verifier, setupToken string, opts ...appOption) *testApp {
	t.Helper()
	a := &testApp{t: t, store: store, dbPath: dbPath, verifier: v, clock: clk}
	if v == nil {
		ctx, cancel := context.WithCancel(context.Background())
		a.verifier = db.NewVerifier(store, db.VerifierOptions{FlushInterval: 50 * time.Millisecond})
		a.cancel, a.done = cancel, make(chan struct{})
		go func() { a.verifier.Run(ctx); close(a.done) }()
	}
	cfg := Config{
		Now:        clk.Now,
		SetupToken: setupToken,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	a.http = httptest.NewUnstartedServer(nil)
	// Before the options: a mailer's links need it.
	cfg.BaseURL = "http://" + a.http.Listener.Addr().String()
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg, store, a.verifier)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	a.server, a.setupToken = srv, cfg.SetupToken
	a.http.Config.Handler = srv.Handler()
	a.http.Start()
	t.Cleanup(func() {
		a.http.Close()
		if a.cancel != nil {
			a.cancel()
			<-a.done
		}
	})
	return a
}

// flush writes pending usage now.
func (a *testApp) flush() {
	a.t.Helper()
	if err := a.verifier.Flush(context.Background()); err != nil {
		a.t.Fatalf("flush: %v", err)
	}
}

// createUser adds a user directly in the database.
func (a *testApp) createUser(email string, role db.Role) db.User {
	a.t.Helper()
	u, err := a.store.CreateUser(context.Background(), email, testPassword, role, db.CLIActor())
	if err != nil {
		a.t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests can assert them.
type browser struct {
	t    *testing.T
	app  *testApp
	c    *http.Client
	base *url.URL
}

func (a *testApp) browser() *browser {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(a.http.URL)
	return &browser{t: a.t, app: a, base: u, c: &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// response is a read response.
type response struct {
	*http.Response
	body string
}

func (r response) doc(t *testing.T) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse html: %v", err)
	}
	return d
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{resp, string(body)}
}

func (b *browser) get(path string) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.app.http.URL+path, nil)
	return b.do(req)
}

// csrf returns the CSRF cookie's value, fetching a page first if needed.
func (b *browser) csrf() string {
	b.t.Helper()
	for range 2 {
		for _, c := range b.c.Jar.Cookies(b.base) {
			if strings.HasSuffix(c.Name, csrfName) {
				return c.Value
			}
		}
		b.get("/login")
	}
	b.t.Fatal("no CSRF cookie")
	return ""
}

// post submits a form like a browser would, with the CSRF token.
func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("_csrf") {
		form.Set("_csrf", b.csrf())
	}
	req, _ := http.NewRequest(http.MethodPost, b.app.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// login signs in and fails the test unless it worked.
func (b *browser) login(email, password string) {
	b.t.Helper()
	r := b.post("/login", url.Values{"email": {email}, "password": {password}})
	if r.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login %s: got status %d, want 303; body: %s", email, r.StatusCode, r.body)
	}
}

// sessionCookie returns the current session cookie value ("" if none).
func (b *browser) sessionCookie() string {
	for _, c := range b.c.Jar.Cookies(b.base) {
		if strings.HasSuffix(c.Name, sessionName) {
			return c.Value
		}
	}
	return ""
}

func TestSmokeSetupLoginKeys(t *testing.T) {
	a := newTestApp(t)
	b := a.browser()
	r := b.get("/setup?token=" + a.setupToken)
	if r.StatusCode != 200 {
		t.Fatalf("GET /setup: got %d, want 200", r.StatusCode)
	}
	r = b.post("/setup", url.Values{"token": {a.setupToken}, "email": {"admin@example.com"},
		"password": {testPassword}, "password_confirm": {testPassword}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/keys" {
		t.Fatalf("POST /setup: got %d %q, want 303 /keys; body %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	r = b.get("/keys")
	if r.StatusCode != 200 {
		t.Fatalf("GET /keys: got %d; body %s", r.StatusCode, r.body)
	}
	r = b.post("/keys", keyForm("ci", "scopes", "read"))
	if r.StatusCode != 200 || !strings.Contains(r.body, "kw_") {
		t.Fatalf("POST /keys: got %d; body %s", r.StatusCode, r.body)
	}
}
