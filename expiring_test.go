package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web"
)

// webClient is a browser without JavaScript against a test server: a cookie
// jar, the CSRF token read from the pages, no redirects followed.
type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newWebClient(t *testing.T, base string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get fetches path and fails the test unless it answers 200.
func (w *webClient) get(path string) string {
	w.t.Helper()
	resp, err := w.c.Get(w.base + path)
	if err != nil {
		w.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("GET %s: got %d, want 200; body %.300s", path, resp.StatusCode, body)
	}
	return string(body)
}

func (w *webClient) doc(path string) *goquery.Document {
	w.t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(w.get(path)))
	if err != nil {
		w.t.Fatalf("parse %s: %v", path, err)
	}
	return d
}

// login signs in through the form, with the CSRF token the form carries.
func (w *webClient) login(email, password string) {
	w.t.Helper()
	tok := w.doc("/login").Find(`input[name="_csrf"]`).AttrOr("value", "")
	resp, err := w.c.PostForm(w.base+"/login", url.Values{"email": {email}, "password": {password}, "_csrf": {tok}})
	if err != nil {
		w.t.Fatalf("POST /login: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		w.t.Fatalf("sign in as %s: got %d, want 303", email, resp.StatusCode)
	}
}

// TestExpiringSoonAgrees creates keys just inside, at and just outside
// db.ExpiringWindow with the CLI, and asks every place that says "expiring
// soon" which keys it means: the person's key list (its notice and its
// filter), the admin overview's card, `keyward keys list --status expiring
// --json` and the CSV export's status column. One clock for all of them.
func TestExpiringSoonAgrees(t *testing.T) {
	c := newCLI(t)
	c.addUser("admin@example.com", true)
	c.addUser("ann@example.com", false)
	// Expired a minute ago by the time the others are made: no longer
	// "expiring soon".
	c.createKey("--user", "ann@example.com", "--name", "expired", "--expires", "1m")
	c.now = c.now.Add(2 * time.Minute)
	window := db.ExpiringWindow
	for name, expires := range map[string]string{
		"just inside":  (window - time.Minute).String(),
		"at the edge":  window.String(),
		"just outside": (window + time.Minute).String(),
		"a year":       "365d",
		"never":        "never",
	} {
		c.createKey("--user", "ann@example.com", "--name", name, "--expires", expires)
	}
	want := []string{"at the edge", "just inside"}

	// The CLI.
	var cli []string
	for _, k := range c.listJSON("--status", "expiring") {
		cli = append(cli, fmt.Sprint(k["name"]))
	}
	slices.Sort(cli)
	if !slices.Equal(cli, want) {
		t.Errorf("keys list --status expiring: got %q, want %q", cli, want)
	}

	// The server, on the same database and clock.
	store := c.store()
	verifier := db.NewVerifier(store, db.VerifierOptions{})
	srv, err := web.New(web.Config{Now: func() time.Time { return c.now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, store, verifier)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	ann := newWebClient(t, hs.URL)
	ann.login("ann@example.com", testPassword)
	notice := ann.doc("/keys").Find(`[data-testid="key-notice"][data-kind="expiring"]`).Text()
	if wantNotice := fmt.Sprintf("%d of your keys expire within %d days", len(want), db.ExpiringWindowDays); !strings.Contains(notice, wantNotice) {
		t.Errorf("/keys notice: got %q, want %q", strings.Join(strings.Fields(notice), " "), wantNotice)
	}
	var listed []string
	ann.doc("/keys?status=expiring").Find(`[data-testid="key-row"] [data-testid="key-link"]`).Each(func(_ int, s *goquery.Selection) {
		listed = append(listed, s.Text())
	})
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Errorf("/keys?status=expiring: got %q, want %q", listed, want)
	}

	admin := newWebClient(t, hs.URL)
	admin.login("admin@example.com", testPassword)
	card := strings.TrimSpace(admin.doc("/admin").Find(`[data-testid="stat-expiring"] [data-testid="stat-value"]`).Text())
	if card != strconv.Itoa(len(want)) {
		t.Errorf("/admin expiring-soon card: got %q, want %d", card, len(want))
	}

	records, err := csv.NewReader(strings.NewReader(admin.get("/admin/keys.csv"))).ReadAll()
	if err != nil || len(records) == 0 {
		t.Fatalf("/admin/keys.csv: %v (%d records)", err, len(records))
	}
	nameCol, statusCol := slices.Index(records[0], "name"), slices.Index(records[0], "status")
	if nameCol < 0 || statusCol < 0 {
		t.Fatalf("/admin/keys.csv header: got %q, want name and status columns", records[0])
	}
	var exported []string
	for _, r := range records[1:] {
		if r[statusCol] == string(db.KeyExpiring) {
			exported = append(exported, r[nameCol])
		}
	}
	slices.Sort(exported)
	if !slices.Equal(exported, want) {
		t.Errorf("/admin/keys.csv status expiring: got %q, want %q", exported, want)
	}
}
