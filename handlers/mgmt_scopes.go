package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward/db"
)

// The scope catalog through the management API: the admin's catalog
// operations call the same db methods as the dashboard's scope pages
// (handlers/admin_scopes.go), and GET /scopes is the catalog a member
// grants from, as the key forms' scope picker shows it.

// APIScope is a catalog entry as an admin sees it.
type APIScope struct {
	Name          string     `json:"name" example:"billing:read"`
	Description   string     `json:"description"`
	AdminOnly     bool       `json:"admin_only" doc:"Only admins may grant it."`
	NeedsApproval bool       `json:"needs_approval" doc:"A key given it waits for an admin's approval before the scope works."`
	CreatedAt     time.Time  `json:"created_at"`
	RetiredAt     *time.Time `json:"retired_at" nullable:"true" doc:"When it was retired: no key can be given it; keys carrying it keep it until edited."`
	Keys          int        `json:"keys" doc:"Unrevoked keys carrying it, granted or pending."`
}

func apiScope(sc db.Scope, keys int) APIScope {
	return APIScope{Name: sc.Name, Description: sc.Description, AdminOnly: sc.AdminOnly,
		NeedsApproval: sc.NeedsApproval, CreatedAt: sc.CreatedAt, RetiredAt: sc.RetiredAt, Keys: keys}
}

// APICatalogScope is a scope a key may be given, as a member sees it.
type APICatalogScope struct {
	Name          string `json:"name" example:"billing:read"`
	Description   string `json:"description"`
	AdminOnly     bool   `json:"admin_only" doc:"Only admins may grant it: a member asks one."`
	NeedsApproval bool   `json:"needs_approval" doc:"A key given it waits for an admin's approval before the scope works."`
}

// ScopeListOutput is GET /admin/scopes.
type ScopeListOutput struct {
	Body struct {
		Items      []APIScope `json:"items"`
		NextCursor *string    `json:"next_cursor" nullable:"true"`
	}
}

// CatalogOutput is GET /scopes.
type CatalogOutput struct {
	Body struct {
		Items      []APICatalogScope `json:"items"`
		NextCursor *string           `json:"next_cursor" nullable:"true"`
		// OutsideCatalog says whether keys may also carry scopes the
		// catalog does not list (an installation setting).
		OutsideCatalog bool `json:"outside_catalog" doc:"Whether keys may also carry scopes the catalog does not list."`
	}
}

// ScopeOutput is one catalog entry after a change.
type ScopeOutput struct {
	Body APIScope
}

// ScopeNamePath is the {name} of a catalog scope.
type ScopeNamePath struct {
	Name string `path:"name" maxLength:"100" doc:"The scope's name." example:"billing:read"`
}

// ScopeCreateInput is POST /admin/scopes.
type ScopeCreateInput struct {
	Body struct {
		Name          string `json:"name" maxLength:"100" example:"billing:read" doc:"Lowercase letters, digits and : . _ -"`
		Description   string `json:"description,omitempty" maxLength:"300"`
		AdminOnly     bool   `json:"admin_only,omitempty" doc:"Only admins may grant it (default false: anyone)."`
		NeedsApproval bool   `json:"needs_approval,omitempty" doc:"Grants wait for an admin's approval (default false)."`
	}
}

// ScopeUpdateInput is PATCH /admin/scopes/{name}: the fields sent change,
// the others stay.
type ScopeUpdateInput struct {
	ScopeNamePath
	Body struct {
		Description   *string `json:"description,omitempty" maxLength:"300"`
		AdminOnly     *bool   `json:"admin_only,omitempty"`
		NeedsApproval *bool   `json:"needs_approval,omitempty"`
	}
}

// ScopeRenameInput is POST /admin/scopes/{name}/rename.
type ScopeRenameInput struct {
	ScopeNamePath
	Body struct {
		NewName string `json:"new_name" maxLength:"100" example:"invoices:read"`
	}
}

func (h *Handler) registerScopes(api huma.API) {
	op := tokenOp("list-catalog", http.MethodGet, "/api/v1/scopes", "The scopes a key may be given", db.PermKeysRead, "Scopes")
	op.Description = "The catalog a key's scopes are chosen from, retired scopes left out. " +
		"Admin-only scopes are listed so people know whom to ask; only admins may grant them."
	huma.Register(api, op, h.APICatalog)

	op = tokenOp("list-scopes", http.MethodGet, "/api/v1/admin/scopes", "List the scope catalog", db.PermAdminRead, "Scopes")
	op.Description = "The whole catalog, retired scopes included, with how many keys carry each."
	huma.Register(api, op, h.APIScopesList)

	op = tokenOp("create-scope", http.MethodPost, "/api/v1/admin/scopes", "Add a scope to the catalog", db.PermAdminWrite, "Scopes")
	op.DefaultStatus = http.StatusCreated
	huma.Register(api, op, h.APIScopeCreate)

	op = tokenOp("update-scope", http.MethodPatch, "/api/v1/admin/scopes/{name}", "Change a scope's rules", db.PermAdminWrite, "Scopes")
	op.Description = "Description, who may grant it, whether it needs approval. Keys carrying it keep it: " +
		"the rules apply to grants made from now on. Rename with POST …/rename."
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(api, op, h.APIScopeUpdate)

	op = tokenOp("rename-scope", http.MethodPost, "/api/v1/admin/scopes/{name}/rename", "Rename a scope", db.PermAdminWrite, "Scopes")
	op.Description = "Renames the catalog entry and the scope on every unrevoked key carrying it, at once."
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(api, op, h.APIScopeRename)

	op = tokenOp("retire-scope", http.MethodPost, "/api/v1/admin/scopes/{name}/retire", "Retire a scope", db.PermAdminWrite, "Scopes")
	op.Description = "No key can be given it any more; keys carrying it keep it until edited."
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(api, op, h.APIScopeRetire)

	op = tokenOp("restore-scope", http.MethodPost, "/api/v1/admin/scopes/{name}/restore", "Restore a retired scope", db.PermAdminWrite, "Scopes")
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(api, op, h.APIScopeRestore)
}

// APICatalog is GET /api/v1/scopes.
func (h *Handler) APICatalog(ctx context.Context, in *AdminPageQuery) (*CatalogOutput, error) {
	cat, err := h.Store.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	allow, err := h.Store.ScopesOutsideCatalog(ctx)
	if err != nil {
		return nil, err
	}
	var live []db.Scope
	for _, sc := range cat {
		if !sc.Retired() {
			live = append(live, sc)
		}
	}
	page, next, err := pageAfter(live, func(sc db.Scope) string { return sc.Name }, "scope", in.Cursor, in.Limit)
	if err != nil {
		return nil, err
	}
	out := &CatalogOutput{}
	out.Body.NextCursor, out.Body.OutsideCatalog = next, allow
	out.Body.Items = make([]APICatalogScope, len(page))
	for i, sc := range page {
		out.Body.Items[i] = APICatalogScope{Name: sc.Name, Description: sc.Description, AdminOnly: sc.AdminOnly, NeedsApproval: sc.NeedsApproval}
	}
	return out, nil
}

// APIScopesList is GET /api/v1/admin/scopes.
func (h *Handler) APIScopesList(ctx context.Context, in *AdminPageQuery) (*ScopeListOutput, error) {
	list, err := h.Store.ListScopes(ctx)
	if err != nil {
		return nil, err
	}
	page, next, err := pageAfter(list, func(sc db.Scope) string { return sc.Name }, "scope", in.Cursor, in.Limit)
	if err != nil {
		return nil, err
	}
	out := &ScopeListOutput{}
	out.Body.NextCursor = next
	out.Body.Items = make([]APIScope, len(page))
	for i, sc := range page {
		out.Body.Items[i] = apiScope(sc, sc.Keys)
	}
	return out, nil
}

// APIScopeCreate is POST /api/v1/admin/scopes.
func (h *Handler) APIScopeCreate(ctx context.Context, in *ScopeCreateInput) (*ScopeOutput, error) {
	b := in.Body
	sc, err := h.Store.CreateScope(ctx, db.ScopeInput{Name: b.Name, Description: b.Description,
		AdminOnly: b.AdminOnly, NeedsApproval: b.NeedsApproval}, callerFrom(ctx).Actor())
	if err != nil {
		return nil, err
	}
	return h.scopeOutput(ctx, sc)
}

// APIScopeUpdate is PATCH /api/v1/admin/scopes/{name}.
func (h *Handler) APIScopeUpdate(ctx context.Context, in *ScopeUpdateInput) (*ScopeOutput, error) {
	old, err := h.Store.GetScope(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	upd := db.ScopeInput{Name: old.Name, Description: old.Description, AdminOnly: old.AdminOnly, NeedsApproval: old.NeedsApproval}
	if in.Body.Description != nil {
		upd.Description = *in.Body.Description
	}
	if in.Body.AdminOnly != nil {
		upd.AdminOnly = *in.Body.AdminOnly
	}
	if in.Body.NeedsApproval != nil {
		upd.NeedsApproval = *in.Body.NeedsApproval
	}
	sc, err := h.Store.UpdateScope(ctx, upd, callerFrom(ctx).Actor())
	if err != nil {
		return nil, err
	}
	return h.scopeOutput(ctx, sc)
}

// APIScopeRename is POST /api/v1/admin/scopes/{name}/rename.
func (h *Handler) APIScopeRename(ctx context.Context, in *ScopeRenameInput) (*ScopeOutput, error) {
	if _, err := h.Store.RenameScope(ctx, in.Name, in.Body.NewName, callerFrom(ctx).Actor()); err != nil {
		return nil, err
	}
	sc, err := h.Store.GetScope(ctx, in.Body.NewName)
	if err != nil {
		return nil, err
	}
	return h.scopeOutput(ctx, sc)
}

// APIScopeRetire is POST /api/v1/admin/scopes/{name}/retire.
func (h *Handler) APIScopeRetire(ctx context.Context, in *ScopeNamePath) (*ScopeOutput, error) {
	return h.setScopeRetiredAPI(ctx, in.Name, true)
}

// APIScopeRestore is POST /api/v1/admin/scopes/{name}/restore.
func (h *Handler) APIScopeRestore(ctx context.Context, in *ScopeNamePath) (*ScopeOutput, error) {
	return h.setScopeRetiredAPI(ctx, in.Name, false)
}

func (h *Handler) setScopeRetiredAPI(ctx context.Context, name string, retired bool) (*ScopeOutput, error) {
	keys, err := h.Store.SetScopeRetired(ctx, name, retired, callerFrom(ctx).Actor())
	if err != nil {
		return nil, err
	}
	sc, err := h.Store.GetScope(ctx, name)
	if err != nil {
		return nil, err
	}
	return &ScopeOutput{Body: apiScope(sc, len(keys))}, nil
}

// scopeOutput answers sc with the count of keys carrying it, which the
// single-scope reads of db leave out.
func (h *Handler) scopeOutput(ctx context.Context, sc db.Scope) (*ScopeOutput, error) {
	keys, err := h.Store.ScopeKeys(ctx, sc.Name)
	if err != nil {
		return nil, err
	}
	return &ScopeOutput{Body: apiScope(sc, len(keys))}, nil
}
