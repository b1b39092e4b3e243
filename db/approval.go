package db

import (
	"context"
	"fmt"
	"time"
)

// SetKeyScopes replaces a key's scopes with scopes (granted and pending
// together, as a form's checkboxes give them). Only the scopes added are
// checked against the grant rules: a scope the key already carries stays
// even if the editor could not grant it today (an admin gave it, or it was
// retired since). An added scope that needs approval goes to
// pending_scopes: the key keeps working for the rest and answers
// PENDING_APPROVAL when a service asks for that one. A scope removed while
// pending withdraws its request; a waiting key whose pending scopes are
// all removed waits no more, since nothing is left to approve. Audited
// with before and after; the verify cache forgets the key at once.
func (s *Store) SetKeyScopes(ctx context.Context, access KeyAccess, id int64, scopes []string, actor Actor) (Key, error) {
	var ve ValidationError
	fn := scopesChange(ctx, scopes, actor, &ve)
	if err := ve.Err(); err != nil {
		return Key{}, err
	}
	return s.changeKey(ctx, access, id, fn)
}

// scopesChange checks scopes (into ve) and returns the change SetKeyScopes
// makes.
func scopesChange(ctx context.Context, scopes []string, actor Actor, ve *ValidationError) keyChange {
	scopes, err := normalizeScopes(scopes)
	ve.AddErr("scopes", err)
	return func(tx *Tx, k Key, now time.Time) (bool, error) {
		id := k.ID
		if k.RevokedAt != nil {
			return false, Errorf(ErrConflict, errRevokedUnchangeable)
		}
		had := union(k.Scopes, k.PendingScopes)
		added := without(scopes, had)
		if len(added) == 0 && len(without(had, scopes)) == 0 {
			return false, nil
		}
		role, err := granterRole(ctx, tx, actor)
		if err != nil {
			return false, err
		}
		approval, err := checkGrantable(ctx, tx, role, added)
		if err != nil {
			return false, err
		}
		stillPending := without(k.PendingScopes, without(k.PendingScopes, scopes))
		p := pendingState{
			pending: union(stillPending, approval),
			key:     k.PendingKey, since: k.PendingSince, by: k.PendingBy,
		}
		p.scopes = without(scopes, p.pending)
		if len(stillPending) == 0 && len(approval) > 0 {
			p.since, p.by = &now, actor.UserID
		}
		if err := p.write(ctx, tx, id); err != nil {
			return false, err
		}
		e := actor.event(ActionKeyScopes, "key", id, k.Name)
		e.Detail = map[string]string{
			"old_scopes": joinScopes(k.Scopes), "scopes": joinScopes(p.scopes),
			"old_pending_scopes": joinScopes(k.PendingScopes), "pending_scopes": joinScopes(p.pending),
		}
		if err := insertAudit(ctx, tx, now, e); err != nil {
			return false, err
		}
		if withdrawn := without(k.PendingScopes, scopes); len(withdrawn) > 0 {
			e := actor.event(ActionKeyApprovalWithdraw, "key", id, k.Name)
			e.Detail = map[string]string{"scopes": joinScopes(withdrawn)}
			if err := insertAudit(ctx, tx, now, e); err != nil {
				return false, err
			}
		}
		if len(approval) > 0 {
			e := actor.event(ActionKeyApprovalRequest, "key", id, k.Name)
			e.Detail = map[string]string{"scopes": joinScopes(approval)}
			if err := insertAudit(ctx, tx, now, e); err != nil {
				return false, err
			}
		}
		return true, nil
	}
}

// errNothingPending answers a decision on a key with no open request.
var errNothingPending = Errorf(ErrConflict, "Nothing on this key waits for approval.")

// ApproveKey grants every scope waiting on key id and, for a key that
// waited as a whole, lets it verify. Admins only (the caller checks the
// role; the store records who decided).
func (s *Store) ApproveKey(ctx context.Context, id int64, actor Actor) (Key, error) {
	return s.changeKey(ctx, AnyOwner(), id, func(tx *Tx, k Key, now time.Time) (bool, error) {
		if k.RevokedAt != nil {
			return false, Errorf(ErrConflict, errRevokedUnchangeable)
		}
		if len(k.PendingScopes) == 0 && !k.PendingKey {
			return false, errNothingPending
		}
		p := pendingState{scopes: union(k.Scopes, k.PendingScopes)}
		if err := p.write(ctx, tx, id); err != nil {
			return false, err
		}
		e := actor.event(ActionKeyApprove, "key", id, k.Name)
		e.Detail = map[string]string{"scopes": joinScopes(k.PendingScopes), "whole_key": fmt.Sprint(k.PendingKey)}
		e.requester = k.PendingBy
		return true, insertAudit(ctx, tx, now, e)
	})
}

// DenyKey refuses the open request on key id with reason (required, field
// "reason"). A key that waited as a whole is revoked with the reason: it
// was never meant to work without the scopes it asked for. A scope added
// to a working key is dropped and the key keeps working as before; the
// reason is recorded in the audit event, where the key page finds it
// (LastDenial).
func (s *Store) DenyKey(ctx context.Context, id int64, reason string, actor Actor) (Key, error) {
	var ve ValidationError
	reason = checkFreeText("reason", reason, MaxRevokeReasonLength, &ve)
	if reason == "" {
		ve.Add("reason", "Say why, so the requester knows what to change.")
	}
	if err := ve.Err(); err != nil {
		return Key{}, err
	}
	return s.changeKey(ctx, AnyOwner(), id, func(tx *Tx, k Key, now time.Time) (bool, error) {
		if k.RevokedAt != nil {
			return false, Errorf(ErrConflict, errRevokedUnchangeable)
		}
		if len(k.PendingScopes) == 0 && !k.PendingKey {
			return false, errNothingPending
		}
		e := actor.event(ActionKeyDeny, "key", id, k.Name)
		e.Detail = map[string]string{"scopes": joinScopes(k.PendingScopes), "reason": reason, "outcome": "scopes dropped"}
		e.requester = k.PendingBy
		if k.PendingKey {
			if _, err := tx.ExecContext(ctx, revokeKeySQL, toMillis(now), nullID(actor.UserID), reason, id); err != nil {
				return false, fmt.Errorf("db: deny key %d: %w", id, err)
			}
			e.Detail["outcome"] = "revoked"
		}
		p := pendingState{scopes: k.Scopes}
		if err := p.write(ctx, tx, id); err != nil {
			return false, err
		}
		return true, insertAudit(ctx, tx, now, e)
	})
}

// Denial is the last refused request on a key, for its page.
type Denial struct {
	At     time.Time
	Scopes string
	Reason string
	By     string
}

// LastDenial returns the newest denial on key id if it is newer than the
// newest request (a later request supersedes it), else nil.
func (s *Store) LastDenial(ctx context.Context, access KeyAccess, id int64) (*Denial, error) {
	if err := s.checkKeyVisible(ctx, access, id); err != nil {
		return nil, err
	}
	denied, err := s.ListAudit(ctx, AuditFilter{TargetType: "key", TargetID: id, Action: ActionKeyDeny, Limit: 1})
	if err != nil || len(denied) == 0 {
		return nil, err
	}
	asked, err := s.ListAudit(ctx, AuditFilter{TargetType: "key", TargetID: id, Action: ActionKeyApprovalRequest, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(asked) > 0 && asked[0].ID > denied[0].ID {
		return nil, nil
	}
	d := denied[0]
	return &Denial{At: d.At, Scopes: d.Detail["scopes"], Reason: d.Detail["reason"], By: d.Actor}, nil
}

// PendingRequest is a key waiting for an admin's decision.
type PendingRequest struct {
	Key
	// RequestedBy is the email of whoever asked ("cli" for none).
	RequestedBy string
}

// pendingCond matches the keys with an open request.
const pendingCond = `k.revoked_at IS NULL AND (k.pending_key = 1 OR k.pending_scopes <> '')`

// ListPendingKeys returns the open approval requests, oldest first.
func (s *Store) ListPendingKeys(ctx context.Context) ([]PendingRequest, error) {
	keys, err := queryKeys(ctx, s.r, "pending keys", selectKeySQL+` WHERE `+pendingCond+` ORDER BY k.pending_since, k.id`)
	if err != nil {
		return nil, err
	}
	out := make([]PendingRequest, len(keys))
	for i, k := range keys {
		out[i].Key = k
		if out[i].RequestedBy, err = s.userEmail(ctx, out[i].PendingBy); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// userEmail is the email of user id, "cli" for 0, "" for a deleted user.
func (s *Store) userEmail(ctx context.Context, id int64) (string, error) {
	if id == 0 {
		return "cli", nil
	}
	var email string
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(email), '') FROM users WHERE id = ?`, id).Scan(&email); err != nil {
		return "", fmt.Errorf("db: user %d email: %w", id, err)
	}
	return email, nil
}

// CountPendingKeys counts the open approval requests (admin overview).
func (s *Store) CountPendingKeys(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys k WHERE `+pendingCond).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count pending keys: %w", err)
	}
	return n, nil
}

// movePendingScopes hands the scopes waiting on old (a working key being
// rolled) to its successor newID, so that the request follows the key
// that stays and the Requests list does not show a key about to expire.
func movePendingScopes(ctx context.Context, tx *Tx, old Key, newID int64) error {
	if len(old.PendingScopes) == 0 {
		return nil
	}
	next := pendingState{scopes: old.Scopes, pending: old.PendingScopes, since: old.PendingSince, by: old.PendingBy}
	if err := next.write(ctx, tx, newID); err != nil {
		return err
	}
	return pendingState{scopes: old.Scopes}.write(ctx, tx, old.ID)
}
