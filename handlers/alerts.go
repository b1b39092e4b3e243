package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// The Alerts page: every signed-in person sees the alerts on the keys they
// can see (admins and auditors: all) and acts on those of the keys they
// manage (admins: all). Auditors read.

// alertsPageSize is a page of the list: an alert row is tall (its
// evidence), so fewer than the key list's.
const alertsPageSize = 25

// Alerts is GET /alerts[?status=&rule=&key=&after=].
func (h *Handler) Alerts(c echo.Context) error {
	f := views.AlertsFilter{Status: c.QueryParam("status"), Rule: c.QueryParam("rule")}
	// An unknown filter value is a link gone stale (or typed): the list
	// without it, not an error page.
	if !slices.Contains([]string{"", db.AlertStatusAll, db.AlertOpen, db.AlertAcknowledged, db.AlertResolved}, f.Status) {
		f.Status = ""
	}
	if !slices.Contains(db.AlertRules(), f.Rule) {
		f.Rule = ""
	}
	access := keyViewAccess(c)
	if id, err := strconv.ParseInt(c.QueryParam("key"), 10, 64); err == nil && id > 0 {
		k, err := h.Store.GetKey(ctx(c), access, id)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		// A key the person cannot see filters to nothing, as if it had
		// no alerts: whether it exists is not theirs to learn.
		f.KeyID, f.KeyName = id, k.Name
	}
	after := c.QueryParam("after")
	page, err := h.Store.ListAlerts(ctx(c), access, db.AlertFilter{Status: f.Status, Rule: f.Rule, KeyID: f.KeyID,
		After: after, Limit: alertsPageSize})
	if errors.Is(err, db.ErrInvalid) && after != "" {
		after = "" // a mangled page link: the first page
		page, err = h.Store.ListAlerts(ctx(c), access, db.AlertFilter{Status: f.Status, Rule: f.Rule, KeyID: f.KeyID, Limit: alertsPageSize})
	}
	if err != nil {
		return err
	}
	can, err := h.alertActor(c)
	if err != nil {
		return err
	}
	base := views.AlertsURL(f.Status, f.Rule, f.KeyID)
	m := views.AlertsPage{Layout: h.layout(c, "Alerts", "alerts"), Filter: f, Back: base}
	if after != "" {
		m.Back = withQuery(base, "after", after)
		m.FirstURL = base
	}
	if page.Next != "" {
		m.NextURL = withQuery(base, "after", page.Next)
	}
	for _, r := range db.AlertRules() {
		m.Rules = append(m.Rules, views.ActionOption{Value: r, Label: views.AlertRuleLabel(r)})
	}
	for _, a := range page.Alerts {
		m.Alerts = append(m.Alerts, alertRow(a, can(a)))
	}
	return render(c, http.StatusOK, views.Alerts(m))
}

// withQuery adds name=value to a local URL's query.
func withQuery(u, name, value string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + url.QueryEscape(name) + "=" + url.QueryEscape(value)
}

// alertActor says, alert by alert, whether the signed-in person may act on
// it: an admin on every one; anyone else on the alerts of their own
// personal keys and of the teams they maintain (db.ManagedBy, which the
// action itself enforces).
func (h *Handler) alertActor(c echo.Context) (func(db.Alert) bool, error) {
	u := currentUser(c)
	if u.IsAdmin() {
		return func(db.Alert) bool { return true }, nil
	}
	teams, err := h.Store.UserTeams(ctx(c), u.ID)
	if err != nil {
		return nil, err
	}
	maintained := map[string]bool{}
	for _, t := range teams {
		if t.MyRole == db.TeamMaintainer {
			maintained["team:"+t.Name] = true
		}
	}
	return func(a db.Alert) bool {
		if a.OwnerType == db.OwnerTeam {
			return maintained[a.Owner]
		}
		return strings.EqualFold(a.Owner, u.Email)
	}, nil
}

func alertRow(a db.Alert, canAct bool) views.AlertRow {
	return views.AlertRow{
		ID: a.ID, Rule: a.Rule, KeyID: a.KeyID, KeyName: a.KeyName, KeyHint: a.KeyHint, Owner: a.Owner,
		Status: a.Status, Summary: a.Summary, Evidence: views.AlertEvidence(a.Evidence),
		FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, Occurrences: a.Occurrences,
		AcknowledgedAt: a.AcknowledgedAt, AcknowledgedBy: a.AcknowledgedBy,
		ResolvedAt: a.ResolvedAt, ResolvedBy: a.ResolvedBy,
		CanAct: canAct,
	}
}

// AlertAcknowledge is POST /alerts/{id}/acknowledge.
func (h *Handler) AlertAcknowledge(c echo.Context) error {
	return h.alertAct(c, h.Store.AcknowledgeAlert, "acknowledged", "was already acknowledged")
}

// AlertResolve is POST /alerts/{id}/resolve.
func (h *Handler) AlertResolve(c echo.Context) error {
	return h.alertAct(c, h.Store.ResolveAlert, "resolved", "was already resolved")
}

type alertChange func(ctx context.Context, access db.KeyAccess, id int64, actor db.Actor) (db.Alert, bool, error)

// alertAct runs an acknowledge or resolve for those who manage the key
// (admins: any). Someone who can see the alert but not act on it (an
// auditor, a team's member) gets 403; someone who cannot see it, 404.
// Acting on an alert already in that state is no error: the list shows
// it as it is, with a note. htmx gets the row back (and the navigation's
// count); a plain form goes back to the list it came from with a flash.
func (h *Handler) alertAct(c echo.Context, change alertChange, done, already string) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return db.ErrAlertNotFound
	}
	a, changed, err := change(ctx(c), keyAccess(c), id, actor(c))
	if errors.Is(err, db.ErrNotFound) {
		if _, seen := h.Store.GetAlert(ctx(c), keyViewAccess(c), id); seen == nil {
			return Forbidden("Only the key's owner, its team's maintainers and administrators handle its alerts.")
		}
	}
	if err != nil {
		return err
	}
	msg := "The alert on “" + a.KeyName + "” " + already + "."
	if changed {
		msg = "Alert on “" + a.KeyName + "” " + done + "."
	}
	back := safeAlertsBack(c.FormValue("back"))
	if !isHTMX(c) {
		h.flash(c, "success", msg)
		return c.Redirect(http.StatusSeeOther, back)
	}
	active, err := h.Store.CountActiveAlerts(ctx(c), keyViewAccess(c))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AlertRowSwap(views.AlertRowView{
		Row: alertRow(a, true), Now: h.now(), CSRFToken: csrfToken(c), Back: back, Active: active, Announce: msg,
	}))
}

// safeAlertsBack is where a plain form returns: the Alerts page with the
// filters it was posted from, never another site or page.
func safeAlertsBack(back string) string {
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path != "/alerts" || len(back) > 500 {
		return "/alerts"
	}
	return "/alerts" + func() string {
		if u.RawQuery == "" {
			return ""
		}
		return "?" + u.RawQuery
	}()
}

// activeAlerts is the navigation badge's count; a failure to read it must
// not fail the page, so it shows no badge and is logged.
func (h *Handler) activeAlerts(c echo.Context) int {
	n, err := h.Store.CountActiveAlerts(ctx(c), keyViewAccess(c))
	if err != nil {
		h.Logger.LogAttrs(ctx(c), slog.LevelWarn, "alert count failed", slog.String("error", err.Error()))
		return 0
	}
	return n
}
