package views

import "time"

// TokensCard is the Account page's "Management tokens" card: the person's
// tokens, the create form, and, right after a create, the show-once panel.
type TokensCard struct {
	Tokens []TokenRow
	Form   TokenForm
	// Reveal is set only in the answer to a successful create: the one
	// response that carries the token.
	Reveal *TokenReveal
	Now    time.Time
}

// TokenRow is one management token in the list.
type TokenRow struct {
	ID          int64
	Name        string
	Hint        string
	Permissions []string
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	LastUsedAt  *time.Time
	LastUsedIP  string
	Status      string // "active", "expired" or "revoked"
}

// TokenForm is the create form: name, permissions (only those the
// person's role holds), and expiry.
type TokenForm struct {
	Name          string
	Permissions   []PermissionChoice
	Expiry        string // an ExpiryChoice value
	ExpiryDate    string // YYYY-MM-DD for "custom"
	ExpiryChoices []ExpiryChoice
	MinDate       string      // the custom date's earliest value
	MaxDate       string      // and its latest: tokens live at most a year
	Errors        FieldErrors // "name", "permissions", "expiry", "expiry_date"
}

// PermissionChoice is one permission checkbox.
type PermissionChoice struct {
	Value   string // "keys:read"
	Label   string // db.Permission.Label()
	Checked bool
}

// TokenReveal is the show-once panel of a new management token.
type TokenReveal struct {
	Name        string
	Token       string // the plaintext token
	Permissions []string
	ExpiresAt   *time.Time
	MeURL       string // absolute URL of GET /api/v1/me
	Curl        string // ready-to-paste curl command calling it
	Now         time.Time
}
