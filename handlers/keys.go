package handlers

import (
	"net/http"
	"strconv"
	"strings"
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
	access := db.VisibleTo(a.ID)
	owner := ownerFilter(c.QueryParam("owner"), &f)

	counts, err := h.Store.CountUserKeys(ctx(c), a.ID)
	if err != nil {
		return err
	}
	total := counts.All
	if status != "" || stale || owner != "" {
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
		Stale: stale, Owner: owner,
	}
	if m.OwnerTeams, err = h.myTeams(c); err != nil {
		return err
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
		ID: k.ID, Name: k.Name, Hint: k.Hint, Scopes: k.Scopes, Owner: k.Owner(), TeamName: k.TeamName,
		CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt,
		Status: string(k.Status(now)), OwnerDisabled: k.OwnerDisabled,
	}
}

// ownerFilter reads the list's ?owner=: "me" (personal keys) or
// "team:ID" (one team's keys; the access still limits them to the
// person's teams). Anything else is no filter; it returns the value kept.
func ownerFilter(v string, f *db.KeyFilter) string {
	if v == "me" {
		f.Owner = db.OwnerUser
		return v
	}
	if id, ok := strings.CutPrefix(v, "team:"); ok {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
			f.TeamID = n
			return v
		}
	}
	return ""
}

// myTeams are the teams the signed-in person belongs to, for the owner
// filter of their key list.
func (h *Handler) myTeams(c echo.Context) ([]views.TeamRow, error) {
	teams, err := h.Store.UserTeams(ctx(c), currentUser(c).ID)
	if err != nil {
		return nil, err
	}
	out := make([]views.TeamRow, 0, len(teams))
	for _, t := range teams {
		out = append(out, teamRow(t, t.MyRole))
	}
	return out, nil
}
