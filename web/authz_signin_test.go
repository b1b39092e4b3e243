package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// signinRoute is a browser route of the router, with a path to request.
type signinRoute struct{ method, pattern, path string }

var routeParam = regexp.MustCompile(`:[a-z_]+`)

// browserRoutes walks the router: every GET and POST a browser reaches,
// each parameter filled with a value of the right shape (the guards under
// test answer before any handler looks the value up). Operations, static
// files and the API (keys and management tokens only) are not browser
// routes. A route added later is in the table by itself.
func browserRoutes(t *testing.T, a *testApp) []signinRoute {
	t.Helper()
	var out []signinRoute
	for _, r := range a.server.echo.Routes() {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			continue
		}
		switch {
		case strings.HasPrefix(r.Path, "/api/"), strings.HasPrefix(r.Path, "/static/"),
			r.Path == "/healthz", r.Path == "/metrics", r.Path == "/favicon.ico", strings.Contains(r.Path, "*"):
			continue
		}
		path := routeParam.ReplaceAllStringFunc(r.Path, func(p string) string {
			switch p {
			case ":token":
				return strings.Repeat("x", 43)
			case ":name":
				return "authz:signin"
			}
			return "1"
		})
		out = append(out, signinRoute{r.Method, r.Path, path})
	}
	if len(out) < 50 {
		t.Fatalf("browser routes: got %d, want the whole route table", len(out))
	}
	return out
}

// secondFactorRoute reports whether a person whose second factor is
// pending may reach pattern by design: the sign-in pages (the
// second-factor page among them, and signing in again as someone else),
// the passkey ceremonies of sign-in, and signing out.
func secondFactorRoute(pattern string) bool {
	return strings.HasPrefix(pattern, "/login") || strings.HasPrefix(pattern, "/webauthn/2fa/") ||
		strings.HasPrefix(pattern, "/webauthn/login/") || pattern == "/logout"
}

// enrolmentRoute reports whether a person who must first add a second
// factor may reach pattern (handlers.enrolmentPath).
func enrolmentRoute(pattern string) bool {
	return pattern == "/account/security" || strings.HasPrefix(pattern, "/account/security/") ||
		strings.HasPrefix(pattern, "/webauthn/register/") || pattern == "/logout"
}

// signinState is adminState plus the sign-in tables.
func signinState(t *testing.T, a *testApp) string {
	t.Helper()
	d := attackDB(t, a)
	var b strings.Builder
	b.WriteString(adminState(t, d))
	for _, q := range []string{
		`SELECT user_id, COALESCE(confirmed_at, 0), last_step FROM totp_factors ORDER BY user_id`,
		`SELECT id, user_id, name, sign_count FROM passkeys ORDER BY id`,
		`SELECT id, user_id, COALESCE(used_at, 0) FROM recovery_codes ORDER BY id`,
		`SELECT id, user_id, issuer, subject FROM oidc_identities ORDER BY id`,
		`SELECT id, user_id, stage, auth_method, second_factor FROM sessions ORDER BY id`,
		`SELECT COUNT(*) FROM api_tokens`,
	} {
		rows, err := d.Query(q)
		if err != nil {
			t.Fatalf("state %q: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

// TestAuthzMidSignIn is the authorization table for people mid-sign-in:
// with the password done and the second factor pending, a person (an
// admin, even) is a visitor to every browser route but the sign-in ones,
// and changes nothing; with a second factor required and none set up, a
// person reaches enrolment and nothing else.
func TestAuthzMidSignIn(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t, longSessions)
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	member := a.createUser("member@example.com", db.RoleMember)
	a.storeKey(member.ID, db.KeyInput{Name: "member key"})
	policyTOTP(t, a, admin)
	routes := browserRoutes(t, a)

	t.Run("second factor pending", func(t *testing.T) {
		visitor := a.browser()
		pending := a.browser()
		r := pending.post("/login", url.Values{"email": {"admin@example.com"}, "password": {testPassword}})
		if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/2fa") {
			t.Fatalf("password of an admin with an app: got %d to %q, want 303 to the second-factor page", r.StatusCode, loc)
		}
		before := signinState(t, a)
		for _, rt := range routes {
			if secondFactorRoute(rt.pattern) {
				continue
			}
			t.Run(rt.method+" "+rt.pattern, func(t *testing.T) {
				var got, want response
				if rt.method == http.MethodGet {
					got, want = pending.get(rt.path), visitor.get(rt.path)
				} else {
					got, want = pending.post(rt.path, url.Values{"name": {"mid-sign-in"}}), visitor.post(rt.path, url.Values{"name": {"mid-sign-in"}})
				}
				if got.StatusCode != want.StatusCode || got.Header.Get("Location") != want.Header.Get("Location") {
					t.Errorf("got %d to %q, want what a visitor gets: %d to %q", got.StatusCode, got.Header.Get("Location"),
						want.StatusCode, want.Header.Get("Location"))
				}
				if strings.Contains(got.body, "member key") || strings.Contains(got.body, "member@example.com") {
					t.Errorf("the answer shows another person's data")
				}
				if strings.HasPrefix(rt.pattern, "/admin") {
					loc := got.Header.Get("Location")
					if got.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
						t.Errorf("admin route: got %d to %q, want 303 to sign in", got.StatusCode, loc)
					}
				}
			})
		}
		if after := signinState(t, a); after != before {
			t.Errorf("a person mid-sign-in changed the database: %s", snapshotDiff(before, after))
		}
		sessions, err := a.store.ListUserSessions(ctx, admin.ID)
		if err != nil || len(sessions) != 1 || sessions[0].Stage != db.StageMFA {
			t.Errorf("admin's sessions: got %+v, %v, want the one pending", sessions, err)
		}
	})

	t.Run("enrolment required", func(t *testing.T) {
		p := db.DefaultSignInPolicy()
		p.RequireMFA = db.MFAEveryone
		if err := a.store.SetSignInPolicy(ctx, p, db.CLIActor()); err != nil {
			t.Fatal(err)
		}
		b := a.browser()
		r := b.post("/login", url.Values{"email": {"member@example.com"}, "password": {testPassword}})
		if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != "/account/security" {
			t.Fatalf("password of a member without a factor: got %d to %q, want 303 to /account/security", r.StatusCode, loc)
		}
		before := signinState(t, a)
		for _, rt := range routes {
			if enrolmentRoute(rt.pattern) {
				continue
			}
			t.Run(rt.method+" "+rt.pattern, func(t *testing.T) {
				if rt.method == http.MethodGet {
					r := b.get(rt.path)
					if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != "/account/security" {
						t.Errorf("got %d to %q, want 303 to /account/security", r.StatusCode, loc)
					}
					return
				}
				if r := b.post(rt.path, url.Values{"name": {"mid-sign-in"}}); r.StatusCode != http.StatusForbidden {
					t.Errorf("got %d, want 403", r.StatusCode)
				}
			})
		}
		if after := signinState(t, a); after != before {
			t.Errorf("a person who must enrol changed the database: %s", snapshotDiff(before, after))
		}
		if r := b.get("/account/security"); r.StatusCode != http.StatusOK {
			t.Errorf("GET /account/security: got %d, want 200", r.StatusCode)
		}
	})
}
