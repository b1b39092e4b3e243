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

// TestAdminResetsSecondFactors: an admin sees who has a second factor and
// who the policy will send to enrolment, resets a person's factors after a
// confirmation, which signs them out everywhere, is audited and e-mailed;
// not on themselves, and only with a recent confirmation of identity.
func TestAdminResetsSecondFactors(t *testing.T) {
	ctx := context.Background()
	mail := smtptest.Start(t, smtptest.Options{})
	a := newTestApp(t, longSessions, withMail(t, mail))
	runWorker(t, a)
	admin, adminUser := a.userBrowser("admin@example.com", db.RoleAdmin)
	ann, annUser := a.userBrowser("ann@example.com", db.RoleMember)
	bob := a.createUser("bob@example.com", db.RoleMember)
	lee := a.createUser("lee@example.com", db.RoleAdmin)
	policyTOTP(t, a, annUser)
	p := db.DefaultSignInPolicy()
	p.RequireMFA = db.MFAAdmins
	if err := a.store.SetSignInPolicy(ctx, p, db.CLIActor()); err != nil {
		t.Fatal(err)
	}

	doc := admin.get("/admin/users").doc(t)
	row := func(id int64) string {
		return `[data-testid="user-row"][data-user-id="` + itoa(id) + `"]`
	}
	for _, tt := range []struct {
		id        int64
		factors   string
		canReset  bool
		whyReason string
	}{
		{annUser.ID, "App", true, "has an app"},
		{bob.ID, "None", false, "a member without a factor: not required"},
		{lee.ID, "Must add one", false, "an admin without a factor: the policy requires one"},
		{adminUser.ID, "Must add one", false, "yourself"},
	} {
		r := doc.Find(row(tt.id))
		if got := squish(r.Find(`[data-testid="user-factors"]`).Text()); got != tt.factors {
			t.Errorf("user %d (%s): got factors %q, want %q", tt.id, tt.whyReason, got, tt.factors)
		}
		if got := r.Find(`form[data-action="reset-factors"]`).Length() == 1; got != tt.canReset {
			t.Errorf("user %d (%s): got reset button %v, want %v", tt.id, tt.whyReason, got, tt.canReset)
		}
	}

	path := "/admin/users/" + itoa(annUser.ID) + "/reset-factors"
	t.Run("asks first", func(t *testing.T) {
		r := admin.post(path, nil)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("got %d, want 200 with the question", r.StatusCode)
		}
		panel := r.doc(t).Find(`[data-testid="factors-reset-confirm"]`)
		if got := squish(panel.Text()); !strings.Contains(got, "ann@example.com") || !strings.Contains(got, "authenticator app and recovery codes") {
			t.Errorf("question: got %q, want ann's address and what goes", got)
		}
		if panel.Find(`form[action="`+path+`"] input[name="confirm"][value="1"]`).Length() != 1 {
			t.Errorf("question: got no confirming form")
		}
		if f, _ := a.store.SecondFactors(ctx, annUser.ID); !f.TOTP {
			t.Errorf("asking reset ann's factors: got %+v", f)
		}
	})

	t.Run("not on yourself", func(t *testing.T) {
		wantRedirect(t, admin.post("/admin/users/"+itoa(adminUser.ID)+"/reset-factors", url.Values{"confirm": {"1"}}), "/admin/users")
		if got := flashes(t, admin, "/admin/users", "error"); len(got) != 1 || !strings.Contains(got[0], "Sign-in and security page") {
			t.Errorf("flash: got %q, want the pointer to the security page", got)
		}
		evs, _ := a.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionFactorsReset})
		if len(evs) != 0 {
			t.Errorf("audit after refusal: got %d mfa.reset events, want 0", len(evs))
		}
	})

	t.Run("reset", func(t *testing.T) {
		wantSignedIn(t, ann, "ann@example.com")
		wantRedirect(t, admin.post(path, url.Values{"confirm": {"1"}}), "/admin/users")
		if got := flashes(t, admin, "/admin/users", "success"); len(got) != 1 || !strings.Contains(got[0], "ann@example.com were reset") {
			t.Errorf("flash: got %q, want the reset confirmed", got)
		}
		if f, _ := a.store.SecondFactors(ctx, annUser.ID); f.Any() || f.RecoveryLeft != 0 {
			t.Errorf("ann's factors after reset: got %+v, want none", f)
		}
		if r := ann.get("/keys"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("ann's browser after reset: got %d to %q, want sent to sign in", r.StatusCode, r.Header.Get("Location"))
		}
		evs, err := a.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionFactorsReset})
		if err != nil || len(evs) != 1 || evs[0].ActorID != adminUser.ID || evs[0].TargetID != annUser.ID {
			t.Fatalf("audit: got %+v, %v, want one mfa.reset by the admin on ann", evs, err)
		}
		msgs := mail.Wait(t, 1, 10*time.Second)
		m, err := smtptest.Parse(msgs[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		if msgs[0].To[0] != "ann@example.com" || m.Subject != "Your Keyward second factors were reset" ||
			!strings.Contains(m.Text, "admin@example.com removed") {
			t.Errorf("mail: got to %v subject %q, want ann told who reset her factors:\n%s", msgs[0].To, m.Subject, m.Text)
		}
		// She signs in with her password alone now.
		b := a.browser()
		b.login("ann@example.com", testPassword)
		wantSignedIn(t, b, "ann@example.com")
	})

	t.Run("needs a recent confirmation of identity", func(t *testing.T) {
		policyTOTP(t, a, annUser)
		a.clock.Advance(11 * time.Minute)
		r := admin.post(path, url.Values{"confirm": {"1"}})
		if r.StatusCode == http.StatusSeeOther && r.Header.Get("Location") == "/admin/users" {
			t.Errorf("reset without re-authentication: got 303 to the users page")
		}
		if f, _ := a.store.SecondFactors(ctx, annUser.ID); !f.TOTP {
			t.Errorf("ann's factors after a stale admin's reset: got %+v, want kept", f)
		}
	})
}

// TestResetLinkStillAsksSecondFactor: a password reset does not get around
// a second factor (ASVS 6.4.3): after the new password, a person with an
// authenticator app is half signed in, on the second-factor page.
func TestResetLinkStillAsksSecondFactor(t *testing.T) {
	a := newTestApp(t, longSessions)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleMember)
	policyTOTP(t, a, ann)
	path := tokenLink(t, a, admin.post("/admin/users/"+itoa(ann.ID)+"/reset-link", nil), "reset")
	b := a.browser()
	b.get(path)
	const pw = "correct horse battery staple orbit 42"
	r := b.post(path, url.Values{"password": {pw}, "password_confirm": {pw}})
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/2fa") {
		t.Fatalf("reset: got %d to %q, want 303 to the second-factor page", r.StatusCode, loc)
	}
	if r := b.get("/keys"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Errorf("GET /keys after the reset: got %d to %q, want sent to sign in", r.StatusCode, r.Header.Get("Location"))
	}
}
