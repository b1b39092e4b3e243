// Package handlers holds Keyward's Echo handlers, one file per area. They are
// thin: parse the request, call db, build a view model, render. Errors are
// returned, never written: the one error handler in package web maps them to
// a status and a page (or JSON under /api).
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// Config is what the handlers need from the server that assembles them.
type Config struct {
	Store    *db.Store
	Verifier *db.Verifier
	// BaseURL is the dashboard's external URL (links, curl examples, and
	// whether cookies are Secure behind a TLS proxy).
	BaseURL string
	Version string
	Now     func() time.Time
	// SetupToken, when set, is the token /setup takes while no admin
	// exists. Empty (a server): the one in the database, shared by every
	// instance (SetupLinkToken).
	SetupToken string
	// SessionIdle and SessionAbsolute are the server's configured session
	// timeouts: what applies while the settings page leaves them empty.
	SessionIdle, SessionAbsolute time.Duration
	// Metrics receives the business counters (sign-ins, verifications).
	Metrics prometheus.Registerer
	// Logger receives what a handler cannot return as an error, such as
	// an audit write that failed after the answer was decided.
	Logger *slog.Logger
	// APIRate is the calls a second each management token may make
	// (0: DefaultAPIRate), with a burst of five seconds' worth.
	APIRate float64
	// Notifier is the notification service (package web/notify): whether
	// e-mail is configured, the test e-mail, the webhook URL check.
	Notifier Notifier
	// MailServer is the SMTP configuration the settings page shows (nil:
	// none, or unknown).
	MailServer *MailServer
	// LeakAnswerFloor is the least time a leak report's answer takes from
	// its receipt (0: DefaultLeakAnswerFloor; negative: none, for tests).
	LeakAnswerFloor time.Duration
	// OIDC is the single sign-on configuration (nil: off; see sso.go).
	OIDC *OIDCConfig
}

// Notifier is what the handlers need of the notification service, which
// package web builds (web/notify) and hands in: handlers do not import it.
type Notifier interface {
	// MailConfigured reports whether e-mail settings exist: without
	// them nothing is mailed and the pages say so.
	MailConfigured() bool
	// SendTestEmail sends a test message to to now and returns the mail
	// server's answer.
	SendTestEmail(ctx context.Context, to string) (string, error)
	// CheckWebhookURL refuses a URL whose host resolves to a loopback,
	// link-local or private address, unless allowPrivate.
	CheckWebhookURL(ctx context.Context, rawURL string, allowPrivate bool) error
}

// Handler carries the dependencies every handler shares. Besides the
// handlers themselves it owns the request state they read: the browser
// session, the CSRF token and the guessing throttles, with the middleware
// that loads them (LoadSession, CSRF, RequireAuth, RequireAdmin), which
// package web puts in order.
type Handler struct {
	Config

	sessions      *sessionStore
	loginThrottle *loginThrottle
	// passwordThrottle counts wrong current passwords per user id.
	passwordThrottle *backoff[int64]
	devices          *deviceCookies
	verifyThrottle   *verifyThrottle
	// leakThrottle is the per-address allowance of leak reports (and of
	// refused secret scanning requests).
	leakThrottle *verifyThrottle
	metrics      *metrics
	// apiLimiter is the per-token rate of the management API, and
	// apiAuthFailures its per-address back-off of failed authentications.
	apiLimiter      *tokenLimiter
	apiAuthFailures *backoff[netip.Addr]
	// sso is single sign-on: the provider and the failures' back-off.
	sso *ssoService
}

// New builds the handlers from cfg.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{
		Config:           cfg,
		sessions:         &sessionStore{store: cfg.Store, idle: cfg.SessionIdle, absolute: cfg.SessionAbsolute, now: cfg.Now},
		loginThrottle:    newLoginThrottle(cfg.Store, cfg.Now),
		passwordThrottle: newPasswordChangeThrottle(cfg.Now),
		devices:          &deviceCookies{store: cfg.Store, now: cfg.Now},
		verifyThrottle:   newVerifyThrottle(cfg.Now),
		leakThrottle:     newAddrThrottle(cfg.Now, leakReportRate, leakReportBurst),
		metrics:          newMetrics(cfg.Metrics, cfg.Verifier),
		apiLimiter:       newTokenLimiter(cfg.Now, cfg.APIRate),
		apiAuthFailures:  newAPIAuthFailures(cfg.Now),
		sso:              newSSO(cfg),
	}
}

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now().UTC()
	}
	return h.Now().UTC()
}

// layout builds the shared part of every page.
func (h *Handler) layout(c echo.Context, title, nav string) views.Layout {
	l := views.Layout{
		Title:     title,
		CSRFToken: csrfToken(c),
		Version:   h.Version,
		Nav:       nav,
		Now:       h.now(),
	}
	if u := currentUser(c); u != nil {
		l.User = &views.CurrentUser{Email: u.Email, IsAdmin: u.IsAdmin(), CanReadAdmin: u.CanReadAdmin()}
		l.Flashes = h.popFlashes(c)
		l.ActiveAlerts = h.activeAlerts(c)
	}
	return l
}

// render writes a templ component with the given status.
func render(c echo.Context, status int, comp templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return comp.Render(c.Request().Context(), c.Response().Writer)
}

// isHTMX reports whether the request came from htmx (and wants a partial).
func isHTMX(c echo.Context) bool {
	return c.Request().Header.Get("HX-Request") == "true"
}

// redirect sends the browser to path after a POST (303 See Other, or an
// HX-Redirect for htmx so the whole page changes).
func redirect(c echo.Context, path string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", path)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, path)
}

// flash queues a message; failure to store one must not fail the action.
func (h *Handler) flash(c echo.Context, kind, msg string) {
	_ = h.addFlash(c, views.Flash{Kind: kind, Message: msg})
}

// actor describes the signed-in user for the audit log.
func actor(c echo.Context) db.Actor {
	u := currentUser(c)
	if u == nil {
		return db.Actor{Label: "anonymous", IP: c.RealIP()}
	}
	return db.Actor{UserID: u.ID, Label: u.Email, IP: c.RealIP()}
}

// ctx is the request's context.
func ctx(c echo.Context) context.Context { return c.Request().Context() }

// audit writes an event that no change shares a transaction with (a failed
// sign-in changes nothing). A failure to write it does not fail the
// request, but it is never silent: it is logged and counted in /metrics.
func (h *Handler) audit(c echo.Context, e db.AuditEvent) {
	if err := h.Store.Audit(ctx(c), e); err != nil {
		h.metrics.auditFailures.Inc()
		h.Logger.LogAttrs(ctx(c), slog.LevelError, "audit write failed",
			slog.String("action", e.Action), slog.String("error", err.Error()))
	}
}
