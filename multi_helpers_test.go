package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/dbtest"
)

// Helpers of the multi-instance tests (multi_instance_test.go): two real
// `keyward serve` processes on one PostgreSQL database, driven over
// loopback HTTP like a load balancer's clients would drive them.

// openPG opens the test's PostgreSQL database from the test itself, for
// seeding and for checks behind the servers' backs. now, when not nil, is
// the store's clock (to make keys that look old).
func openPG(t *testing.T, target string, now func() time.Time) *db.Store {
	t.Helper()
	s, err := db.Open(context.Background(), target, db.Options{Argon2: dbtest.Argon2, Now: now})
	if err != nil {
		t.Fatalf("open %s: %v", db.RedactTarget(target), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seedUser creates an account with procPassword. The cheap argon2id
// parameters travel in the hash, so the servers (production parameters)
// accept it.
func seedUser(t *testing.T, s *db.Store, email string, role db.Role) db.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), email, procPassword, role, db.CLIActor())
	if err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	return u
}

// seedKey creates a key for userID and returns it with its plaintext.
func seedKey(t *testing.T, s *db.Store, userID int64, name string) (db.Key, string) {
	t.Helper()
	k, secret, err := s.CreateKey(context.Background(), userID, db.KeyInput{Name: name}, db.CLIActor())
	if err != nil {
		t.Fatalf("create key %q: %v", name, err)
	}
	return k, secret
}

// verifyCode asks url about key and returns the verdict and its code.
func verifyCode(c *http.Client, url, key string) (bool, string, error) {
	resp, err := c.Post(url+"/api/v1/keys/verify", "application/json", strings.NewReader(`{"key":"`+key+`"}`))
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, "", fmt.Errorf("verify on %s: status %d", url, resp.StatusCode)
	}
	var v struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return false, "", fmt.Errorf("verify on %s: %w", url, err)
	}
	return v.Valid, v.Code, nil
}

// dailyUses sums a key's daily counts over today and yesterday (UTC), so a
// test that runs over midnight still counts every use.
func dailyUses(t *testing.T, s *db.Store, id int64) int64 {
	t.Helper()
	days, err := s.KeyUsage(context.Background(), db.AnyOwner(), id, 2)
	if err != nil {
		t.Fatalf("usage of key %d: %v", id, err)
	}
	var n int64
	for _, d := range days {
		n += d.Count
	}
	return n
}

// waitUntil polls cond every 20 ms until it holds or within passes, and
// reports whether it held.
func waitUntil(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procBrowser is a person's browser without JavaScript: one cookie jar
// for every instance (the cookies are host-only for 127.0.0.1, which a
// jar, like a browser, shares across ports), redirects not followed.
type procBrowser struct {
	t *testing.T
	c *http.Client
}

func newProcBrowser(t *testing.T) *procBrowser {
	jar, _ := cookiejar.New(nil)
	return &procBrowser{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get fetches base+path and returns the status, the Location and the body.
func (b *procBrowser) get(base, path string) (int, string, string) {
	b.t.Helper()
	resp, err := b.c.Get(base + path)
	if err != nil {
		b.t.Fatalf("GET %s%s: %v", base, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// post submits a form to base+path with the CSRF token (the double-submit
// cookie, fetched from /login first if the jar has none) and returns the
// status and the Location.
func (b *procBrowser) post(base, path string, form url.Values) (int, string) {
	b.t.Helper()
	tok := b.cookie(base, "kw_csrf")
	if tok == "" {
		b.get(base, "/login")
		if tok = b.cookie(base, "kw_csrf"); tok == "" {
			b.t.Fatalf("no CSRF cookie from %s/login", base)
		}
	}
	form.Set("_csrf", tok)
	resp, err := b.c.PostForm(base+path, form)
	if err != nil {
		b.t.Fatalf("POST %s%s: %v", base, path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// login signs in on base and fails the test unless it answers 303.
func (b *procBrowser) login(base, email string) {
	b.t.Helper()
	if st, _ := b.post(base, "/login", url.Values{"email": {email}, "password": {procPassword}}); st != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s on %s: got %d, want 303", email, base, st)
	}
}

// cookie returns the value of the cookie named name (or its __Host-
// form) the jar holds for base.
func (b *procBrowser) cookie(base, name string) string {
	u, _ := url.Parse(base)
	for _, ck := range b.c.Jar.Cookies(u) {
		if ck.Name == name || ck.Name == "__Host-"+name {
			return ck.Value
		}
	}
	return ""
}

// cookies returns every cookie the jar holds for base, to replay later.
func (b *procBrowser) cookies(base string) []*http.Cookie {
	u, _ := url.Parse(base)
	return b.c.Jar.Cookies(u)
}

// replay is a GET of base+path that sends exactly cookies, as a copy of
// the cookie jar kept from before a sign-out would.
func replay(t *testing.T, base, path string, cookies []*http.Cookie) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	for _, ck := range cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	c := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", base, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// pctl returns the q-quantile (0 < q <= 1) of ds by the nearest-rank
// method.
func pctl(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*q+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
