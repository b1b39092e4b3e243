package web

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// TestMetrics checks that /metrics counts verifications by outcome and
// requests by route, and that a client cannot invent label values.
func TestMetrics(t *testing.T) {
	a := newTestApp(t)
	u := a.createUser("svc@example.com", db.RoleMember)
	_, secret := a.storeKey(u.ID, db.KeyInput{Name: "svc"})

	send := func(method, path, key string) {
		t.Helper()
		req, err := http.NewRequest(method, a.http.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	var text string
	send(http.MethodGet, "/api/v1/auth", secret)
	send(http.MethodGet, "/api/v1/auth", secret)
	send(http.MethodGet, "/api/v1/auth", mustGenerate(t))
	send(http.MethodGet, "/api/v1/auth", "kw_short")
	send("BREW", "/no-such-page", "")
	send("X-INVENTED-1", "/no-such-page", "")

	resp, err := http.Get(a.http.URL + "/metrics")
	defer func() {
		if t.Failed() {
			t.Log(text)
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	text = string(body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: got status %d, want 200", resp.StatusCode)
	}
	for _, want := range []string{
		`keyward_verifications_total{outcome="valid"} 2`,
		`keyward_verifications_total{outcome="NOT_FOUND"} 1`,
		`keyward_verifications_total{outcome="MALFORMED"} 1`,
		`keyward_verification_duration_seconds_count 4`,
		`keyward_http_requests_total{method="GET",route="/api/v1/auth",status="200"} 2`,
		`keyward_http_requests_total{method="GET",route="/api/v1/auth",status="401"} 2`,
		// Unknown methods are state changes without a CSRF token: 403.
		`keyward_http_requests_total{method="OTHER",route="/*",status="403"} 2`,
		`keyward_http_request_duration_seconds_count{route="/api/v1/auth"} 4`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics: missing %q", want)
		}
	}
	for _, invented := range []string{"BREW", "X-INVENTED-1"} {
		if strings.Contains(text, invented) {
			t.Errorf("/metrics: got the client's method %q as a label value, want it folded into OTHER", invented)
		}
	}
}

// TestMetricsToken: with a metrics token, /metrics answers only requests
// that carry it as a bearer token (401 with WWW-Authenticate otherwise),
// and neither the token nor a wrong guess reaches the log. Without one it
// stays open (TestMetrics).
func TestMetricsToken(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	var logs soakBuffer
	a := newTestApp(t, func(c *Config) {
		c.MetricsToken = token
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	tests := []struct {
		name, auth string
		want       int
	}{
		{"the token", "Bearer " + token, http.StatusOK},
		{"scheme in lower case", "bearer " + token, http.StatusOK},
		{"no Authorization", "", http.StatusUnauthorized},
		{"a wrong token", "Bearer wrong-guess-0123456789abcdef", http.StatusUnauthorized},
		{"the token with a character more", "Bearer " + token + "0", http.StatusUnauthorized},
		{"a prefix of the token", "Bearer " + token[:16], http.StatusUnauthorized},
		{"the token as Basic", "Basic " + token, http.StatusUnauthorized},
		{"the token alone", token, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.auth != "" {
				hdr.Set("Authorization", tt.auth)
			}
			r := a.api(http.MethodGet, "/metrics", nil, hdr)
			if r.StatusCode != tt.want {
				t.Fatalf("status: got %d, want %d", r.StatusCode, tt.want)
			}
			if tt.want == http.StatusOK {
				if !strings.Contains(r.body, "keyward_verifications_total") {
					t.Errorf("body: got %.200q, want the metrics", r.body)
				}
				return
			}
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate: got %q, want Bearer", got)
			}
			if strings.Contains(r.body, "keyward_") {
				t.Errorf("refusal carries metrics: %.200q", r.body)
			}
			if !strings.Contains(r.body, `"UNAUTHORIZED"`) {
				t.Errorf("body: got %q, want a JSON error with code UNAUTHORIZED", r.body)
			}
		})
	}
	if l := logs.String(); !strings.Contains(l, "/metrics") || strings.Contains(l, token[:16]) || strings.Contains(l, "wrong-guess") {
		t.Errorf("log: want the /metrics requests logged without any token; got:\n%s", l)
	}
}
