package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// keyPattern is what secret scanners match; every issued key must fit it.
var keyPattern = regexp.MustCompile(`^kw_[0-9A-Za-z]{49}$`)

// keyInText finds a key anywhere in a response.
var keyInText = regexp.MustCompile(`kw_[0-9A-Za-z]{49}`)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// withTrustedProxies makes the server believe X-Forwarded-For from these
// networks, so one loopback client can stand in for many client IPs.
func withTrustedProxies(prefixes ...string) appOption {
	return func(c *Config) {
		for _, p := range prefixes {
			c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
		}
	}
}

// userBrowser creates a user with role and returns a browser signed in as them.
func (a *testApp) userBrowser(email string, role db.Role) (*browser, db.User) {
	a.t.Helper()
	u := a.createUser(email, role)
	b := a.browser()
	b.login(email, testPassword)
	return b, u
}

// postWith is post with extra request headers (HX-Request, Authorization).
func (b *browser) postWith(path string, form url.Values, hdr http.Header) response {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("_csrf") {
		form.Set("_csrf", b.csrf())
	}
	req, _ := http.NewRequest(http.MethodPost, b.app.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	return b.do(req)
}

// getWith is get with extra request headers.
func (b *browser) getWith(path string, hdr http.Header) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.app.http.URL+path, nil)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	return b.do(req)
}

// keyForm is a valid create-key form, with a one-time token of its own as
// every form the server renders has; overrides replace fields.
func keyForm(name string, overrides ...string) url.Values {
	f := url.Values{"name": {name}, "description": {""}, "expiry": {"30"}, "expiry_date": {""}, "scopes": {""},
		"form_token": {rand.Text()}}
	for i := 0; i+1 < len(overrides); i += 2 {
		f.Set(overrides[i], overrides[i+1])
	}
	return f
}

// createKey creates a key through POST /keys (no JavaScript) and returns its
// id and the plaintext from the show-once page.
func (b *browser) createKey(form url.Values) (int64, string) {
	b.t.Helper()
	r := b.post("/keys", form)
	if r.StatusCode != http.StatusOK {
		b.t.Fatalf("POST /keys: got status %d, want 200; body: %s", r.StatusCode, r.body)
	}
	return revealed(b.t, r)
}

// revealed reads the key id and plaintext from a show-once response.
func revealed(t *testing.T, r response) (int64, string) {
	t.Helper()
	d := r.doc(t)
	secret, _ := d.Find(`input[data-testid="new-key"]`).Attr("value")
	if !keyPattern.MatchString(secret) {
		t.Fatalf("show-once key: got %q, want a match for %s", secret, keyPattern)
	}
	href, _ := d.Find(`[data-testid="reveal-done"]`).Attr("href")
	id, err := strconv.ParseInt(strings.TrimPrefix(href, "/keys/"), 10, 64)
	if err != nil {
		t.Fatalf("reveal-done link: got %q, want /keys/{id}", href)
	}
	return id, secret
}

// storeKey creates a key for userID directly in the database.
func (a *testApp) storeKey(userID int64, in db.KeyInput) (db.Key, string) {
	a.t.Helper()
	k, secret, err := a.store.CreateKey(context.Background(), userID, in, db.CLIActor())
	if err != nil {
		a.t.Fatalf("create key %q: %v", in.Name, err)
	}
	return k, secret
}

// countKeys counts every key in the database.
func (a *testApp) countKeys() int {
	a.t.Helper()
	n, err := a.store.CountKeys(context.Background(), db.AnyOwner(), db.KeyFilter{})
	if err != nil {
		a.t.Fatalf("count keys: %v", err)
	}
	return n
}

// getKey reads a key from the database, bypassing every cache.
func (a *testApp) getKey(id int64) db.Key {
	a.t.Helper()
	k, err := a.store.GetKey(context.Background(), db.AnyOwner(), id)
	if err != nil {
		a.t.Fatalf("get key %d: %v", id, err)
	}
	return k
}

// api sends a request to the API with no cookies and fails the test on a
// transport error. With withTrustedProxies, an X-Forwarded-For header sets
// the client IP.
func (a *testApp) api(method, path string, body io.Reader, hdr http.Header) response {
	a.t.Helper()
	r, err := a.send(method, path, body, hdr)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// apiNoFatal is api for other goroutines, which must not call t.Fatal: a
// transport error comes back as status 0 with the error as the body.
func (a *testApp) apiNoFatal(method, path, body string, hdr http.Header) response {
	r, err := a.send(method, path, strings.NewReader(body), hdr)
	if err != nil {
		return response{&http.Response{}, err.Error()}
	}
	return r
}

func (a *testApp) send(method, path string, body io.Reader, hdr http.Header) (response, error) {
	req, err := http.NewRequest(method, a.http.URL+path, body)
	if err != nil {
		return response{}, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	// Redirects are not followed: an API answer must never be one.
	c := &http.Client{Transport: a.http.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp, string(b)}, err
}

// verifyAnswer is the body of POST /api/v1/keys/verify.
type verifyAnswer struct {
	Valid bool           `json:"valid"`
	Code  string         `json:"code"`
	Key   map[string]any `json:"key"`
}

// verifyFrom asks the verify API about key, as client IP xff ("" for the
// direct peer), and fails the test unless the answer is a 200 verdict.
func (a *testApp) verifyFrom(xff, key, scope string) verifyAnswer {
	a.t.Helper()
	body, _ := json.Marshal(map[string]string{"key": key, "scope": scope})
	hdr := http.Header{"Content-Type": {"application/json"}}
	if xff != "" {
		hdr.Set("X-Forwarded-For", xff)
	}
	r := a.api(http.MethodPost, "/api/v1/keys/verify", bytes.NewReader(body), hdr)
	if r.StatusCode != http.StatusOK {
		a.t.Fatalf("verify: got status %d, want 200; body: %s", r.StatusCode, r.body)
	}
	var v verifyAnswer
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		a.t.Fatalf("verify: body %q is not JSON: %v", r.body, err)
	}
	return v
}

func (a *testApp) verify(key, scope string) verifyAnswer {
	a.t.Helper()
	return a.verifyFrom("", key, scope)
}

// wantCode fails unless key verifies with code ("" means valid).
func (a *testApp) wantCode(key, code string) {
	a.t.Helper()
	v := a.verify(key, "")
	if code == "" && !v.Valid {
		a.t.Fatalf("verify: got invalid %q, want valid", v.Code)
	}
	if code != "" && (v.Valid || v.Code != code) {
		a.t.Fatalf("verify: got valid=%v code %q, want %s", v.Valid, v.Code, code)
	}
}

// databaseBytes returns the raw bytes of the test's SQLite files (main
// database, WAL and shared memory). newTestApp puts the database in a
// TempDir of a.t, and every TempDir of one test shares a parent directory.
func (a *testApp) databaseBytes(t *testing.T) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(filepath.Dir(a.t.TempDir()), "*", "keyward.db*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("find database files: got %v (%v), want keyward.db and its WAL", files, err)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		all = append(all, b...)
	}
	return all
}

// mustTime parses an RFC 3339 time from JSON.
func mustTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time: got %v, want RFC 3339: %v", v, err)
	}
	return ts
}
