package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

const auditPerPage = 50

// AdminAudit is GET /admin/audit: every security event, newest first,
// filtered by actor, action, key, user and date range; "Older events" pages
// by id, which stays fast however long the log grows.
func (h *Handler) AdminAudit(c echo.Context) error {
	m, f, err := h.auditQuery(c)
	if err != nil {
		return err
	}
	if len(m.Errors) > 0 {
		return render(c, http.StatusUnprocessableEntity, views.AdminAuditView(m))
	}
	f.Limit = auditPerPage + 1
	if before, err := strconv.ParseInt(c.QueryParam("before"), 10, 64); err == nil && before > 0 {
		f.BeforeID = before
	}
	events, err := h.Store.ListAudit(ctx(c), f)
	if err != nil {
		return err
	}
	if len(events) > auditPerPage {
		events = events[:auditPerPage]
		m.NextBefore = events[len(events)-1].ID
	}
	m.PastEnd = len(events) == 0 && f.BeforeID > 0
	for _, e := range events {
		m.Events = append(m.Events, eventRow(e))
	}
	return render(c, http.StatusOK, views.AdminAuditView(m))
}

// auditQuery reads the audit page's filters (shared by the page and its
// downloads): the page model with the form and any field errors, and the
// filter for db.
func (h *Handler) auditQuery(c echo.Context) (views.AdminAuditPage, db.AuditFilter, error) {
	q := c.QueryParams()
	form := views.AuditFilterForm{
		Actor:  truncate(strings.TrimSpace(q.Get("actor")), 254),
		Action: q.Get("action"),
		Key:    strings.TrimSpace(q.Get("key")),
		User:   truncate(strings.TrimSpace(q.Get("user")), 254),
		From:   strings.TrimSpace(q.Get("from")),
		To:     strings.TrimSpace(q.Get("to")),
	}
	m := views.AdminAuditPage{Layout: h.layout(c, "Audit log", "admin"), Filter: form, Errors: views.FieldErrors{}}
	for _, a := range db.Actions() {
		m.Actions = append(m.Actions, views.ActionOption{Value: a, Label: db.ActionLabel(a)})
	}
	f := db.AuditFilter{Actor: form.Actor}
	if form.Action != "" {
		if !slices.Contains(db.Actions(), form.Action) {
			m.Errors["action"] = "Unknown action."
		}
		f.Action = form.Action
	}
	switch {
	case form.Key != "" && form.User != "":
		m.Errors["key"] = "Filter by a key or by a user, not both."
	case form.Key != "":
		id, err := strconv.ParseInt(form.Key, 10, 64)
		if err != nil || id <= 0 {
			m.Errors["key"] = "Enter a key id (a number)."
		}
		f.TargetType, f.TargetID = "key", id
	case form.User != "":
		u, err := h.Store.GetUserByEmail(ctx(c), form.User)
		if errors.Is(err, db.ErrNotFound) {
			m.Errors["user"] = "No user has this email."
		} else if err != nil {
			return views.AdminAuditPage{}, db.AuditFilter{}, err
		}
		f.TargetType, f.TargetID = "user", u.ID
	}
	if form.From != "" {
		t, err := time.Parse(time.DateOnly, form.From)
		if err != nil {
			m.Errors["from"] = "Enter a date as YYYY-MM-DD."
		}
		f.Since = &t
	}
	if form.To != "" {
		t, err := time.Parse(time.DateOnly, form.To)
		if err != nil {
			m.Errors["to"] = "Enter a date as YYYY-MM-DD."
		}
		t = t.Add(24 * time.Hour) // the whole "to" day
		f.Until = &t
	}
	m.Query = encodeAuditFilter(form)
	return m, f, nil
}

func encodeAuditFilter(f views.AuditFilterForm) string {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "key": f.Key, "user": f.User, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}
