package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// noLeakFloor answers leak reports at once: the tests compare answers,
// not their timing (bench/leaks measures that).
func noLeakFloor(c *Config) { c.LeakAnswerFloor = -1 }

// reportLeak posts body to the report-leak endpoint as client ip (through
// withTrustedProxies; "" for the direct peer).
func (a *testApp) reportLeak(body, ip string) response {
	a.t.Helper()
	hdr := http.Header{"Content-Type": {"application/json"}}
	if ip != "" {
		hdr.Set("X-Forwarded-For", ip)
	}
	return a.api(http.MethodPost, "/api/v1/keys/report-leak", strings.NewReader(body), hdr)
}

func leakBody(key, url string) string {
	return `{"key":"` + key + `","url":"` + url + `"}`
}

func TestReportLeakRevokesAKey(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			a := newEngineApp(t, engine, noLeakFloor)
			u := a.createUser("ann@example.com", db.RoleMember)
			k, secret := a.storeKey(u.ID, db.KeyInput{Name: "deploy"})
			a.wantCode(secret, "")
			r := a.reportLeak(leakBody(secret, "https://example.com/paste/1"), "")
			if r.StatusCode != http.StatusAccepted || r.body != "{\"received\":true}\n" {
				t.Fatalf("report: got %d %q, want 202 {\"received\":true}", r.StatusCode, r.body)
			}
			a.wantCode(secret, "REVOKED")
			events, err := a.store.ListAudit(t.Context(), db.AuditFilter{Action: db.ActionKeyLeakReported})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].TargetID != k.ID || events[0].Detail["url"] != "https://example.com/paste/1" {
				t.Errorf("audit: got %+v, want one leak report on key %d with its URL", events, k.ID)
			}
			if got := a.getKey(k.ID); !strings.HasPrefix(got.RevokeReason, "reported as leaked") {
				t.Errorf("revoke reason: got %q", got.RevokeReason)
			}
		})
	}
}

// TestReportLeakAnswersAlike: whatever is reported, the answer is the
// same bytes: status, the headers a client sees, body.
func TestReportLeakAnswersAlike(t *testing.T) {
	a := newTestApp(t, noLeakFloor)
	u := a.createUser("ann@example.com", db.RoleMember)
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "deploy"})
	unknown := mustGenerate(t)
	cases := []struct{ name, body string }{
		{"real key", leakBody(secret, "")},
		{"unknown well-formed key", leakBody(unknown, "")},
		{"malformed key", leakBody(badChecksum(unknown), "")},
		{"not a kw_ string", leakBody("ghp_notours", "")},
		{"garbage JSON", `{"key": [1, 2`},
		{"empty body", ``},
		{"no key field", `{"url":"https://example.com"}`},
	}
	// Headers that differ per request by design, not by what was sent.
	perRequest := []string{"Date", "X-Request-Id"}
	var first response
	for i, tc := range cases {
		r := a.reportLeak(tc.body, "")
		for _, h := range perRequest {
			r.Header.Del(h)
		}
		if i == 0 {
			first = r
			if r.StatusCode != http.StatusAccepted {
				t.Fatalf("%s: got %d, want 202", tc.name, r.StatusCode)
			}
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if r.StatusCode != first.StatusCode || r.body != first.body {
				t.Errorf("got %d %q, want %d %q (as for a real key)", r.StatusCode, r.body, first.StatusCode, first.body)
			}
			keys := func(h http.Header) []string {
				return slices.Sorted(func(yield func(string) bool) {
					for k := range h {
						if !yield(k) {
							return
						}
					}
				})
			}
			if got, want := keys(r.Header), keys(first.Header); !slices.Equal(got, want) {
				t.Errorf("header names: got %v, want %v", got, want)
			}
			for name := range first.Header {
				if got, want := r.Header.Get(name), first.Header.Get(name); got != want {
					t.Errorf("header %s: got %q, want %q", name, got, want)
				}
			}
		})
	}
	a.wantCode(secret, "REVOKED")
}

func TestReportLeakDisablesWhenSet(t *testing.T) {
	a := newTestApp(t, noLeakFloor)
	rules, err := a.store.ActivityRules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rules.LeakDisable = true
	if err := a.store.SetActivityRules(t.Context(), rules, db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	u := a.createUser("ann@example.com", db.RoleMember)
	k, secret := a.storeKey(u.ID, db.KeyInput{Name: "deploy"})
	if r := a.reportLeak(leakBody(secret, ""), ""); r.StatusCode != http.StatusAccepted {
		t.Fatalf("report: got %d, want 202", r.StatusCode)
	}
	a.wantCode(secret, "DISABLED")
	if got := a.getKey(k.ID); got.RevokedAt != nil {
		t.Errorf("key revoked at %v, want only disabled", got.RevokedAt)
	}
}

// TestReportLeakFlood: past its allowance an address gets 429 with
// Retry-After and a code, and its reports change nothing; another
// address still reports.
func TestReportLeakFlood(t *testing.T) {
	a := newTestApp(t, noLeakFloor, withTrustedProxies("127.0.0.0/8", "::1/128"))
	u := a.createUser("ann@example.com", db.RoleMember)
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "deploy"})
	_, other := a.storeKey(u.ID, db.KeyInput{Name: "other"})
	const flooder = "198.51.100.7"
	for i := range 10 {
		if r := a.reportLeak(leakBody(mustGenerate(t), ""), flooder); r.StatusCode != http.StatusAccepted {
			t.Fatalf("report %d within the allowance: got %d, want 202", i+1, r.StatusCode)
		}
	}
	r := a.reportLeak(leakBody(secret, ""), flooder)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(r.body, `"RATE_LIMITED"`) {
		t.Fatalf("report past the allowance: got %d Retry-After %q %s, want 429 with Retry-After and RATE_LIMITED",
			r.StatusCode, r.Header.Get("Retry-After"), r.body)
	}
	a.wantCode(secret, "")
	if r := a.reportLeak(leakBody(other, ""), "203.0.113.50"); r.StatusCode != http.StatusAccepted {
		t.Fatalf("report from another address: got %d, want 202", r.StatusCode)
	}
	a.wantCode(other, "REVOKED")
}

// TestReportLeakMatchesDocument holds the 202 and the 429 to what the
// OpenAPI document says of report-leak (the validating client fails on
// any answer the document does not describe).
func TestReportLeakMatchesDocument(t *testing.T) {
	a := newTestApp(t, noLeakFloor)
	c := a.mgmt("")
	for i := range 11 {
		want := http.StatusAccepted
		if i == 10 {
			want = http.StatusTooManyRequests
		}
		r := c.call(http.MethodPost, "/api/v1/keys/report-leak", map[string]string{"key": mustGenerate(t), "url": "https://example.com/x"}, nil)
		if r.StatusCode != want {
			t.Fatalf("report %d: got %d, want %d", i+1, r.StatusCode, want)
		}
	}
}
