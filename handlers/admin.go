package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// AdminOverview is GET /admin: the figures an admin checks first.
func (h *Handler) AdminOverview(c echo.Context) error {
	o, err := h.Store.Overview(ctx(c))
	if err != nil {
		return err
	}
	hours, err := h.Store.HourlyUsage(ctx(c), 24)
	if err != nil {
		return err
	}
	events, err := h.Store.ListAudit(ctx(c), db.AuditFilter{Limit: 10})
	if err != nil {
		return err
	}
	pending, err := h.Store.CountPendingKeys(ctx(c))
	if err != nil {
		return err
	}
	m := views.AdminOverview{
		Layout:          h.layout(c, "Admin", "admin"),
		Users:           o.Users,
		ActiveKeys:      o.ActiveKeys,
		StaleKeys:       o.StaleKeys,
		NeverUsedKeys:   o.NeverUsedKeys,
		ExpiringSoon:    o.ExpiringSoon,
		ExpiringDays:    db.ExpiringWindowDays,
		Verifications24: o.Verifications24h,
		PendingRequests: pending,
	}
	for _, hc := range hours {
		m.Hourly = append(m.Hourly, views.UsageHour{Hour: hc.Hour, Count: hc.Count})
		m.HourlyMax = max(m.HourlyMax, hc.Count)
	}
	for _, e := range events {
		m.RecentEvents = append(m.RecentEvents, eventRow(e))
	}
	return render(c, http.StatusOK, views.AdminOverviewView(m))
}
