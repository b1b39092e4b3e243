package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// TestAPIUsage checks that concurrent verifications over HTTP are all
// counted once flushed, and that the key page shows them.
func TestAPIUsage(t *testing.T) {
	const n, workers = 200, 16
	a := newTestApp(t)
	b, _ := a.userBrowser("ann@example.com", db.RoleMember)
	id, secret := b.createKey(keyForm("busy"))
	path := "/keys/" + itoa(id)
	if got := strings.TrimSpace(b.get(path).doc(t).Find(`[data-testid="last-used"]`).Text()); got != "Never used" {
		t.Fatalf("last used before any verification: got %q, want Never used", got)
	}

	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				body := `{"key":"` + secret + `"}`
				hdr := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"svc/" + strconv.Itoa(i%3)}}
				var r response
				if i%2 == 0 {
					r = a.apiNoFatal(http.MethodPost, "/api/v1/keys/verify", body, hdr)
				} else {
					hdr.Set("Authorization", "Bearer "+secret)
					r = a.apiNoFatal(http.MethodGet, "/api/v1/auth", "", hdr)
				}
				if r.StatusCode != http.StatusOK || (i%2 == 0 && !strings.Contains(r.body, `"valid":true`)) {
					mu.Lock()
					failures = append(failures, strconv.Itoa(r.StatusCode)+" "+r.body)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("verifications: got %d failures, want 0; first: %s", len(failures), failures[0])
	}
	a.flush()

	usage, err := a.store.KeyUsage(context.Background(), db.AnyOwner(), id, 30)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, d := range usage {
		total += d.Count
	}
	if today := usage[len(usage)-1].Count; today != n || total != n {
		t.Errorf("daily count: got today %d, total %d, want %d", today, total, n)
	}

	d := b.get(path).doc(t)
	if got := d.Find(`[data-testid="usage-total"]`).Text(); !strings.Contains(got, "200 verifications") {
		t.Errorf("usage total: got %q, want 200 verifications", strings.Join(strings.Fields(got), " "))
	}
	if got := strings.TrimSpace(d.Find(`[data-testid="usage-table"] tbody tr`).Last().Find("td").Last().Text()); got != "200" {
		t.Errorf("today's row in the usage table: got %q, want 200", got)
	}
	lastUsed := d.Find(`[data-testid="last-used"]`)
	if strings.Contains(lastUsed.Text(), "Never used") || lastUsed.Find("time").Length() != 1 {
		t.Errorf("last used: got %q, want a time", strings.TrimSpace(lastUsed.Text()))
	}
	if got := d.Find(`[data-testid="last-used-ip"]`).Text(); got != "127.0.0.1" {
		t.Errorf("last used from: got %q, want 127.0.0.1", got)
	}
	var newIP []string
	d.Find(`[data-testid="event-row"]`).Each(func(_ int, s *goquery.Selection) {
		if txt := strings.Join(strings.Fields(s.Text()), " "); strings.Contains(txt, "Used from a new IP") {
			newIP = append(newIP, txt)
		}
	})
	if len(newIP) != 1 || !strings.Contains(newIP[0], "127.0.0.1") {
		t.Errorf("new-IP events: got %q, want one naming 127.0.0.1", newIP)
	}

	// The same address again is not news.
	a.wantCode(secret, "")
	a.flush()
	events, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionKeyNewIP, TargetType: "key", TargetID: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Errorf("new-IP audit events after a second flush: got %d, want 1", len(events))
	}
}

// TestAPIThrottle checks that guessing from one address is slowed while
// everyone else is served, and that keys Keyward knows to be valid are
// answered even from the guesser's address (a NAT or proxy shared with a
// real service): only unknown and malformed keys wait.
func TestAPIThrottle(t *testing.T) {
	a := newTestApp(t, withTrustedProxies("127.0.0.0/8"))
	u := a.createUser("svc@example.com", db.RoleMember)
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "good"})
	_, unseen := a.storeKey(u.ID, db.KeyInput{Name: "never verified yet"})
	const attacker, service = "203.0.113.7", "198.51.100.9"
	if v := a.verifyFrom(service, secret, ""); !v.Valid {
		t.Fatalf("valid key before any guessing: got %q", v.Code)
	}

	const junk = `{"key":"kw_guess"}`
	var limited response
	for i := 0; i < 1000; i++ {
		r := a.api(http.MethodPost, "/api/v1/keys/verify", strings.NewReader(junk),
			http.Header{"Content-Type": {"application/json"}, "X-Forwarded-For": {attacker}})
		if r.StatusCode == http.StatusTooManyRequests {
			limited = r
			break
		}
		if r.StatusCode != http.StatusOK {
			t.Fatalf("attempt %d: got status %d, want 200 or 429", i, r.StatusCode)
		}
	}
	if limited.Response == nil {
		t.Fatalf("1,000 malformed keys from one address: got no 429")
	}
	if s, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After: got %q, want a positive number of seconds", limited.Header.Get("Retry-After"))
	}
	if !strings.Contains(limited.body, `"RATE_LIMITED"`) {
		t.Errorf("429 body: got %s, want error code RATE_LIMITED", limited.body)
	}

	fromAttacker := func(t *testing.T, key string) (verifyStatus, authStatus int) {
		t.Helper()
		r := a.api(http.MethodPost, "/api/v1/keys/verify", strings.NewReader(`{"key":"`+key+`"}`),
			http.Header{"Content-Type": {"application/json"}, "X-Forwarded-For": {attacker}})
		if r.StatusCode == http.StatusOK && !strings.Contains(r.body, `"valid":true`) {
			t.Errorf("verify from the throttled address: got %s, want a valid answer or a 429", r.body)
		}
		f := a.api(http.MethodGet, "/api/v1/auth", nil, http.Header{"X-Forwarded-For": {attacker}, "Authorization": {"Bearer " + key}})
		return r.StatusCode, f.StatusCode
	}
	tests := []struct {
		name string
		key  string
		want int
	}{
		{"a known valid key is answered", secret, http.StatusOK},
		{"a valid key never verified waits", unseen, http.StatusTooManyRequests},
		{"an unknown key waits", mustGenerate(t), http.StatusTooManyRequests},
		{"a malformed key waits", "kw_guess", http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run("throttled address: "+tt.name, func(t *testing.T) {
			v, f := fromAttacker(t, tt.key)
			if v != tt.want || f != tt.want {
				t.Errorf("verify %d, forward auth %d: want %d for both", v, f, tt.want)
			}
		})
	}
	t.Run("throttled address: a known key stays known after a key change drops the cache", func(t *testing.T) {
		a.storeKey(u.ID, db.KeyInput{Name: "another"})
		if v, f := fromAttacker(t, secret); v != http.StatusOK || f != http.StatusOK {
			t.Errorf("verify %d, forward auth %d: want 200 for both", v, f)
		}
	})
	t.Run("other addresses are unaffected", func(t *testing.T) {
		if v := a.verifyFrom(service, unseen, ""); !v.Valid {
			t.Errorf("valid key from another address: got %q, want valid", v.Code)
		}
		r := a.api(http.MethodGet, "/api/v1/auth", nil, http.Header{"X-Forwarded-For": {service}, "X-Api-Key": {secret}})
		if r.StatusCode != http.StatusOK {
			t.Errorf("forward auth from another address: got %d, want 200", r.StatusCode)
		}
		if v := a.verifyFrom("198.51.100.10", "kw_guess", ""); v.Code != "MALFORMED" {
			t.Errorf("a first mistake from a third address: got %q, want MALFORMED", v.Code)
		}
	})
}
