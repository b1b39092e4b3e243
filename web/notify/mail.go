package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// TLS modes of the SMTP connection.
const (
	// TLSStartTLS connects in clear and upgrades with STARTTLS, which
	// the server must offer: a server (or a man in the middle) that does
	// not gets no mail rather than mail in clear text.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit = "tls"
	// TLSNone never encrypts: for a relay on the same host or network.
	TLSNone = "none"
)

// DefaultSMTPPort is the usual port of a TLS mode: 587 (submission) for
// STARTTLS, 465 for implicit TLS, 25 for a local relay.
func DefaultSMTPPort(mode string) int {
	switch mode {
	case TLSImplicit:
		return 465
	case TLSNone:
		return 25
	}
	return 587
}

// MailConfig is how Keyward reaches its SMTP server.
type MailConfig struct {
	Host string
	// Port 0 takes DefaultSMTPPort(TLS).
	Port int
	// TLS is TLSStartTLS (the default when empty), TLSImplicit or TLSNone.
	TLS string
	// User and Password authenticate (none when User is empty). The
	// password is never logged, shown or put in an error.
	User, Password string
	// From is the sender, e.g. "Keyward <keys@example.com>".
	From string
	// HeloName is the name Keyward gives in EHLO (default: the host name).
	HeloName string
	// Timeout bounds each connection: dial, TLS, and every command after
	// (default 10 s). A server that stalls is a failed attempt, retried.
	Timeout time.Duration
	// RootCAs verifies the server's certificate (nil: the system's). The
	// certificate is always verified; tests hand in their own CA here.
	RootCAs *x509.CertPool
	// BaseURL is the dashboard's external URL: the links in messages and
	// the host part of their Message-ID.
	BaseURL string
	// Now is the clock of the Date header (default time.Now).
	Now func() time.Time
}

// MailSummary is what the settings page shows of the configuration:
// never the password.
type MailSummary struct {
	Host string
	Port int
	TLS  string
	User string
	From string
}

// Mailer sends e-mail through one SMTP server: the notification
// deliveries and the settings page's test message.
type Mailer struct {
	cfg  MailConfig
	from *mail.Address
	// idHost is the right-hand side of every Message-ID: the base URL's
	// host, which names this Keyward.
	idHost string
}

// NewMailer checks cfg and returns its mailer. Nothing is dialled yet: a
// server that is down at start only fails the first deliveries, which are
// retried.
func NewMailer(cfg MailConfig) (*Mailer, error) {
	cfg.Host = strings.TrimSpace(cfg.Host)
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	switch {
	case cfg.Host == "":
		return nil, errors.New("notify: mail: no SMTP host")
	case cfg.TLS != TLSStartTLS && cfg.TLS != TLSImplicit && cfg.TLS != TLSNone:
		return nil, fmt.Errorf("notify: mail: TLS mode %q: use starttls, tls or none", cfg.TLS)
	case cfg.Port < 0 || cfg.Port > 65535:
		return nil, fmt.Errorf("notify: mail: port %d is not a TCP port", cfg.Port)
	}
	if cfg.TLS == TLSNone && cfg.User != "" && !isLoopback(cfg.Host) {
		return nil, fmt.Errorf("notify: mail: TLS mode none would send the SMTP password in clear text to %s: use starttls or tls, or a relay on this host", cfg.Host)
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultSMTPPort(cfg.TLS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: mail: sender %q is not an address like Keyward <keys@example.com>: %w", cfg.From, err)
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || base.Hostname() == "" {
		return nil, fmt.Errorf("notify: mail: base URL %q is not an absolute URL", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Mailer{cfg: cfg, from: from, idHost: base.Hostname()}, nil
}

// Summary is the configuration as the settings page shows it.
func (m *Mailer) Summary() MailSummary {
	return MailSummary{Host: m.cfg.Host, Port: m.cfg.Port, TLS: m.cfg.TLS, User: m.cfg.User, From: m.from.String()}
}

// Send renders d's event for d.Recipient and sends it. The Message-ID is
// the event id and the delivery id, the same on every retry of the
// delivery, so a mail system that saw a message before can tell.
func (m *Mailer) Send(ctx context.Context, d db.Delivery) db.AttemptResult {
	content, err := composeEvent(d.Event, m.cfg.BaseURL)
	if err != nil {
		return db.AttemptResult{Error: err.Error(), Permanent: true}
	}
	msg, err := m.message(ctx, d.Recipient, fmt.Sprintf("%s.%d@%s", d.Event.EventID, d.ID, m.idHost), content)
	if err != nil {
		return db.AttemptResult{Error: err.Error(), Permanent: true}
	}
	start := time.Now()
	_, err = m.send(ctx, msg) // the log keeps the reply code; the test e-mail shows the text
	r := db.AttemptResult{Latency: time.Since(start)}
	if err != nil {
		var se *sendError
		if errors.As(err, &se) {
			r.StatusCode, r.Permanent = se.code, se.permanent
		}
		r.Error = err.Error()
		return r
	}
	r.OK, r.StatusCode = true, 250
	return r
}

// SendTest sends a short message to to now and returns the server's
// answer to it, such as "250 2.0.0 OK queued as 4F1A2".
func (m *Mailer) SendTest(ctx context.Context, to string) (string, error) {
	addr, err := mail.ParseAddress(to)
	if err != nil {
		return "", fmt.Errorf("%q is not an e-mail address", to)
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("notify: test e-mail: %w", err)
	}
	content := testMessage(m.cfg, m.cfg.BaseURL)
	msg, err := m.message(ctx, addr.Address, "test."+hex.EncodeToString(id)+"@"+m.idHost, content)
	if err != nil {
		return "", err
	}
	return m.send(ctx, msg)
}

// message builds the e-mail: both parts, and the headers that make it an
// automatic message (Auto-Submitted keeps vacation responders quiet).
func (m *Mailer) message(ctx context.Context, to, messageID string, content views.MailMessage) (*gomail.Msg, error) {
	text, html, err := render(ctx, content)
	if err != nil {
		return nil, err
	}
	msg := gomail.NewMsg()
	msg.FromMailAddress(m.from)
	if err := msg.To(to); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", to, err)
	}
	msg.Subject(content.Subject)
	msg.SetDateWithValue(m.cfg.Now())
	msg.SetMessageIDWithValue(messageID)
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetUserAgent("Keyward")
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	return msg, nil
}

// send delivers msg over a fresh connection and returns the server's
// answer to the end of DATA.
func (m *Mailer) send(ctx context.Context, msg *gomail.Msg) (string, error) {
	c, err := m.client()
	if err != nil {
		return "", err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return "", m.sendError(err)
	}
	return "250 " + msg.ServerResponse(), nil
}

// client is a go-mail client for one send: the client keeps per-connection
// state, and a fresh one per delivery lets deliveries run side by side.
func (m *Mailer) client() (*gomail.Client, error) {
	tc := &tls.Config{ServerName: m.cfg.Host, RootCAs: m.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	opts := []gomail.Option{gomail.WithPort(m.cfg.Port), gomail.WithTimeout(m.cfg.Timeout), gomail.WithTLSConfig(tc)}
	switch m.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.cfg.HeloName != "" {
		opts = append(opts, gomail.WithHELO(m.cfg.HeloName))
	}
	if m.cfg.User != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if m.cfg.TLS == TLSNone {
			// A relay on this host (NewMailer allows no other): the
			// password never crosses a network.
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(m.cfg.User), gomail.WithPassword(m.cfg.Password))
	}
	c, err := gomail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("notify: mail client: %w", err)
	}
	return c, nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sendError is a failed send as the delivery log and the settings page
// show it: the server's answer or the network/TLS reason, with the reply
// code and whether retrying can help.
type sendError struct {
	msg       string
	code      int
	permanent bool
}

func (e *sendError) Error() string { return e.msg }

// sendError reads a go-mail failure. The text drops go-mail's "dial
// failed: " layering and never holds the password: go-mail never puts it
// in an error, and this keeps it so should that change.
func (m *Mailer) sendError(err error) error {
	code, permanent := classify(err)
	msg := unquoteReplies(err.Error())
	msg = strings.TrimPrefix(msg, "dial failed: ")
	msg = strings.TrimPrefix(msg, "send failed: ")
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		msg = "timed out after " + m.cfg.Timeout.String() + ": " + msg
	}
	if m.cfg.Password != "" {
		msg = strings.ReplaceAll(msg, m.cfg.Password, "[password]")
	}
	return &sendError{msg: msg, code: code, permanent: permanent}
}

// quotedReply matches a server reply as net/textproto words it since Go
// 1.26: the code, then the text quoted ("550 \"5.1.1 no such user\"").
var quotedReply = regexp.MustCompile(`\b([2-5]\d\d) ("(?:[^"\\]|\\.)*")`)

// unquoteReplies gives server replies back as the server sent them, so
// the log reads "550 5.1.1 no such user" like the server's own log.
func unquoteReplies(s string) string {
	return quotedReply.ReplaceAllStringFunc(s, func(m string) string {
		sub := quotedReply.FindStringSubmatch(m)
		text, err := strconv.Unquote(sub[2])
		if err != nil {
			return m
		}
		return sub[1] + " " + text
	})
}

// classify reads an SMTP failure: the server's reply code when it gave
// one, and whether retrying cannot help: a 5xx refusal of the recipient
// or of the message itself. A refused sender, failed login, TLS or network
// error is the configuration's or the moment's, and is retried.
func classify(err error) (code int, permanent bool) {
	var se *gomail.SendError
	if errors.As(err, &se) {
		code = se.ErrorCode()
		switch se.Reason {
		case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			permanent = code >= 500 && code < 600
		}
		return code, permanent
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code, false
	}
	return 0, false
}
