package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// KeyStatus is the state of a key as people see it.
type KeyStatus string

// Key states. Disabled is reversible; revoked is final.
const (
	KeyActive   KeyStatus = "active"
	KeyExpiring KeyStatus = "expiring"
	KeyExpired  KeyStatus = "expired"
	KeyDisabled KeyStatus = "disabled"
	KeyRevoked  KeyStatus = "revoked"
	// KeyPending: the key waits for an admin's approval of a scope it was
	// created with (Key.PendingKey) and answers PENDING_APPROVAL.
	KeyPending KeyStatus = "pending"
)

// KeyStatuses lists every status, in the order people look for them: the
// one list the CLI, the filters and the pages take theirs from.
var KeyStatuses = []KeyStatus{KeyActive, KeyExpiring, KeyPending, KeyExpired, KeyDisabled, KeyRevoked}

// ParseKeyStatus returns the status named s (as KeyStatuses spell them).
func ParseKeyStatus(s string) (KeyStatus, bool) {
	for _, st := range KeyStatuses {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// ExpiringWindow is how long before its expiry a key is "expiring soon",
// early enough for its owner to roll it: the one definition that every
// page, the admin overview, the CLI and the CSV report use.
const ExpiringWindow = 7 * 24 * time.Hour

// ExpiringWindowDays is ExpiringWindow in days, for the pages that say it.
const ExpiringWindowDays = int(ExpiringWindow / (24 * time.Hour))

// Limits on key fields.
const (
	MaxKeyNameLength        = 100
	MaxKeyDescriptionLength = 500
	MaxRevokeReasonLength   = 500
	MaxScopes               = 20
	MaxScopeLength          = 64
)

// Key is an API key as stored: never its plaintext, which exists only in the
// response that creates it.
type Key struct {
	ID          int64
	UserID      int64
	OwnerEmail  string
	Name        string
	Description string
	Hint        string // "kw_…abcd"
	Scopes      []string
	CreatedAt   time.Time
	ExpiresAt   *time.Time
	DisabledAt  *time.Time
	// DisabledBy is who disabled the key: a user id, or 0 when Keyward's
	// auto-disable policy did. Only a disable the owner made is theirs to
	// lift (SetKeyDisabled). DisabledReason is the reason given, if any.
	DisabledBy        int64
	DisabledReason    string
	RevokedAt         *time.Time
	RevokedBy         int64 // 0 when not revoked, or revoked from the CLI
	RevokeReason      string
	RolledFrom        int64 // the key this one replaced, or 0
	LastUsedAt        *time.Time
	LastUsedIP        string
	LastUsedUserAgent string
	// LastRefusedAt is the last verification refused for this key
	// (revoked, disabled, expired, a missing scope…), with its address,
	// user agent and code: a dead key still being tried shows here.
	LastRefusedAt        *time.Time
	LastRefusedIP        string
	LastRefusedUserAgent string
	LastRefusedCode      string
	// OwnerDisabled: the owner's account is disabled, so the key fails
	// verification (DISABLED) whatever its own state. Never set for a team
	// key: a team's keys outlive the person who made them.
	OwnerDisabled bool

	// TeamID is the team that owns the key (TeamName its name), or 0 for
	// a personal key, owned by UserID. On a team key UserID is the person
	// who made it or handed it to the team, kept for the history.
	TeamID   int64
	TeamName string
	// AllowedIPs are the networks a client presenting the key must be in;
	// none: anywhere.
	AllowedIPs []netip.Prefix
	// Meta is a JSON object the owner set, returned to services as
	// key.meta; "" for none.
	Meta string
	// PendingScopes wait for an admin's approval (Scopes holds only the
	// granted ones). PendingKey: the key itself waits, refused with
	// PENDING_APPROVAL until approved. PendingSince and PendingBy say when
	// and by whom the open request was made (nil and 0: none open).
	PendingScopes []string
	PendingKey    bool
	PendingSince  *time.Time
	PendingBy     int64
}

// Owner types, as the verify answer's key.owner_type gives them.
const (
	OwnerUser = "user"
	OwnerTeam = "team"
)

// OwnerType is "team" for a team's key, else "user".
func (k Key) OwnerType() string {
	if k.TeamID != 0 {
		return OwnerTeam
	}
	return OwnerUser
}

// Owner names the key's owner as services see it: the person's email, or
// "team:NAME".
func (k Key) Owner() string {
	if k.TeamID != 0 {
		return teamOwner(k.TeamName)
	}
	return k.OwnerEmail
}

// teamOwner is a team's name as a key owner.
func teamOwner(name string) string { return "team:" + name }

// Status gives the key's state at now. A revoked key stays revoked whatever
// else is true of it, and so on down: revoked > disabled > expired >
// pending > expiring > active (the order verification checks them in). A
// key whose owner is disabled is disabled too: it fails verification with
// DISABLED, and a list calling it active would send an admin looking for a
// fault that is a decision.
func (k Key) Status(now time.Time) KeyStatus {
	switch {
	case k.RevokedAt != nil:
		return KeyRevoked
	case k.DisabledAt != nil || k.OwnerDisabled:
		return KeyDisabled
	case k.ExpiresAt != nil && !k.ExpiresAt.After(now):
		return KeyExpired
	case k.PendingKey:
		return KeyPending
	case k.ExpiresAt != nil && !k.ExpiresAt.After(now.Add(ExpiringWindow)):
		return KeyExpiring
	default:
		return KeyActive
	}
}

// Stale reports whether the key is a candidate for revocation: not revoked
// (that decision is made) and not expired (it ends by itself), but last used
// more than unused ago, or never used and created more than neverUsed ago.
// Disabled keys count, the owner's or their own: disabling is reversible,
// and a forgotten disabled key is exactly what the stale review should
// bring back to someone's attention. It matches KeyFilter.Stale (and the
// overview's count); see StaleThresholds for the two durations.
func (k Key) Stale(now time.Time, unused, neverUsed time.Duration) bool {
	if k.RevokedAt != nil || (k.ExpiresAt != nil && !k.ExpiresAt.After(now)) {
		return false
	}
	if k.LastUsedAt != nil {
		return k.LastUsedAt.Before(now.Add(-unused))
	}
	return k.CreatedAt.Before(now.Add(-neverUsed))
}

// KeyInput is what a person chooses when creating a key.
type KeyInput struct {
	Name        string
	Description string
	Scopes      []string
	ExpiresAt   *time.Time // nil: never expires
	// AllowedIPs limits where the key may be presented from (nil:
	// anywhere); Meta is a JSON object returned to services ("" none).
	// See limits.go.
	AllowedIPs []netip.Prefix
	Meta       string
	// TeamID makes the key the team's (0: the creator's own). The creator
	// must maintain the team (CreateKey checks it).
	TeamID int64
}

// ParseScopes reads scopes as typed in a form or on the command line,
// separated by commas or white space, and removes duplicates keeping the
// first. A scope that is not valid is a *FieldError.
func ParseScopes(s string) ([]string, error) {
	return normalizeScopes(strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || unicode.IsSpace(r)
	}))
}

// normalizeScopes validates scopes and drops duplicates. Uppercase is
// refused rather than folded: a scope is compared byte for byte by the
// services that check it, so silently changing it would hide a mismatch.
func normalizeScopes(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, sc := range in {
		if err := checkScope(sc); err != nil {
			return nil, err
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	if len(out) > MaxScopes {
		return nil, invalidf("Use at most %d scopes.", MaxScopes)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func checkScope(sc string) error {
	if sc == "" || len(sc) > MaxScopeLength {
		return invalidf("Each scope must be 1 to %d characters long.", MaxScopeLength)
	}
	for i := 0; i < len(sc); i++ {
		c := sc[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(":._-", c) >= 0) {
			return invalidf("Scope %q is not allowed: use lowercase letters, digits and : . _ -", sc)
		}
	}
	return nil
}

// checkKeyName trims and checks a key name, reporting into ve.
func checkKeyName(name string, ve *ValidationError) string {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		ve.Add("name", "Enter a name.")
	case n > MaxKeyNameLength:
		ve.Add("name", fmt.Sprintf("Use at most %d characters.", MaxKeyNameLength))
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		ve.Add("name", "Remove control characters from the name.")
	}
	return name
}

// checkFreeText trims a description or a reason and checks its length; line
// breaks and tabs are allowed, other control characters are not.
func checkFreeText(field, s string, maxRunes int, ve *ValidationError) string {
	s = strings.TrimSpace(s)
	switch {
	case utf8.RuneCountInString(s) > maxRunes:
		ve.Add(field, fmt.Sprintf("Use at most %d characters.", maxRunes))
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
	}):
		ve.Add(field, "Remove control characters.")
	}
	return s
}

// checkKeyInput validates and normalizes in, with no lifetime cap.
func checkKeyInput(in KeyInput, now time.Time) (KeyInput, error) {
	return checkKeyInputCapped(in, now, 0)
}

// checkKeyInputCapped validates and normalizes in. maxLifetime is the
// policy's cap on a key's life (0: none): with a cap, a key must expire, and
// no later than now plus the cap.
func checkKeyInputCapped(in KeyInput, now time.Time, maxLifetime time.Duration) (KeyInput, error) {
	var ve ValidationError
	in.Name = checkKeyName(in.Name, &ve)
	in.Description = checkFreeText("description", in.Description, MaxKeyDescriptionLength, &ve)
	scopes, err := normalizeScopes(in.Scopes)
	ve.AddErr("scopes", err)
	in.Scopes = scopes
	in = checkLimits(in, &ve)
	if in.ExpiresAt != nil {
		if !in.ExpiresAt.After(now) {
			ve.Add("expires_at", "Choose an expiry in the future.")
		}
		t := in.ExpiresAt.UTC().Truncate(time.Millisecond)
		in.ExpiresAt = &t
	}
	if maxLifetime > 0 && (in.ExpiresAt == nil || in.ExpiresAt.After(now.Add(maxLifetime))) {
		ve.Add("expires_at", fmt.Sprintf("Keys may live at most %d days.", lifetimeDays(maxLifetime)))
	}
	return in, ve.Err()
}

// querier is what both the reader pool and a write transaction offer, so a
// write can re-read a key inside its own transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *Row
	QueryContext(ctx context.Context, query string, args ...any) (*Rows, error)
}

// selectKeySQL is the column list scanKey reads, in order.
const selectKeySQL = `SELECT k.id, k.user_id, u.email, k.name, k.description, k.hint, k.scopes,
	k.created_at, k.expires_at, k.disabled_at, k.disabled_by, k.disabled_reason, k.revoked_at, k.revoked_by, k.revoke_reason,
	k.rolled_from, k.last_used_at, k.last_used_ip, k.last_used_user_agent, u.disabled_at,
	k.team_id, COALESCE(t.name, ''), k.allowed_ips, k.meta, k.pending_scopes, k.pending_key, k.pending_since, k.pending_by,
	k.last_refused_at, k.last_refused_ip, k.last_refused_user_agent, k.last_refused_code
	FROM api_keys k JOIN users u ON u.id = k.user_id LEFT JOIN teams t ON t.id = k.team_id`

type rowScanner interface{ Scan(dest ...any) error }

func scanKey(r rowScanner) (Key, error) {
	var (
		k                                 Key
		scopes                            string
		created                           int64
		expires, disabled, revoked, used  sql.NullInt64
		revokedBy, rolledFrom, disabledBy sql.NullInt64
		ownerDisabled                     sql.NullInt64
		teamID, pendingSince, pendingBy   sql.NullInt64
		allowed, pending                  string
		pendingKey                        int64
		refused                           sql.NullInt64
	)
	if err := r.Scan(&k.ID, &k.UserID, &k.OwnerEmail, &k.Name, &k.Description, &k.Hint, &scopes,
		&created, &expires, &disabled, &disabledBy, &k.DisabledReason, &revoked, &revokedBy, &k.RevokeReason,
		&rolledFrom, &used, &k.LastUsedIP, &k.LastUsedUserAgent, &ownerDisabled,
		&teamID, &k.TeamName, &allowed, &k.Meta, &pending, &pendingKey, &pendingSince, &pendingBy,
		&refused, &k.LastRefusedIP, &k.LastRefusedUserAgent, &k.LastRefusedCode); err != nil {
		return Key{}, err
	}
	k.TeamID = teamID.Int64
	k.AllowedIPs = parseStoredPrefixes(allowed)
	k.PendingScopes = splitScopes(pending)
	k.PendingKey = pendingKey != 0
	k.PendingSince = timePtr(pendingSince)
	k.PendingBy = pendingBy.Int64
	k.Scopes = splitScopes(scopes)
	k.CreatedAt = fromMillis(created)
	k.ExpiresAt = timePtr(expires)
	k.DisabledAt = timePtr(disabled)
	k.DisabledBy = disabledBy.Int64
	k.RevokedAt = timePtr(revoked)
	k.RevokedBy = revokedBy.Int64
	k.RolledFrom = rolledFrom.Int64
	k.LastUsedAt = timePtr(used)
	k.LastRefusedAt = timePtr(refused)
	k.OwnerDisabled = ownerDisabled.Valid && k.TeamID == 0
	return k, nil
}

// queryKeys runs query (selectKeySQL and its clauses) through q and scans
// every row; what names the query in errors.
func queryKeys(ctx context.Context, q querier, what, query string, args ...any) ([]Key, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("db: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("db: %s: scan key: %w", what, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: %s: %w", what, err)
	}
	return out, nil
}

// splitScopes reads the stored, space-separated form.
func splitScopes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

// errKeyNotFound is the one answer for a missing key and for someone else's.
// ErrKeyNotFound is the answer for a key that does not exist or that the
// caller may not see: the same message either way.
var ErrKeyNotFound = Errorf(ErrNotFound, "Key not found.")

const getKeySQL = selectKeySQL + ` WHERE k.id = ?`

// getKey reads one key within access through q (the reader pool or a write
// transaction).
func getKey(ctx context.Context, q querier, access KeyAccess, id int64) (Key, error) {
	cond, args := access.cond()
	k, err := scanKey(q.QueryRowContext(ctx, getKeySQL+cond, append([]any{id}, args...)...))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, ErrKeyNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("db: get key %d: %w", id, err)
	}
	return k, nil
}

// GetKey returns key id if access can see it, else ErrNotFound.
func (s *Store) GetKey(ctx context.Context, access KeyAccess, id int64) (Key, error) {
	return getKey(ctx, s.r, access, id)
}

const keyVisibleSQL = `SELECT COUNT(*) FROM api_keys k WHERE k.id = ?`

// checkKeyVisible returns ErrNotFound unless access can see key id.
func (s *Store) checkKeyVisible(ctx context.Context, access KeyAccess, id int64) error {
	var n int
	cond, args := access.cond()
	if err := s.r.QueryRowContext(ctx, keyVisibleSQL+cond, append([]any{id}, args...)...).Scan(&n); err != nil {
		return fmt.Errorf("db: check key %d: %w", id, err)
	}
	if n == 0 {
		return ErrKeyNotFound
	}
	return nil
}

// CheckKeyInput reports every problem with in by form field, without
// touching the database, so a form can show all its errors at once.
func CheckKeyInput(in KeyInput, now time.Time) map[string]string {
	_, err := checkKeyInput(in, now)
	return FieldErrors(err)
}
