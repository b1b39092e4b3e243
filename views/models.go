// Package views holds Keyward's templ pages, htmx partials, shared components
// and the view-model structs they take. Views never see db rows: handlers map
// rows to these structs.
package views

import "time"

// Layout is what every full page needs: who is signed in, the CSRF token for
// forms and htmx, flash messages, and the clock used for relative times.
type Layout struct {
	Title     string
	User      *CurrentUser // nil when signed out
	CSRFToken string
	Flashes   []Flash
	Version   string
	Nav       string    // active navigation item: "keys", "admin", "account", or ""
	Now       time.Time // reference for relative times ("3 days ago")
	// Stylesheets and Scripts are extra static assets (paths under
	// /static) that one page needs and the others should not download,
	// such as the API reference's renderer.
	Stylesheets []string
	Scripts     []string
	// ActiveAlerts is the count of open and acknowledged alerts the person
	// can see (db.CountActiveAlerts, capped): the navigation's badge.
	ActiveAlerts int
}

// CurrentUser is the signed-in person as the layout shows them.
type CurrentUser struct {
	Email string
	// IsAdmin: may change anything in the admin console. CanReadAdmin: may
	// open it (admins, and auditors, who only read).
	IsAdmin      bool
	CanReadAdmin bool
}

// AdminReadOnly reports whether the signed-in person sees the admin console
// without the power to change it (an auditor): pages then render no action
// that the server would refuse.
func (l Layout) AdminReadOnly() bool { return l.User != nil && !l.User.IsAdmin }

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind    string // "success", "error" or "info"
	Message string
}

// FieldErrors maps a form field name to its message.
type FieldErrors map[string]string

// LoginPage is GET/POST /login.
type LoginPage struct {
	Layout
	Email string
	Error string // the one generic message, or a throttling message
	Next  string // where to go after sign-in (a local path)

	// SSO is single sign-on's button and the password policy (sso.templ).
	SSO SSOLogin
}

// SetupPage is /setup: the first admin account.
type SetupPage struct {
	Layout
	Token        string // the setup token from the URL, echoed in a hidden field
	TokenInvalid bool   // wrong, missing or used token: show a clear refusal, no form
	Email        string
	Errors       FieldErrors // "email", "password", "password_confirm"
}

// AccountPage is /account.
type AccountPage struct {
	Layout
	Email          string
	Role           string
	CreatedAt      time.Time
	Sessions       []SessionRow
	PasswordErrors FieldErrors // "current_password", "new_password", "new_password_confirm"
	Tokens         TokensCard
	Notifications  NotificationsCard
}

// SessionRow is one active browser session of the signed-in user.
type SessionRow struct {
	ID         int64
	Device     string // short description derived from the user agent ("Chrome on Linux")
	UserAgent  string
	IP         string
	CreatedAt  time.Time
	LastSeenAt time.Time
	Current    bool
	// SignIn is how the session signed in ("Password + passkey", "SSO").
	SignIn string
}

// ErrorPage is the generic error page (403, 404, 429, 500...).
type ErrorPage struct {
	Layout
	Status  int
	Heading string
	Message string
	// RetryURL, when set, makes "Try again" (to this local address) the
	// page's action: the request may work as it is a moment later.
	RetryURL string
}

// KeyRow is one API key in a list.
type KeyRow struct {
	ID         int64
	Name       string
	Hint       string // "kw_…abcd"
	Scopes     []string
	Owner      string // owner's email (admin views)
	CreatedAt  time.Time
	LastUsedAt *time.Time
	ExpiresAt  *time.Time
	Status     string // "active", "expiring", "expired", "disabled", "revoked"
	// OwnerDisabled: the owner's account is disabled, which makes the key
	// "disabled" whatever its own state (it fails verification).
	OwnerDisabled bool
	// TeamName is the owning team's name, "" for a personal key.
	TeamName string
}

// ExpiryChoice is one option of the expiry select.
type ExpiryChoice struct {
	Value string // "7", "30", "60", "90", "365", "custom", "never"
	Label string
}

// KeyForm is the create-key form (full page and inline).
type KeyForm struct {
	Name        string
	Description string
	Expiry      string // one of ExpiryChoices' values
	ExpiryDate  string // YYYY-MM-DD when Expiry == "custom"
	// Picker offers the catalog, with the scopes chosen so far checked.
	Picker        ScopePicker
	Errors        FieldErrors
	ExpiryChoices []ExpiryChoice
	MinDate       string // YYYY-MM-DD, tomorrow: the custom date's lower bound
	// FormToken names this form's one submission: a key is created from it
	// at most once (a hidden field; see db.CreateKeyOnce).
	FormToken string
	// AllowedIPs and Meta are the "Advanced: limits" fields, as typed.
	AllowedIPs string
	Meta       string
	// Owner is "" (the person creating it) or a team id; OwnerTeams are
	// the teams the person maintains (no choice shown when none).
	Owner      string
	OwnerTeams []TeamRow
}

// KeysPage is /keys.
type KeysPage struct {
	Layout
	Keys    []KeyRow
	Status  string // status filter: "", "active", "expiring", "expired", "disabled", "revoked"
	Total   int    // keys matching the filter
	AllKeys int    // keys of the user in any state (0 means the empty state)
	Page    int    // 1-based
	PerPage int
	HasPrev bool
	HasNext bool
	Form    KeyForm    // inline create form
	Notices KeyNotices // banners about expiring and stale keys
	Stale   bool       // the list shows only stale keys (?stale=1)
	// Owner filters by owner: "" (all), "me", or "team:ID"; OwnerTeams
	// are the person's teams (no owner filter shown without any).
	Owner      string
	OwnerTeams []TeamRow
}

// KeyReveal is the show-once panel: the only response that ever carries a
// plaintext key.
type KeyReveal struct {
	ID        int64
	Name      string
	Key       string // the plaintext key
	VerifyURL string // absolute URL of POST /api/v1/keys/verify
	Curl      string // ready-to-paste curl command
	// ExpiresAt (nil: never) and Scopes are stated beside the key, since
	// where it may be used and until when decide where to store it.
	ExpiresAt *time.Time
	Scopes    []string
	// Rolled is set when this key replaced another; OldExpiresAt says until
	// when the old key keeps working.
	Now          time.Time // the clock's reading, to tell whether the old key still works
	Rolled       bool
	OldKeyID     int64
	OldExpiresAt *time.Time
}

// KeyAlreadyCreated is the answer to a create form submitted again: the
// key it made, whose secret was shown once and is not shown again.
type KeyAlreadyCreated struct {
	ID   int64
	Name string
}

// KeyAlreadyCreatedPage is the full-page KeyAlreadyCreated (no htmx).
type KeyAlreadyCreatedPage struct {
	Layout
	Key KeyAlreadyCreated
}

// NewKeyPage is GET/POST /keys/new.
type NewKeyPage struct {
	Layout
	Form KeyForm
}

// KeyCreatedPage is the full-page show-once response (no-JS create, roll).
type KeyCreatedPage struct {
	Layout
	Reveal KeyReveal
}

// UsageDay is one bar of the 30-day chart.
type UsageDay struct {
	Day   time.Time // midnight UTC
	Count int64
	// Refusals are the day's refused verifications, Codes the same by
	// code, most first.
	Refusals int64
	Codes    []CodeCount
}

// CodeCount is a number of refusals with one code (REVOKED, EXPIRED…).
type CodeCount struct {
	Code  string
	Count int64
}

// UsageChart is a 30-day usage bar chart, oldest day first: verifications
// with the refusals stacked on them.
type UsageChart struct {
	Days     []UsageDay
	Total    int64
	Refusals int64 // refusals over all the days
	Max      int64 // the busiest day's verifications and refusals together
}

// EventRow is one audit event as shown on a page.
type EventRow struct {
	At     time.Time
	Actor  string
	Action string // human label: "Key revoked", "Used from a new IP"
	Target string
	IP     string
	Detail string
}

// GraceChoice is one option of the roll grace-period select.
type GraceChoice struct {
	Value string // "0", "1h", "24h", "168h"
	Label string
}

// KeyDetail is everything the key page shows about one key.
type KeyDetail struct {
	KeyRow
	Description       string
	LastUsedIP        string
	LastUsedUserAgent string
	// LastRefused* are the key's last refused verification; LastRefusedAt
	// nil when it was never refused.
	LastRefusedAt        *time.Time
	LastRefusedIP        string
	LastRefusedUserAgent string
	LastRefusedCode      string
	DisabledAt           *time.Time
	// DisabledBy says who disabled the key, as the viewer reads it: "you",
	// an email, or "Keyward" (the auto-disable policy). DisabledReason is
	// the reason they gave.
	DisabledBy     string
	DisabledReason string
	// CanEnable: the viewer may lift the disable (an admin, or the owner
	// of a disable they made themselves).
	CanEnable bool
	RevokedAt *time.Time
	// RevokedBy says who revoked the key: "by you", "by " and an email,
	// or "from the command line". RevokeReason is the reason they gave.
	RevokedBy    string
	RevokeReason string
	RolledFromID int64 // 0 when not a roll
	IsOwner      bool  // false when an admin views someone else's key
}

// KeyPage is /keys/{id}.
type KeyPage struct {
	Layout
	Key         KeyDetail
	Usage       UsageChart
	Events      []EventRow
	EditName    string
	EditDesc    string
	EditExpires string      // YYYY-MM-DD (UTC) or "" for never, as shown or typed
	EditErrors  FieldErrors // "name", "description", "expires_on"
	// ExpiryHelp explains the expiry rule that applies to this key (the
	// lifetime policy counted from its creation).
	ExpiryHelp   string
	GraceChoices []GraceChoice
	// ReadOnly: the viewer may see this key but not change it (an auditor,
	// or a member of its team who does not maintain it): the page shows no
	// actions, and ReadOnlyNote says why.
	ReadOnly     bool
	ReadOnlyNote string
	Limits       KeyLimits
	// Scopes is the Scopes section: approval state and the picker.
	Scopes   KeyScopes
	Transfer TransferForm
	// OpenAlerts counts the key's unresolved alerts: a notice at the top
	// links to them.
	OpenAlerts int
}
