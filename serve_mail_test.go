package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/web/notify/smtptest"
)

// TestServeMailsInvites runs `keyward serve` with SMTP settings and a
// password (from the environment, then from a file), invites a person with
// the CLI, and waits for the invite at a real SMTP server that requires the
// password: the link in the mail is the CLI's link. The password appears
// in no log line.
func TestServeMailsInvites(t *testing.T) {
	const password = "Sm7p-Pa55word-Never-Logged"
	tests := []struct {
		name string
		set  func(t *testing.T, c *cli)
	}{
		{"password from the environment", func(t *testing.T, c *cli) { c.env["KEYWARD_SMTP_PASSWORD"] = password }},
		{"password from a file", func(t *testing.T, c *cli) {
			f := filepath.Join(t.TempDir(), "smtp-password")
			if err := os.WriteFile(f, []byte(password+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			c.env["KEYWARD_SMTP_PASSWORD_FILE"] = f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mail := smtptest.Start(t, smtptest.Options{TLS: "none", User: "keyward", Password: password})
			c := newCLI(t)
			c.addUser("admin@example.com", true)
			tt.set(t, c)
			s := c.startServe("--smtp-host", mail.Host(), "--smtp-port", strconv.Itoa(mail.Port()), "--smtp-tls", "none",
				"--smtp-user", "keyward", "--smtp-from", "Keyward <keys@example.com>")
			c.env["KEYWARD_SMTP_HOST"], c.env["KEYWARD_SMTP_FROM"], c.env["KEYWARD_SMTP_USER"] = mail.Host(), "keys@example.com", "keyward"
			c.env["KEYWARD_SMTP_TLS"] = "none"
			inv := c.ok("", "users", "invite", "--email", "new@example.com")
			if !strings.Contains(inv.stderr, "a server with these e-mail settings mails them the link") {
				t.Errorf("invite stderr: got %q, want it to say the server mails the link", inv.stderr)
			}
			link := strings.TrimSpace(inv.stdout)
			_, token, ok := strings.Cut(link, "/invite/")
			if !ok {
				t.Fatalf("invite printed %q, want a link", link)
			}
			msgs := mail.Wait(t, 1, 20*time.Second)
			p, err := smtptest.Parse(msgs[0].Data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if msgs[0].User != "keyward" || msgs[0].To[0] != "new@example.com" {
				t.Errorf("got a mail by %q to %v, want one authenticated as keyward to new@example.com", msgs[0].User, msgs[0].To)
			}
			if want := s.url + "/invite/" + token; !strings.Contains(p.Text, want) {
				t.Errorf("mail text does not hold the link %s:\n%s", want, p.Text)
			}
			if code := s.stop(t); code != 0 {
				t.Errorf("exit %d, want 0", code)
			}
			stderr := s.stderr.String()
			if !strings.Contains(stderr, "e-mail through SMTP") {
				t.Errorf("stderr does not say where mail goes:\n%s", stderr)
			}
			if strings.Contains(stderr, password) {
				t.Errorf("stderr holds the SMTP password:\n%s", stderr)
			}
		})
	}
}

// TestSMTPConfigErrors: SMTP settings that cannot work stop the start,
// naming the setting, never repeating the password.
func TestSMTPConfigErrors(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host := []string{"--smtp-host", "smtp.example.com", "--smtp-from", "keys@example.com"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad TLS mode", nil, append(host, "--smtp-tls", "ssl"), "--smtp-tls must be starttls, tls or none"},
		{"bad TLS mode in env", map[string]string{"KEYWARD_SMTP_TLS": "yes"}, host, "KEYWARD_SMTP_TLS must be starttls, tls or none"},
		{"bad port", nil, append(host, "--smtp-port", "99999"), `--smtp-port: "99999" is not a TCP port`},
		{"no sender", nil, []string{"--smtp-host", "smtp.example.com"}, "--smtp-from: give the sender"},
		{"bad sender", nil, []string{"--smtp-host", "smtp.example.com", "--smtp-from", "keyward"}, `--smtp-from: "keyward" is not an address`},
		{"user without password", nil, append(host, "--smtp-user", "u"), "--smtp-user needs a password"},
		{"password without user", map[string]string{"KEYWARD_SMTP_PASSWORD": "env-secret"}, host, "no user"},
		{"two passwords", map[string]string{"KEYWARD_SMTP_PASSWORD": "env-secret"}, append(host, "--smtp-user", "u", "--smtp-password-file", pwFile),
			"give the SMTP password once"},
		{"missing file", nil, append(host, "--smtp-user", "u", "--smtp-password-file", "/nonexistent/pw"), "--smtp-password-file: read the SMTP password"},
		{"empty file", nil, append(host, "--smtp-user", "u", "--smtp-password-file", empty), "is empty"},
		{"password in clear text", nil, append(host, "--smtp-user", "u", "--smtp-password-file", pwFile, "--smtp-tls", "none"),
			"would send the SMTP password in clear text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			for k, v := range tt.env {
				c.env[k] = v
			}
			r := c.run("", append([]string{"serve", "--addr", "127.0.0.1:0"}, tt.args...)...)
			if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("got exit %d, stderr %q; want a failure saying %q", r.code, r.stderr, tt.want)
			}
			for _, secret := range []string{"env-secret", "file-secret"} {
				if strings.Contains(r.stderr, secret) {
					t.Errorf("stderr repeats a password: %q", r.stderr)
				}
			}
		})
	}
}
