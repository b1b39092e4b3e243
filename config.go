package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/web"
)

// setting is one global option: a flag with an environment twin. It records
// whether the flag was given, so that precedence is exactly "flag beats env
// beats default" even when the flag is given the default value, and so that
// a bad value in the environment does not matter when the flag overrides it.
type setting struct {
	flag, env, def, usage string
	// isBool makes the flag a switch: --insecure-http alone means true.
	isBool bool

	value string
	set   bool
}

func (s *setting) String() string {
	switch {
	case s == nil:
		return ""
	case s.set:
		return s.value
	default:
		return s.def
	}
}

// IsBoolFlag tells package flag that a switch takes no value.
func (s *setting) IsBoolFlag() bool { return s != nil && s.isBool }

func (s *setting) Set(v string) error {
	s.value, s.set = v, true
	return nil
}

// resolve returns the effective value and where it came from, for error
// messages that point at the right knob.
func (s *setting) resolve(env func(string) string) (value, source string) {
	if s.set {
		return s.value, "--" + s.flag
	}
	if v := env(s.env); v != "" {
		return v, s.env
	}
	return s.def, "--" + s.flag
}

// globals are the options every subcommand accepts, before or after its
// name: `keyward --db x.db keys list` and `keyward keys list --db x.db`
// mean the same.
type globals struct {
	addr, db, baseURL, trustedProxies, logFormat, sessionIdle, sessionAbsolute, metricsToken, apiRate setting
	// notifyLease is how long a notification delivery stays claimed by
	// the worker sending it (web/notify Options.Lease).
	notifyLease setting
	// server and insecureHTTP send the key and user commands to a
	// Keyward's management API instead of the database (cmd_remote.go).
	server, insecureHTTP setting
	// The SMTP server that e-mail goes through (config_smtp.go).
	smtpHost, smtpPort, smtpTLS, smtpUser, smtpPasswordFile, smtpFrom setting
	// auditMirror copies every committed audit event to stdout or a file
	// as JSON lines, for a SIEM (db.AuditMirror).
	auditMirror setting
	// Single sign-on through an OpenID provider (config_oidc.go).
	oidcIssuer, oidcClientID, oidcClientSecret, oidcButtonLabel, oidcAllowedDomains, oidcAdminGroup, oidcGroupsClaim setting
}

func newGlobals() *globals {
	g := &globals{
		addr: setting{flag: "addr", env: "KEYWARD_ADDR", def: "localhost:8080",
			usage: "address to listen on (port 0 picks a free port)"},
		db: setting{flag: "db", env: "KEYWARD_DB", def: "./data/keyward.db",
			usage: "SQLite database file, created on first run (local disk, not NFS)"},
		baseURL: setting{flag: "base-url", env: "KEYWARD_BASE_URL",
			usage: "external URL of the dashboard, e.g. https://keys.example.com (default http://ADDR)"},
		trustedProxies: setting{flag: "trusted-proxies", env: "KEYWARD_TRUSTED_PROXIES",
			usage: "comma-separated CIDRs or IPs of reverse proxies whose X-Forwarded-For is believed"},
		logFormat: setting{flag: "log-format", env: "KEYWARD_LOG_FORMAT", def: "text",
			usage: "log format: text or json"},
		sessionIdle: setting{flag: "session-idle", env: "KEYWARD_SESSION_IDLE", def: "30m",
			usage: "sign out after this long without activity"},
		sessionAbsolute: setting{flag: "session-absolute", env: "KEYWARD_SESSION_ABSOLUTE", def: "12h",
			usage: "sign out this long after sign-in, active or not"},
		metricsToken: setting{flag: "metrics-token", env: "KEYWARD_METRICS_TOKEN",
			usage: "bearer token GET /metrics requires (at least 16 characters; prefer the variable: flags show in ps); none: /metrics is open"},
		apiRate: setting{flag: "api-rate", env: "KEYWARD_API_RATE", def: "10",
			usage: "management API calls a second per token, with a burst of five seconds' worth"},
		notifyLease: setting{flag: "notify-lease", env: "KEYWARD_NOTIFY_LEASE", def: "2m",
			usage: "how long a notification being sent stays claimed: after a crash it is sent again once this runs out; at least 1s, and longer than the send timeout (10s)"},
		server: setting{flag: "server", env: "KEYWARD_SERVER",
			usage: "URL of a Keyward: keys and users commands call its management API with the token in KEYWARD_TOKEN instead of opening --db"},
		insecureHTTP: setting{flag: "insecure-http", env: "KEYWARD_INSECURE_HTTP", def: "false", isBool: true,
			usage: "allow an http:// --server that is not loopback (the token travels in clear text)"},
	}
	g.smtpHost, g.smtpPort, g.smtpTLS, g.smtpUser, g.smtpPasswordFile, g.smtpFrom = smtpSettings()
	g.auditMirror = setting{flag: "audit-mirror", env: "KEYWARD_AUDIT_MIRROR",
		usage: "copy every audit event, once committed, as a JSON line to stdout or to this file (appended, created 0600); none: off"}
	g.oidcIssuer, g.oidcClientID, g.oidcClientSecret, g.oidcButtonLabel, g.oidcAllowedDomains, g.oidcAdminGroup, g.oidcGroupsClaim = oidcSettings()
	return g
}

func (g *globals) all() []*setting {
	return []*setting{&g.addr, &g.db, &g.baseURL, &g.trustedProxies, &g.logFormat, &g.sessionIdle, &g.sessionAbsolute, &g.metricsToken, &g.apiRate, &g.notifyLease,
		&g.server, &g.insecureHTTP,
		&g.smtpHost, &g.smtpPort, &g.smtpTLS, &g.smtpUser, &g.smtpPasswordFile, &g.smtpFrom,
		&g.auditMirror,
		&g.oidcIssuer, &g.oidcClientID, &g.oidcClientSecret, &g.oidcButtonLabel, &g.oidcAllowedDomains, &g.oidcAdminGroup, &g.oidcGroupsClaim}
}

// register adds the global flags to fs, bound to g, so that a value given
// before the subcommand and one given after it land in the same place.
func (g *globals) register(fs *flag.FlagSet) {
	for _, s := range g.all() {
		fs.Var(s, s.flag, s.usage)
	}
}

// writeHelp prints the global options with their environment twins and
// defaults, the same table the README shows (readme_test.go holds the two
// together).
func (g *globals) writeHelp(w io.Writer) {
	fmt.Fprintln(w, "Global options (flag, environment variable, default):")
	for _, s := range g.all() {
		def := s.def
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(w, "  --%-18s %-26s %s\n      %s\n", s.flag, s.env, def, s.usage)
	}
}

// config is the resolved, validated global configuration.
type config struct {
	Addr            string
	DBPath          string
	BaseURL         string
	TrustedProxies  []netip.Prefix
	LogFormat       string
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	// MetricsToken is never printed: errors about it name the setting only.
	MetricsToken string
	// APIRate is the management API's calls a second per token.
	APIRate float64
	// SMTP is the mail server; nil without --smtp-host (nothing is mailed).
	SMTP *smtpConfig
	// NotifyLease is how long the notification worker holds a delivery
	// it is sending.
	NotifyLease time.Duration
	// AuditMirror is "" (off), "stdout" or the path of the file the
	// audit log is mirrored to.
	AuditMirror string
	// OIDC is single sign-on; nil without --oidc-issuer. Its client
	// secret is never printed.
	OIDC *web.OIDCConfig
}

// load resolves every global option and validates it, reporting the first
// problem with the flag or variable it came from.
func (g *globals) load(env func(string) string) (config, error) {
	var c config
	var src string
	c.Addr, _ = g.addr.resolve(env)
	if c.DBPath, src = g.db.resolve(env); strings.TrimSpace(c.DBPath) == "" {
		return config{}, fmt.Errorf("%s: give the path of the database file", src)
	}
	c.BaseURL, _ = g.baseURL.resolve(env)
	c.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")

	raw, src := g.trustedProxies.resolve(env)
	proxies, err := parseTrustedProxies(raw)
	if err != nil {
		return config{}, fmt.Errorf("%s: %w", src, err)
	}
	c.TrustedProxies = proxies

	c.LogFormat, src = g.logFormat.resolve(env)
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return config{}, fmt.Errorf("%s: %q is not a log format: use text or json", src, c.LogFormat)
	}

	for _, d := range []struct {
		s   *setting
		dst *time.Duration
	}{{&g.sessionIdle, &c.SessionIdle}, {&g.sessionAbsolute, &c.SessionAbsolute}} {
		raw, src := d.s.resolve(env)
		v, err := time.ParseDuration(raw)
		if err != nil || v <= 0 {
			return config{}, fmt.Errorf("%s: %q is not a positive duration like 30m or 12h", src, raw)
		}
		*d.dst = v
	}

	c.MetricsToken, src = g.metricsToken.resolve(env)
	if err := checkMetricsToken(c.MetricsToken); err != nil {
		return config{}, fmt.Errorf("%s: %w", src, err)
	}

	raw, src = g.apiRate.resolve(env)
	rate, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	if err != nil || !(rate > 0 && rate <= maxAPIRate) {
		return config{}, fmt.Errorf("%s: %q is not a number of calls a second between 0 and %d, like 10 or 0.5", src, raw, maxAPIRate)
	}
	c.APIRate = rate
	if c.SMTP, err = g.loadSMTP(env); err != nil {
		return config{}, err
	}

	raw, src = g.notifyLease.resolve(env)
	lease, err := time.ParseDuration(strings.TrimSpace(raw))
	if err != nil || lease < minNotifyLease {
		return config{}, fmt.Errorf("%s: %q is not a duration of at least %v, like 2m: a delivery must stay claimed longer than a send can take", src, raw, minNotifyLease)
	}
	c.NotifyLease = lease

	c.AuditMirror, _ = g.auditMirror.resolve(env)
	c.AuditMirror = strings.TrimSpace(c.AuditMirror)
	if c.OIDC, err = g.loadOIDC(env, c.BaseURL); err != nil {
		return config{}, err
	}
	return c, nil
}

// minNotifyLease bounds --notify-lease from below. A lease shorter than a
// send lets a second worker (or instance) take a delivery that is still on
// the wire, and the receiver gets it twice; the default (2m) is far over
// the webhook timeout (10 s). Tests of crash recovery use a few seconds.
const minNotifyLease = time.Second

// maxAPIRate bounds --api-rate: beyond it a limit limits nothing.
const maxAPIRate = 10_000

// checkMetricsToken refuses a token that is guessable or cannot travel in
// an Authorization header. The message never repeats the token.
func checkMetricsToken(tok string) error {
	if tok == "" {
		return nil
	}
	for _, r := range tok {
		if r < 0x21 || r > 0x7e {
			return errors.New("use visible ASCII characters only (no spaces), e.g. the output of openssl rand -hex 32")
		}
	}
	if len(tok) < 16 {
		return errors.New("use at least 16 characters, e.g. the output of openssl rand -hex 32")
	}
	return nil
}

// parseTrustedProxies reads comma-separated CIDRs ("10.0.0.0/8") or single
// addresses ("192.0.2.7", taken as a /32 or /128). Any bad entry is an
// error: silently dropping one would make the server use the proxy's own
// address for every client, and throttle them all together.
func parseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8", part)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or a CIDR like 10.0.0.0/8", part)
		}
		if a.Zone() != "" {
			return nil, fmt.Errorf("%q: drop the zone (%%%s)", part, a.Zone())
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// newLogger writes structured logs to w, as text for people or JSON for log
// collectors.
func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// usageError is a command-line mistake (unknown command, missing argument):
// it exits with status 2 and a hint to run `keyward help`.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}
