package notify

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web/notify/smtptest"
)

// testNow is the fake clock of the Date header.
var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const testBase = "https://keys.example.com"

// newTestMailer is a mailer for srv (STARTTLS unless mode says otherwise)
// that trusts the server's test CA.
func newTestMailer(t *testing.T, srv *smtptest.Server, mode string, edit ...func(*MailConfig)) *Mailer {
	t.Helper()
	cfg := MailConfig{Host: srv.Host(), Port: srv.Port(), TLS: mode, From: "Keyward <keys@example.com>",
		RootCAs: srv.Pool(), BaseURL: testBase, Now: func() time.Time { return testNow }, Timeout: 5 * time.Second}
	for _, e := range edit {
		e(&cfg)
	}
	m, err := NewMailer(cfg)
	if err != nil {
		t.Fatalf("NewMailer: %v", err)
	}
	return m
}

// data is an event's data as the worker loads it: decoded JSON.
func data(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("test data %s: %v", s, err)
	}
	return m
}

const deployKey = `"key":{"id":42,"name":"deploy & ship","hint":"Ab3x","owner":"ann@example.com","owner_type":"user"}`

// TestMailEveryKind sends every kind of notification e-mail through a
// real SMTP server over STARTTLS with a password, and reads each back as a
// mail client would: the headers (From, To, a specific Subject, Date,
// Message-ID from the event and delivery ids, Auto-Submitted), both
// parts, the words that matter and the link, in the text part unescaped.
func TestMailEveryKind(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{User: "keyward", Password: "s3cret-pass"})
	m := newTestMailer(t, srv, TLSStartTLS, func(c *MailConfig) { c.User, c.Password = "keyward", "s3cret-pass" })
	tests := []struct {
		name    string
		ev      db.OutboxEvent
		to      string
		subject string
		want    []string // in both parts (the HTML part escaped)
		link    string
	}{
		{"invite", db.OutboxEvent{Type: db.EventUserInvited,
			Data:    data(t, `{"invite":{"id":3,"email":"new@example.com","role":"member","expires_at":"2026-12-02T12:00:00Z"},"actor":"admin@example.com"}`),
			Private: map[string]string{"email": "new@example.com", "token": "tok_InviteToken-123"}},
			"new@example.com", "You're invited to Keyward at keys.example.com",
			[]string{"admin@example.com invited you", "Wed 2 Dec 2026 12:00 UTC", "member"}, testBase + "/invite/tok_InviteToken-123"},
		{"password reset", db.OutboxEvent{Type: db.EventPasswordReset,
			Data:    data(t, `{"user":{"id":7,"email":"bob@example.com"},"expires_at":"2026-11-25T13:00:00Z","actor":"admin@example.com"}`),
			Private: map[string]string{"email": "bob@example.com", "token": "tok_Reset"}},
			"bob@example.com", "Reset your Keyward password",
			[]string{"bob@example.com", "Wed 25 Nov 2026 13:00 UTC"}, testBase + "/reset/tok_Reset"},
		{"expires in 7 days", db.OutboxEvent{Type: db.EventKeyExpiring,
			Data: data(t, `{`+deployKey+`,"days":7,"expires_at":"2026-12-02T12:00:00Z"}`)},
			"ann@example.com", "Your key “deploy & ship” expires in 7 days",
			[]string{"stops working in 7 days", "kw_…Ab3x", "Wed 2 Dec 2026 12:00 UTC", "Change what Keyward e-mails you"}, testBase + "/keys/42"},
		{"expires in 1 day", db.OutboxEvent{Type: db.EventKeyExpiring,
			Data: data(t, `{`+deployKey+`,"days":1,"expires_at":"2026-11-26T12:00:00Z"}`)},
			"ann@example.com", "Your key “deploy & ship” expires in 1 day",
			[]string{"stops working in 1 day", "Thu 26 Nov 2026 12:00 UTC"}, testBase + "/keys/42"},
		{"expired", db.OutboxEvent{Type: db.EventKeyExpired,
			Data: data(t, `{`+deployKey+`,"expires_at":"2026-11-25T11:00:00Z"}`)},
			"ann@example.com", "Your key “deploy & ship” has expired",
			[]string{"requests with it are refused", "Wed 25 Nov 2026 11:00 UTC"}, testBase + "/keys/42"},
		{"disabled for being unused", db.OutboxEvent{Type: db.EventKeyDisabled,
			Data: data(t, `{`+deployKey+`,"actor":"system","reason":"unused for 90 days"}`)},
			"ann@example.com", "Your key “deploy & ship” was disabled for being unused",
			[]string{"not used for a long time", "unused for 90 days"}, testBase + "/keys/42"},
		{"disabled by an admin", db.OutboxEvent{Type: db.EventKeyDisabled, ActorID: 1,
			Data: data(t, `{`+deployKey+`,"actor":"admin@example.com","reason":"investigating a leak"}`)},
			"ann@example.com", "Your key “deploy & ship” was disabled by an admin",
			[]string{"disabled by admin@example.com", "investigating a leak", "cannot be turned off"}, testBase + "/keys/42"},
		{"disabled from the command line", db.OutboxEvent{Type: db.EventKeyDisabled,
			Data: data(t, `{`+deployKey+`,"actor":"cli"}`)},
			"ann@example.com", "Your key “deploy & ship” was disabled by an admin",
			[]string{"disabled by an admin on the command line"}, testBase + "/keys/42"},
		{"revoked", db.OutboxEvent{Type: db.EventKeyRevoked, ActorID: 1,
			Data: data(t, `{`+deployKey+`,"actor":"admin@example.com","reason":"left the company"}`)},
			"ann@example.com", "Your key “deploy & ship” was revoked",
			[]string{"revoked by admin@example.com", "left the company", "cannot be turned off"}, testBase + "/keys/42"},
		{"team key revoked", db.OutboxEvent{Type: db.EventKeyRevoked, ActorID: 1,
			Data: data(t, `{"key":{"id":9,"name":"ci","hint":"Zz99","owner":"team:ops","owner_type":"team"},"actor":"admin@example.com"}`)},
			"ann@example.com", "The key “ci” of team:ops was revoked",
			[]string{"revoked by admin@example.com"}, testBase + "/keys/9"},
		{"approved", db.OutboxEvent{Type: db.EventKeyApproved, ActorID: 1,
			Data: data(t, `{`+deployKey+`,"actor":"admin@example.com"}`)},
			"ann@example.com", "Your key “deploy & ship” was approved",
			[]string{"approved by admin@example.com"}, testBase + "/keys/42"},
		{"denied", db.OutboxEvent{Type: db.EventKeyDenied, ActorID: 1,
			Data: data(t, `{`+deployKey+`,"actor":"admin@example.com","reason":"use the staging scope"}`)},
			"ann@example.com", "Your key “deploy & ship” was denied",
			[]string{"denied by admin@example.com", "use the staging scope"}, testBase + "/keys/42"},
		{"new address", db.OutboxEvent{Type: db.EventKeyNewAddress, At: testNow,
			Data: data(t, `{`+deployKey+`,"ip":"203.0.113.7","user_agent":"curl/8.5.0"}`)},
			"ann@example.com", "Your key “deploy & ship” was used from a new address",
			[]string{"203.0.113.7", "curl/8.5.0", "Wed 25 Nov 2026 12:00 UTC"}, testBase + "/keys/42"},
		{"weekly digest", db.OutboxEvent{Type: db.EventDigest,
			Data: data(t, `{"week":"2026-W48",
				"stale":[{"id":5,"name":"old-cron","owner":"bob@example.com","last_used_at":"2026-08-01T09:00:00Z"}],
				"never_used":[{"id":6,"name":"forgotten","owner":"team:ops"}],
				"expiring":[{"id":42,"name":"deploy","owner":"ann@example.com","expires_at":"2026-12-01T00:00:00Z"}]}`)},
			"admin@example.com", "Keyward weekly digest 2026-W48: 1 stale, 1 never used, 1 expiring",
			[]string{"old-cron", "last used Sat 1 Aug 2026 09:00 UTC", "forgotten", "team:ops", "deploy", "expires Tue 1 Dec 2026 00:00 UTC",
				testBase + "/keys/5", testBase + "/keys/6"}, testBase + "/admin/keys?stale=1"},
		{"empty digest", db.OutboxEvent{Type: db.EventDigest, Data: data(t, `{"week":"2026-W49","stale":[],"never_used":[],"expiring":[]}`)},
			"admin@example.com", "Keyward weekly digest 2026-W49: 0 stale, 0 never used, 0 expiring",
			[]string{"No stale keys.", "No key expires next week."}, testBase + "/admin/keys?stale=1"},
		{"endpoint disabled", db.OutboxEvent{Type: db.EventEndpointDisabled,
			Data: data(t, `{"endpoint":{"id":4,"url":"https://hooks.example.net/keyward"},"reason":"failing for 24 hours"}`)},
			"admin@example.com", "Webhook endpoint disabled: hooks.example.net",
			[]string{"https://hooks.example.net/keyward", "failing for 24 hours"}, testBase + "/admin/webhooks/4"},
		{"second factors reset", db.OutboxEvent{Type: db.EventFactorsReset, ActorID: 1,
			Data: data(t, `{"user":{"id":7,"email":"ann@example.com"},"actor":"admin@example.com"}`)},
			"ann@example.com", "Your Keyward second factors were reset",
			[]string{"admin@example.com removed the authenticator app, passkeys and recovery codes", "signed you out everywhere", "cannot be turned off"},
			testBase + "/account/security"},
		{"recovery code used", db.OutboxEvent{Type: db.EventRecoveryUsed,
			Data: data(t, `{"user":{"id":3,"email":"ann@example.com"},"left":2,"ip":"203.0.113.7","at":"2026-11-25T12:00:00Z"}`)},
			"ann@example.com", "A recovery code was used to sign in to Keyward",
			[]string{"2 recovery codes left", "If this wasn't you", "203.0.113.7", "Wed 25 Nov 2026 12:00 UTC", "Running low"},
			testBase + "/account/security"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.EventID = "msg_test" + string(rune('a'+i))
			d := db.Delivery{ID: int64(100 + i), Channel: db.ChannelEmail, Recipient: tt.to, Event: tt.ev}
			before := len(srv.Messages())
			r := m.Send(context.Background(), d)
			if !r.OK || r.StatusCode != 250 || r.Error != "" {
				t.Fatalf("Send: got %+v, want OK with 250", r)
			}
			msgs := srv.Wait(t, before+1, 5*time.Second)
			got := msgs[before]
			if got.User != "keyward" || len(got.To) != 1 || got.To[0] != tt.to || got.From != "keys@example.com" {
				t.Errorf("envelope: got user %q from %q to %v, want keyward, keys@example.com, [%s]", got.User, got.From, got.To, tt.to)
			}
			p, err := smtptest.Parse(got.Data)
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, got.Data)
			}
			headers := []struct{ name, want string }{
				{"From", `"Keyward" <keys@example.com>`},
				{"To", "<" + tt.to + ">"},
				{"Message-Id", "<" + d.Event.EventID + "." + itoa(d.ID) + "@keys.example.com>"},
				{"Auto-Submitted", "auto-generated"},
			}
			for _, h := range headers {
				if v := p.Header.Get(h.name); v != h.want {
					t.Errorf("header %s: got %q, want %q", h.name, v, h.want)
				}
			}
			if date, err := p.Header.Date(); err != nil || !date.Equal(testNow) {
				t.Errorf("Date: got %v (%v), want %v", date, err, testNow)
			}
			if p.Subject != tt.subject {
				t.Errorf("Subject: got %q, want %q", p.Subject, tt.subject)
			}
			for _, w := range append(tt.want, tt.link) {
				if !strings.Contains(p.Text, w) {
					t.Errorf("text part: want %q in\n%s", w, p.Text)
				}
				if !strings.Contains(p.HTML, htmlEscape(w)) {
					t.Errorf("HTML part: want %q in\n%s", htmlEscape(w), p.HTML)
				}
			}
			if !strings.Contains(p.HTML, `href="`+htmlEscape(tt.link)+`"`) {
				t.Errorf("HTML part: want a link to %s", tt.link)
			}
			if strings.Contains(p.Text, "&amp;") || strings.Contains(p.Text, "<") {
				t.Errorf("text part holds HTML: %s", p.Text)
			}
		})
	}
}

// TestMailTLSModes sends the test message over each TLS mode to a server
// of that mode, and returns the server's answer.
func TestMailTLSModes(t *testing.T) {
	for _, mode := range []string{TLSStartTLS, TLSImplicit, TLSNone} {
		t.Run(mode, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{TLS: mode})
			m := newTestMailer(t, srv, mode)
			answer, err := m.SendTest(context.Background(), "Admin <admin@example.com>")
			if err != nil {
				t.Fatalf("SendTest: %v", err)
			}
			if answer != "250 2.0.0 OK: queued" {
				t.Errorf("answer: got %q, want the server's 250 2.0.0 OK: queued", answer)
			}
			msgs := srv.Wait(t, 1, 5*time.Second)
			p, err := smtptest.Parse(msgs[0].Data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if p.Subject != "Keyward test e-mail" || msgs[0].To[0] != "admin@example.com" ||
				!strings.HasSuffix(p.Header.Get("Message-Id"), "@keys.example.com>") {
				t.Errorf("got subject %q to %v id %q, want the test e-mail to admin@example.com", p.Subject, msgs[0].To, p.Header.Get("Message-Id"))
			}
		})
	}
}

// TestMailFailures: each way an SMTP server fails gives an attempt with
// its reason and code, retried unless the recipient or the message was
// refused for good; the password never shows.
func TestMailFailures(t *testing.T) {
	const password = "pw-Never-Shown-42"
	tests := []struct {
		name          string
		opt           smtptest.Options
		setup         func(*smtptest.Server)
		edit          func(*MailConfig)
		wantCode      int
		wantPermanent bool
		wantErr       string
	}{
		{"recipient refused for good", smtptest.Options{}, func(s *smtptest.Server) {
			s.RefuseRcpt(func(string) error { return smtptest.Refusal(550, [3]int{5, 1, 1}, "no such user") })
		}, nil, 550, true, "550 5.1.1 no such user"},
		{"recipient deferred", smtptest.Options{}, func(s *smtptest.Server) {
			s.RefuseRcpt(func(string) error { return smtptest.Refusal(451, [3]int{4, 3, 0}, "try again later") })
		}, nil, 451, false, "451 4.3.0 try again later"},
		{"message rejected", smtptest.Options{}, func(s *smtptest.Server) {
			s.RefuseData(smtptest.Refusal(554, [3]int{5, 7, 1}, "message refused"))
		}, nil, 554, true, "554 5.7.1 message refused"},
		{"untrusted certificate", smtptest.Options{UntrustedCert: true}, nil, nil, 0, false, "certificate"},
		{"wrong password", smtptest.Options{User: "keyward", Password: "right"}, nil,
			func(c *MailConfig) { c.User, c.Password = "keyward", password }, 535, false, "535 5.7.8 authentication failed"},
		{"no STARTTLS offered", smtptest.Options{TLS: "none"}, nil, nil, 0, false, "STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, tt.opt)
			if tt.setup != nil {
				tt.setup(srv)
			}
			edits := []func(*MailConfig){}
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			m := newTestMailer(t, srv, TLSStartTLS, edits...)
			r := m.Send(context.Background(), revokedDelivery(t))
			checkFailure(t, r, tt.wantCode, tt.wantPermanent, tt.wantErr, password)
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server accepted %d messages, want none", n)
			}
			if _, err := m.SendTest(context.Background(), "admin@example.com"); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SendTest: got %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
	t.Run("server never answers", func(t *testing.T) {
		stall := smtptest.Stalling(t)
		m, err := NewMailer(MailConfig{Host: stall.Addr.IP.String(), Port: stall.Addr.Port, From: "keys@example.com",
			BaseURL: testBase, Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		r := m.Send(context.Background(), revokedDelivery(t))
		checkFailure(t, r, 0, false, "timed out after 300ms", password)
	})
	t.Run("connection refused", func(t *testing.T) {
		m, err := NewMailer(MailConfig{Host: "127.0.0.1", Port: closedPort(t), From: "keys@example.com", BaseURL: testBase})
		if err != nil {
			t.Fatal(err)
		}
		r := m.Send(context.Background(), revokedDelivery(t))
		checkFailure(t, r, 0, false, "refused", password)
	})
}

func checkFailure(t *testing.T, r db.AttemptResult, code int, permanent bool, wantErr, password string) {
	t.Helper()
	if r.OK || r.StatusCode != code || r.Permanent != permanent {
		t.Errorf("got OK %v, code %d, permanent %v; want failed, %d, %v (error %q)", r.OK, r.StatusCode, r.Permanent, code, permanent, r.Error)
	}
	if !strings.Contains(r.Error, wantErr) {
		t.Errorf("error: got %q, want it to contain %q", r.Error, wantErr)
	}
	if strings.Contains(r.Error, password) {
		t.Errorf("error %q holds the password", r.Error)
	}
}

func revokedDelivery(t *testing.T) db.Delivery {
	return db.Delivery{ID: 1, Channel: db.ChannelEmail, Recipient: "ann@example.com", Event: db.OutboxEvent{
		EventID: "msg_fail", Type: db.EventKeyRevoked, Data: data(t, `{`+deployKey+`,"actor":"admin@example.com"}`)}}
}

// TestNewMailerRefusesBadConfig: a configuration that cannot work is an
// error at start, not a failure at the first delivery.
func TestNewMailerRefusesBadConfig(t *testing.T) {
	good := MailConfig{Host: "smtp.example.com", From: "keys@example.com", BaseURL: testBase}
	tests := []struct {
		name    string
		edit    func(*MailConfig)
		wantErr string
	}{
		{"no host", func(c *MailConfig) { c.Host = " " }, "no SMTP host"},
		{"bad TLS mode", func(c *MailConfig) { c.TLS = "ssl" }, `TLS mode "ssl"`},
		{"bad port", func(c *MailConfig) { c.Port = 70000 }, "port 70000"},
		{"bad sender", func(c *MailConfig) { c.From = "keyward" }, `sender "keyward"`},
		{"no base URL", func(c *MailConfig) { c.BaseURL = "" }, "base URL"},
		{"password in clear text over a network", func(c *MailConfig) { c.TLS, c.User, c.Password = TLSNone, "u", "p" },
			"would send the SMTP password in clear text to smtp.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			if _, err := NewMailer(c); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
	m, err := NewMailer(good)
	if err != nil {
		t.Fatalf("good config: %v", err)
	}
	if s := m.Summary(); s.Port != 587 || s.TLS != TLSStartTLS || s.From != "<keys@example.com>" {
		t.Errorf("defaults: got %+v, want port 587, starttls", s)
	}
	for mode, port := range map[string]int{TLSImplicit: 465, TLSNone: 25} {
		c := good
		c.TLS = mode
		if m, err := NewMailer(c); err != nil || m.Summary().Port != port {
			t.Errorf("%s: got %v, want port %d", mode, err, port)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}
