package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// MailServer is the SMTP configuration the settings page shows; package
// web fills it from the mailer. It never holds the password.
type MailServer struct {
	Host string
	Port int
	TLS  string
	User string
	From string
}

// mailLogRows is how many e-mail deliveries the settings page lists.
const mailLogRows = 20

// mailConfigured reports whether e-mail goes out at all.
func (h *Handler) mailConfigured() bool {
	return h.Notifier != nil && h.Notifier.MailConfigured()
}

// mailSection is the settings page's E-mail card around the test form f.
func (h *Handler) mailSection(c echo.Context, f views.MailTestForm) (views.MailSection, error) {
	m := views.MailSection{Configured: h.mailConfigured(), Test: f}
	if m.Configured && h.MailServer != nil {
		s := h.MailServer
		m.Server = &views.MailServerInfo{Host: s.Host, Port: s.Port, TLS: s.TLS, User: s.User, From: s.From}
	}
	if m.Test.To == "" && !m.Test.Sent {
		m.Test.To = currentUser(c).Email
	}
	logs, err := h.Store.ListDeliveries(ctx(c), db.DeliveryFilter{Channel: db.ChannelEmail, Limit: mailLogRows})
	if err != nil {
		return views.MailSection{}, err
	}
	for _, l := range logs {
		m.Log = append(m.Log, deliveryRow(l))
	}
	return m, nil
}

// deliveryRow is one delivery as a log shows it: when it was last tried,
// its status ("queued" before the first try), and the receiver's answer.
func deliveryRow(l db.DeliveryLog) views.DeliveryRow {
	r := views.DeliveryRow{ID: l.ID, At: l.CreatedAt, Recipient: l.Recipient, EventType: l.EventType,
		Status: l.Status, Attempts: l.Attempts}
	if l.Status == db.DeliveryPending {
		if l.Attempts == 0 {
			r.Status = "queued"
		} else {
			next := l.NextAttemptAt
			r.NextAttemptAt = &next
		}
	}
	if a := l.Last; a != nil {
		r.At = a.At
		switch {
		case a.OK && a.StatusCode != 0:
			r.Answer = strconv.Itoa(a.StatusCode) + " OK"
		case a.OK:
			r.Answer = "OK"
		default:
			r.Answer = a.Error
			if code := strconv.Itoa(a.StatusCode); a.StatusCode != 0 && !strings.Contains(a.Error, code) {
				r.Answer = code + ": " + a.Error
			}
		}
	}
	return r
}

// AdminSettingsTestEmail is POST /admin/settings/test-email: send a test
// message now and show the mail server's answer, or why it failed, beside
// the button. It is the one place a request waits on the mail server, by
// the admin's own choice, and for at most the mailer's timeout.
func (h *Handler) AdminSettingsTestEmail(c echo.Context) error {
	f := views.MailTestForm{To: strings.TrimSpace(c.FormValue("to"))}
	status := http.StatusOK
	switch {
	case !h.mailConfigured():
		f.Sent, f.Error = true, "e-mail is not configured: start Keyward with --smtp-host and --smtp-from."
	case db.ValidateEmail(db.NormalizeEmail(f.To)) != nil:
		f.Errors = views.FieldErrors{"to": "Enter an e-mail address, such as you@example.com."}
		status = http.StatusUnprocessableEntity
	default:
		answer, err := h.Notifier.SendTestEmail(ctx(c), f.To)
		f.Sent, f.Answer = true, answer
		if err != nil {
			f.Error = err.Error()
		}
	}
	if isHTMX(c) {
		// htmx swaps only 2xx answers.
		return render(c, http.StatusOK, views.MailTestPanel(f, csrfToken(c)))
	}
	p, err := h.Store.Policy(ctx(c))
	if err != nil {
		return err
	}
	page, err := h.withMail(c, h.settingsPage(c, policyForm(p)), f)
	if err != nil {
		return err
	}
	return render(c, status, views.AdminSettingsView(page))
}

// withMail adds the E-mail card, with test form f, to the settings page.
func (h *Handler) withMail(c echo.Context, page views.AdminSettingsPage, f views.MailTestForm) (views.AdminSettingsPage, error) {
	var err error
	if page.Mail, err = h.mailSection(c, f); err != nil {
		return page, err
	}
	if page.Leaks, err = h.leakCard(c); err != nil {
		return page, err
	}
	if page, err = h.withSignIn(c, page); err != nil { // the Sign-in card (admin_signin.go)
		return page, err
	}
	return h.withActivity(c, page) // the Unusual activity card (admin_activity.go)
}
