package main

import (
	"errors"
	"fmt"
	"net/mail"
	"os"
	"strconv"
	"strings"

	"github.com/keyward/keyward/web/notify"
)

// smtpPasswordEnv holds the SMTP password. It has no flag: a flag shows
// in ps and lands in shell history; the password comes from this variable
// or from the file --smtp-password-file names.
//
// #nosec G101 -- the name of an environment variable, not a credential.
const smtpPasswordEnv = "KEYWARD_SMTP_PASSWORD"

// smtpSettings are the SMTP options of globals (see newGlobals).
func smtpSettings() (host, port, tls, user, passwordFile, from setting) {
	host = setting{flag: "smtp-host", env: "KEYWARD_SMTP_HOST",
		usage: "SMTP server for invites, reset links and key notifications; none: nothing is e-mailed"}
	port = setting{flag: "smtp-port", env: "KEYWARD_SMTP_PORT", def: "587",
		usage: "SMTP port (when not given: 465 with --smtp-tls tls, 25 with none)"}
	tls = setting{flag: "smtp-tls", env: "KEYWARD_SMTP_TLS", def: notify.TLSStartTLS,
		usage: "starttls (required, refused if the server does not offer it), tls (implicit, port 465) or none (a local relay)"}
	user = setting{flag: "smtp-user", env: "KEYWARD_SMTP_USER",
		usage: "SMTP user name; the password comes from " + smtpPasswordEnv + " or --smtp-password-file"}
	passwordFile = setting{flag: "smtp-password-file", env: "KEYWARD_SMTP_PASSWORD_FILE",
		usage: "file holding the SMTP password (one trailing newline is dropped); or set " + smtpPasswordEnv}
	from = setting{flag: "smtp-from", env: "KEYWARD_SMTP_FROM",
		usage: "sender of Keyward's e-mail, e.g. \"Keyward <keys@example.com>\"; needed with --smtp-host"}
	return
}

// smtpConfig is the resolved SMTP configuration; config.SMTP is nil
// without --smtp-host. Password is never printed, logged or put in an
// error message.
type smtpConfig struct {
	Host     string
	Port     int
	TLS      string
	User     string
	Password string `json:"-"`
	From     string
}

// mailConfig is the mailer's configuration for a server at baseURL.
func (c *smtpConfig) mailConfig(baseURL string) notify.MailConfig {
	return notify.MailConfig{Host: c.Host, Port: c.Port, TLS: c.TLS, User: c.User, Password: c.Password,
		From: c.From, BaseURL: baseURL}
}

// loadSMTP resolves and checks the SMTP options: a mistake is an error at
// start, naming the flag or variable, never a mail that fails later.
func (g *globals) loadSMTP(env func(string) string) (*smtpConfig, error) {
	host, _ := g.smtpHost.resolve(env)
	if host = strings.TrimSpace(host); host == "" {
		return nil, nil
	}
	c := &smtpConfig{Host: host}
	var src string
	c.TLS, src = g.smtpTLS.resolve(env)
	switch c.TLS = strings.ToLower(strings.TrimSpace(c.TLS)); c.TLS {
	case notify.TLSStartTLS, notify.TLSImplicit, notify.TLSNone:
	default:
		return nil, fmt.Errorf("%s must be starttls, tls or none, not %q", src, c.TLS)
	}
	c.Port = notify.DefaultSMTPPort(c.TLS)
	if raw, src := g.smtpPort.resolve(env); g.smtpPort.set || env(g.smtpPort.env) != "" {
		p, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%s: %q is not a TCP port (1-65535)", src, raw)
		}
		c.Port = p
	}
	c.User, _ = g.smtpUser.resolve(env)
	c.User = strings.TrimSpace(c.User)
	file, fileSrc := g.smtpPasswordFile.resolve(env)
	pw := env(smtpPasswordEnv)
	switch {
	case pw != "" && file != "":
		return nil, fmt.Errorf("give the SMTP password once: %s or %s, not both", smtpPasswordEnv, fileSrc)
	case file != "":
		b, err := os.ReadFile(file) // #nosec G304 -- the operator names the file
		if err != nil {
			return nil, fmt.Errorf("%s: read the SMTP password: %w", fileSrc, errors.Unwrap(err))
		}
		pw = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if pw == "" {
			return nil, fmt.Errorf("%s: the file %s is empty", fileSrc, file)
		}
	}
	c.Password = pw
	switch {
	case c.User != "" && c.Password == "":
		return nil, fmt.Errorf("--smtp-user needs a password: set %s or --smtp-password-file", smtpPasswordEnv)
	case c.User == "" && c.Password != "":
		return nil, fmt.Errorf("an SMTP password is set but no user: set --smtp-user (%s)", g.smtpUser.env)
	}
	from, src := g.smtpFrom.resolve(env)
	if strings.TrimSpace(from) == "" {
		return nil, fmt.Errorf("%s: give the sender of Keyward's e-mail, e.g. \"Keyward <keys@example.com>\"", src)
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("%s: %q is not an address like \"Keyward <keys@example.com>\"", src, from)
	}
	c.From = addr.String()
	return c, nil
}
