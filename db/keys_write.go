package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RollGraces are the grace periods the dashboard offers a rolled key: none,
// an hour, a day, a week. A short list keeps the choice simple.
var RollGraces = []time.Duration{0, time.Hour, 24 * time.Hour, MaxRollGrace}

// MaxRollGrace bounds any grace (the management API takes any duration up
// to it): a rolled key is being replaced, often because it leaked, and a
// week is enough for every service to switch. A grace never extends the
// old key either: it ends at its own expiry if that comes first, and
// where the policy caps key lifetime the grace is within the cap too.
const MaxRollGrace = 7 * 24 * time.Hour

const (
	errRevokedUnchangeable = "This key is revoked and cannot be changed."
	errAlreadyRevoked      = "This key is already revoked."
)

const (
	keyOwnerSQL = `SELECT email, disabled_at FROM users WHERE id = ?`

	insertKeySQL = `INSERT INTO api_keys
		(user_id, name, description, key_hash, hint, scopes, created_at, expires_at, rolled_from, create_token_hash,
		allowed_ips, meta, team_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
)

// insertKey generates a key for userID inside tx and returns its id and
// plaintext. formToken is the hash of the create form's one-time token
// (see CreateKeyOnce), nil for a key made without a form.
func insertKey(ctx context.Context, tx *Tx, userID int64, in KeyInput, now time.Time, rolledFrom int64, formToken []byte) (int64, string, error) {
	secret, err := GenerateKey()
	if err != nil {
		return 0, "", err
	}
	hash := HashKey(secret)
	var id int64
	if err := tx.QueryRowContext(ctx, insertKeySQL, userID, in.Name, in.Description, hash[:],
		KeyHint(secret), strings.Join(in.Scopes, " "), toMillis(now), nullMillis(in.ExpiresAt), nullID(rolledFrom), formToken,
		formatPrefixes(in.AllowedIPs), in.Meta, nullID(in.TeamID)).Scan(&id); err != nil {
		return 0, "", fmt.Errorf("db: insert key: %w", err)
	}
	return id, secret, nil
}

// CreateKey creates a key for userID and returns it with its plaintext, which
// is never available again. A disabled user gets no new keys. When the
// policy caps key lifetime, the key must expire within the cap. With
// in.TeamID the key is the team's, and userID must maintain the team.
func (s *Store) CreateKey(ctx context.Context, userID int64, in KeyInput, actor Actor) (Key, string, error) {
	return s.createKey(ctx, userID, in, nil, nil, actor)
}

// CreateKeyIdempotent is CreateKey for a request carrying an
// Idempotency-Key (see idempotency.go): a repeat within the window returns
// an *IdempotencyReplayError naming the key made the first time, a
// different request under the same key ErrIdempotencyMismatch; neither
// creates anything.
func (s *Store) CreateKeyIdempotent(ctx context.Context, userID int64, in KeyInput, idem Idempotency, actor Actor) (Key, string, error) {
	k, secret, err := s.createKey(ctx, userID, in, nil, &idem, actor)
	if err != nil {
		return Key{}, "", s.settleIdempotencyRace(ctx, userID, &idem, err)
	}
	return k, secret, nil
}

// createKey is CreateKey, and CreateKeyOnce when formToken (a token hash)
// is set: then a key this user already made from the same form is
// reported instead of a new one, by the check in this transaction. With
// idem it is CreateKeyIdempotent.
func (s *Store) createKey(ctx context.Context, userID int64, in KeyInput, formToken []byte, idem *Idempotency, actor Actor) (Key, string, error) {
	now := s.Now()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Key{}, "", fmt.Errorf("db: create key: %w", err)
	}
	defer tx.Rollback()
	if formToken != nil {
		// Before every other check: the submission was already honoured,
		// whatever changed since (a policy, the owner's state).
		if err := checkFormTokenUnused(ctx, tx, userID, formToken); err != nil {
			return Key{}, "", err
		}
	}
	if err := claimIdempotency(ctx, tx, userID, idem, now); err != nil {
		return Key{}, "", err
	}
	// The policy is read inside the write transaction, so a key cannot
	// slip past a lifetime cap being set at the same moment.
	p, err := readPolicy(ctx, tx)
	if err != nil {
		return Key{}, "", err
	}
	if in, err = checkKeyInputCapped(in, now, p.MaxKeyLifetime); err != nil {
		return Key{}, "", err
	}
	// The grant rules, in the same transaction as the insert: no path
	// around them, and no catalog change slipping in between.
	role, err := granterRole(ctx, tx, actor)
	if err != nil {
		return Key{}, "", err
	}
	approval, err := checkGrantable(ctx, tx, role, in.Scopes)
	if err != nil {
		return Key{}, "", err
	}

	var (
		owner    string
		disabled sql.NullInt64
	)
	switch err := tx.QueryRowContext(ctx, keyOwnerSQL, userID).Scan(&owner, &disabled); {
	case errors.Is(err, sql.ErrNoRows):
		return Key{}, "", errUserNotFound
	case err != nil:
		return Key{}, "", fmt.Errorf("db: create key: %w", err)
	case disabled.Valid:
		return Key{}, "", Errorf(ErrConflict, "This user is disabled and cannot get new keys.")
	}
	creator := owner
	if in.TeamID != 0 {
		if owner, err = checkTeamMaintainer(ctx, tx, in.TeamID, userID, "team"); err != nil {
			return Key{}, "", err
		}
	}
	id, secret, err := insertKey(ctx, tx, userID, in, now, 0, formToken)
	if err != nil {
		return Key{}, "", err
	}
	if err := s.recordIdempotency(ctx, tx, userID, idem, id, now); err != nil {
		return Key{}, "", err
	}
	e := actor.event(ActionKeyCreate, "key", id, in.Name)
	e.Detail = keyCreateDetail(owner, in)
	if in.TeamID != 0 {
		e.Detail["created_by"] = creator
	}
	if err := insertAudit(ctx, tx, now, e); err != nil {
		return Key{}, "", err
	}
	if len(approval) > 0 {
		if err := requestApproval(ctx, tx, id, in.Name, in.Scopes, approval, now, actor); err != nil {
			return Key{}, "", err
		}
	}
	k, err := getKey(ctx, tx, AnyOwner(), id)
	if err != nil {
		return Key{}, "", err
	}
	if err := tx.Commit(); err != nil {
		return Key{}, "", fmt.Errorf("db: create key: %w", err)
	}
	s.keyChanged()
	return k, secret, nil
}

func keyCreateDetail(owner string, in KeyInput) map[string]string {
	d := map[string]string{"owner": owner, "expires_at": "never"}
	if in.ExpiresAt != nil {
		d["expires_at"] = in.ExpiresAt.Format(time.RFC3339)
	}
	if len(in.Scopes) > 0 {
		d["scopes"] = strings.Join(in.Scopes, " ")
	}
	if len(in.AllowedIPs) > 0 {
		d["allowed_ips"] = formatPrefixes(in.AllowedIPs)
	}
	if in.Meta != "" {
		d["meta"] = in.Meta
	}
	return d
}

// changeKey runs one change to key id in a write transaction: it loads the
// key within access, lets fn write (and audit) the change, re-reads the key,
// commits and then drops the verification cache. fn reports whether it
// changed anything; a no-op neither commits nor invalidates.
func (s *Store) changeKey(ctx context.Context, access KeyAccess, id int64,
	fn func(tx *Tx, k Key, now time.Time) (bool, error)) (Key, error) {
	now := s.Now()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Key{}, fmt.Errorf("db: change key: %w", err)
	}
	defer tx.Rollback()
	k, err := getKey(ctx, tx, access, id)
	if err != nil {
		return Key{}, err
	}
	changed, err := fn(tx, k, now)
	if err != nil || !changed {
		return k, err
	}
	if k, err = getKey(ctx, tx, AnyOwner(), id); err != nil {
		return Key{}, err
	}
	if err := tx.Commit(); err != nil {
		return Key{}, fmt.Errorf("db: change key: %w", err)
	}
	s.keyChanged()
	return k, nil
}

// setKeyDisabledSQL records a disable (time, who, why) or clears it.
const setKeyDisabledSQL = `UPDATE api_keys SET disabled_at = ?, disabled_by = ?, disabled_reason = ? WHERE id = ?`

// errAdminDisabled refuses the owner's enable of a key someone else (an
// admin, or the auto-disable policy) disabled.
var errAdminDisabled = Errorf(ErrConflict, "This key was disabled by an admin or by the auto-disable policy: only an admin can enable it.")

// SetKeyDisabled disables a key (it stops verifying at once), recording
// who and why (reason, optional, field "reason"), or enables it again.
// Asking for the state the key is already in changes nothing.
//
// A disable is lifted by whoever may overrule it: the owner lifts only a
// disable they made; one made by an admin or by the auto-disable policy
// is lifted with AnyOwner access (an admin, the command line). Otherwise an
// owner could undo an admin's decision with one click.
func (s *Store) SetKeyDisabled(ctx context.Context, access KeyAccess, id int64, disabled bool, reason string, actor Actor) (Key, error) {
	var ve ValidationError
	reason = checkFreeText("reason", reason, MaxRevokeReasonLength, &ve)
	if err := ve.Err(); err != nil {
		return Key{}, err
	}
	return s.changeKey(ctx, access, id, func(tx *Tx, k Key, now time.Time) (bool, error) {
		if k.RevokedAt != nil {
			return false, Errorf(ErrConflict, errRevokedUnchangeable)
		}
		if (k.DisabledAt != nil) == disabled {
			return false, nil
		}
		if !disabled && !access.all {
			own, err := disabledByManager(ctx, tx, k)
			if err != nil {
				return false, err
			}
			if !own {
				return false, errAdminDisabled
			}
		}
		args, action := []any{nil, nil, "", id}, ActionKeyEnable
		if disabled {
			args, action = []any{toMillis(now), nullID(actor.UserID), reason, id}, ActionKeyDisable
		}
		if _, err := tx.ExecContext(ctx, setKeyDisabledSQL, args...); err != nil {
			return false, fmt.Errorf("db: set key %d disabled: %w", id, err)
		}
		e := actor.event(action, "key", id, k.Name)
		if reason != "" {
			e.Detail = map[string]string{"reason": reason}
		}
		return true, insertAudit(ctx, tx, now, e)
	})
}

const revokeKeySQL = `UPDATE api_keys SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id = ?`

// RevokeKey ends a key for good, recording who did it and why.
func (s *Store) RevokeKey(ctx context.Context, access KeyAccess, id int64, reason string, actor Actor) (Key, error) {
	var ve ValidationError
	reason = checkFreeText("reason", reason, MaxRevokeReasonLength, &ve)
	if err := ve.Err(); err != nil {
		return Key{}, err
	}
	return s.changeKey(ctx, access, id, func(tx *Tx, k Key, now time.Time) (bool, error) {
		if k.RevokedAt != nil {
			return false, Errorf(ErrConflict, errAlreadyRevoked)
		}
		if _, err := tx.ExecContext(ctx, revokeKeySQL, toMillis(now), nullID(actor.UserID), reason, id); err != nil {
			return false, fmt.Errorf("db: revoke key %d: %w", id, err)
		}
		e := actor.event(ActionKeyRevoke, "key", id, k.Name)
		if reason != "" {
			e.Detail = map[string]string{"reason": reason}
		}
		return true, insertAudit(ctx, tx, now, e)
	})
}

const setKeyExpirySQL = `UPDATE api_keys SET expires_at = ? WHERE id = ?`

// successorSQL finds the key that replaced a rolled one.
const successorSQL = `SELECT id, name FROM api_keys WHERE rolled_from = ? ORDER BY id LIMIT 1`

// RollKey replaces a key: the new one has the same owner, name, description
// and scopes, and the same lifetime length if the old one had an expiry,
// capped by the policy's maximum key lifetime (a key that never expired gets
// the maximum when a cap is set). The old key keeps working for grace (up
// to MaxRollGrace) so that services can switch over, then expires; it never
// gains time. The roll is audited on the old key and the creation on the
// new one.
//
// Only the owner rolls: the new secret is a working credential of the
// owner's, and whoever holds it can call services as them. The key is
// therefore read with ManagedBy(owner), never AnyOwner: an admin's roll of
// someone else's key finds no key (admins disable or revoke instead). For
// a team's key "owner" is any maintainer of the team, and the new key is
// the team's too.
//
// A key is rolled once: rolling it again returns an *AlreadyCreatedError
// naming its successor.
func (s *Store) RollKey(ctx context.Context, owner int64, id int64, grace time.Duration, actor Actor) (newKey Key, secret string, old Key, err error) {
	return s.rollKey(ctx, ManagedBy(owner), owner, id, grace, nil, actor)
}

// RollKeyIdempotent is RollKey for a request carrying an Idempotency-Key
// (scoped to owner), answered like CreateKeyIdempotent: a repeat names the
// successor it made and rolls nothing.
func (s *Store) RollKeyIdempotent(ctx context.Context, owner, id int64, grace time.Duration, idem *Idempotency, actor Actor) (Key, string, Key, error) {
	return s.rollKey(ctx, ManagedBy(owner), owner, id, grace, idem, actor)
}

// RollKeyItself is the roll a key asks for by presenting itself
// (POST /api/v1/keys/self/roll): the caller has verified the key, whose
// holder is whoever the owner gave it to, so no person's access applies.
// The Idempotency-Key is scoped to the key's user.
func (s *Store) RollKeyItself(ctx context.Context, id int64, grace time.Duration, idem *Idempotency, actor Actor) (Key, string, Key, error) {
	return s.rollKey(ctx, AnyOwner(), 0, id, grace, idem, actor)
}

// rollKey is every roll: key id within access; idemUser scopes idem (0:
// the key's user).
func (s *Store) rollKey(ctx context.Context, access KeyAccess, idemUser, id int64, grace time.Duration, idem *Idempotency,
	actor Actor) (newKey Key, secret string, old Key, err error) {
	if !validGrace(grace) {
		var ve ValidationError
		ve.Add("grace", fmt.Sprintf("Choose a grace period from none to %d days.", int(MaxRollGrace/oneDay)))
		return Key{}, "", Key{}, ve.Err()
	}
	var newID int64
	old, err = s.changeKey(ctx, access, id, func(tx *Tx, k Key, now time.Time) (bool, error) {
		if idemUser == 0 {
			idemUser = k.UserID
		}
		// First: a retry is answered with what the first request made,
		// whatever became of the key since.
		if err := claimIdempotency(ctx, tx, idemUser, idem, now); err != nil {
			return false, err
		}
		if k.RevokedAt != nil {
			return false, Errorf(ErrConflict, "This key is revoked and cannot be rolled.")
		}
		// The new key would be active at once: rolling must not lift a
		// disable.
		if k.DisabledAt != nil {
			own, err := disabledByManager(ctx, tx, k)
			if err != nil {
				return false, err
			}
			if own {
				return false, Errorf(ErrConflict, "This key is disabled and cannot be rolled. Enable it before rolling it.")
			}
			return false, Errorf(ErrConflict, "This key was disabled by an admin or by the auto-disable policy, so it cannot be rolled. Ask an admin to enable it.")
		}
		if k.PendingKey {
			return false, Errorf(ErrConflict, "This key waits for an admin's approval and cannot be rolled until it is decided.")
		}
		// A key has at most one successor. The page that shows the new
		// key answers the roll's POST, so a reload (or Back and submit)
		// posts it again: that must name the successor, not make another.
		var ac AlreadyCreatedError
		switch err := tx.QueryRowContext(ctx, successorSQL, k.ID).Scan(&ac.KeyID, &ac.KeyName); {
		case err == nil:
			return false, &ac
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("db: roll key %d: %w", id, err)
		}
		p, err := readPolicy(ctx, tx)
		if err != nil {
			return false, err
		}
		if p.MaxKeyLifetime > 0 && grace > p.MaxKeyLifetime {
			var ve ValidationError
			ve.Add("grace", fmt.Sprintf("Keys may live at most %d days, so the grace can be no longer.", lifetimeDays(p.MaxKeyLifetime)))
			return false, ve.Err()
		}
		// The limits and the owning team travel with the key: a roll must
		// not widen where the new secret works, drop what services read
		// from it, nor take a team's key from the team.
		in := KeyInput{Name: k.Name, Description: k.Description, Scopes: k.Scopes,
			AllowedIPs: k.AllowedIPs, Meta: k.Meta, TeamID: k.TeamID}
		if k.ExpiresAt != nil {
			t := now.Add(k.ExpiresAt.Sub(k.CreatedAt))
			in.ExpiresAt = &t
		}
		if capAt := now.Add(p.MaxKeyLifetime); p.MaxKeyLifetime > 0 && (in.ExpiresAt == nil || in.ExpiresAt.After(capAt)) {
			in.ExpiresAt = &capAt
		}
		if newID, secret, err = insertKey(ctx, tx, k.UserID, in, now, k.ID, nil); err != nil {
			return false, err
		}
		if err := s.recordIdempotency(ctx, tx, idemUser, idem, newID, now); err != nil {
			return false, err
		}
		if err := movePendingScopes(ctx, tx, k, newID); err != nil {
			return false, err
		}
		oldExpiry := now.Add(grace)
		if k.ExpiresAt != nil && k.ExpiresAt.Before(oldExpiry) {
			oldExpiry = *k.ExpiresAt
		}
		if _, err := tx.ExecContext(ctx, setKeyExpirySQL, toMillis(oldExpiry), id); err != nil {
			return false, fmt.Errorf("db: roll key %d: %w", id, err)
		}
		e := actor.event(ActionKeyRoll, "key", id, k.Name)
		e.Detail = map[string]string{
			"new_key_id": fmt.Sprint(newID),
			"grace":      grace.String(),
			"expires_at": oldExpiry.Format(time.RFC3339),
		}
		if err := insertAudit(ctx, tx, now, e); err != nil {
			return false, err
		}
		e = actor.event(ActionKeyCreate, "key", newID, k.Name)
		e.Detail = keyCreateDetail(k.Owner(), in)
		e.Detail["rolled_from"] = fmt.Sprint(id)
		if err := insertAudit(ctx, tx, now, e); err != nil {
			return false, err
		}
		newKey, err = getKey(ctx, tx, AnyOwner(), newID)
		return err == nil, err
	})
	if err != nil {
		// idemUser is set by now whenever the key was found.
		return Key{}, "", Key{}, s.settleIdempotencyRace(ctx, idemUser, idem, err)
	}
	return newKey, secret, old, nil
}

// validGrace: from none to MaxRollGrace.
func validGrace(d time.Duration) bool { return d >= 0 && d <= MaxRollGrace }
