package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

var recoveryCodeRE = regexp.MustCompile(`\b[0-9a-z]{5}-[0-9a-z]{5}\b`)

// TestTOTPEnrolment: over real HTTP, "Set up" shows a QR code drawn on the
// server and the secret; a wrong first code is refused beside the field
// with the same QR; the right one turns the app on and shows ten recovery
// codes this once; a reload shows no codes.
func TestTOTPEnrolment(t *testing.T) {
	a := newTestApp(t)
	b, ann := a.userBrowser("ann@example.com", db.RoleMember)

	page := b.get("/account/security").doc(t)
	if page.Find(`[data-testid="totp-begin"]`).Length() != 1 {
		t.Fatal("security page: no Set up button")
	}
	r := b.post("/account/security/totp", nil)
	doc := r.doc(t)
	qr, _ := doc.Find(`[data-testid="totp-qr"]`).Attr("src")
	alt, _ := doc.Find(`[data-testid="totp-qr"]`).Attr("alt")
	secretShown, _ := doc.Find("#totp-secret").Text(), true
	secret := strings.ReplaceAll(secretShown, " ", "")
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(qr, "data:image/png;base64,") || alt == "" || len(secret) != 32 {
		t.Fatalf("set up: got %d, QR %.40q, alt %q, secret %q; want 200, a PNG data URI with alt text, a 32-character secret",
			r.StatusCode, qr, alt, secretShown)
	}
	if f, _ := a.store.SecondFactors(t.Context(), ann.ID); f.TOTP {
		t.Fatal("the app counts before its first code")
	}

	r = b.post("/account/security/totp/confirm", url.Values{"code": {wrongTOTPCode(t, secret, a.clock.Now())}})
	doc = r.doc(t)
	again, _ := doc.Find("#totp-secret").Text(), true
	if r.StatusCode != http.StatusUnprocessableEntity || doc.Find(`[data-testid="code-error"]`).Length() != 1 || again != secretShown {
		t.Fatalf("wrong first code: got %d, error shown %d, secret %q; want 422 with the message and the same secret %q",
			r.StatusCode, doc.Find(`[data-testid="code-error"]`).Length(), again, secretShown)
	}
	if got, _ := doc.Find("#totp-code").Attr("aria-describedby"); got != "code-error" {
		t.Errorf("code field aria-describedby: got %q, want code-error", got)
	}

	r = b.post("/account/security/totp/confirm", url.Values{"code": {totpCode(t, secret, a.clock.Now())}})
	doc = r.doc(t)
	codes := recoveryCodeRE.FindAllString(doc.Find(`[data-testid="recovery-code-list"]`).Text(), -1)
	if r.StatusCode != http.StatusOK || doc.Find(`[data-testid="totp-confirmed"]`).Length() != 1 || len(codes) != 10 {
		t.Fatalf("right code: got %d, confirmed %d, %d recovery codes; want 200, confirmed, 10 codes",
			r.StatusCode, doc.Find(`[data-testid="totp-confirmed"]`).Length(), len(codes))
	}
	dl, _ := doc.Find(`[data-testid="recovery-download"]`).Attr("href")
	if name, _ := doc.Find(`[data-testid="recovery-download"]`).Attr("download"); !strings.HasPrefix(dl, "data:text/plain") || name == "" {
		t.Errorf("download link: got href %.30q download %q, want a data:text/plain link with a file name", dl, name)
	} else if text, err := url.PathUnescape(strings.TrimPrefix(dl, "data:text/plain;charset=utf-8,")); err != nil || !strings.Contains(text, codes[0]) {
		t.Errorf("download text: got %q (%v), want it to hold the codes", text, err)
	}

	page = b.get("/account/security").doc(t)
	status := squish(page.Find(`[data-testid="totp-status"]`).Text())
	if page.Find(`[data-testid="recovery-code-list"]`).Length() != 0 || strings.Contains(page.Text(), codes[0]) {
		t.Error("reload: recovery codes shown again")
	}
	if !strings.HasPrefix(status, "On since") || squish(page.Find(`[data-testid="recovery-left"]`).Text()) != "10 unused codes" {
		t.Errorf("reload: got status %q, left %q; want On since…, 10 unused codes", status, page.Find(`[data-testid="recovery-left"]`).Text())
	}
	if page.Find("#totp-secret").Length() != 0 || strings.Contains(page.Text(), secretShown) {
		t.Error("reload: the secret is shown again")
	}
	for _, action := range []string{db.ActionTOTPEnable, db.ActionRecoveryGenerate} {
		if got := a.auditCountFor(action, ann.ID); got != 1 {
			t.Errorf("audit %s: got %d, want 1", action, got)
		}
	}
	// A second submission of the confirmed form (a reload) changes nothing.
	if r := b.post("/account/security/totp/confirm", url.Values{"code": {"123456"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("confirm again: got %d, want 303 back to the page", r.StatusCode)
	}
}

// TestSecondFactorWindow: a code of the step before or after now signs in,
// one two steps old does not (a message beside the field, 401, audited,
// no sign-in).
func TestSecondFactorWindow(t *testing.T) {
	a := newTestApp(t)
	tests := []struct {
		name   string
		offset time.Duration
		ok     bool
	}{
		{"now", 0, true},
		{"30 s ago", -30 * time.Second, true},
		{"60 s ago", -60 * time.Second, false},
		{"30 s ahead", 30 * time.Second, true},
		{"60 s ahead", 60 * time.Second, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := a.createUser("p"+strconv.Itoa(i)+"@example.com", db.RoleMember)
			secret := a.enrolTOTP(u)
			b := a.browser()
			b.passwordStep(u.Email, "/keys/new")
			if page := b.get("/login/2fa?next=%2Fkeys%2Fnew"); page.StatusCode != http.StatusOK || page.doc(t).Find(`[data-testid="totp-form"]`).Length() != 1 {
				t.Fatalf("second-factor page: got %d, want 200 with the code form", page.StatusCode)
			}
			r := b.post("/login/2fa", url.Values{"code": {totpCode(t, secret, a.clock.Now().Add(tt.offset))}, "next": {"/keys/new"}})
			if tt.ok {
				if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != "/keys/new" {
					t.Fatalf("got %d to %q, want 303 to /keys/new", r.StatusCode, loc)
				}
				if !b.signedIn() {
					t.Error("not signed in after a right code")
				}
				return
			}
			if r.StatusCode != http.StatusUnauthorized || r.doc(t).Find(`[data-testid="code-error"]`).Length() != 1 {
				t.Fatalf("got %d, want 401 with the message beside the field", r.StatusCode)
			}
			if b.signedIn() {
				t.Error("signed in after a wrong code")
			}
			if got := a.auditCountFor(db.ActionLoginMFAFailure, u.ID); got != 1 {
				t.Errorf("login.mfa_failure events: got %d, want 1", got)
			}
		})
	}
}

// TestSecondFactorReplay: a code that signed in once is refused the
// second time, with its own message, audited.
func TestSecondFactorReplay(t *testing.T) {
	a := newTestApp(t)
	u := a.createUser("ann@example.com", db.RoleMember)
	secret := a.enrolTOTP(u)
	code := totpCode(t, secret, a.clock.Now())
	b := a.browser()
	b.passwordStep(u.Email, "")
	if r := b.post("/login/2fa", url.Values{"code": {code}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: got %d, want 303", r.StatusCode)
	}
	b.post("/logout", nil)

	b.passwordStep(u.Email, "")
	r := b.post("/login/2fa", url.Values{"code": {code}})
	msg := r.doc(t).Find(`[data-testid="code-error"]`).Text()
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(msg, "already used") {
		t.Fatalf("replay: got %d %q, want 401 saying it was already used", r.StatusCode, msg)
	}
	if b.signedIn() {
		t.Error("signed in with a replayed code")
	}
	evs, _ := a.store.ListAudit(t.Context(), db.AuditFilter{Action: db.ActionLoginMFAFailure})
	if len(evs) != 1 || evs[0].Detail["reason"] != "reused" || evs[0].Detail["factor"] != db.FactorTOTP {
		t.Errorf("audit: got %+v, want one failure (totp, reused)", evs)
	}
}

// TestSecondFactorThrottle: after five wrong codes the account waits
// (429 with Retry-After), even for the right code; a right password does
// not buy fresh guesses; once the wait is over the right code signs in.
func TestSecondFactorThrottle(t *testing.T) {
	a := newTestApp(t)
	u := a.createUser("ann@example.com", db.RoleMember)
	secret := a.enrolTOTP(u)
	b := a.browser()
	b.passwordStep(u.Email, "")
	wrong := wrongTOTPCode(t, secret, a.clock.Now())
	for i := range 5 {
		if r := b.post("/login/2fa", url.Values{"code": {wrong}}); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: got %d, want 401", i+1, r.StatusCode)
		}
	}
	b.passwordStep(u.Email, "")
	r := b.post("/login/2fa", url.Values{"code": {totpCode(t, secret, a.clock.Now())}})
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after 5 wrong codes: got %d, Retry-After %q; want 429 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if msg := r.doc(t).Find(`[data-testid="code-error"]`).Text(); !strings.Contains(msg, "Too many") {
		t.Errorf("throttled message: got %q", msg)
	}
	if b.signedIn() {
		t.Error("signed in while throttled")
	}
	secs, _ := strconv.Atoi(r.Header.Get("Retry-After"))
	a.clock.Advance(time.Duration(secs) * time.Second)
	if r := b.post("/login/2fa", url.Values{"code": {totpCode(t, secret, a.clock.Now())}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the wait: got %d, want 303", r.StatusCode)
	}
	if !b.signedIn() {
		t.Error("not signed in after the wait")
	}
}

// TestSecondFactorPageOnlyWhilePending: visitors are sent to sign in, the
// signed-in on; GET /login of a pending person leads back to the code;
// Cancel ends the pending session.
func TestSecondFactorPageOnlyWhilePending(t *testing.T) {
	a := newTestApp(t)
	u := a.createUser("ann@example.com", db.RoleMember)
	a.enrolTOTP(u)
	v := a.browser()
	if r := v.get("/login/2fa"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?") {
		t.Errorf("visitor GET: got %d to %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
	}
	if r := v.post("/login/2fa", url.Values{"code": {"123456"}}); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?") {
		t.Errorf("visitor POST: got %d to %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
	}
	b := a.browser()
	b.passwordStep(u.Email, "/teams")
	if r := b.get("/login?next=%2Fteams"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login/2fa?next=%2Fteams" {
		t.Errorf("GET /login while pending: got %d to %q, want 303 to /login/2fa?next=%%2Fteams", r.StatusCode, r.Header.Get("Location"))
	}
	if r := b.post("/logout", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel: got %d, want 303", r.StatusCode)
	}
	if s, err := a.store.ListUserSessions(t.Context(), u.ID); err != nil || len(s) != 0 {
		t.Errorf("sessions after cancel: got %d, %v, want none", len(s), err)
	}
	if r := b.get("/login/2fa"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("second-factor page after cancel: got %d, want 303 to sign in", r.StatusCode)
	}
}
