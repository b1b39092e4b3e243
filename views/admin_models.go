package views

import "time"

// AdminOverview is /admin: the figures an admin checks first, each linking
// to the filtered list behind it.
type AdminOverview struct {
	Layout
	Users           int
	ActiveKeys      int
	StaleKeys       int
	NeverUsedKeys   int
	ExpiringSoon    int // active keys expiring within ExpiringDays
	ExpiringDays    int // the one "expiring soon" window, in days
	Verifications24 int64
	Hourly          []UsageHour // 24 bars, oldest first
	HourlyMax       int64
	RecentEvents    []EventRow
	// PendingRequests counts the keys waiting for an admin's approval.
	PendingRequests int
}

// UsageHour is one bar of the 24-hour chart.
type UsageHour struct {
	Hour  time.Time // start of the hour, UTC
	Count int64
}

// UserRow is one user in the admin users table.
type UserRow struct {
	ID          int64
	Email       string
	Role        string // "admin" or "member"
	CreatedAt   time.Time
	LastLoginAt *time.Time
	ActiveKeys  int
	Disabled    bool
	IsSelf      bool // the signed-in admin: no disable/demote buttons
	Factors     UserFactors
}

// InviteForm is the "Invite a user" form.
type InviteForm struct {
	Email  string
	Role   string // "member" or "admin"
	Errors FieldErrors
}

// TokenLink is a one-time link shown once (invite or password reset).
type TokenLink struct {
	Kind      string // "invite" or "reset"
	Email     string
	URL       string
	ExpiresAt time.Time
	Renewed   bool // a new link for a pending invite: the old one stopped working
	// Mailed: e-mail is configured, so the link is also on its way to
	// Email (the outbox sends it; the page does not wait for it).
	Mailed bool
}

// InviteRow is a pending invite: its link works until it is used, revoked,
// replaced or expires.
type InviteRow struct {
	ID                   int64
	Email                string
	Role                 string // "member" or "admin"
	CreatedBy            string // the inviting admin's email; "" from the command line
	CreatedAt, ExpiresAt time.Time
}

// ResetConfirm asks the acting admin for their password before a reset
// link for another admin.
type ResetConfirm struct {
	UserID int64
	Email  string
	Errors FieldErrors // "current_password"
}

// AdminUsersPage is /admin/users.
type AdminUsersPage struct {
	Layout
	Users        []UserRow
	Invites      []InviteRow
	Invite       InviteForm
	Link         *TokenLink    // set right after creating an invite or a reset link
	ResetConfirm *ResetConfirm // set when a reset link for an admin needs the password
	// FactorsConfirm asks before resetting someone's second factors.
	FactorsConfirm *FactorsResetConfirm
}

// AdminKeyRow is one key in the admin list.
type AdminKeyRow struct {
	KeyRow
	LastUsedIP string
	Stale      bool
	// LastRefusedAt and LastRefusedCode: the key's last refused
	// verification, nil when never refused.
	LastRefusedAt   *time.Time
	LastRefusedCode string
}

// AdminKeyFilter is the admin key list's filter, as submitted in the query.
type AdminKeyFilter struct {
	Owner        string // owner email (exact, case-insensitive)
	Status       string // "", "active", "expiring", "expired", "disabled", "revoked"
	Stale        bool
	NeverUsed    bool
	ExpiringDays int // 0 = no filter
	Scope        string
	Q            string // name search
	// Refused is "7d" for the keys refused in the last 7 days, or "".
	Refused string
	Sort    string // "created" (default), "last_used", "expires"
	Page    int
}

// AdminKeysPage is /admin/keys (and the stale review with Filter.Stale).
type AdminKeysPage struct {
	Layout
	Keys           []AdminKeyRow
	Filter         AdminKeyFilter
	Query          string // the filter as a query string without page ("status=active&stale=1")
	Total          int
	StaleCount     int // across all keys, for the review header
	NeverUsedCount int
	Page           int
	PerPage        int
	HasPrev        bool
	HasNext        bool
}

// BulkConfirmPage is the confirmation before a bulk disable or revoke: it
// lists what will change and asks for a reason.
type BulkConfirmPage struct {
	Layout
	Action      string // "disable" or "revoke"
	Keys        []AdminKeyRow
	IDs         []int64 // the ids to act on (hidden fields)
	AllMatching bool    // act on every key matching Query
	Query       string  // the filter, when AllMatching
	Count       int
	Missing     []int64 // submitted ids that do not exist
	Reason      string
	Errors      FieldErrors // "reason"
}

// SettingsForm is /admin/settings. Values are as typed (strings) so a bad
// value re-renders as typed.
type SettingsForm struct {
	MaxKeyLifetimeDays   string // "" or "0" = no limit
	StaleDays            string
	NeverUsedDays        string
	AutoDisableDays      string // "" or "0" = off
	SessionIdleMinutes   string
	SessionAbsoluteHours string
	Errors               FieldErrors
}

// AdminSettingsPage is /admin/settings.
type AdminSettingsPage struct {
	Layout
	Form SettingsForm
	// DefaultSessionIdle and DefaultSessionAbsolute are the server's
	// configured timeouts, which apply while the fields are empty; 0 when
	// unknown (no hint is shown).
	DefaultSessionIdle, DefaultSessionAbsolute time.Duration
	// Mail is the E-mail card (admin_settings_mail.templ).
	Mail MailSection
	// Leaks is the "Leaked keys" card (admin_leaks.templ).
	Leaks LeakSettingsCard
	// Activity is the Unusual activity card (admin_activity.templ).
	Activity ActivitySection
	// SignIn is the Sign-in card (admin_signin.templ).
	SignIn SignInCard
}

// AuditFilterForm is the audit log's filter, as typed.
type AuditFilterForm struct {
	Actor  string // actor email
	Action string
	Key    string // key id
	User   string // target user email
	From   string // YYYY-MM-DD
	To     string // YYYY-MM-DD
}

// ActionOption is one choice of the action filter.
type ActionOption struct {
	Value string
	Label string
}

// AdminAuditPage is /admin/audit.
type AdminAuditPage struct {
	Layout
	Events     []EventRow
	Filter     AuditFilterForm
	Actions    []ActionOption
	Query      string // the filter as a query string (for "Older" links)
	NextBefore int64  // id for the "Older events" link; 0 = none
	// PastEnd: an "Older events" page (?before=) with nothing on it, so the
	// page offers the newest events rather than claiming there are none.
	PastEnd bool
	Errors  FieldErrors
}

// AcceptPage is /invite/{token} and /reset/{token}: set a password.
type AcceptPage struct {
	Layout
	Kind    string // "invite" or "reset"
	Token   string
	Email   string
	Invalid bool        // expired, used or unknown link: a clear refusal, no form
	Errors  FieldErrors // "password", "password_confirm"
}

// KeyNotices are the banners on /keys about the user's own keys.
type KeyNotices struct {
	ExpiringSoon int // active keys expiring within ExpiringDays
	ExpiringDays int // the one "expiring soon" window, in days
	Stale        int
}
