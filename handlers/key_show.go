package handlers

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// graceChoices are the roll form's grace periods.
var graceChoices = []views.GraceChoice{
	{Value: "0", Label: "Stop the old key now"},
	{Value: "1h", Label: "Keep the old key for 1 hour"},
	{Value: "24h", Label: "Keep the old key for 24 hours"},
	{Value: "168h", Label: "Keep the old key for 7 days"},
}

// keyID parses the {id} path parameter; a bad one is simply not found.
func keyID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, db.ErrKeyNotFound
	}
	return id, nil
}

// KeyShow is GET /keys/{id}.
func (h *Handler) KeyShow(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	m, err := h.keyPage(c, id)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.KeyShow(m))
}

func (h *Handler) keyPage(c echo.Context, id int64) (views.KeyPage, error) {
	access := keyViewAccess(c)
	k, err := h.Store.GetKey(ctx(c), access, id)
	if err != nil {
		return views.KeyPage{}, err
	}
	readOnly, readOnlyNote, err := h.keyReadOnly(c, k)
	if err != nil {
		return views.KeyPage{}, err
	}
	policy, err := h.Store.Policy(ctx(c))
	if err != nil {
		return views.KeyPage{}, err
	}
	usage, err := h.Store.KeyUsage(ctx(c), access, id, 30)
	if err != nil {
		return views.KeyPage{}, err
	}
	events, err := h.Store.KeyEvents(ctx(c), access, id, 20)
	if err != nil {
		return views.KeyPage{}, err
	}
	openAlerts, err := h.Store.CountKeyAlerts(ctx(c), id)
	if err != nil {
		return views.KeyPage{}, err
	}
	now := h.now()
	viewer := currentUser(c)
	m := views.KeyPage{
		Layout: h.layout(c, k.Name, "keys"),
		Key: views.KeyDetail{
			KeyRow:      keyRow(k, now),
			Description: k.Description, LastUsedIP: k.LastUsedIP, LastUsedUserAgent: k.LastUsedUserAgent,
			DisabledAt: k.DisabledAt, RevokedAt: k.RevokedAt, RolledFromID: k.RolledFrom,
			IsOwner: k.TeamID == 0 && k.UserID == viewer.ID,
		},
		EditName: k.Name, EditDesc: k.Description,
		ExpiryHelp:   expiryHelp(k, policy),
		GraceChoices: graceChoices,
		ReadOnly:     readOnly,
		ReadOnlyNote: readOnlyNote,
		Limits:       keyLimitsView(k, readOnly),
		OpenAlerts:   openAlerts,
	}
	if k.ExpiresAt != nil {
		m.EditExpires = k.ExpiresAt.UTC().Format(time.DateOnly)
	}
	if k.DisabledAt != nil {
		if m.Key.DisabledBy, err = h.whoDid(c, k.DisabledBy); err != nil {
			return views.KeyPage{}, err
		}
		m.Key.DisabledReason = k.DisabledReason
		// The rule db.SetKeyDisabled enforces: managers lift only their own.
		own, err := h.Store.DisabledByManager(ctx(c), k)
		if err != nil {
			return views.KeyPage{}, err
		}
		m.Key.CanEnable = viewer.IsAdmin() || own
	}
	if err := h.keyOwnership(c, k, &m); err != nil {
		return views.KeyPage{}, err
	}
	if k.RevokedAt != nil {
		m.Key.RevokedBy, m.Key.RevokeReason = "from the command line", k.RevokeReason
		if k.RevokedBy != 0 {
			who, err := h.whoDid(c, k.RevokedBy)
			if err != nil {
				return views.KeyPage{}, err
			}
			m.Key.RevokedBy = "by " + who
		}
	}
	refusals, err := h.Store.KeyRefusals(ctx(c), access, id, 30)
	if err != nil {
		return views.KeyPage{}, err
	}
	m.Usage = usageChart(usage, refusals)
	m.Key.LastRefusedAt, m.Key.LastRefusedIP = k.LastRefusedAt, k.LastRefusedIP
	m.Key.LastRefusedUserAgent, m.Key.LastRefusedCode = k.LastRefusedUserAgent, k.LastRefusedCode
	for _, e := range events {
		m.Events = append(m.Events, eventRow(e))
	}
	if m.Scopes, err = h.keyScopes(c, k, nil, nil); err != nil {
		return views.KeyPage{}, err
	}
	m.Scopes.CanEdit = m.Scopes.CanEdit && !readOnly
	return m, nil
}

// keyReadOnly reports whether the viewer sees key k but may not change it
// (keyAccess, what they manage, does not reach it), and says why: an
// auditor reviews every key; a team's member sees the team's keys, which
// its maintainers manage.
func (h *Handler) keyReadOnly(c echo.Context, k db.Key) (bool, string, error) {
	viewer := currentUser(c)
	if viewer.IsAdmin() {
		return false, "", nil
	}
	_, err := h.Store.GetKey(ctx(c), keyAccess(c), k.ID)
	switch {
	case err == nil:
		return false, "", nil
	case !errors.Is(err, db.ErrNotFound):
		return false, "", err
	case k.TeamID != 0 && viewer.Role != db.RoleAuditor:
		return true, "Read-only: this key belongs to team " + k.TeamName + ". Its maintainers manage it; you see it as a member of the team.", nil
	default:
		return true, "Read-only: as an auditor you see this key, its usage and its history; its owner and administrators change it.", nil
	}
}

// whoDid names the user id who disabled (or revoked) a key, as the viewer
// reads it: "you", their email, or "Keyward" for 0 (the auto-disable
// policy acts as nobody; a revocation by nobody came from the CLI, which
// the caller says itself).
func (h *Handler) whoDid(c echo.Context, id int64) (string, error) {
	switch id {
	case 0:
		return "Keyward", nil
	case currentUser(c).ID:
		return "you", nil
	}
	u, err := h.Store.GetUser(ctx(c), id)
	if errors.Is(err, db.ErrNotFound) {
		return "a deleted user", nil
	}
	if err != nil {
		return "", err
	}
	return u.Email, nil
}

// eventRow maps an audit event to its display row. The detail column shows
// what people ask about later: a reason, a roll's details, the old and new
// value of a changed setting or role, and each edited field before → after.
func eventRow(e db.AuditEvent) views.EventRow {
	r := views.EventRow{At: e.At, Actor: e.Actor, Action: db.ActionLabel(e.Action), Target: e.Target, IP: e.IP}
	var parts []string
	for _, k := range []string{"reason", "grace", "new_key_id", "rolled_to", "user_agent", "old", "new",
		"old_scopes", "scopes", "old_pending_scopes", "pending_scopes"} {
		if v := e.Detail[k]; v != "" {
			parts = append(parts, strings.ReplaceAll(k, "_", " ")+": "+v)
		}
	}
	for _, field := range slices.Sorted(maps.Keys(e.Changes)) {
		ch := e.Changes[field]
		parts = append(parts, strings.ReplaceAll(field, "_", " ")+": "+orNone(ch.Before)+" → "+orNone(ch.After))
	}
	r.Detail = strings.Join(parts, " · ")
	return r
}

// orNone shows an emptied value (a cleared description) as "(none)".
func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
