package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// newTransport is a keep-alive transport for one client of the harness.
func newTransport() *http.Transport {
	return &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
}

// verifyKey asks POST /api/v1/keys/verify about key and returns the verdict.
func verifyKey(c *http.Client, base, key string) (valid bool, code string, err error) {
	return verifyKeyFrom(c, base, key, "")
}

// verifyKeyFrom is verifyKey for a key presented by the client at ip (the
// body's "ip"; "" sends none), which keys with an IP allowlist need.
func verifyKeyFrom(c *http.Client, base, key, ip string) (valid bool, code string, err error) {
	body := `{"key":` + jsonString(key) + `}`
	if ip != "" {
		body = `{"key":` + jsonString(key) + `,"ip":` + jsonString(ip) + `}`
	}
	resp, err := c.Post(base+"/api/v1/keys/verify", "application/json", strings.NewReader(body))
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, "", fmt.Errorf("verify: status %d: %s", resp.StatusCode, b)
	}
	var v struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return false, "", fmt.Errorf("verify: %w", err)
	}
	return v.Valid, v.Code, nil
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// browser is a signed-in (or signing-in) dashboard user: a cookie jar and
// no redirect following, so responses can be checked as they are.
type browser struct {
	base string
	c    *http.Client
}

func newBrowser(base string, timeout time.Duration) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{base: base, c: &http.Client{
		Jar: jar, Timeout: timeout, Transport: newTransport(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// csrf returns the CSRF cookie (kw_csrf, or __Host-kw_csrf where the cookie
// can be Secure), fetching the sign-in page first if there is none.
func (b *browser) csrf() (string, error) {
	u, _ := url.Parse(b.base)
	for range 2 {
		for _, ck := range b.c.Jar.Cookies(u) {
			if strings.HasSuffix(ck.Name, "kw_csrf") {
				return ck.Value, nil
			}
		}
		resp, err := b.c.Get(b.base + "/login")
		if err != nil {
			return "", err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return "", errors.New("no CSRF cookie after GET /login")
}

// post submits a form with the CSRF token and returns the status.
func (b *browser) post(path string, form url.Values) (int, error) {
	tok, err := b.csrf()
	if err != nil {
		return 0, err
	}
	form.Set("_csrf", tok)
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// login signs in; a 303 is success.
func (b *browser) login(email, password string) error {
	status, err := b.post("/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return err
	}
	if status != http.StatusSeeOther {
		return fmt.Errorf("sign in as %s: status %d, want 303", email, status)
	}
	return nil
}

// get fetches path and returns the status and the body's size and newline
// count, reading the whole body.
func (b *browser) get(path string) (status int, size, lines int64, err error) {
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		size += int64(n)
		for _, c := range buf[:n] {
			if c == '\n' {
				lines++
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return resp.StatusCode, size, lines, rerr
		}
	}
	return resp.StatusCode, size, lines, nil
}
