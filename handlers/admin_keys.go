package handlers

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

const (
	adminKeysPerPage = 50
	maxSelected      = 1000
	bulkPreview      = 200
)

var keySorts = map[string]db.KeySort{"created": db.KeySortCreated, "last_used": db.KeySortLastUsed, "expires": db.KeySortExpires}

// parseAdminFilter reads the admin key filter from a query string. Unknown
// values are dropped rather than refused: a filter link is not a form.
func parseAdminFilter(q url.Values) views.AdminKeyFilter {
	f := views.AdminKeyFilter{
		Owner:     truncate(strings.TrimSpace(q.Get("owner")), 254),
		Stale:     q.Get("stale") == "1",
		NeverUsed: q.Get("never_used") == "1",
		Scope:     truncate(strings.TrimSpace(q.Get("scope")), 64),
		Q:         truncate(strings.TrimSpace(q.Get("q")), 100),
	}
	if _, ok := db.ParseKeyStatus(q.Get("status")); ok {
		f.Status = q.Get("status")
	}
	if d, err := strconv.Atoi(q.Get("expiring_days")); err == nil && d > 0 && d <= 3650 {
		f.ExpiringDays = d
	}
	if q.Get("refused") == views.RefusedFilter7d {
		f.Refused = views.RefusedFilter7d
	}
	if _, ok := keySorts[q.Get("sort")]; ok {
		f.Sort = q.Get("sort")
	}
	f.Page, _ = strconv.Atoi(q.Get("page"))
	f.Page = max(f.Page, 1)
	return f
}

// encodeAdminFilter is the inverse of parseAdminFilter, without the page.
func encodeAdminFilter(f views.AdminKeyFilter) string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("owner", f.Owner)
	set("status", f.Status)
	if f.Stale {
		q.Set("stale", "1")
	}
	if f.NeverUsed {
		q.Set("never_used", "1")
	}
	if f.ExpiringDays > 0 {
		q.Set("expiring_days", strconv.Itoa(f.ExpiringDays))
	}
	set("scope", f.Scope)
	set("q", f.Q)
	set("refused", f.Refused)
	set("sort", f.Sort)
	return q.Encode()
}

func dbKeyFilter(f views.AdminKeyFilter) db.KeyFilter {
	df := db.KeyFilter{
		Status: db.KeyStatus(f.Status), Stale: f.Stale, NeverUsed: f.NeverUsed,
		ExpiringWithin: time.Duration(f.ExpiringDays) * 24 * time.Hour,
		OwnerEmail:     f.Owner, Scope: f.Scope, Search: f.Q, Sort: keySorts[f.Sort],
	}
	if f.Refused == views.RefusedFilter7d {
		df.RefusedWithin = 7 * 24 * time.Hour
	}
	return df
}

// AdminKeys is GET /admin/keys: every key across users, filtered; with
// ?stale=1 it is the stale-key review.
func (h *Handler) AdminKeys(c echo.Context) error {
	f := parseAdminFilter(c.QueryParams())
	df := dbKeyFilter(f)
	// The review's header breaks the stale keys down ("12 stale keys, 4
	// never used"): both numbers count stale keys, whatever else is
	// filtered. With no other filter they are also the list's total, which
	// saves a third count over every key.
	var stale db.StaleCounts
	if f.Stale {
		var err error
		if stale, err = h.Store.CountStale(ctx(c)); err != nil {
			return err
		}
	}
	total := stale.Stale
	if onlyStale := (db.KeyFilter{Stale: true, Sort: df.Sort}); df != onlyStale {
		var err error
		if total, err = h.Store.CountKeys(ctx(c), db.AnyOwner(), df); err != nil {
			return err
		}
	}
	df.Limit, df.Offset = adminKeysPerPage, (f.Page-1)*adminKeysPerPage
	keys, err := h.Store.ListKeys(ctx(c), db.AnyOwner(), df)
	if err != nil {
		return err
	}
	rows, err := h.adminRows(c, keys)
	if err != nil {
		return err
	}
	title := "All keys"
	if f.Stale {
		title = "Stale-key review"
	}
	m := views.AdminKeysPage{
		Layout: h.layout(c, title, "admin"),
		Keys:   rows, Filter: f, Query: encodeAdminFilter(f), Total: total,
		StaleCount: stale.Stale, NeverUsedCount: stale.NeverUsed,
		Page: f.Page, PerPage: adminKeysPerPage, HasPrev: f.Page > 1, HasNext: f.Page*adminKeysPerPage < total,
	}
	return render(c, http.StatusOK, views.AdminKeysView(m))
}

func (h *Handler) adminRows(c echo.Context, keys []db.Key) ([]views.AdminKeyRow, error) {
	unused, never, err := h.Store.StaleThresholds(ctx(c))
	if err != nil {
		return nil, err
	}
	now := h.now()
	rows := make([]views.AdminKeyRow, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, views.AdminKeyRow{KeyRow: keyRow(k, now), LastUsedIP: k.LastUsedIP, Stale: k.Stale(now, unused, never),
			LastRefusedAt: k.LastRefusedAt, LastRefusedCode: k.LastRefusedCode})
	}
	return rows, nil
}

// csvColumns is the report's header. Columns are only ever added at the
// end, so that scripts reading the first ones keep working.
var csvColumns = []string{"owner", "key_id", "name", "hint", "scopes", "created_at", "last_used_at", "last_used_ip", "expires_at", "status",
	"description", "disabled_at", "disabled_by", "disabled_reason", "revoked_at", "revoked_by", "revoke_reason",
	"owner_type", "last_refused_at", "last_refused_code"}

// AdminKeysCSV is GET /admin/keys.csv: the current filter as a credential
// report (like AWS IAM's), streamed so 100,000 keys need no big buffer.
// It starts with a UTF-8 byte-order mark: without one, Excel reads the
// file in the system's code page and garbles the hint's "…" and any
// name that is not ASCII.
func (h *Handler) AdminKeysCSV(c echo.Context) error {
	f := parseAdminFilter(c.QueryParams())
	now := h.now()
	emails, err := h.Store.UserEmails(ctx(c))
	if err != nil {
		return err
	}
	resp := c.Response()
	resp.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	resp.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+csvFileName(f, now)+`"`)
	resp.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(resp, "\ufeff"); err != nil {
		return err
	}
	w := NewCSVWriter(resp)
	if err := w.Write(csvColumns); err != nil {
		return err
	}
	// Who disabled or revoked a key, as the audit log names them.
	who := func(id int64, nobody string) string {
		if id == 0 {
			return nobody
		}
		if e, ok := emails[id]; ok {
			return e
		}
		return "user " + strconv.FormatInt(id, 10)
	}
	err = h.Store.EachKey(ctx(c), db.AnyOwner(), dbKeyFilter(f), func(k db.Key) error {
		var disabledBy, revokedBy string
		if k.DisabledAt != nil {
			disabledBy = who(k.DisabledBy, db.SystemActor().Label)
		}
		if k.RevokedAt != nil {
			revokedBy = who(k.RevokedBy, db.CLIActor().Label)
		}
		return w.Write([]string{
			k.Owner(), strconv.FormatInt(k.ID, 10), k.Name, k.Hint, strings.Join(k.Scopes, " "),
			csvTime(&k.CreatedAt), csvTime(k.LastUsedAt), k.LastUsedIP, csvTime(k.ExpiresAt), string(k.Status(now)),
			k.Description, csvTime(k.DisabledAt), disabledBy, k.DisabledReason,
			csvTime(k.RevokedAt), revokedBy, k.RevokeReason,
			k.OwnerType(), csvTime(k.LastRefusedAt), k.LastRefusedCode,
		})
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

// csvFileName tells the stale review's export from the whole list's and
// from any other filter's, so that downloads do not overwrite each other.
func csvFileName(f views.AdminKeyFilter, now time.Time) string {
	date := now.UTC().Format("2006-01-02")
	f.Sort, f.Page = "", 0
	switch f {
	case views.AdminKeyFilter{}:
		return "keyward-keys-" + date + ".csv"
	case views.AdminKeyFilter{Stale: true}:
		return "keyward-stale-keys-" + date + ".csv"
	}
	return "keyward-keys-filtered-" + date + ".csv"
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// AdminKeysBulk is POST /admin/keys/bulk. Without confirm=1 it shows what
// will change and asks for a reason; with it, it acts on exactly the ids
// submitted (or every key matching the submitted filter) and audits each.
func (h *Handler) AdminKeysBulk(c echo.Context) error {
	action := c.FormValue("action")
	if action != "disable" && action != "revoke" {
		return BadRequest("INVALID_ACTION", "Choose Disable selected or Revoke selected.")
	}
	form, err := c.FormParams()
	if err != nil {
		return BadRequest("BAD_FORM", "The form could not be read.")
	}
	all := c.FormValue("all") == "1"
	// The filter comes back from the page; re-encoding it keeps only known
	// fields, so the redirect and the confirmation carry nothing else.
	q, _ := url.ParseQuery(c.FormValue("query"))
	filter := parseAdminFilter(q)
	query := encodeAdminFilter(filter)
	reason := strings.TrimSpace(c.FormValue("reason"))
	m := views.BulkConfirmPage{
		Layout: h.layout(c, "Confirm bulk action", "admin"),
		Action: action, AllMatching: all, Query: query, Reason: reason,
	}
	var keys []db.Key
	if all {
		// Every key matching the filter: the page previews the first ones
		// and carries the filter, not 100,000 hidden ids.
		if !adminFiltered(filter) {
			// The page offers "all matching" only on a filtered list; a
			// request without a filter would act on every key there is.
			return BadRequest("NO_FILTER", "Filter the list first: acting on all matching keys needs a filter.")
		}
		df := dbKeyFilter(filter)
		if m.IDs, err = h.Store.KeyIDs(ctx(c), db.AnyOwner(), df, db.MaxBulkKeys); err != nil {
			return err
		}
		df.Limit = bulkPreview
		if keys, err = h.Store.ListKeys(ctx(c), db.AnyOwner(), df); err != nil {
			return err
		}
		m.Count = len(m.IDs)
	} else {
		var ids []int64
		for _, v := range form["id"] {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id <= 0 {
				return BadRequest("INVALID_ID", "A selected key id is not valid: "+truncate(v, 20))
			}
			ids = append(ids, id)
		}
		if len(ids) > maxSelected {
			return BadRequest("TOO_MANY", "Select at most 1,000 keys, or use Select all matching.")
		}
		if keys, m.Missing, err = h.Store.KeysByIDs(ctx(c), ids); err != nil {
			return err
		}
		for _, k := range keys {
			m.IDs = append(m.IDs, k.ID)
		}
		m.Count = len(keys)
	}
	if m.Count == 0 && len(m.Missing) == 0 {
		h.flash(c, "error", "Select at least one key first.")
		return redirect(c, adminKeysURL(query))
	}
	if c.FormValue("confirm") == "1" && len(m.Missing) == 0 {
		var res db.BulkResult
		if action == "revoke" {
			res, err = h.Store.BulkRevokeKeys(ctx(c), m.IDs, reason, actor(c))
		} else {
			res, err = h.Store.BulkDisableKeys(ctx(c), m.IDs, reason, actor(c))
		}
		if fe := db.FieldErrors(err); fe != nil {
			m.Errors = fe
		} else if err != nil {
			return err
		} else {
			verb := map[string]string{"disable": "Disabled", "revoke": "Revoked"}[action]
			msg := verb + " " + plural(len(res.Changed), "key") + "."
			if len(res.Changed) > 0 {
				msg = verb + " " + plural(len(res.Changed), "key") + ": " + keyNames(res.Changed, bulkNamed) + "."
			}
			if len(res.Skipped) > 0 {
				verb := " were"
				if len(res.Skipped) == 1 {
					verb = " was"
				}
				msg += " " + plural(len(res.Skipped), "key") + verb + " already " + action + "d or revoked and left as is."
			}
			h.flash(c, "success", msg)
			return redirect(c, adminKeysURL(query))
		}
	}
	if m.Keys, err = h.adminRows(c, keys); err != nil {
		return err
	}
	status := http.StatusOK
	if len(m.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	return render(c, status, views.BulkConfirmView(m))
}

// bulkNamed is how many keys a bulk action's message names; the rest are
// counted.
const bulkNamed = 3

// keyNames lists the names of keys for a sentence: “a”, “b” and “c”, or
// the first n and how many more.
func keyNames(keys []db.Key, n int) string {
	names := make([]string, 0, min(len(keys), n))
	for _, k := range keys[:min(len(keys), n)] {
		names = append(names, "“"+k.Name+"”")
	}
	if rest := len(keys) - len(names); rest > 0 {
		return strings.Join(names, ", ") + " and " + strconv.Itoa(rest) + " more"
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// adminFiltered reports whether f narrows the key list (the sort and page
// do not): the same rule the page uses to offer "all matching".
func adminFiltered(f views.AdminKeyFilter) bool {
	f.Sort, f.Page = "", 0
	return f != views.AdminKeyFilter{}
}

// adminKeysURL is the key list with the filter query, if any.
func adminKeysURL(query string) string {
	if query == "" {
		return "/admin/keys"
	}
	return "/admin/keys?" + query
}
