package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// AccountShow is GET /account: profile, password change, notification
// choices, management tokens, active sessions.
func (h *Handler) AccountShow(c echo.Context) error {
	m, err := h.accountPage(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.Account(m))
}

func (h *Handler) accountPage(c echo.Context) (views.AccountPage, error) {
	u, sess := currentUser(c), currentSession(c)
	rows, err := h.Store.ListUserSessions(ctx(c), u.ID)
	if err != nil {
		return views.AccountPage{}, err
	}
	m := views.AccountPage{
		Layout:    h.layout(c, "Account", "account"),
		Email:     u.Email,
		Role:      string(u.Role),
		CreatedAt: u.CreatedAt,
	}
	if m.Tokens, err = h.tokensCard(c, views.TokenForm{}); err != nil {
		return views.AccountPage{}, err
	}
	if m.Notifications, err = h.notificationsCard(c); err != nil {
		return views.AccountPage{}, err
	}
	for _, s := range rows {
		if !listedSession(s) {
			continue
		}
		m.Sessions = append(m.Sessions, views.SessionRow{
			ID: s.ID, Device: describeUserAgent(s.UserAgent), UserAgent: s.UserAgent, IP: s.IP,
			CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, Current: s.ID == sess.ID(),
			SignIn: signInLabel(s.AuthMethod, s.SecondFactor),
		})
	}
	return m, nil
}

// AccountPassword is POST /account/password. A changed password ends every
// other session of the user (a thief's session too). The form tells
// whether a password is right, so it is throttled and audited like
// sign-in: wrong current passwords are audited (by ChangePassword), slowed
// per account (429 with Retry-After, the wait beside the field, before
// any password is checked), and the last of passwordChangeMaxFailures in a
// row ends the session.
func (h *Handler) AccountPassword(c echo.Context) error {
	u, sess := currentUser(c), currentSession(c)
	if wait := h.passwordThrottle.wait(u.ID); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		return h.accountPasswordErrors(c, http.StatusTooManyRequests, views.FieldErrors{
			"current_password": fmt.Sprintf("Too many wrong passwords. Try again in %s.", plural(secs, "second")),
		})
	}
	current, next := c.FormValue("current_password"), c.FormValue("new_password")
	var err error
	if next != c.FormValue("new_password_confirm") {
		err = &db.ValidationError{Fields: map[string]string{"new_password_confirm": "The new passwords don't match."}}
	} else {
		err = h.Store.ChangePassword(ctx(c), u.ID, current, next, sess.ID(), actor(c))
	}
	if fe := db.FieldErrors(err); fe != nil {
		if _, wrong := fe["current_password"]; wrong {
			if h.passwordThrottle.fail(u.ID) >= passwordChangeMaxFailures {
				return h.endSessionAfterGuesses(c, "password_attempts")
			}
		}
		return h.accountPasswordErrors(c, http.StatusUnprocessableEntity, fe)
	}
	if err != nil {
		return err
	}
	h.passwordThrottle.reset(u.ID)
	h.flash(c, "success", "Your password was changed. All your other sessions were signed out.")
	return redirect(c, "/account")
}

// accountPasswordErrors renders the account page with messages beside the
// password fields.
func (h *Handler) accountPasswordErrors(c echo.Context, status int, fe views.FieldErrors) error {
	m, err := h.accountPage(c)
	if err != nil {
		return err
	}
	m.PasswordErrors = fe
	return render(c, status, views.Account(m))
}

// endSessionAfterGuesses ends the session that kept guessing the current
// password (audited as an ended session, after the failures) and sends the
// person to sign in, where the sign-in throttles apply; notice names the
// sign-in page's message (loginNotices).
func (h *Handler) endSessionAfterGuesses(c echo.Context, notice string) error {
	u, sess := currentUser(c), currentSession(c)
	if err := h.Store.DeleteUserSession(ctx(c), u.ID, sess.ID(), actor(c)); err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	if err := h.endSession(c); err != nil {
		return err
	}
	return redirect(c, "/login?m="+notice)
}

// AccountSessionEnd is POST /account/sessions/{id}/end: sign out one of the
// user's other sessions (scoped by user in SQL: another user's id is 404).
func (h *Handler) AccountSessionEnd(c echo.Context) error {
	u, sess := currentUser(c), currentSession(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return db.ErrNotFound
	}
	if id == sess.ID() {
		return BadRequest("CURRENT_SESSION", "To end this session, use Sign out.")
	}
	if err := h.Store.DeleteUserSession(ctx(c), u.ID, id, actor(c)); err != nil {
		return err
	}
	h.flash(c, "success", "That session was signed out.")
	return redirect(c, "/account")
}

// AccountSessionsEndOthers is POST /account/sessions/end-others.
func (h *Handler) AccountSessionsEndOthers(c echo.Context) error {
	n, err := h.Store.DeleteUserSessions(ctx(c), currentUser(c).ID, currentSession(c).ID(), actor(c))
	if err != nil {
		return err
	}
	switch n {
	case 0:
		h.flash(c, "info", "There were no other sessions to sign out.")
	case 1:
		h.flash(c, "success", "Signed out 1 other session.")
	default:
		h.flash(c, "success", "Signed out "+strconv.FormatInt(n, 10)+" other sessions.")
	}
	return redirect(c, "/account")
}

// describeUserAgent turns a user agent into "Firefox on macOS". It is a
// display hint, not a security decision, so a few substring checks suffice.
func describeUserAgent(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	browser := "Browser"
	switch {
	case strings.Contains(ua, "Edg/"):
		browser = "Edge"
	case strings.Contains(ua, "Firefox/"):
		browser = "Firefox"
	case strings.Contains(ua, "Chrome/") || strings.Contains(ua, "Chromium/") || strings.Contains(ua, "HeadlessChrome/"):
		browser = "Chrome"
	case strings.Contains(ua, "Safari/"):
		browser = "Safari"
	case strings.HasPrefix(ua, "curl/"):
		return "curl"
	case strings.HasPrefix(ua, "Go-http-client"):
		return "Go HTTP client"
	}
	os := ""
	switch {
	case strings.Contains(ua, "Windows"):
		os = "Windows"
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad"):
		os = "iOS"
	case strings.Contains(ua, "Mac OS X"):
		os = "macOS"
	case strings.Contains(ua, "Android"):
		os = "Android"
	case strings.Contains(ua, "Linux"):
		os = "Linux"
	}
	if os == "" {
		return browser
	}
	return browser + " on " + os
}
