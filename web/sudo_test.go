package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
)

// staleAfter is past the default re-authentication window (10 minutes).
const staleAfter = 11 * time.Minute

// sudoReturn reads the kept form's token from a redirect to /sudo.
func sudoReturn(t *testing.T, r response) string {
	t.Helper()
	loc := r.Header.Get("Location")
	if loc == "" {
		loc = r.Header.Get("HX-Redirect")
	}
	u, err := url.Parse(loc)
	if err != nil || u.Path != "/sudo" || u.Query().Get("return") == "" {
		t.Fatalf("got %d to %q, want a redirect to /sudo?return=TOKEN; body: %.300s", r.StatusCode, loc, r.body)
	}
	return u.Query().Get("return")
}

// resumeForm reads the resumed form from /sudo/resume: its action and the
// values it would post (without the CSRF token, which post adds).
func resumeForm(t *testing.T, r response) (string, url.Values, string) {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("resume: got %d, want 200; body: %.300s", r.StatusCode, r.body)
	}
	d := r.doc(t)
	f := d.Find(`form[data-testid="sudo-resume-form"]`)
	action, _ := f.Attr("action")
	vals := url.Values{}
	f.Find(`input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
		if n := s.AttrOr("name", ""); n != "_csrf" {
			vals.Add(n, s.AttrOr("value", ""))
		}
	})
	return action, vals, strings.TrimSpace(f.Find(`[data-testid="sudo-continue"]`).Text())
}

// reauth confirms the password on /sudo, as a person asked to does
// before a dangerous change long after signing in.
func (b *browser) reauth() {
	b.t.Helper()
	if r := b.post("/sudo", url.Values{"password": {testPassword}}); r.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("re-authenticate: got %d, want 303; body: %.300s", r.StatusCode, r.body)
	}
}

// auditCount is how many events the log holds (up to 500).
func (a *testApp) auditCount(action string) int {
	a.t.Helper()
	evs, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: action, Limit: 500})
	if err != nil {
		a.t.Fatal(err)
	}
	return len(evs)
}

// TestSudoWithinWindowGoesThrough: within ten minutes of signing in a roll
// needs no re-authentication.
func TestSudoWithinWindowGoesThrough(t *testing.T) {
	a := newTestApp(t)
	b, _ := a.userBrowser("ann@example.com", db.RoleMember)
	id, _ := b.createKey(keyForm("deploy"))
	a.clock.Advance(9 * time.Minute)
	r := b.post("/keys/"+itoa(id)+"/roll", url.Values{"grace": {"1h"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("roll within the window: got %d, want 200 with the new key", r.StatusCode)
	}
	revealed(t, r)
}

// TestSudoInterruptsRollAndResumes: eleven minutes after sign-in a roll
// asks for the password first, nothing rolled; a wrong password is
// refused beside the field and audited; the right one leads to the kept
// form, which carries the grace period, names the key, and rolls it once.
func TestSudoInterruptsRollAndResumes(t *testing.T) {
	a := newTestApp(t)
	b, ann := a.userBrowser("ann@example.com", db.RoleMember)
	id, _ := b.createKey(keyForm("deploy"))
	a.clock.Advance(staleAfter)

	tok := sudoReturn(t, b.post("/keys/"+itoa(id)+"/roll", url.Values{"grace": {"24h"}}))
	if got := a.countKeys(); got != 1 {
		t.Fatalf("keys after the interrupted roll: got %d, want 1 (nothing rolled)", got)
	}
	page := b.get("/sudo?return=" + url.QueryEscape(tok))
	if page.StatusCode != http.StatusOK || page.doc(t).Find(`form[data-testid="sudo-password-form"] input[name="password"]`).Length() != 1 {
		t.Fatalf("sudo page: got %d, want 200 with a password form", page.StatusCode)
	}
	if got := page.doc(t).Find(`[data-testid="sudo-code-form"]`).Length(); got != 0 {
		t.Errorf("code form without an authenticator app: got %d, want 0", got)
	}

	r := b.post("/sudo", url.Values{"return": {tok}, "password": {"not the password at all"}})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("wrong password: got %d, want 422", r.StatusCode)
	}
	if msg := r.doc(t).Find(`[data-testid="password-error"]`).Text(); !strings.Contains(msg, "not right") {
		t.Errorf("wrong password message: got %q, want one beside the field", msg)
	}
	evs, err := a.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionReauthFailure})
	if err != nil || len(evs) != 1 || evs[0].TargetID != ann.ID || evs[0].Detail["factor"] != db.AuthPassword {
		t.Fatalf("reauth failure audit: got %+v, %v, want one for ann by password", evs, err)
	}
	if strings.Contains(r.body, "not the password at all") {
		t.Error("the wrong password is echoed back")
	}

	r = b.post("/sudo", url.Values{"return": {tok}, "password": {testPassword}})
	if got, want := r.Header.Get("Location"), "/sudo/resume?return="+url.QueryEscape(tok); r.StatusCode != http.StatusSeeOther || got != want {
		t.Fatalf("right password: got %d to %q, want 303 to %q", r.StatusCode, got, want)
	}
	if got := a.auditCount(db.ActionReauth); got != 1 {
		t.Errorf("auth.reauth events: got %d, want 1", got)
	}
	action, vals, label := resumeForm(t, b.get("/sudo/resume?return="+url.QueryEscape(tok)))
	if want := "/keys/" + itoa(id) + "/roll"; action != want {
		t.Errorf("resumed form action: got %q, want %q", action, want)
	}
	if got := vals.Get("grace"); got != "24h" {
		t.Errorf("resumed grace period: got %q, want 24h", got)
	}
	if want := "Continue: Roll key “deploy”"; label != want {
		t.Errorf("continue button: got %q, want %q", label, want)
	}
	if got := a.countKeys(); got != 1 {
		t.Fatalf("keys before continuing: got %d, want 1", got)
	}

	r = b.post(action, vals)
	newID, _ := revealed(t, r)
	old := a.getKey(id)
	if old.ExpiresAt == nil || !old.ExpiresAt.Equal(a.clock.Now().Add(24*time.Hour)) {
		t.Errorf("old key expires: got %v, want in 24 h (%v)", old.ExpiresAt, a.clock.Now().Add(24*time.Hour))
	}
	if nk := a.getKey(newID); nk.Name != "deploy" || nk.RolledFrom != id {
		t.Errorf("new key: got %q rolled from %d, want deploy from %d", nk.Name, nk.RolledFrom, id)
	}
	if r := b.get("/sudo/resume?return=" + url.QueryEscape(tok)); r.StatusCode != http.StatusNotFound ||
		r.doc(t).Find(`[data-testid="sudo-resume-gone"]`).Length() != 1 {
		t.Errorf("resume link used again: got %d, want 404 with nothing to continue", r.StatusCode)
	}
	if r := b.post(action, vals); r.StatusCode != http.StatusConflict {
		t.Errorf("continue posted again: got %d, want 409 (already rolled)", r.StatusCode)
	}
	if got := a.countKeys(); got != 2 {
		t.Errorf("keys after continuing: got %d, want 2 (rolled exactly once)", got)
	}
}

// TestSudoWrongPasswordsThrottleAndSignOut: wrong passwords on /sudo slow
// down after three and end the session at the fifth, like the
// password-change form's.
func TestSudoWrongPasswordsThrottleAndSignOut(t *testing.T) {
	a := newTestApp(t)
	b, u := a.userBrowser("ann@example.com", db.RoleMember)
	id, _ := b.createKey(keyForm("deploy"))
	a.clock.Advance(staleAfter)
	tok := sudoReturn(t, b.post("/keys/"+itoa(id)+"/roll", url.Values{"grace": {"1h"}}))
	throttled := false
	for i := 1; ; i++ {
		r := b.post("/sudo", url.Values{"return": {tok}, "password": {"wrong password number " + itoa(int64(i))}})
		switch {
		case r.StatusCode == http.StatusTooManyRequests:
			throttled = true
			if r.Header.Get("Retry-After") == "" || r.doc(t).Find(`[data-testid="password-error"]`).Length() != 1 {
				t.Fatalf("throttled: want Retry-After and a message beside the field")
			}
			// Right during the wait is refused too: the throttle comes first.
			if r := b.post("/sudo", url.Values{"return": {tok}, "password": {testPassword}}); r.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("right password while throttled: got %d, want 429", r.StatusCode)
			}
			a.clock.Advance(time.Minute)
			i--
			continue
		case r.StatusCode == http.StatusSeeOther:
			if got := r.Header.Get("Location"); got != "/login?m=reauth_attempts" {
				t.Fatalf("attempt %d: got 303 to %q, want /login?m=reauth_attempts", i, got)
			}
			if i != 5 {
				t.Errorf("signed out at attempt %d, want 5", i)
			}
		case r.StatusCode == http.StatusUnprocessableEntity && i < 5:
			continue
		default:
			t.Fatalf("attempt %d: got %d", i, r.StatusCode)
		}
		break
	}
	if !throttled {
		t.Error("never throttled")
	}
	if got := a.auditCount(db.ActionReauthFailure); got != 5 {
		t.Errorf("auth.reauth_failure events: got %d, want 5", got)
	}
	if s, _ := a.store.ListUserSessions(context.Background(), u.ID); len(s) != 0 {
		t.Errorf("sessions after too many wrong passwords: got %d, want 0", len(s))
	}
	if got := a.countKeys(); got != 1 {
		t.Errorf("keys: got %d, want 1 (nothing rolled)", got)
	}
}

// TestSudoResumeBoundToSession: a kept form resumes only in the session
// that was interrupted: not another person's, nor an older session of the
// same person, and a refused attempt uses it up.
func TestSudoResumeBoundToSession(t *testing.T) {
	a := newTestApp(t)
	ann, _ := a.userBrowser("ann@example.com", db.RoleMember)
	annElsewhere := a.browser()
	annElsewhere.login("ann@example.com", testPassword)
	id, _ := ann.createKey(keyForm("deploy"))
	a.clock.Advance(staleAfter)
	bob, _ := a.userBrowser("bob@example.com", db.RoleMember)

	for _, tc := range []struct {
		name  string
		other *browser
	}{
		{"another person", bob},
		{"an older session of the same person", annElsewhere},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := sudoReturn(t, ann.post("/keys/"+itoa(id)+"/roll", url.Values{"grace": {"1h"}}))
			if r := tc.other.post("/sudo", url.Values{"password": {testPassword}}); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("other session re-authenticates: got %d, want 303", r.StatusCode)
			}
			r := tc.other.get("/sudo/resume?return=" + url.QueryEscape(tok))
			if r.StatusCode != http.StatusNotFound || strings.Contains(r.body, "/roll") {
				t.Errorf("other session resumes: got %d, want 404 without the form", r.StatusCode)
			}
			if r := ann.post("/sudo", url.Values{"return": {tok}, "password": {testPassword}}); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("ann re-authenticates: got %d, want 303", r.StatusCode)
			}
			if r := ann.get("/sudo/resume?return=" + url.QueryEscape(tok)); r.StatusCode != http.StatusNotFound {
				t.Errorf("resume after the refused attempt: got %d, want 404 (used up)", r.StatusCode)
			}
			a.clock.Advance(staleAfter)
		})
	}
	if got := a.countKeys(); got != 1 {
		t.Errorf("keys: got %d, want 1", got)
	}
}
