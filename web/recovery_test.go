package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web/notify/smtptest"
)

// TestRecoveryCodeSignIn: a recovery code signs in once (the next page
// says how many are left, the person is e-mailed, the use audited); the
// same code again is refused beside its field, audited, and signs no one
// in.
func TestRecoveryCodeSignIn(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	a := newTestApp(t, withMail(t, mail))
	runWorker(t, a)
	u := a.createUser("ann@example.com", db.RoleMember)
	a.enrolTOTP(u)
	codes, err := a.store.GenerateRecoveryCodes(context.Background(), u.ID, db.Actor{UserID: u.ID, Label: u.Email})
	if err != nil {
		t.Fatal(err)
	}

	b := a.browser()
	b.passwordStep(u.Email, "/teams")
	r := b.post("/login/2fa/recovery", url.Values{"recovery_code": {strings.ToUpper(codes[3])}, "next": {"/teams"}})
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != "/teams" {
		t.Fatalf("recovery code: got %d to %q, want 303 to /teams", r.StatusCode, loc)
	}
	page := b.get("/teams")
	if flash := squish(page.doc(t).Find(`[data-testid="flash"]`).Text()); page.StatusCode != http.StatusOK || !strings.Contains(flash, "9 recovery codes left") {
		t.Errorf("after a recovery code: got %d, flash %q, want 200 saying 9 recovery codes left", page.StatusCode, flash)
	}
	sessions, _ := a.store.ListUserSessions(t.Context(), u.ID)
	if len(sessions) != 1 || sessions[0].SecondFactor != db.FactorRecovery || sessions[0].Stage != db.StageDone {
		t.Errorf("session: got %+v, want one signed in with a recovery code", sessions)
	}

	msgs := mail.Wait(t, 1, 10*time.Second)
	p, err := smtptest.Parse(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs[0].To) != 1 || msgs[0].To[0] != u.Email || !strings.Contains(p.Subject, "recovery code was used") ||
		!strings.Contains(p.Text, "9 recovery codes left") || !strings.Contains(p.Text, "If this wasn't you") {
		t.Errorf("e-mail: to %v, subject %q, text %q; want the notice to %s with 9 left", msgs[0].To, p.Subject, p.Text, u.Email)
	}
	if strings.Contains(p.Text, codes[3]) {
		t.Error("the e-mail holds the code")
	}

	b.post("/logout", nil)
	b.passwordStep(u.Email, "")
	r = b.post("/login/2fa/recovery", url.Values{"recovery_code": {codes[3]}})
	doc := r.doc(t)
	if r.StatusCode != http.StatusUnauthorized || doc.Find(`[data-testid="recovery_code-error"]`).Length() != 1 {
		t.Fatalf("used code again: got %d, want 401 with the message beside the field", r.StatusCode)
	}
	if _, open := doc.Find(`[data-testid="recovery-details"]`).Attr("open"); !open {
		t.Error("the recovery form is closed after its error")
	}
	if b.signedIn() {
		t.Error("signed in with a used recovery code")
	}
	evs, _ := a.store.ListAudit(t.Context(), db.AuditFilter{Action: db.ActionLoginMFAFailure})
	if len(evs) != 1 || evs[0].Detail["factor"] != db.FactorRecovery {
		t.Errorf("audit: got %+v, want one recovery failure", evs)
	}
	if got := a.auditCountFor(db.ActionRecoveryUse, u.ID); got != 1 {
		t.Errorf("mfa.recovery_use events: got %d, want 1", got)
	}
	if f, _ := a.store.SecondFactors(t.Context(), u.ID); f.RecoveryLeft != 9 {
		t.Errorf("codes left: got %d, want 9", f.RecoveryLeft)
	}
}

// TestRecoveryCodesRegenerate: the card's "Generate new codes" shows a new
// set once and voids the old; without a factor there is nothing to make.
func TestRecoveryCodesRegenerate(t *testing.T) {
	a := newTestApp(t)
	b, u := a.userBrowser("ann@example.com", db.RoleMember)
	if r := b.post("/account/security/recovery-codes", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("without a factor: got %d, want 303 back", r.StatusCode)
	}
	if f, _ := a.store.SecondFactors(t.Context(), u.ID); f.RecoveryLeft != 0 {
		t.Errorf("without a factor: got %d codes, want none", f.RecoveryLeft)
	}
	a.enrolTOTP(u)
	old, err := a.store.GenerateRecoveryCodes(t.Context(), u.ID, db.Actor{UserID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	if page := b.get("/account/security").doc(t); page.Find(`[data-testid="recovery-regenerate"]`).Length() != 1 {
		t.Fatal("no Generate new codes")
	}
	r := b.post("/account/security/recovery-codes", nil)
	fresh := recoveryCodeRE.FindAllString(r.doc(t).Find(`[data-testid="recovery-code-list"]`).Text(), -1)
	if r.StatusCode != http.StatusOK || len(fresh) != 10 {
		t.Fatalf("regenerate: got %d with %d codes, want 200 with 10", r.StatusCode, len(fresh))
	}
	if _, err := a.store.UseRecoveryCode(t.Context(), u.ID, old[0], db.Actor{}); err == nil {
		t.Error("an old code still works")
	}
	if _, err := a.store.UseRecoveryCode(t.Context(), u.ID, fresh[0], db.Actor{}); err != nil {
		t.Errorf("a new code: %v", err)
	}
}

// TestTOTPRemove: removing the app turns the second factor off, except
// when it is the last one and policy requires one: then a clear message
// and nothing removed.
func TestTOTPRemove(t *testing.T) {
	a := newTestApp(t)
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	u := a.createUser("ann@example.com", db.RoleMember)
	secret := a.enrolTOTP(u)
	b := a.browser()
	b.passwordStep(u.Email, "")
	if r := b.post("/login/2fa", url.Values{"code": {totpCode(t, secret, a.clock.Now())}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: got %d", r.StatusCode)
	}
	p := db.DefaultSignInPolicy()
	p.RequireMFA = db.MFAEveryone
	if err := a.store.SetSignInPolicy(t.Context(), p, db.Actor{UserID: admin.ID, Label: admin.Email}); err != nil {
		t.Fatal(err)
	}
	r := b.post("/account/security/totp/remove", nil)
	if msg := r.doc(t).Find(`[data-testid="totp-error"]`).Text(); r.StatusCode != http.StatusConflict || !strings.Contains(msg, "requires a second factor") {
		t.Errorf("last factor under policy: got %d %q, want 409 with the reason", r.StatusCode, msg)
	}
	if f, _ := a.store.SecondFactors(t.Context(), u.ID); !f.TOTP {
		t.Fatal("the app was removed")
	}
	p.RequireMFA = db.MFAOptional
	if err := a.store.SetSignInPolicy(t.Context(), p, db.Actor{UserID: admin.ID, Label: admin.Email}); err != nil {
		t.Fatal(err)
	}
	if r := b.post("/account/security/totp/remove", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("remove: got %d, want 303", r.StatusCode)
	}
	if f, _ := a.store.SecondFactors(t.Context(), u.ID); f.TOTP {
		t.Error("the app is still on")
	}
	if got := a.auditCountFor(db.ActionTOTPDisable, u.ID); got != 1 {
		t.Errorf("mfa.totp_disable events: got %d, want 1", got)
	}
}

// TestEnrolmentByTOTPEndsEnrolStage: a person the policy sends to
// enrolment sets up an authenticator app and can use everything after.
func TestEnrolmentByTOTPEndsEnrolStage(t *testing.T) {
	a := newTestApp(t)
	admin := a.createUser("admin@example.com", db.RoleAdmin)
	p := db.DefaultSignInPolicy()
	p.RequireMFA = db.MFAEveryone
	if err := a.store.SetSignInPolicy(t.Context(), p, db.Actor{UserID: admin.ID, Label: admin.Email}); err != nil {
		t.Fatal(err)
	}
	a.createUser("ann@example.com", db.RoleMember)
	b := a.browser()
	b.login("ann@example.com", testPassword)
	if r := b.get("/keys"); r.Header.Get("Location") != "/account/security" {
		t.Fatalf("before enrolment: /keys got %d to %q, want the security page", r.StatusCode, r.Header.Get("Location"))
	}
	r := b.post("/account/security/totp", nil)
	secret := r.doc(t).Find("#totp-secret").Text()
	secret = strings.ReplaceAll(secret, " ", "")
	r = b.post("/account/security/totp/confirm", url.Values{"code": {totpCode(t, secret, a.clock.Now())}})
	if doc := r.doc(t); r.StatusCode != http.StatusOK || doc.Find(`[data-testid="enrol-required"]`).Length() != 0 {
		t.Fatalf("confirm: got %d, enrol notice %d; want 200 without the notice", r.StatusCode, doc.Find(`[data-testid="enrol-required"]`).Length())
	}
	if !b.signedIn() {
		t.Error("still held at enrolment after setting up an app")
	}
}
