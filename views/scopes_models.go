package views

import "time"

// ScopeChoice is one checkbox of the scope picker.
type ScopeChoice struct {
	Name          string
	Description   string
	AdminOnly     bool
	NeedsApproval bool
	Retired       bool
	Checked       bool
	// Locked: the viewer may not change this box (an admin-only scope for
	// a member). A checked locked scope is kept by a hidden field, since a
	// disabled checkbox is not submitted.
	Locked bool
	// Pending: the key asked for it and it waits for an admin.
	Pending bool
}

// ScopeGroup is the catalog scopes sharing the part of their name before
// the first ':'; Name "" is the ungrouped ones, listed last.
type ScopeGroup struct {
	Name   string
	Scopes []ScopeChoice
}

// ScopePicker is the catalog as checkboxes, on the create form and the
// key page.
type ScopePicker struct {
	Groups []ScopeGroup
	// AllowOther: the setting "allow scopes outside the catalog" is on, so
	// a text field takes other scopes; Other is what it holds.
	AllowOther bool
	Other      string
	// AsMember: the viewer is no admin, so admin-only scopes are locked and
	// approval scopes will wait.
	AsMember bool
}

// Empty reports whether there is nothing to choose from.
func (p ScopePicker) Empty() bool { return len(p.Groups) == 0 && !p.AllowOther }

// KeyScopes is the Scopes section of the key page.
type KeyScopes struct {
	Picker  ScopePicker
	Errors  FieldErrors
	CanEdit bool // the viewer manages the key and it is not revoked
	// Pending lists the scopes waiting for approval, since PendingSince;
	// PendingKey: the whole key waits.
	Pending      []string
	PendingSince *time.Time
	PendingKey   bool
	// Denied is the last refusal, shown until a new request is made.
	Denied *Denial
}

// Denial is an admin's refusal of a request, as the key page shows it.
type Denial struct {
	At     time.Time
	Scopes string
	Reason string
	By     string
}

// ScopeRow is one catalog entry on /admin/scopes.
type ScopeRow struct {
	Name          string
	Description   string
	AdminOnly     bool
	NeedsApproval bool
	RetiredAt     *time.Time
	Keys          int
}

// ScopeForm is the add-a-scope form (and the edit form of one scope).
type ScopeForm struct {
	Name          string
	Description   string
	AdminOnly     bool
	NeedsApproval bool
	Errors        FieldErrors
}

// AdminScopesPage is /admin/scopes.
type AdminScopesPage struct {
	Layout
	Scopes     []ScopeRow
	Form       ScopeForm
	AllowOther bool
}

// AdminScopePage is /admin/scopes/{name}: edit, rename, retire.
type AdminScopePage struct {
	Layout
	Scope        ScopeRow
	Form         ScopeForm
	NewName      string
	RenameErrors FieldErrors
	// Keys are the unrevoked keys carrying the scope: what a rename or a
	// retirement affects.
	Keys []KeyRow
}

// RequestRow is one open approval request on /admin/requests.
type RequestRow struct {
	KeyID       int64
	KeyName     string
	Owner       string
	Scopes      []string // granted already
	Requested   []string // waiting
	WholeKey    bool
	RequestedBy string
	Since       *time.Time
}

// AdminRequestsPage is /admin/requests.
type AdminRequestsPage struct {
	Layout
	Requests []RequestRow
	// DenyErrors and DenyKeyID show a refused deny form (no reason) again.
	DenyKeyID  int64
	DenyErrors FieldErrors
}
