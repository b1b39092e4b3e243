package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// A dangerous form submitted after the re-authentication window is not
// lost: askReauth keeps it on the server (an auth challenge, single use,
// bound to the person and their session), sends the person to /sudo, and
// once they have proved who they are SudoResume shows it again as hidden
// fields behind one "Continue" button that posts it, with a fresh CSRF
// token, to where it was going. Nothing is submitted without a click
// (no script: the CSP allows none inline), and the person sees what they
// are about to do.

// keptFormTTL is how long a kept form waits for its person: time to find
// a phone or a security key, not to come back tomorrow.
const keptFormTTL = 30 * time.Minute

// keptForm is a dangerous submission waiting for its person to
// re-authenticate.
type keptForm struct {
	UserID    int64      `json:"uid"`
	SessionID int64      `json:"sid"`
	At        time.Time  `json:"at"`
	Path      string     `json:"path"`
	Form      url.Values `json:"form"`
	Label     string     `json:"label"`
	Back      string     `json:"back"`
}

// keepField reports whether a form field may be stored while the person
// re-authenticates: never the CSRF token (the resumed form gets a fresh
// one) nor anything secret (passwords, one-time codes), which the
// database must not hold even for minutes.
func keepField(name string) bool {
	n := strings.ToLower(name)
	return n != "_csrf" && !strings.Contains(n, "password") && n != "code" && n != "recovery_code"
}

// askReauth answers a dangerous request whose person must re-authenticate
// first: nothing is done, the form is kept, and the person goes to /sudo.
// JSON callers (the passkey ceremonies) get a 403 naming the page instead:
// a ceremony cannot be replayed, only started again.
func (h *Handler) askReauth(c echo.Context) error {
	r := c.Request()
	act := h.describeSudoAction(c)
	if wantsJSON(c) {
		return c.JSON(http.StatusForbidden, map[string]string{
			"code":     "REAUTH_REQUIRED",
			"error":    "Confirm it's you first.",
			"redirect": "/sudo?next=" + url.QueryEscape(act.back),
		})
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return c.Redirect(http.StatusSeeOther, "/sudo?next="+url.QueryEscape(r.URL.RequestURI()))
	}
	form, err := c.FormParams()
	if err != nil {
		return BadRequest("BAD_FORM", "The form could not be read.")
	}
	kept := url.Values{}
	for name, vs := range form {
		if keepField(name) {
			kept[name] = vs
		}
	}
	k := keptForm{
		UserID: currentUser(c).ID, SessionID: currentSession(c).ID(), At: h.now(),
		Path: r.URL.RequestURI(), Form: kept, Label: act.label, Back: act.back,
	}
	data, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("handlers: keep form: %w", err)
	}
	tok, err := h.Store.PutAuthChallenge(ctx(c), db.ChallengeSudo, data, keptFormTTL)
	if err != nil {
		return err
	}
	return redirect(c, "/sudo?return="+url.QueryEscape(tok))
}

// wantsJSON reports whether the request is a script's JSON call rather
// than a form.
func wantsJSON(c echo.Context) bool {
	r := c.Request()
	return strings.HasPrefix(r.Header.Get(echo.HeaderContentType), echo.MIMEApplicationJSON) ||
		strings.HasPrefix(r.Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON)
}

// SudoResume is GET /sudo/resume?return=TOKEN: after re-authentication,
// the kept form, ready to continue. The token is taken (deleted) here, so
// it resumes once; a token of another person, or of an older session of
// theirs, is refused like an expired one.
func (h *Handler) SudoResume(c echo.Context) error {
	tok := c.QueryParam("return")
	ok, err := h.recentlyAuthenticated(c)
	if err != nil {
		return err
	}
	if !ok {
		return c.Redirect(http.StatusSeeOther, "/sudo?return="+url.QueryEscape(tok))
	}
	data, err := h.Store.TakeAuthChallenge(ctx(c), db.ChallengeSudo, tok)
	if errors.Is(err, db.ErrNotFound) {
		return h.resumeGone(c)
	}
	if err != nil {
		return err
	}
	var k keptForm
	if err := json.Unmarshal(data, &k); err != nil || !h.mayResume(c, k) {
		return h.resumeGone(c)
	}
	return render(c, http.StatusOK, views.SudoResume(views.SudoResumePage{
		Layout: h.layout(c, "Continue", ""),
		Action: k.Path, Label: k.Label, Back: k.Back, Fields: hiddenFields(k.Form),
	}))
}

// mayResume reports whether the signed-in session may resume k: the same
// person, in the session that was interrupted or in one they signed in to
// since (signing in again, say through single sign-on, starts a new
// session and proves more than re-authentication does).
func (h *Handler) mayResume(c echo.Context, k keptForm) bool {
	u, s := currentUser(c), currentSession(c)
	if u == nil || u.ID != k.UserID || !localPath(k.Path) {
		return false
	}
	return s.ID() == k.SessionID || !s.AuthTime().Before(k.At)
}

// resumeGone answers a resume link that was used, expired or is not the
// person's: nothing to continue, and nothing was done.
func (h *Handler) resumeGone(c echo.Context) error {
	return render(c, http.StatusNotFound, views.SudoResumeGone(h.layout(c, "Nothing to continue", "")))
}

// hiddenFields lists a form's values in a stable order (by name, each
// name's values in their order), as the resumed form's hidden inputs.
func hiddenFields(form url.Values) []views.HiddenField {
	names := make([]string, 0, len(form))
	for n := range form {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []views.HiddenField
	for _, n := range names {
		for _, v := range form[n] {
			out = append(out, views.HiddenField{Name: n, Value: v})
		}
	}
	return out
}
