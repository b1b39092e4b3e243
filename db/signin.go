package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// How a session signed in (sessions.auth_method and second_factor).
const (
	AuthPassword = "password"
	AuthPasskey  = "passkey"
	AuthSSO      = "sso"

	FactorTOTP     = "totp"
	FactorPasskey  = "passkey"
	FactorRecovery = "recovery"
	// FactorUserVerified: a passkey sign-in whose authenticator verified its
	// user (PIN or biometric): two factors in one gesture.
	FactorUserVerified = "uv"
	// FactorProvider: the OpenID provider reported a multi-factor sign-in
	// (its ID token's amr claim).
	FactorProvider = "idp"
)

// Sign-in stages of a session (sessions.stage).
const (
	// StageDone: signed in.
	StageDone = ""
	// StageMFA: the first factor passed, the second is pending. Such a
	// session is not a sign-in: it reaches only the second-factor page.
	StageMFA = "mfa"
	// StageEnrol: signed in, but policy requires a second factor the person
	// has not set up; only enrolment is reachable until they do.
	StageEnrol = "enrol"
)

func validStage(s string) bool { return s == StageDone || s == StageMFA || s == StageEnrol }

// Audit actions of sign-in (this file, totp.go and the files of passkeys,
// recovery codes and single sign-on).
const (
	// ActionLoginFirstFactor: a password (or SSO) was right and the second
	// factor is now asked for; login.success follows once it is given.
	ActionLoginFirstFactor = "login.first_factor"
	// ActionLoginMFAFailure: a wrong, reused or expired authenticator code,
	// recovery code or passkey assertion as a second factor.
	ActionLoginMFAFailure  = "login.mfa_failure"
	ActionLoginSSOFailure  = "login.sso_failure"
	ActionTOTPEnable       = "mfa.totp_enable"
	ActionTOTPDisable      = "mfa.totp_disable"
	ActionPasskeyAdd       = "mfa.passkey_add"
	ActionPasskeyRename    = "mfa.passkey_rename"
	ActionPasskeyRemove    = "mfa.passkey_remove"
	ActionRecoveryGenerate = "mfa.recovery_generate"
	ActionRecoveryUse      = "mfa.recovery_use"
	// ActionFactorsReset: an admin removed another person's second factors.
	ActionFactorsReset = "mfa.reset"
	ActionReauth       = "auth.reauth"
	// ActionReauthFailure: a wrong password or code on the re-authentication
	// page, a guess by whoever holds a session.
	ActionReauthFailure = "auth.reauth_failure"
	ActionSSOLink       = "sso.link"
)

var signinActions = []string{
	ActionLoginFirstFactor, ActionLoginMFAFailure, ActionLoginSSOFailure,
	ActionTOTPEnable, ActionTOTPDisable, ActionPasskeyAdd, ActionPasskeyRename, ActionPasskeyRemove,
	ActionRecoveryGenerate, ActionRecoveryUse, ActionFactorsReset, ActionReauth, ActionReauthFailure, ActionSSOLink,
}

func init() {
	for a, l := range map[string]string{
		ActionLoginFirstFactor: "Password accepted, second factor asked",
		ActionLoginMFAFailure:  "Failed second factor",
		ActionLoginSSOFailure:  "Failed single sign-on",
		ActionTOTPEnable:       "Authenticator app added",
		ActionTOTPDisable:      "Authenticator app removed",
		ActionPasskeyAdd:       "Passkey added",
		ActionPasskeyRename:    "Passkey renamed",
		ActionPasskeyRemove:    "Passkey removed",
		ActionRecoveryGenerate: "Recovery codes generated",
		ActionRecoveryUse:      "Recovery code used",
		ActionFactorsReset:     "Second factors reset by an admin",
		ActionReauth:           "Confirmed identity",
		ActionReauthFailure:    "Failed identity confirmation",
		ActionSSOLink:          "Single sign-on linked",
	} {
		actionLabels[a] = l
	}
}

// SecondFactors summarises a person's second factors.
type SecondFactors struct {
	TOTP         bool // a confirmed authenticator app
	Passkeys     int
	RecoveryLeft int // unused recovery codes
}

// Any reports whether the person has a second factor to be asked for.
// Recovery codes alone do not count: they stand in for a lost factor.
func (f SecondFactors) Any() bool { return f.TOTP || f.Passkeys > 0 }

const secondFactorsSQL = `SELECT
	(SELECT COUNT(*) FROM totp_factors WHERE user_id = ? AND confirmed_at IS NOT NULL),
	(SELECT COUNT(*) FROM passkeys WHERE user_id = ?),
	(SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL)`

// SecondFactors returns userID's second factors.
func (s *Store) SecondFactors(ctx context.Context, userID int64) (SecondFactors, error) {
	var totp int64
	var f SecondFactors
	if err := s.r.QueryRowContext(ctx, secondFactorsSQL, userID, userID, userID).Scan(&totp, &f.Passkeys, &f.RecoveryLeft); err != nil {
		return SecondFactors{}, fmt.Errorf("db: second factors: %w", err)
	}
	f.TOTP = totp > 0
	return f, nil
}

// MFA policy values (SignInPolicy.RequireMFA).
const (
	MFAOptional = 0
	MFAAdmins   = 1
	MFAEveryone = 2
)

// SignInPolicy is how people may sign in, set by admins on the settings
// page; each field is one row in settings.
type SignInPolicy struct {
	// RequireMFA: MFAOptional, MFAAdmins or MFAEveryone. People it covers
	// who have no second factor are sent to enrolment at their next sign-in.
	RequireMFA int64
	// ReauthAfter: dangerous actions ask the person to prove who they are
	// again when they last did longer ago than this.
	ReauthAfter time.Duration
	// PasswordSignInOff: password sign-in is refused for everyone but the
	// break-glass admin (single sign-on and passkeys remain).
	PasswordSignInOff bool
	// BreakGlassUserID: the admin who may still sign in with a password
	// when PasswordSignInOff (0: none).
	BreakGlassUserID int64
}

// Setting names of SignInPolicy.
const (
	SettingRequireMFA        = "signin_require_mfa"
	SettingReauthMinutes     = "signin_reauth_minutes"
	SettingPasswordSignInOff = "signin_password_off"
	SettingBreakGlassUser    = "signin_break_glass_user"
)

// DefaultSignInPolicy: second factors optional, re-authentication after
// 10 minutes, password sign-in on.
func DefaultSignInPolicy() SignInPolicy {
	return SignInPolicy{RequireMFA: MFAOptional, ReauthAfter: 10 * time.Minute}
}

// MFARequired reports whether the policy requires a second factor of u.
func (p SignInPolicy) MFARequired(u User) bool {
	return p.RequireMFA == MFAEveryone || (p.RequireMFA == MFAAdmins && u.Role == RoleAdmin)
}

// PasswordAllowed reports whether u may sign in with a password.
func (p SignInPolicy) PasswordAllowed(u User) bool {
	return !p.PasswordSignInOff || (p.BreakGlassUserID != 0 && u.ID == p.BreakGlassUserID && u.Role == RoleAdmin)
}

const signInPolicySQL = `SELECT name, value FROM settings WHERE name IN ('` + SettingRequireMFA + `', '` +
	SettingReauthMinutes + `', '` + SettingPasswordSignInOff + `', '` + SettingBreakGlassUser + `')`

// readSignInPolicy reads the policy through q; a value out of range keeps
// its default.
func readSignInPolicy(ctx context.Context, q querier) (SignInPolicy, error) {
	rows, err := q.QueryContext(ctx, signInPolicySQL)
	if err != nil {
		return SignInPolicy{}, fmt.Errorf("db: read sign-in policy: %w", err)
	}
	defer rows.Close()
	p := DefaultSignInPolicy()
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return SignInPolicy{}, fmt.Errorf("db: read sign-in policy: %w", err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			continue
		}
		switch {
		case name == SettingRequireMFA && n >= MFAOptional && n <= MFAEveryone:
			p.RequireMFA = n
		case name == SettingReauthMinutes && n >= MinReauthMinutes && n <= MaxReauthMinutes:
			p.ReauthAfter = time.Duration(n) * time.Minute
		case name == SettingPasswordSignInOff && (n == 0 || n == 1):
			p.PasswordSignInOff = n == 1
		case name == SettingBreakGlassUser && n >= 0:
			p.BreakGlassUserID = n
		}
	}
	if err := rows.Err(); err != nil {
		return SignInPolicy{}, fmt.Errorf("db: read sign-in policy: %w", err)
	}
	return p, nil
}

// Bounds of SignInPolicy.ReauthAfter, in minutes.
const (
	MinReauthMinutes = 1
	MaxReauthMinutes = 24 * 60
)

// SignInPolicy returns the current policy; settings never set take their
// defaults.
func (s *Store) SignInPolicy(ctx context.Context) (SignInPolicy, error) {
	return readSignInPolicy(ctx, s.r)
}

// SetSessionReauth records that the person of session id proved who they
// are again at at (with factor: "password", "totp", "passkey"), and audits
// it by a.
func (s *Store) SetSessionReauth(ctx context.Context, id int64, at time.Time, factor string, a Actor) error {
	return s.inWriteTx(ctx, "record re-authentication", func(tx *Tx, now time.Time) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET reauth_at = ? WHERE id = ?`, toMillis(at), id)
		if err != nil {
			return fmt.Errorf("db: record re-authentication: %w", err)
		}
		if err := oneRow(res, errSessionNotFound); err != nil {
			return err
		}
		e := a.event(ActionReauth, "user", a.UserID, a.Label)
		e.Detail = map[string]string{"factor": factor}
		return insertAudit(ctx, tx, now, e)
	})
}

// SetSessionStage moves session id to stage (StageDone once an enrolment
// required by policy is done).
func (s *Store) SetSessionStage(ctx context.Context, id int64, stage string) error {
	if !validStage(stage) {
		return fmt.Errorf("db: set session stage: unknown stage %q", stage)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE sessions SET stage = ? WHERE id = ?`, stage, id)
	if err != nil {
		return fmt.Errorf("db: set session stage: %w", err)
	}
	return oneRow(res, errSessionNotFound)
}

// Kinds of auth challenge.
const (
	ChallengeWebAuthn = "webauthn"
	ChallengeOIDC     = "oidc"
)

// errChallengeNotFound: no such challenge, already used, or expired.
var errChallengeNotFound = Errorf(ErrNotFound, "This sign-in attempt has expired or was already used. Please start again.")

// PutAuthChallenge stores data (the server side of a ceremony) under a new
// random token for ttl and returns the token, which the browser carries to
// the ceremony's second request.
func (s *Store) PutAuthChallenge(ctx context.Context, kind string, data []byte, ttl time.Duration) (string, error) {
	tok, hash, err := newChallengeToken()
	if err != nil {
		return "", err
	}
	err = s.inWriteTx(ctx, "store sign-in challenge", func(tx *Tx, now time.Time) error {
		// Expired challenges go as new ones come: the table stays small
		// without a job of its own.
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_challenges WHERE expires_at <= ?`, toMillis(now)); err != nil {
			return fmt.Errorf("db: prune sign-in challenges: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_challenges (token_hash, kind, data, expires_at) VALUES (?, ?, ?, ?)`,
			hash, kind, data, toMillis(now.Add(ttl)))
		if err != nil {
			return fmt.Errorf("db: store sign-in challenge: %w", err)
		}
		return nil
	})
	return tok, err
}

// TakeAuthChallenge returns the data stored under token for kind and
// deletes it, so a challenge answers once. Unknown, used or expired: an
// ErrNotFound whose message says to start again.
func (s *Store) TakeAuthChallenge(ctx context.Context, kind, token string) ([]byte, error) {
	if token == "" || len(token) > 128 {
		return nil, errChallengeNotFound
	}
	hash := sha256.Sum256([]byte(token))
	var data []byte
	var expires int64
	err := s.w.QueryRowContext(ctx, `DELETE FROM auth_challenges WHERE token_hash = ? AND kind = ? RETURNING data, expires_at`,
		hash[:], kind).Scan(&data, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errChallengeNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: take sign-in challenge: %w", err)
	}
	if !s.Now().Before(fromMillis(expires)) {
		return nil, errChallengeNotFound
	}
	return data, nil
}

func newChallengeToken() (string, []byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, fmt.Errorf("db: challenge token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256([]byte(tok))
	return tok, hash[:], nil
}

// SetSignInPolicy validates p and stores it; each setting that changes is
// audited as setting.change with its old and new value. Password sign-in
// can only be turned off with a break-glass admin named, so an outage of
// the OpenID provider never locks everyone out.
func (s *Store) SetSignInPolicy(ctx context.Context, p SignInPolicy, actor Actor) error {
	var ve ValidationError
	if p.RequireMFA < MFAOptional || p.RequireMFA > MFAEveryone {
		ve.Add("require_mfa", "Choose who must use a second factor.")
	}
	mins := int64(p.ReauthAfter / time.Minute)
	if p.ReauthAfter%time.Minute != 0 || mins < MinReauthMinutes || mins > MaxReauthMinutes {
		ve.Add("reauth_minutes", fmt.Sprintf("Enter a whole number of minutes from %d to %d.", MinReauthMinutes, MaxReauthMinutes))
	}
	if p.PasswordSignInOff && p.BreakGlassUserID == 0 {
		ve.Add("break_glass_user", "Choose the admin who may still sign in with a password.")
	}
	return s.inWriteTx(ctx, "set sign-in policy", func(tx *Tx, now time.Time) error {
		if p.BreakGlassUserID != 0 {
			var role string
			var disabled sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT role, disabled_at FROM users WHERE id = ?`, p.BreakGlassUserID).Scan(&role, &disabled)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && (Role(role) != RoleAdmin || disabled.Valid)) {
				ve.Add("break_glass_user", "Choose an active admin.")
			} else if err != nil {
				return fmt.Errorf("db: set sign-in policy: %w", err)
			}
		}
		if err := ve.Err(); err != nil {
			return err
		}
		old, err := readSignInPolicy(ctx, tx)
		if err != nil {
			return err
		}
		for _, ch := range []struct {
			name     string
			old, new int64
		}{
			{SettingRequireMFA, old.RequireMFA, p.RequireMFA},
			{SettingReauthMinutes, int64(old.ReauthAfter / time.Minute), mins},
			{SettingPasswordSignInOff, int64(boolInt(old.PasswordSignInOff)), int64(boolInt(p.PasswordSignInOff))},
			{SettingBreakGlassUser, old.BreakGlassUserID, p.BreakGlassUserID},
		} {
			if ch.old == ch.new {
				continue
			}
			value := strconv.FormatInt(ch.new, 10)
			if _, err := tx.ExecContext(ctx, upsertSettingSQL, ch.name, value, toMillis(now)); err != nil {
				return fmt.Errorf("db: set %s: %w", ch.name, err)
			}
			e := actor.event(ActionSettingChange, "setting", 0, ch.name)
			e.Detail = map[string]string{"setting": ch.name, "old": strconv.FormatInt(ch.old, 10), "new": value}
			if err := insertAudit(ctx, tx, now, e); err != nil {
				return err
			}
		}
		return nil
	})
}
