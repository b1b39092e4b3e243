// Package web assembles Keyward's HTTP server: the middleware in order
// (browser sessions and CSRF among them, which package handlers provides),
// the one route table, the one error handler, security headers, client
// addresses, request logs and metrics, and the background jobs.
package web

import (
	"github.com/keyward/keyward/web/notify"

	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/handlers"
)

// Server is a configured Keyward HTTP server.
type Server struct {
	cfg     Config
	store   *db.Store
	echo    *echo.Echo
	http    *http.Server
	metrics *metrics
	h       *handlers.Handler
	// notify delivers the outbox: e-mail and webhooks (RunJobs runs it).
	notify *notify.Service
	// holder names this server in the background jobs' lease: random, so
	// no two processes share it.
	holder string
	// unavailableLog paces the log line of requests that failed because
	// the database is unreachable.
	unavailableLog rate.Sometimes
}

// New builds the server. It does not listen; call Serve.
func New(cfg Config, store *db.Store, verifier *db.Verifier) (*Server, error) {
	cfg.setDefaults()
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("web: base URL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	holder := make([]byte, 16)
	if _, err := rand.Read(holder); err != nil {
		return nil, fmt.Errorf("web: job lease holder: %w", err)
	}
	reg := prometheus.NewRegistry()
	s := &Server{
		cfg:     cfg,
		store:   store,
		metrics: newMetrics(reg),
		holder:  hex.EncodeToString(holder),

		unavailableLog: rate.Sometimes{Interval: 10 * time.Second},
	}
	hooks := cfg.Webhooks
	if hooks == nil {
		hooks = notify.NewWebhookSender(notify.WebhookOptions{AllowPrivate: webhooksAllowPrivate(store, cfg.Logger)})
	}
	s.notify = notify.New(store, cfg.Mail, hooks, s.holder, cfg.Notify, cfg.Logger)
	store.SetOutboxHook(s.notify.Wake)
	reg.MustRegister(newOutboxCollector(store, s.notify, cfg.Logger))
	// Read at scrape time from the Store's mirror (main sets it from
	// --audit-mirror): 0 without one.
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "keyward_audit_mirror_dropped_total",
		Help: "Audit events the SIEM mirror (--audit-mirror) did not write because its queue was full; they stay in the audit log.",
	}, func() float64 { return float64(store.AuditMirror().Dropped()) }))
	s.h = handlers.New(handlers.Config{
		Notifier:   s.notify,
		MailServer: mailServer(cfg.Mail),
		Store:      store,
		Verifier:   verifier,
		BaseURL:    cfg.BaseURL,
		Version:    cfg.Version,
		Now:        cfg.Now,
		SetupToken: cfg.SetupToken,
		// After setDefaults: the values sessions really fall back to.
		SessionIdle:     cfg.SessionIdle,
		SessionAbsolute: cfg.SessionAbsolute,
		Metrics:         reg,
		Logger:          cfg.Logger,
		APIRate:         cfg.APIRate,
		LeakAnswerFloor: cfg.LeakAnswerFloor,
		OIDC:            cfg.OIDC,
	})
	s.echo = s.newEcho(reg)
	s.http = &http.Server{
		Addr:              cfg.Addr,
		Handler:           s.echo,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	return s, nil
}

// Handler returns the server's root handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.echo }

// SetupURL returns the one-time link that creates the first admin, or ""
// once an admin exists. Its token is kept in the database, so every
// instance started on one database prints the same link, and it works
// whichever instance the browser reaches.
func (s *Server) SetupURL(ctx context.Context) (string, error) {
	has, err := s.store.HasAdmin(ctx)
	if err != nil {
		return "", err
	}
	if has {
		return "", nil
	}
	tok, err := s.h.SetupLinkToken(ctx)
	if err != nil {
		return "", err
	}
	return s.cfg.BaseURL + "/setup?token=" + url.QueryEscape(tok), nil
}

// Serve accepts connections on ln until Shutdown. It returns
// http.ErrServerClosed after a graceful shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.http.Serve(ln) }

// Shutdown stops accepting connections and waits for in-flight requests.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// mailServer is what the settings page shows of the mailer's configuration
// (never the password); nil without e-mail or for a sender that does not
// say (a test's).
func mailServer(m notify.MailSender) *handlers.MailServer {
	mm, ok := m.(*notify.Mailer)
	if !ok || mm == nil {
		return nil
	}
	s := mm.Summary()
	return &handlers.MailServer{Host: s.Host, Port: s.Port, TLS: s.TLS, User: s.User, From: s.From}
}

// webhooksAllowPrivate reads the admin setting for the webhook sender at
// every send. A failed read refuses private receivers: the guard stays on.
func webhooksAllowPrivate(store *db.Store, log *slog.Logger) func(context.Context) bool {
	return func(ctx context.Context) bool {
		on, err := store.WebhooksAllowPrivate(ctx)
		if err != nil {
			log.Warn("webhooks: reading the private receivers setting failed", slog.String("error", err.Error()))
			return false
		}
		return on
	}
}
