package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// keyLimitsView is the key page's "Limits" card for k: everyone who sees
// the key sees its limits; only who may manage it (readOnly false) gets
// the form, and never on a revoked key.
func keyLimitsView(k db.Key, readOnly bool) views.KeyLimits {
	l := views.KeyLimits{CanManage: !readOnly && k.RevokedAt == nil}
	for _, p := range k.AllowedIPs {
		l.AllowedIPs = append(l.AllowedIPs, p.String())
	}
	l.Meta = indentMeta(k.Meta)
	l.EditAllowedIPs = strings.Join(l.AllowedIPs, "\n")
	l.EditMeta = l.Meta
	return l
}

// indentMeta lays stored metadata out for reading; json.Indent only adds
// white space, so what a person reads is what services receive.
func indentMeta(meta string) string {
	if meta == "" {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(meta), "", "  "); err != nil {
		return meta
	}
	return buf.String()
}

// KeyLimits is POST /keys/{id}/limits: replace the key's IP allowlist and
// metadata (fields allowed_ips and meta; both empty clears them). Bad input
// comes back beside its field with what was typed; the change is effective
// for the very next verification.
func (h *Handler) KeyLimits(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	allowedText, meta := c.FormValue("allowed_ips"), c.FormValue("meta")
	ve := &db.ValidationError{}
	allowed, err := db.ParseAllowedIPs(allowedText)
	ve.AddErr(db.FieldAllowedIPs, err)
	if err = ve.Err(); err == nil {
		_, err = h.Store.SetKeyLimits(ctx(c), keyAccess(c), id, allowed, meta, actor(c))
	} else if _, merr := db.CheckMeta(meta); merr != nil {
		// Report the metadata too, not only the first problem.
		ve.AddErr(db.FieldMeta, merr)
		err = ve.Err()
	}
	if fe := db.FieldErrors(err); fe != nil {
		if err := h.mayManageKey(c, id); err != nil {
			return err
		}
		m, perr := h.keyPage(c, id)
		if perr != nil {
			return perr
		}
		m.Limits.EditAllowedIPs, m.Limits.EditMeta, m.Limits.Errors = allowedText, meta, fe
		return render(c, http.StatusUnprocessableEntity, views.KeyShow(m))
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "Limits saved. They apply from the next verification.")
	return redirect(c, keyPath(id))
}
