package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web"
	"github.com/keyward/keyward/web/notify"
)

// shutdownGrace is how long requests in flight may run after a stop signal.
const shutdownGrace = 15 * time.Second

// serve runs the server until ctx is done (SIGINT, SIGTERM), then shuts down
// in the order that loses nothing: stop accepting and finish requests in
// flight, then stop the verifier, whose last flush writes the usage those
// requests recorded, then close the database.
func (a *app) serve(ctx context.Context, args []string) (err error) {
	fs := a.newFlagSet("serve")
	pos, err := a.parse(fs, args, true, "serve")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments, got %q", pos[0])
	}
	cfg, err := a.g.load(a.env)
	if err != nil {
		return err
	}
	logger := newLogger(a.stderr, cfg.LogFormat)

	store, err := a.openDB(ctx, cfg.DBPath)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()
	if err := a.attachAuditMirror(store, cfg, true, logger); err != nil {
		return err
	}

	verifier := db.NewVerifier(store, db.VerifierOptions{Logger: logger})
	// The verifier's context is not the signal context: it must outlive the
	// HTTP shutdown, so that usage recorded by the last requests is flushed.
	vctx, stopVerifier := context.WithCancel(context.WithoutCancel(ctx))
	verifierDone := make(chan struct{})
	go func() {
		defer close(verifierDone)
		verifier.Run(vctx)
	}()
	defer func() {
		stopVerifier()
		<-verifierDone
	}()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	baseURL := cfg.BaseURL
	if baseURL == "" {
		baseURL = localURL(cfg.Addr, ln.Addr())
		if wildcardHost(cfg.Addr) {
			logger.Warn("listening on all interfaces without --base-url: set it to the URL people open",
				"assumed_url", baseURL)
		}
	}
	mailer, err := newMailer(cfg.SMTP, baseURL, a.dbOptions.Now, logger)
	if err != nil {
		_ = ln.Close() // nothing was served; the error above is the news
		return err
	}
	srv, err := web.New(web.Config{
		Mail:            mailer,
		Addr:            ln.Addr().String(),
		BaseURL:         baseURL,
		TrustedProxies:  cfg.TrustedProxies,
		SessionIdle:     cfg.SessionIdle,
		SessionAbsolute: cfg.SessionAbsolute,
		APIRate:         cfg.APIRate,
		Notify:          notify.Options{Lease: cfg.NotifyLease},
		MetricsToken:    cfg.MetricsToken,
		Version:         versionString(),
		Logger:          logger,
		// The handlers' clock is the store's: nil (time.Now) but in
		// tests, which must not see a key created at one time and
		// judged at another.
		Now:  a.dbOptions.Now,
		OIDC: cfg.OIDC,
	}, store, verifier)
	if err != nil {
		_ = ln.Close() // nothing was served; the error above is the news
		return err
	}

	setupURL, err := srv.SetupURL(ctx)
	if err != nil {
		_ = ln.Close() // nothing was served; the error above is the news
		return fmt.Errorf("check for an admin: %w", err)
	}
	if setupURL != "" {
		writeSetupBanner(a.stderr, setupURL)
	}

	jctx, stopJobs := context.WithCancel(ctx)
	jobsDone := make(chan struct{})
	go func() {
		defer close(jobsDone)
		srv.RunJobs(jctx)
	}()
	defer func() {
		stopJobs()
		<-jobsDone
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("listening", "url", baseURL, "addr", ln.Addr().String(), "db", db.RedactTarget(cfg.DBPath), "version", versionString())
	if a.onListen != nil {
		a.onListen(baseURL)
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: requests still running after %s: %w", shutdownGrace, shutdownErr)
	}
	logger.Info("stopped")
	return nil
}

// newMailer is the e-mail channel of the SMTP settings, or nil without
// them. It logs where mail goes (never the password).
func newMailer(c *smtpConfig, baseURL string, now func() time.Time, logger *slog.Logger) (notify.MailSender, error) {
	if c == nil {
		logger.Info("e-mail is off: no --smtp-host, nothing is mailed")
		return nil, nil
	}
	mc := c.mailConfig(baseURL)
	mc.Now = now
	m, err := notify.NewMailer(mc)
	if err != nil {
		return nil, err
	}
	logger.Info("e-mail through SMTP", "host", c.Host, "port", c.Port, "tls", c.TLS, "user", c.User, "from", c.From)
	return m, nil
}

// writeSetupBanner shows the one-time setup link where the operator who
// started the server will see it. It goes to stderr as plain text rather
// than through the structured log, which may be shipped elsewhere.
func writeSetupBanner(w io.Writer, url string) {
	fmt.Fprintf(w, "\n"+
		"  Keyward has no admin yet.\n"+
		"  Open this link to create the first admin: %s\n"+
		"  The link works until the first admin exists, on every instance of this database.\n\n", url)
}

// localURL is the dashboard URL when --base-url is not given: the host of
// --addr (localhost for a wildcard address) with the port actually bound,
// which differs from --addr when it asks for port 0.
func localURL(addr string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || wildcardHost(addr) {
		host = "localhost"
	}
	port := ""
	if tcp, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(tcp.Port)
	} else if _, p, err := net.SplitHostPort(bound.String()); err == nil {
		port = p
	}
	return "http://" + net.JoinHostPort(host, port)
}

// wildcardHost reports whether addr listens on every interface (":8080",
// "0.0.0.0:8080", "[::]:8080").
func wildcardHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
