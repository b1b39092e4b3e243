package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

const keysPerPage = 25

// KeysList is GET /keys?status=S&page=N: the signed-in user's keys, newest
// first. Offset pagination over the (user_id, id) index stays fast for the
// tens of thousands of keys one person can plausibly hold.
func (h *Handler) KeysList(c echo.Context) error {
	a := currentUser(c)
	status := c.QueryParam("status")
	f := db.KeyFilter{}
	if st, ok := db.ParseKeyStatus(status); ok {
		f.Status = st
	} else {
		status = ""
	}
	stale := c.QueryParam("stale") == "1"
	f.Stale = stale
	page, _ := strconv.Atoi(c.QueryParam("page"))
	page = max(page, 1)
	access := db.OwnedBy(a.ID)

	counts, err := h.Store.CountUserKeys(ctx(c), a.ID)
	if err != nil {
		return err
	}
	total := counts.All
	if status != "" || stale {
		if total, err = h.Store.CountKeys(ctx(c), access, f); err != nil {
			return err
		}
	}
	f.Limit, f.Offset = keysPerPage, (page-1)*keysPerPage
	keys, err := h.Store.ListKeys(ctx(c), access, f)
	if err != nil {
		return err
	}
	m := views.KeysPage{
		Layout: h.layout(c, "API keys", "keys"),
		Status: status, Total: total, AllKeys: counts.All, Page: page, PerPage: keysPerPage,
		HasPrev: page > 1, HasNext: page*keysPerPage < total,
		Stale: stale,
	}
	if m.Form, err = h.keyForm(c); err != nil {
		return err
	}
	m.Notices = views.KeyNotices{ExpiringSoon: counts.Expiring, ExpiringDays: db.ExpiringWindowDays, Stale: counts.Stale}
	now := h.now()
	for _, k := range keys {
		m.Keys = append(m.Keys, keyRow(k, now))
	}
	return render(c, http.StatusOK, views.Keys(m))
}

// keyRow maps a db key to its list row.
func keyRow(k db.Key, now time.Time) views.KeyRow {
	return views.KeyRow{
		ID: k.ID, Name: k.Name, Hint: k.Hint, Scopes: k.Scopes, Owner: k.OwnerEmail,
		CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt,
		Status: string(k.Status(now)), OwnerDisabled: k.OwnerDisabled,
	}
}
