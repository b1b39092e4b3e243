package web

import (
	"github.com/keyward/keyward/handlers"
	"github.com/keyward/keyward/web/notify"

	"log/slog"
	"net/netip"
	"time"
)

// Config is everything the server needs besides the database. main fills it
// from flags and their KEYWARD_* environment twins.
type Config struct {
	// Addr is the listen address, e.g. "localhost:8080".
	Addr string
	// BaseURL is the external URL of the dashboard, e.g.
	// "https://keys.example.com". Empty means "http://" + Addr. It decides
	// the setup link, the curl examples and whether cookies are Secure.
	BaseURL string
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	// Empty: the client IP is the TCP peer, and X-Forwarded-For is ignored.
	TrustedProxies []netip.Prefix
	// MetricsToken, when set, is the bearer token GET /metrics requires.
	// Empty: /metrics is open. Never logged.
	MetricsToken string
	// SessionIdle and SessionAbsolute end sessions on the server
	// (defaults 30 min and 12 h).
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	// Timeouts for the HTTP server.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// BodyLimit caps request bodies (default "1M"; /api caps at 4 KiB).
	BodyLimit string
	// Version is shown in the footer and by `keyward version`.
	Version string
	// Logger receives structured request and security logs. Never keys,
	// passwords, cookies or tokens.
	Logger *slog.Logger
	// Now is the clock (tests inject one). Defaults to time.Now.
	Now func() time.Time
	// SetupToken, when set, is the one-time token /setup requires while no
	// admin exists. Empty (the server's default): the token is a secret in
	// the database, the same for every instance (see Server.SetupURL).
	SetupToken string
	// APIRate is the calls a second each management token may make, with
	// a burst of five seconds' worth (0: handlers.DefaultAPIRate, 10).
	APIRate float64
	// Mail sends e-mail (notify.NewMailer from the SMTP settings); nil
	// without e-mail settings: nothing is mailed and the pages say so.
	Mail notify.MailSender
	// Webhooks sends webhooks; nil takes the default sender.
	Webhooks notify.WebhookSender
	// Notify tunes the delivery worker (tests shorten its poll and lease).
	Notify notify.Options
	// ActivityInterval is how often the anomaly rules run (default 5
	// minutes: a dead key still in use is flagged within minutes).
	ActivityInterval time.Duration
	// LeakAnswerFloor is the least time POST /api/v1/keys/report-leak
	// takes to answer (0: handlers.DefaultLeakAnswerFloor, 250 ms;
	// negative: none, for tests), so that timing does not tell a real key
	// from a guess.
	LeakAnswerFloor time.Duration
	// OIDC turns on single sign-on (nil: off). Its redirect URL is BaseURL
	// + /login/sso/callback; the provider is discovered at first use.
	OIDC *OIDCConfig
}

// OIDCConfig is the single sign-on configuration: the handlers' own, so
// that main configures it without importing package handlers.
type OIDCConfig = handlers.OIDCConfig

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "localhost:8080"
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Addr
	}
	if c.SessionIdle == 0 {
		c.SessionIdle = 30 * time.Minute
	}
	if c.SessionAbsolute == 0 {
		c.SessionAbsolute = 12 * time.Hour
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 15 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.BodyLimit == "" {
		c.BodyLimit = "1M"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ActivityInterval <= 0 {
		c.ActivityInterval = defaultActivityInterval
	}
}
