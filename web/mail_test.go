package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web/notify"
	"github.com/keyward/keyward/web/notify/smtptest"
)

// withMail makes the server e-mail through srv over STARTTLS, trusting its
// test CA; edit adjusts the settings (a stalled server's timeout).
func withMail(t *testing.T, srv *smtptest.Server, edit ...func(*notify.MailConfig)) appOption {
	return func(c *Config) {
		mc := notify.MailConfig{Host: srv.Host(), Port: srv.Port(), From: "Keyward <keys@example.com>",
			RootCAs: srv.Pool(), BaseURL: c.BaseURL, Now: c.Now, Timeout: 5 * time.Second}
		for _, e := range edit {
			e(&mc)
		}
		m, err := notify.NewMailer(mc)
		if err != nil {
			t.Fatalf("NewMailer: %v", err)
		}
		c.Mail = m
		c.Notify = notify.Options{Poll: 50 * time.Millisecond}
	}
}

// runWorker runs the server's delivery worker until the test ends, as
// RunJobs does in `keyward serve`.
func runWorker(t *testing.T, a *testApp) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.server.notify.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// waitFor polls cond until it holds or fails t after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var mailLink = regexp.MustCompile(`https?://\S+/(invite|reset)/[A-Za-z0-9_-]{43}`)

// TestInviteIsMailed is the "done when": with a mail server
// configured, an admin invites a person and the person gets the link by
// mail; the page says the invite was sent and still shows the link; the
// link in the mail opens the accept form. A reset link goes the same way.
func TestInviteIsMailed(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	a := newTestApp(t, withMail(t, mail))
	runWorker(t, a)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	member := a.createUser("member@example.com", db.RoleMember)

	tests := []struct {
		name, path string
		form       url.Values
		to         string
		heading    string
		subject    string
		kind       string
		wantOnPage string
	}{
		{"invite", "/admin/invites", url.Values{"email": {"grace@example.com"}, "role": {"member"}}, "grace@example.com",
			"Invite sent to grace@example.com — the link is below too", "You're invited to Keyward at " + a.http.Listener.Addr().String(),
			"invite", "Choose a password"},
		{"reset link", "/admin/users/" + itoa(member.ID) + "/reset-link", nil, "member@example.com",
			"Reset link sent to member@example.com — the link is below too", "Reset your Keyward password", "reset", "member@example.com"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.post(tt.path, tt.form)
			shown := a.http.URL + tokenLink(t, a, r, tt.kind)
			if got := squish(r.doc(t).Find("#token-link-title").Text()); got != tt.heading {
				t.Errorf("heading: got %q, want %q", got, tt.heading)
			}
			msgs := mail.Wait(t, i+1, 10*time.Second)
			got := msgs[i]
			if len(got.To) != 1 || got.To[0] != tt.to {
				t.Fatalf("mail to %v, want %s", got.To, tt.to)
			}
			p, err := smtptest.Parse(got.Data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if p.Subject != tt.subject || p.Header.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("got subject %q, Auto-Submitted %q; want %q, auto-generated", p.Subject, p.Header.Get("Auto-Submitted"), tt.subject)
			}
			link := mailLink.FindString(p.Text)
			if link != shown || !strings.Contains(p.HTML, `href="`+shown+`"`) {
				t.Errorf("mailed link %q (HTML has it: %v), want the link the page shows, %q", link, strings.Contains(p.HTML, shown), shown)
			}
			page := a.browser().get(strings.TrimPrefix(link, a.http.URL))
			doc := page.doc(t)
			if page.StatusCode != http.StatusOK || doc.Find(`[data-testid="accept-form"]`).Length() != 1 ||
				!strings.Contains(page.body, tt.wantOnPage) {
				t.Errorf("following the mailed link: got %d with accept form %d, want 200 and the form mentioning %q",
					page.StatusCode, doc.Find(`[data-testid="accept-form"]`).Length(), tt.wantOnPage)
			}
		})
	}
}

// TestMailNotConfigured: without SMTP settings nothing is sent and the
// pages say so; nothing errors.
func TestMailNotConfigured(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	r := admin.post("/admin/invites", url.Values{"email": {"grace@example.com"}, "role": {"member"}})
	tokenLink(t, a, r, "invite")
	if got := squish(r.doc(t).Find("#token-link-title").Text()); got != "Invite link created — copy it" {
		t.Errorf("heading: got %q, want %q", got, "Invite link created — copy it")
	}
	page := admin.get("/admin/settings")
	sec := page.doc(t).Find(`[data-testid="settings-email"]`)
	if page.StatusCode != http.StatusOK || !strings.Contains(squish(sec.Text()), "E-mail is not configured — nothing is sent.") {
		t.Errorf("settings: got %d, E-mail card %q; want it to say e-mail is not configured", page.StatusCode, squish(sec.Text()))
	}
	if sec.Find(`[data-testid="mail-test-form"]`).Length() != 0 {
		t.Errorf("settings: a test form without e-mail settings")
	}
	r = admin.post("/admin/settings/test-email", url.Values{"to": {"admin@example.com"}})
	if got := squish(r.doc(t).Find(`[data-testid="mail-test-error"]`).Text()); r.StatusCode != http.StatusOK ||
		!strings.Contains(got, "e-mail is not configured") {
		t.Errorf("test e-mail: got %d %q, want 200 saying e-mail is not configured", r.StatusCode, got)
	}
}

// TestSendTestEmailButton drives the settings page's "Send test e-mail"
// through real HTTP with a cookie jar, with and without htmx: the server's
// answer, a refusal, and a bad address each show beside the button. The
// card shows the SMTP settings, never the password.
func TestSendTestEmailButton(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{User: "keyward", Password: "pa55-word-not-shown"})
	a := newTestApp(t, withMail(t, mail, func(c *notify.MailConfig) { c.User, c.Password = "keyward", "pa55-word-not-shown" }))
	admin, _ := a.userBrowser("admin@example.com", db.RoleAdmin)
	auditor, _ := a.userBrowser("auditor@example.com", db.RoleAuditor)

	page := admin.get("/admin/settings")
	sec := page.doc(t).Find(`[data-testid="settings-email"]`)
	card := squish(sec.Find(`[data-testid="mail-server"]`).Text())
	for _, want := range []string{mail.Addr(), "STARTTLS, required", "keyward (password set)", `"Keyward" <keys@example.com>`} {
		if !strings.Contains(card, want) {
			t.Errorf("settings card %q: want %q", card, want)
		}
	}
	if strings.Contains(page.body, "pa55-word-not-shown") {
		t.Errorf("the settings page shows the SMTP password")
	}
	if got := sec.Find(`input[name="to"]`).AttrOr("value", ""); got != "admin@example.com" {
		t.Errorf("test address: got %q, want the admin's own", got)
	}
	if n := auditor.get("/admin/settings").doc(t).Find(`[data-testid="mail-test-form"]`).Length(); n != 0 {
		t.Errorf("auditor: got %d test forms, want none", n)
	}

	htmx := http.Header{"HX-Request": {"true"}}
	tests := []struct {
		name       string
		to         string
		hdr        http.Header
		refuse     bool
		wantStatus int
		sel        string
		want       string
	}{
		{"sent", "ops@example.com", nil, false, 200, "mail-test-answer", "Sent to ops@example.com. The server answered: 250 2.0.0 OK: queued"},
		{"sent with htmx", "ops@example.com", htmx, false, 200, "mail-test-answer", "The server answered: 250 2.0.0 OK: queued"},
		{"refused", "nobody@example.com", nil, true, 200, "mail-test-error", "Not sent to nobody@example.com: sending SMTP RCPT TO command: 550 5.1.1 no such user"},
		{"refused with htmx", "nobody@example.com", htmx, true, 200, "mail-test-error", "550 5.1.1 no such user"},
		{"bad address", "not an address", nil, false, 422, "to-error", "Enter an e-mail address"},
		{"bad address with htmx", "", htmx, false, 200, "to-error", "Enter an e-mail address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.refuse {
				mail.RefuseRcpt(func(string) error { return smtptest.Refusal(550, [3]int{5, 1, 1}, "no such user") })
				defer mail.RefuseRcpt(nil)
			}
			before := len(mail.Messages())
			r := admin.postWith("/admin/settings/test-email", url.Values{"to": {tt.to}}, tt.hdr)
			doc := r.doc(t)
			if got := squish(doc.Find(`[data-testid="` + tt.sel + `"]`).Text()); r.StatusCode != tt.wantStatus || !strings.Contains(got, tt.want) {
				t.Errorf("got %d %q, want %d with %q", r.StatusCode, got, tt.wantStatus, tt.want)
			}
			if isPartial := doc.Find("html body nav").Length() == 0; isPartial != (tt.hdr != nil) {
				t.Errorf("htmx %v: got a partial %v", tt.hdr != nil, isPartial)
			}
			if got := doc.Find(`input[name="to"]`).AttrOr("value", "?"); got != tt.to {
				t.Errorf("address field: got %q, want %q as typed", got, tt.to)
			}
			wantSent := 0
			if tt.sel == "mail-test-answer" {
				wantSent = 1
			}
			if got := len(mail.Messages()) - before; got != wantSent {
				t.Errorf("messages accepted: got %d, want %d", got, wantSent)
			}
		})
	}
}

// TestMailFailuresInDeliveryLog: a mail server that defers, refuses,
// hangs or shows a bad certificate: the attempt is logged with the reason
// and shown in the settings page's log; a deferral or a timeout is retried
// on the schedule (fake clock) and delivered once the server takes it; a
// refused recipient is given up at once.
func TestMailFailuresInDeliveryLog(t *testing.T) {
	tests := []struct {
		name      string
		opt       smtptest.Options
		refuse    func(*smtptest.Server)
		wantFirst string // the first answer in the log
		wantState string // after the first attempt
	}{
		{"deferred", smtptest.Options{}, func(s *smtptest.Server) {
			s.RefuseRcpt(func(string) error { return smtptest.Refusal(451, [3]int{4, 3, 0}, "mailbox busy") })
		}, "451 4.3.0 mailbox busy", "pending"},
		{"recipient refused", smtptest.Options{}, func(s *smtptest.Server) {
			s.RefuseRcpt(func(string) error { return smtptest.Refusal(550, [3]int{5, 1, 1}, "no such user") })
		}, "550 5.1.1 no such user", "failed"},
		{"bad certificate", smtptest.Options{UntrustedCert: true}, nil, "certificate", "pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mail := smtptest.Start(t, tt.opt)
			if tt.refuse != nil {
				tt.refuse(mail)
			}
			a := newTestApp(t, withMail(t, mail))
			runWorker(t, a)
			admin, adminU := a.userBrowser("admin@example.com", db.RoleAdmin)
			ann := a.createUser("ann@example.com", db.RoleMember)
			key, _ := a.storeKey(ann.ID, db.KeyInput{Name: "deploy"})
			revokeAs(t, a, key.ID, adminU)

			row := waitForLogRow(t, admin, func(status, answer string) bool { return status != "queued" })
			if row.status != tt.wantState || !strings.Contains(row.answer, tt.wantFirst) || row.recipient != "ann@example.com" ||
				row.event != db.EventKeyRevoked {
				t.Fatalf("log after the first attempt: got %+v, want %s to ann@example.com with %q", row, tt.wantState, tt.wantFirst)
			}
			if tt.wantState == "failed" {
				a.clock.Advance(time.Hour)
				a.server.notify.Wake()
				if n, err := a.server.notify.RunOnce(context.Background()); err != nil || n != 0 {
					t.Errorf("after giving up: got %d deliveries tried (%v), want none", n, err)
				}
				return
			}
			// The server recovers; the retry falls due 5 s later.
			mail.RefuseRcpt(nil)
			if tt.opt.UntrustedCert {
				return // the certificate stays bad: retried, never delivered
			}
			a.clock.Advance(5 * time.Second)
			a.server.notify.Wake()
			row = waitForLogRow(t, admin, func(status, _ string) bool { return status == "delivered" })
			if row.attempts != "2" || row.answer != "250 OK" {
				t.Errorf("after the retry: got %+v, want delivered on attempt 2 with 250 OK", row)
			}
			if got := len(mail.Messages()); got != 1 {
				t.Errorf("messages received: got %d, want 1", got)
			}
		})
	}
}

// TestStalledMailServerBlocksNoRequest: while the worker waits on a mail
// server that never answers, requests (an invite, the settings page) are
// answered; the stalled send is logged as timed out and retried.
func TestStalledMailServerBlocksNoRequest(t *testing.T) {
	stall := smtptest.Stalling(t)
	mail := smtptest.Start(t, smtptest.Options{})
	a := newTestApp(t, withMail(t, mail, func(c *notify.MailConfig) {
		c.Host, c.Port, c.Timeout = stall.Addr.IP.String(), stall.Addr.Port, 2*time.Second
	}))
	runWorker(t, a)
	admin, adminU := a.userBrowser("admin@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleMember)
	key, _ := a.storeKey(ann.ID, db.KeyInput{Name: "deploy"})
	revokeAs(t, a, key.ID, adminU)
	waitFor(t, "the worker to connect to the stalled server", func() bool { return stall.Accepted() >= 1 })

	r := admin.post("/admin/invites", url.Values{"email": {"grace@example.com"}, "role": {"member"}})
	tokenLink(t, a, r, "invite")
	if r := admin.get("/admin/settings"); r.StatusCode != http.StatusOK {
		t.Fatalf("settings during a stalled send: got %d", r.StatusCode)
	}
	logs, err := a.store.ListDeliveries(context.Background(), db.DeliveryFilter{Channel: db.ChannelEmail})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		if l.Recipient == "ann@example.com" && l.Attempts != 0 {
			t.Fatalf("the stalled send finished before the requests: %+v; the test proves nothing", l)
		}
	}
	row := waitForLogRow(t, admin, func(status, answer string) bool { return strings.Contains(answer, "timed out") })
	if row.status != "pending" || !strings.Contains(row.answer, "timed out after 2s") {
		t.Errorf("log: got %+v, want a pending retry that timed out after 2s", row)
	}
}

// revokeAs revokes key id as the admin u, as the keys page would.
func revokeAs(t *testing.T, a *testApp, id int64, u db.User) {
	t.Helper()
	if _, err := a.store.RevokeKey(context.Background(), db.AnyOwner(), id, "left the company",
		db.Actor{UserID: u.ID, Label: u.Email}); err != nil {
		t.Fatalf("revoke: %v", err)
	}
}

// logRow is one row of the settings page's e-mail delivery log, as shown.
type logRow struct {
	recipient, event, status, attempts, answer string
}

// waitForLogRow reloads the settings page until its newest e-mail log
// row for ann@example.com satisfies ok, and returns it.
func waitForLogRow(t *testing.T, b *browser, ok func(status, answer string) bool) logRow {
	t.Helper()
	var last logRow
	waitFor(t, "the e-mail log to show the delivery", func() bool {
		doc := b.get("/admin/settings").doc(t)
		found := false
		doc.Find(`[data-testid="mail-log-row"]`).EachWithBreak(func(_ int, s *goquery.Selection) bool {
			cells := s.Find("td")
			r := logRow{recipient: squish(cells.Eq(1).Text()), event: squish(cells.Eq(2).Text()),
				status: s.AttrOr("data-status", ""), attempts: squish(cells.Eq(4).Text()), answer: squish(cells.Eq(5).Text())}
			if r.recipient != "ann@example.com" {
				return true
			}
			last, found = r, ok(r.status, r.answer)
			return false
		})
		return found
	})
	return last
}
