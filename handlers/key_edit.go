package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// KeyEdit is POST /keys/{id}/edit: the name, description and expiry of a
// key after its creation. db.EditKey holds the rules (a revoked key is
// final; the expiry only lengthens within the lifetime policy counted from
// creation); refusals come back beside their field.
func (h *Handler) KeyEdit(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	name, desc := c.FormValue("name"), c.FormValue("description")
	expires := strings.TrimSpace(c.FormValue("expires_on"))
	ed := db.KeyEdit{Name: &name, Description: &desc}
	var fe views.FieldErrors
	// Without the field (an older page, a script renaming a key) the
	// expiry stays as it is.
	if _, ok := c.Request().PostForm["expires_on"]; ok {
		fe = h.parseExpiryEdit(c, id, expires, &ed)
	}
	if fe == nil {
		_, err = h.Store.EditKey(ctx(c), keyAccess(c), id, ed, actor(c))
		fe = editFormErrors(db.FieldErrors(err))
	}
	if fe != nil {
		if err := h.mayManageKey(c, id); err != nil {
			return err
		}
		m, perr := h.keyPage(c, id)
		if perr != nil {
			return perr
		}
		m.EditName, m.EditDesc, m.EditExpires, m.EditErrors = name, desc, expires, fe
		return render(c, http.StatusUnprocessableEntity, views.KeyShow(m))
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "Key details saved.")
	return redirect(c, keyPath(id))
}

// parseExpiryEdit reads the expiry date field into ed: empty is "never",
// a date is the end of that day (UTC), like the create form. The date the
// key already expires on leaves the expiry untouched, so saving a new name
// does not move an expiry set to the minute by a roll or the CLI.
func (h *Handler) parseExpiryEdit(c echo.Context, id int64, v string, ed *db.KeyEdit) views.FieldErrors {
	if v == "" {
		ed.SetExpiry = true
		return nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return views.FieldErrors{"expires_on": "Enter a date as YYYY-MM-DD, or leave it empty for no expiry."}
	}
	k, err := h.Store.GetKey(ctx(c), keyAccess(c), id)
	if err == nil && k.ExpiresAt != nil && k.ExpiresAt.UTC().Format(time.DateOnly) == v {
		return nil
	}
	// A missing key is reported by EditKey, with the usual not-found page.
	t := d.Add(24*time.Hour - time.Second)
	ed.SetExpiry, ed.ExpiresAt = true, &t
	return nil
}

// editFormErrors maps db's field names to the edit form's.
func editFormErrors(fe map[string]string) views.FieldErrors {
	if fe == nil {
		return nil
	}
	out := views.FieldErrors{}
	for k, v := range fe {
		if k == "expires_at" {
			k = "expires_on"
		}
		out[k] = v
	}
	return out
}

// expiryHelp says what the expiry field accepts for k under policy p.
func expiryHelp(k db.Key, p db.Policy) string {
	if p.MaxKeyLifetime <= 0 {
		return "Leave empty for a key that never expires. The key works through the whole chosen day (UTC)."
	}
	limit := k.CreatedAt.Add(p.MaxKeyLifetime).UTC().Format(time.DateOnly)
	return fmt.Sprintf("Keys may live at most %d days from their creation, so this key can expire no later than %s. An earlier date is always allowed.",
		int(p.MaxKeyLifetime/(24*time.Hour)), limit)
}
