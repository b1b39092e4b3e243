package web

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// soakLong turns TestSoak into the long run: `go test -run TestSoak ./web/ -long`
// (the package before -long, which only this test binary knows).
var soakLong = flag.Bool("long", false, "TestSoak: run 1,000,000 verifications instead of 200,000")

// raceEnabled reports whether the test binary was built with -race. The
// race detector makes every request about nine times slower, so TestSoak
// runs a quarter of the verifications under it to stay within about a
// minute on two cores. The build records -race in its settings, which is the same fact a
// `race` build-tag constant would carry, without a second file.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// soakBuffer is a log sink safe for the server's goroutines (the soak and
// the audit tests read what the server logged).
type soakBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *soakBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *soakBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// soakClient is a signed-in browser for goroutines other than the test's
// own: it returns errors instead of calling t.Fatal.
type soakClient struct {
	base string
	c    *http.Client
}

func newSoakClient(base string) *soakClient {
	jar, _ := cookiejar.New(nil)
	return &soakClient{base: base, c: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

func (s *soakClient) do(req *http.Request) (int, string, error) {
	resp, err := s.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func (s *soakClient) get(path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, s.base+path, nil)
	if err != nil {
		return 0, "", err
	}
	return s.do(req)
}

// csrf reads the CSRF cookie, fetching the sign-in page once to get one.
func (s *soakClient) csrf() (string, error) {
	u, _ := url.Parse(s.base)
	for range 2 {
		for _, c := range s.c.Jar.Cookies(u) {
			if strings.HasSuffix(c.Name, csrfName) {
				return c.Value, nil
			}
		}
		if _, _, err := s.get("/login"); err != nil {
			return "", err
		}
	}
	return "", errors.New("no CSRF cookie")
}

func (s *soakClient) post(path string, form url.Values) (int, string, error) {
	tok, err := s.csrf()
	if err != nil {
		return 0, "", err
	}
	form.Set("_csrf", tok)
	req, err := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return s.do(req)
}

// cookies returns the values of the client's cookies.
func (s *soakClient) cookies() []string {
	u, _ := url.Parse(s.base)
	var out []string
	for _, c := range s.c.Jar.Cookies(u) {
		out = append(out, c.Value)
	}
	return out
}

func (s *soakClient) login(email, password string) error {
	status, body, err := s.post("/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return err
	}
	if status != http.StatusSeeOther {
		return fmt.Errorf("sign-in: got status %d, want 303: %.200s", status, body)
	}
	return nil
}

// soakRevealed reads the key id and plaintext from a show-once page.
func soakRevealed(body string) (int64, string, error) {
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	secret, _ := d.Find(`input[data-testid="new-key"]`).Attr("value")
	href, _ := d.Find(`[data-testid="reveal-done"]`).Attr("href")
	id, err := strconv.ParseInt(strings.TrimPrefix(href, "/keys/"), 10, 64)
	if !strings.HasPrefix(secret, "kw_") || err != nil {
		return 0, "", fmt.Errorf("no show-once key (key %q, link %q) in %.300s", secret, href, body)
	}
	return id, secret, nil
}

// soakPool is the set of keys under test. Live keys may be verified,
// rolled, disabled and revoked; a key taken for a change leaves the live set
// so that two changes never race on one key (which would only produce
// conflicts). stoppedAt is when the client saw the response of the call that
// stopped a key (revoke, disable, roll without grace): any success for a
// request sent after it is a failure.
type soakPool struct {
	mu        sync.Mutex
	live      []int64
	secrets   map[int64]string
	all       []int64
	stoppedAt map[int64]time.Time
	// rolled are live keys rolled with grace: they keep working, but a key
	// has one successor, so rolling one again must be refused (409).
	rolled map[int64]bool
}

func newSoakPool() *soakPool {
	return &soakPool{secrets: map[int64]string{}, stoppedAt: map[int64]time.Time{}, rolled: map[int64]bool{}}
}

// markRolled notes that id has a successor; wasRolled asks.
func (p *soakPool) markRolled(id int64) {
	p.mu.Lock()
	p.rolled[id] = true
	p.mu.Unlock()
}

func (p *soakPool) wasRolled(id int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rolled[id]
}

func (p *soakPool) add(id int64, secret string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live = append(p.live, id)
	p.all = append(p.all, id)
	p.secrets[id] = secret
}

// take removes a random live key for a change; ok is false when too few
// are left to keep verifications meaningful.
func (p *soakPool) take(rng *rand.Rand) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.live) < 24 {
		return 0, false
	}
	i := rng.IntN(len(p.live))
	id := p.live[i]
	p.live[i] = p.live[len(p.live)-1]
	p.live = p.live[:len(p.live)-1]
	return id, true
}

// putBack returns a key that is still usable to the live set.
func (p *soakPool) putBack(id int64) {
	p.mu.Lock()
	p.live = append(p.live, id)
	p.mu.Unlock()
}

func (p *soakPool) stop(id int64, at time.Time) {
	p.mu.Lock()
	p.stoppedAt[id] = at
	p.mu.Unlock()
}

// pick returns a key to verify: mostly live ones, sometimes any key ever
// made, so stopped keys keep being tried.
func (p *soakPool) pick(rng *rand.Rand) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rng.IntN(10) == 0 || len(p.live) == 0 {
		return p.secrets[p.all[rng.IntN(len(p.all))]]
	}
	return p.secrets[p.live[rng.IntN(len(p.live))]]
}

// soakSuccess is one valid=true answer: which key, and when the request
// that got it was sent.
type soakSuccess struct {
	id     int64
	sentAt time.Time
}

// soakTally is one verification worker's record.
type soakTally struct {
	done      int
	successes []soakSuccess
	refusals  map[string]int
	statuses  map[int]int
	errs      []error
}
