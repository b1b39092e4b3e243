package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// AdminScopes is GET /admin/scopes: the catalog.
func (h *Handler) AdminScopes(c echo.Context) error {
	return h.renderScopes(c, http.StatusOK, views.ScopeForm{})
}

func (h *Handler) renderScopes(c echo.Context, status int, f views.ScopeForm) error {
	list, err := h.Store.ListScopes(ctx(c))
	if err != nil {
		return err
	}
	allow, err := h.Store.ScopesOutsideCatalog(ctx(c))
	if err != nil {
		return err
	}
	m := views.AdminScopesPage{Layout: h.layout(c, "Scopes", "admin"), Form: f, AllowOther: allow}
	for _, sc := range list {
		m.Scopes = append(m.Scopes, scopeRow(sc))
	}
	return render(c, status, views.AdminScopesView(m))
}

func scopeRow(sc db.Scope) views.ScopeRow {
	return views.ScopeRow{Name: sc.Name, Description: sc.Description, AdminOnly: sc.AdminOnly,
		NeedsApproval: sc.NeedsApproval, RetiredAt: sc.RetiredAt, Keys: sc.Keys}
}

// scopeForm reads the add and edit forms.
func scopeForm(c echo.Context) views.ScopeForm {
	return views.ScopeForm{
		Name:          strings.TrimSpace(c.FormValue("name")),
		Description:   c.FormValue("description"),
		AdminOnly:     c.FormValue("grant") == "admin",
		NeedsApproval: c.FormValue("needs_approval") == "1",
	}
}

func scopeInput(f views.ScopeForm) db.ScopeInput {
	return db.ScopeInput{Name: f.Name, Description: f.Description, AdminOnly: f.AdminOnly, NeedsApproval: f.NeedsApproval}
}

// AdminScopeCreate is POST /admin/scopes: add a scope.
func (h *Handler) AdminScopeCreate(c echo.Context) error {
	f := scopeForm(c)
	sc, err := h.Store.CreateScope(ctx(c), scopeInput(f), actor(c))
	if fe := db.FieldErrors(err); fe != nil {
		f.Errors = fe
		return h.renderScopes(c, http.StatusUnprocessableEntity, f)
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "“"+sc.Name+"” is in the catalog.")
	return redirect(c, "/admin/scopes")
}

// AdminScopesOutside is POST /admin/scope-settings (a path no scope name
// can take): the setting that lets
// keys carry scopes the catalog does not list.
func (h *Handler) AdminScopesOutside(c echo.Context) error {
	on := c.FormValue("allow") == "1"
	if err := h.Store.SetScopesOutsideCatalog(ctx(c), on, actor(c)); err != nil {
		return err
	}
	msg := "Keys can carry catalog scopes only."
	if on {
		msg = "Keys may now carry scopes outside the catalog."
	}
	h.flash(c, "success", msg)
	return redirect(c, "/admin/scopes")
}

// AdminScopeShow is GET /admin/scopes/{name}.
func (h *Handler) AdminScopeShow(c echo.Context) error {
	sc, err := h.Store.GetScope(ctx(c), c.Param("name"))
	if err != nil {
		return err
	}
	m, err := h.scopePage(c, sc)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AdminScopeView(m))
}

func (h *Handler) scopePage(c echo.Context, sc db.Scope) (views.AdminScopePage, error) {
	keys, err := h.Store.ScopeKeys(ctx(c), sc.Name)
	if err != nil {
		return views.AdminScopePage{}, err
	}
	m := views.AdminScopePage{
		Layout: h.layout(c, sc.Name, "admin"), Scope: scopeRow(sc), NewName: sc.Name,
		Form: views.ScopeForm{Name: sc.Name, Description: sc.Description, AdminOnly: sc.AdminOnly, NeedsApproval: sc.NeedsApproval},
	}
	m.Scope.Keys = len(keys)
	now := h.now()
	for _, k := range keys {
		r := keyRow(k, now)
		r.Owner = k.Owner()
		m.Keys = append(m.Keys, r)
	}
	return m, nil
}

// AdminScopeUpdate is POST /admin/scopes/{name}: its rules.
func (h *Handler) AdminScopeUpdate(c echo.Context) error {
	f := scopeForm(c)
	f.Name = c.Param("name")
	sc, err := h.Store.UpdateScope(ctx(c), scopeInput(f), actor(c))
	if fe := db.FieldErrors(err); fe != nil {
		old, gerr := h.Store.GetScope(ctx(c), f.Name)
		if gerr != nil {
			return gerr
		}
		m, perr := h.scopePage(c, old)
		if perr != nil {
			return perr
		}
		f.Errors = fe
		m.Form = f
		return render(c, http.StatusUnprocessableEntity, views.AdminScopeView(m))
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "Rules of “"+sc.Name+"” saved.")
	return redirect(c, "/admin/scopes/"+sc.Name)
}

// AdminScopeRename is POST /admin/scopes/{name}/rename: the catalog entry
// and every unrevoked key carrying it.
func (h *Handler) AdminScopeRename(c echo.Context) error {
	name, newName := c.Param("name"), strings.TrimSpace(c.FormValue("new_name"))
	keys, err := h.Store.RenameScope(ctx(c), name, newName, actor(c))
	if fe := db.FieldErrors(err); fe != nil {
		sc, gerr := h.Store.GetScope(ctx(c), name)
		if gerr != nil {
			return gerr
		}
		m, perr := h.scopePage(c, sc)
		if perr != nil {
			return perr
		}
		m.NewName, m.RenameErrors = newName, fe
		return render(c, http.StatusUnprocessableEntity, views.AdminScopeView(m))
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "“"+name+"” is now “"+newName+"” in the catalog and on "+strconv.Itoa(len(keys))+" key(s).")
	return redirect(c, "/admin/scopes/"+newName)
}

// AdminScopeRetire is POST /admin/scopes/{name}/retire.
func (h *Handler) AdminScopeRetire(c echo.Context) error { return h.setScopeRetired(c, true) }

// AdminScopeRestore is POST /admin/scopes/{name}/restore.
func (h *Handler) AdminScopeRestore(c echo.Context) error { return h.setScopeRetired(c, false) }

func (h *Handler) setScopeRetired(c echo.Context, retired bool) error {
	name := c.Param("name")
	keys, err := h.Store.SetScopeRetired(ctx(c), name, retired, actor(c))
	if err != nil {
		return err
	}
	msg := "“" + name + "” can be granted again."
	if retired {
		msg = "“" + name + "” is retired: no key can be given it. " + strconv.Itoa(len(keys)) + " key(s) keep it until edited."
	}
	h.flash(c, "success", msg)
	return redirect(c, "/admin/scopes/"+name)
}

// AdminRequests is GET /admin/requests: keys waiting for approval.
func (h *Handler) AdminRequests(c echo.Context) error {
	return h.renderRequests(c, http.StatusOK, 0, nil)
}

func (h *Handler) renderRequests(c echo.Context, status int, denyID int64, errs views.FieldErrors) error {
	reqs, err := h.Store.ListPendingKeys(ctx(c))
	if err != nil {
		return err
	}
	m := views.AdminRequestsPage{Layout: h.layout(c, "Requests", "admin"), DenyKeyID: denyID, DenyErrors: errs}
	for _, r := range reqs {
		m.Requests = append(m.Requests, views.RequestRow{
			KeyID: r.ID, KeyName: r.Name, Owner: r.Owner(), Scopes: r.Scopes, Requested: r.PendingScopes,
			WholeKey: r.PendingKey, RequestedBy: r.RequestedBy, Since: r.PendingSince,
		})
	}
	return render(c, status, views.AdminRequestsView(m))
}

// AdminRequestApprove is POST /admin/requests/{id}/approve.
func (h *Handler) AdminRequestApprove(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	k, err := h.Store.ApproveKey(ctx(c), id, actor(c))
	if err != nil {
		return err
	}
	h.flash(c, "success", "Approved: “"+k.Name+"” now carries "+strings.Join(k.Scopes, ", ")+".")
	return redirect(c, "/admin/requests")
}

// AdminRequestDeny is POST /admin/requests/{id}/deny (reason required): a
// waiting key is revoked; a scope addition is dropped.
func (h *Handler) AdminRequestDeny(c echo.Context) error {
	id, err := keyID(c)
	if err != nil {
		return err
	}
	k, err := h.Store.DenyKey(ctx(c), id, c.FormValue("reason"), actor(c))
	if fe := db.FieldErrors(err); fe != nil {
		return h.renderRequests(c, http.StatusUnprocessableEntity, id, fe)
	}
	if err != nil {
		return err
	}
	msg := "Denied: the scopes asked for were dropped from “" + k.Name + "”, which keeps working."
	if k.RevokedAt != nil {
		msg = "Denied: “" + k.Name + "” is revoked."
	}
	h.flash(c, "success", msg)
	return redirect(c, "/admin/requests")
}
