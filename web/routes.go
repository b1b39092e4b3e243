package web

import (
	"io/fs"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward/handlers"
	"github.com/keyward/keyward/static"
)

// newEcho builds the Echo instance: middleware in order, then the route
// table, which reads like a sitemap.
func (s *Server) newEcho(reg *prometheus.Registry) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.IPExtractor = ipExtractor(s.cfg.TrustedProxies)
	e.SchemeExtractor = schemeExtractor(s.cfg.TrustedProxies)
	e.HTTPErrorHandler = s.handleError

	// Outermost first: every response gets an id, is observed and logged,
	// carries the security headers, survives panics, and has a bounded body.
	e.Use(requestID, s.observe, securityHeaders(true), s.recoverPanic,
		middleware.BodyLimit(s.cfg.BodyLimit))

	h := s.h

	// Operations and static files: no session, no CSRF.
	e.GET("/healthz", h.Healthz)
	e.GET("/metrics", metricsHandler(reg, s.cfg.MetricsToken))
	e.GET("/static/*", staticHandler())
	e.GET("/favicon.ico", func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, static.URL("img/favicon.svg"))
	})

	// The API: authenticated by keys only, never by the browser session.
	api := e.Group("/api/v1")
	api.POST("/keys/verify", h.APIVerify)
	// Leaked keys: anyone reports a key (the answer never says whether it
	// existed); GitHub's secret scanning reports, signed.
	api.POST("/keys/report-leak", h.APIReportLeak)
	api.POST("/secret-scanning/github", h.APIGitHubSecretScanning)
	api.Match([]string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions}, "/keys/verify", onlyPost)
	api.Match([]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions}, "/auth", h.APIForwardAuth)
	// Echo gives every group with middleware a catch-all route. Without these
	// the browser group's catch-all would answer unknown API paths (and a GET
	// of the verify route) with a redirect to the sign-in page, not JSON.
	api.RouteNotFound("", apiNotFound)
	api.RouteNotFound("/*", apiNotFound)
	// The management API: management tokens only, its routes and its
	// OpenAPI document made by huma from package handlers' operations.
	s.newManagementAPI(e)

	// Browser pages: session, CSRF, never cached.
	b := e.Group("", noStore, h.MarkHTTPS, h.LoadSession, handlers.CSRF)
	b.GET("/", h.Home)
	b.GET("/setup", h.SetupShow)
	b.POST("/setup", h.SetupSubmit)
	b.GET("/login", h.LoginShow)
	b.POST("/login", h.LoginSubmit)
	b.POST("/logout", h.Logout)
	// The second factor, after a right password (a pending sign-in only).
	b.GET("/login/2fa", h.SecondFactorShow)
	b.POST("/login/2fa", h.SecondFactorCode)
	b.POST("/login/2fa/recovery", h.SecondFactorRecovery)
	// Single sign-on (OpenID Connect): off unless configured (404).
	b.GET("/login/sso", h.SSOStart)
	b.GET("/login/sso/callback", h.SSOCallback)
	// Passkeys (JSON, static/js/passkeys.js): passwordless sign-in, and
	// the second factor of a pending sign-in (the handlers check it).
	b.POST("/webauthn/login/begin", h.WebAuthnLoginBegin)
	b.POST("/webauthn/login/finish", h.WebAuthnLoginFinish)
	b.POST("/webauthn/2fa/begin", h.WebAuthnSecondBegin)
	b.POST("/webauthn/2fa/finish", h.WebAuthnSecondFinish)
	// The management API's reference, open like the document it renders.
	b.GET("/docs/api", h.APIDocs)

	u := b.Group("", handlers.RequireAuth)
	u.GET("/keys", h.KeysList)
	// Dangerous changes ask for a fresh proof of identity first
	// (RequireRecentAuth: /sudo, then the form resumes).
	u.POST("/keys", h.KeysCreate, h.RequireRecentAuth)
	u.GET("/keys/new", h.KeysNew)
	u.GET("/keys/:id", h.KeyShow)
	u.POST("/keys/:id/edit", h.KeyEdit)
	u.POST("/keys/:id/disable", h.KeyDisable)
	u.POST("/keys/:id/enable", h.KeyEnable)
	u.POST("/keys/:id/roll", h.KeyRoll, h.RequireRecentAuth)
	u.POST("/keys/:id/revoke", h.KeyRevoke)
	u.POST("/keys/:id/limits", h.KeyLimits)
	u.POST("/keys/:id/scopes", h.KeyScopes)
	u.POST("/keys/:id/transfer", h.KeyTransfer)
	// Teams: members see their team, maintainers and admins manage it
	// (checked per team by the handlers); only admins create teams.
	u.GET("/teams", h.TeamsList)
	u.POST("/teams", h.TeamCreate, handlers.RequireAdmin)
	u.GET("/teams/:id", h.TeamShow)
	u.POST("/teams/:id/members", h.TeamMemberAdd)
	u.POST("/teams/:id/members/:user/role", h.TeamMemberRole)
	u.POST("/teams/:id/members/:user/remove", h.TeamMemberRemove)
	// Alerts: everyone sees those of the keys they can see and handles
	// those of the keys they manage (checked per alert by the handlers).
	u.GET("/alerts", h.Alerts)
	u.POST("/alerts/:id/acknowledge", h.AlertAcknowledge)
	u.POST("/alerts/:id/resolve", h.AlertResolve)
	u.GET("/account", h.AccountShow)
	// Sign-in methods. While policy requires a second factor the person
	// has not set up, /account/security and what lies under it (with
	// passkey registration and sign-out) is all they can reach.
	u.GET("/account/security", h.SecurityShow)
	u.POST("/account/security/totp", h.SecurityTOTPBegin, h.RequireRecentAuth)
	u.POST("/account/security/totp/confirm", h.SecurityTOTPConfirm, h.RequireRecentAuth)
	u.POST("/account/security/totp/remove", h.SecurityTOTPRemove, h.RequireRecentAuth)
	u.POST("/account/security/recovery-codes", h.SecurityRecoveryGenerate, h.RequireRecentAuth)
	// Re-authentication ("sudo mode") and the form it kept.
	u.GET("/sudo", h.SudoShow)
	u.POST("/sudo", h.SudoSubmit)
	u.GET("/sudo/resume", h.SudoResume)
	u.GET("/account/security/sso/link", h.SSOLinkShow)
	u.POST("/account/security/sso/link", h.SSOLinkConfirm, h.RequireRecentAuth)
	u.POST("/webauthn/register/begin", h.WebAuthnRegisterBegin, h.RequireRecentAuth)
	u.POST("/webauthn/register/finish", h.WebAuthnRegisterFinish, h.RequireRecentAuth)
	u.POST("/account/security/passkeys/:id/rename", h.PasskeyRename, h.RequireRecentAuth)
	u.POST("/account/security/passkeys/:id/remove", h.PasskeyRemove, h.RequireRecentAuth)
	u.POST("/webauthn/sudo/begin", h.WebAuthnSudoBegin)
	u.POST("/webauthn/sudo/finish", h.WebAuthnSudoFinish)
	u.POST("/account/password", h.AccountPassword)
	u.POST("/account/notifications", h.AccountNotifications)
	u.POST("/account/sessions/end-others", h.AccountSessionsEndOthers)
	u.POST("/account/sessions/:id/end", h.AccountSessionEnd)
	u.POST("/account/tokens", h.AccountTokenCreate, h.RequireRecentAuth)
	u.POST("/account/tokens/:id/revoke", h.AccountTokenRevoke)

	// One-time links: invitations and password resets.
	b.GET("/invite/:token", h.InviteShow)
	b.POST("/invite/:token", h.InviteAccept)
	b.GET("/reset/:token", h.ResetShow)
	b.POST("/reset/:token", h.ResetSubmit)

	// Admin console, changes: admins only, the role checked on every request.
	adw := u.Group("/admin", handlers.RequireAdmin)
	adw.POST("/invites", h.AdminInviteCreate)
	adw.POST("/invites/:id/revoke", h.AdminInviteRevoke)
	adw.POST("/invites/:id/renew", h.AdminInviteRenew)
	adw.POST("/users/:id/disable", h.AdminUserDisable, h.RequireRecentAuth)
	adw.POST("/users/:id/enable", h.AdminUserEnable)
	adw.POST("/users/:id/role", h.AdminUserRole, h.RequireRecentAuth)
	adw.POST("/users/:id/sessions/end", h.AdminUserEndSessions)
	adw.POST("/users/:id/reset-link", h.AdminUserResetLink)
	adw.POST("/users/:id/reset-factors", h.AdminUserResetFactors, h.RequireRecentAuth)
	adw.POST("/keys/bulk", h.AdminKeysBulk, h.RequireRecentAuth)
	adw.POST("/settings", h.AdminSettingsSave)
	adw.POST("/settings/test-email", h.AdminSettingsTestEmail)
	adw.POST("/secret-scanning", h.AdminSecretScanningSave)
	adw.POST("/scopes", h.AdminScopeCreate)
	adw.POST("/scope-settings", h.AdminScopesOutside)
	adw.POST("/scopes/:name", h.AdminScopeUpdate)
	adw.POST("/scopes/:name/rename", h.AdminScopeRename)
	adw.POST("/scopes/:name/retire", h.AdminScopeRetire)
	adw.POST("/scopes/:name/restore", h.AdminScopeRestore)
	adw.POST("/requests/:id/approve", h.AdminRequestApprove)
	adw.POST("/requests/:id/deny", h.AdminRequestDeny)
	// Webhook endpoints: their settings, sends and the SSRF switch.
	adw.POST("/webhooks", h.AdminWebhookCreate)
	adw.POST("/webhook-settings", h.AdminWebhookSettings)
	adw.POST("/activity-settings", h.AdminActivitySettings)
	// Sign-in policy: weakening it is a dangerous action.
	adw.POST("/signin-settings", h.AdminSignInSettings, h.RequireRecentAuth)
	adw.POST("/webhooks/:id", h.AdminWebhookUpdate)
	adw.POST("/webhooks/:id/disable", h.AdminWebhookDisable)
	adw.POST("/webhooks/:id/enable", h.AdminWebhookEnable)
	adw.POST("/webhooks/:id/delete", h.AdminWebhookDelete)
	adw.POST("/webhooks/:id/test", h.AdminWebhookTest)
	adw.POST("/webhooks/:id/secret", h.AdminWebhookRollSecret)
	adw.POST("/webhooks/:id/deliveries/:delivery/resend", h.AdminWebhookResend)

	// Admin console, reading: admins and auditors. Declared after the
	// change group so that its catch-all answers unknown admin paths (404
	// for those who may read, 403 for members), not the admins-only one.
	ad := u.Group("/admin", handlers.RequireAdminRead)
	ad.GET("", h.AdminOverview)
	ad.GET("/users", h.AdminUsers)
	ad.GET("/keys", h.AdminKeys)
	ad.GET("/keys.csv", h.AdminKeysCSV)
	ad.GET("/settings", h.AdminSettings)
	ad.GET("/audit", h.AdminAudit)
	ad.GET("/audit.csv", h.AdminAuditCSV)
	ad.GET("/audit.jsonl", h.AdminAuditJSONL)
	// The scope catalog and approval requests.
	ad.GET("/scopes", h.AdminScopes)
	ad.GET("/scopes/:name", h.AdminScopeShow)
	ad.GET("/requests", h.AdminRequests)
	// Webhook endpoints and their delivery logs.
	ad.GET("/webhooks", h.AdminWebhooks)
	ad.GET("/webhooks/new", h.AdminWebhookNew)
	ad.GET("/webhooks/:id", h.AdminWebhookShow)

	// u's catch-all (see the API's above) would send visitors asking for an
	// unknown path to the sign-in page; an unknown path is a 404 for everyone.
	// This must stay after every b.Group("", …): the last catch-all wins.
	b.RouteNotFound("/*", echo.NotFoundHandler)

	return e
}

// staticHandler serves the embedded assets. URLs carry a content hash
// (static.URL), so they can be cached for a year.
func staticHandler() echo.HandlerFunc {
	files := http.FileServer(http.FS(static.FS))
	return func(c echo.Context) error {
		p := c.Param("*")
		if p == "" {
			return echo.ErrNotFound
		}
		if f, err := fs.Stat(static.FS, p); err != nil || f.IsDir() {
			return echo.ErrNotFound
		}
		c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		r := c.Request().Clone(c.Request().Context())
		r.URL = &url.URL{Path: "/" + p}
		files.ServeHTTP(c.Response(), r)
		return nil
	}
}

// apiNotFound lets the error handler answer in JSON.
func apiNotFound(echo.Context) error { return echo.ErrNotFound }

// onlyPost answers another method on a POST-only API route: 405 with
// Allow, in JSON like every API error.
func onlyPost(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderAllow, http.MethodPost)
	return echo.ErrMethodNotAllowed
}
