package handlers

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// formScopes reads the scopes a form posts: the checked catalog boxes
// (each "scopes") and, where the setting allows, the "scopes_other" text.
// Each value may itself list scopes separated by commas or spaces, as
// the text field and scripted clients send them.
func formScopes(c echo.Context) (raw string) {
	form, err := c.FormParams()
	if err != nil {
		return ""
	}
	return strings.Join(append(slices.Clone(form["scopes"]), form["scopes_other"]...), " ")
}

// rawScopeList splits what formScopes read, for re-showing choices that
// did not parse.
func rawScopeList(raw string) []string {
	return strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// scopePicker builds the catalog checkboxes with chosen checked. carried
// are the scopes the key holds already (granted or pending; nil on the
// create form): a retired scope is offered only to a key carrying it, and
// pending marks the ones waiting for approval. For a member, admin-only
// scopes are locked: shown, so people know they exist and whom to ask,
// but not theirs to change. Chosen scopes outside the catalog go back
// into the "other" field.
func (h *Handler) scopePicker(c echo.Context, chosen, carried, pending []string) (views.ScopePicker, error) {
	cat, err := h.Store.Catalog(ctx(c))
	if err != nil {
		return views.ScopePicker{}, err
	}
	allow, err := h.Store.ScopesOutsideCatalog(ctx(c))
	if err != nil {
		return views.ScopePicker{}, err
	}
	p := views.ScopePicker{AllowOther: allow, AsMember: !currentUser(c).IsAdmin()}
	groups := map[string]int{}
	known := map[string]bool{}
	for _, sc := range cat {
		known[sc.Name] = true
		if sc.Retired() && !slices.Contains(carried, sc.Name) {
			continue
		}
		g := sc.Group()
		i, ok := groups[g]
		if !ok {
			i = len(p.Groups)
			groups[g] = i
			p.Groups = append(p.Groups, views.ScopeGroup{Name: g})
		}
		locked := p.AsMember && sc.AdminOnly
		p.Groups[i].Scopes = append(p.Groups[i].Scopes, views.ScopeChoice{
			Name: sc.Name, Description: sc.Description,
			AdminOnly: sc.AdminOnly, NeedsApproval: sc.NeedsApproval, Retired: sc.Retired(),
			// A locked box stays as the key has it: a refused choice is
			// not shown checked (nor re-posted by its hidden field).
			Checked: slices.Contains(chosen, sc.Name) && (!locked || slices.Contains(carried, sc.Name)),
			Locked:  locked,
			Pending: slices.Contains(pending, sc.Name),
		})
	}
	// Groups by name, the ungrouped ones last.
	slices.SortStableFunc(p.Groups, func(a, b views.ScopeGroup) int {
		switch {
		case a.Name == b.Name:
			return 0
		case a.Name == "":
			return 1
		case b.Name == "":
			return -1
		}
		return strings.Compare(a.Name, b.Name)
	})
	var other []string
	for _, sc := range chosen {
		if !known[sc] {
			other = append(other, sc)
		}
	}
	// Shown only where the setting allows typing them; otherwise the
	// error beside the field names them.
	p.Other = strings.Join(other, ", ")
	return p, nil
}

// keyScopes builds the key page's Scopes section for k.
func (h *Handler) keyScopes(c echo.Context, k db.Key, chosen []string, errs views.FieldErrors) (views.KeyScopes, error) {
	carried := append(slices.Clone(k.Scopes), k.PendingScopes...)
	if chosen == nil {
		chosen = carried
	}
	p, err := h.scopePicker(c, chosen, carried, k.PendingScopes)
	if err != nil {
		return views.KeyScopes{}, err
	}
	s := views.KeyScopes{
		Picker: p, Errors: errs, CanEdit: k.RevokedAt == nil,
		Pending: k.PendingScopes, PendingSince: k.PendingSince, PendingKey: k.PendingKey,
	}
	d, err := h.Store.LastDenial(ctx(c), db.AnyOwner(), k.ID)
	if err != nil {
		return views.KeyScopes{}, err
	}
	if d != nil {
		s.Denied = &views.Denial{At: d.At, Scopes: d.Scopes, Reason: d.Reason, By: d.By}
	}
	return s, nil
}

// KeyScopes is POST /keys/{id}/scopes: replace the key's scopes with the
// checked ones. The store applies the grant rules (a member's admin-only
// or unknown scope is refused beside the field, nothing written) and
// puts approval scopes on hold.
func (h *Handler) KeyScopes(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	raw := formScopes(c)
	scopes, err := db.ParseScopes(raw)
	if err == nil {
		_, err = h.Store.SetKeyScopes(ctx(c), keyAccess(c), id, scopes, actor(c))
	} else {
		var ve db.ValidationError
		ve.AddErr("scopes", err)
		err = ve.Err()
	}
	if fe := db.FieldErrors(err); fe != nil {
		m, perr := h.keyPage(c, id)
		if perr != nil {
			return perr
		}
		k, perr := h.Store.GetKey(ctx(c), keyAccess(c), id)
		if perr != nil {
			return perr
		}
		if m.Scopes, perr = h.keyScopes(c, k, rawScopeList(raw), fe); perr != nil {
			return perr
		}
		return render(c, http.StatusUnprocessableEntity, views.KeyShow(m))
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "Scopes saved.")
	return redirect(c, keyPath(id))
}
