package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// KeyEdit is a change to a key after its creation. A nil field (or
// SetExpiry false) leaves that part of the key as it is, so a form or a
// command line that sets only one thing changes only that thing.
type KeyEdit struct {
	Name        *string
	Description *string
	// SetExpiry asks for ExpiresAt to become the key's expiry; a nil
	// ExpiresAt then means "never expires".
	SetExpiry bool
	ExpiresAt *time.Time
}

const editKeySQL = `UPDATE api_keys SET name = ?, description = ?, expires_at = ? WHERE id = ?`

// UpdateKey renames a key and changes its description (EditKey without an
// expiry change).
func (s *Store) UpdateKey(ctx context.Context, access KeyAccess, id int64, name, description string, actor Actor) (Key, error) {
	return s.EditKey(ctx, access, id, KeyEdit{Name: &name, Description: &description}, actor)
}

// EditKey changes a key's name, description and expiry in one transaction,
// audited as one "key.update" event whose detail holds each changed field
// with its value before and after; the verification cache forgets the key
// at once. A revoked key is final and cannot be edited. The expiry rules
// are checkExpiryEdit's. Nothing changes when nothing differs.
func (s *Store) EditKey(ctx context.Context, access KeyAccess, id int64, ed KeyEdit, actor Actor) (Key, error) {
	var ve ValidationError
	fn := s.editKeyChange(ctx, ed, actor, &ve)
	if err := ve.Err(); err != nil {
		return Key{}, err
	}
	return s.changeKey(ctx, access, id, fn)
}

// keyChange is one change to a key inside changeKey's transaction; it
// reports whether it changed anything.
type keyChange func(tx *Tx, k Key, now time.Time) (bool, error)

// editKeyChange checks ed (into ve) and returns the change EditKey makes.
func (s *Store) editKeyChange(ctx context.Context, ed KeyEdit, actor Actor, ve *ValidationError) keyChange {
	if ed.Name != nil {
		n := checkKeyName(*ed.Name, ve)
		ed.Name = &n
	}
	if ed.Description != nil {
		d := checkFreeText("description", *ed.Description, MaxKeyDescriptionLength, ve)
		ed.Description = &d
	}
	if ed.SetExpiry && ed.ExpiresAt != nil {
		t := ed.ExpiresAt.UTC().Truncate(time.Millisecond)
		ed.ExpiresAt = &t
	}
	return func(tx *Tx, k Key, now time.Time) (bool, error) {
		if k.RevokedAt != nil {
			return false, Errorf(ErrConflict, errRevokedUnchangeable)
		}
		name, desc, expires := k.Name, k.Description, k.ExpiresAt
		if ed.Name != nil {
			name = *ed.Name
		}
		if ed.Description != nil {
			desc = *ed.Description
		}
		changes := map[string]Change{}
		if name != k.Name {
			changes["name"] = Change{Before: k.Name, After: name}
		}
		if desc != k.Description {
			changes["description"] = Change{Before: k.Description, After: desc}
		}
		if ed.SetExpiry && !sameExpiry(k.ExpiresAt, ed.ExpiresAt) {
			if err := s.checkExpiryEdit(ctx, tx, k, ed.ExpiresAt, now); err != nil {
				return false, err
			}
			expires = ed.ExpiresAt
			changes["expires_at"] = Change{Before: expiryText(k.ExpiresAt), After: expiryText(expires)}
		}
		if len(changes) == 0 {
			return false, nil
		}
		if _, err := tx.ExecContext(ctx, editKeySQL, name, desc, nullMillis(expires), k.ID); err != nil {
			return false, fmt.Errorf("db: edit key %d: %w", k.ID, err)
		}
		e := actor.event(ActionKeyUpdate, "key", k.ID, name)
		e.Changes = changes
		return true, insertAudit(ctx, tx, now, e)
	}
}

// checkExpiryEdit applies the rules for changing k's expiry to to (nil:
// never), with the policy read inside the edit's transaction:
//
//   - a new expiry must be in the future;
//   - shortening is always allowed, even when the key already outlives a
//     cap set after its creation: it only reduces exposure;
//   - lengthening (or removing the expiry) must stay within the policy's
//     maximum lifetime counted from the key's creation, not from today:
//     counting from today would let a key live for ever by being extended
//     every month, which is what the cap exists to prevent. Rotation is
//     what a roll is for. Without a cap, any later date, or never, is
//     allowed;
//   - a key that was rolled is never lengthened: the roll chose when it
//     ends, often because it leaked, and its successor does its work.
//
// An expired key may be extended under the same rules. GitHub only lets
// you regenerate an expired token; here the cap from creation bounds the
// extension just as it bounds the original choice, the key's hash never
// left the database, and the change is audited, so bringing back a key
// that lapsed by oversight is safe and saves every service a new secret.
func (s *Store) checkExpiryEdit(ctx context.Context, tx *Tx, k Key, to *time.Time, now time.Time) error {
	var ve ValidationError
	if to != nil && !to.After(now) {
		ve.Add("expires_at", "Choose an expiry in the future.")
		return ve.Err()
	}
	shorter := to != nil && (k.ExpiresAt == nil || to.Before(*k.ExpiresAt))
	if shorter {
		return nil
	}
	var successor int64
	switch err := tx.QueryRowContext(ctx, successorSQL, k.ID).Scan(&successor, new(string)); {
	case err == nil:
		ve.Add("expires_at", "This key was rolled: its expiry can only be brought forward. Use the key that replaced it.")
		return ve.Err()
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("db: edit key %d: %w", k.ID, err)
	}
	p, err := readPolicy(ctx, tx)
	if err != nil {
		return err
	}
	if p.MaxKeyLifetime <= 0 {
		return nil
	}
	limit := k.CreatedAt.Add(p.MaxKeyLifetime)
	if to == nil {
		ve.Add("expires_at", fmt.Sprintf("Keys must expire: they may live at most %d days. This key can expire no later than %s.",
			lifetimeDays(p.MaxKeyLifetime), limit.Format(time.DateOnly)))
	} else if to.After(limit) {
		ve.Add("expires_at", fmt.Sprintf("Keys may live at most %d days from their creation: this key can expire no later than %s.",
			lifetimeDays(p.MaxKeyLifetime), limit.Format(time.DateOnly)))
	}
	return ve.Err()
}

// sameExpiry compares two expiries, nil meaning never.
func sameExpiry(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// expiryText is an expiry as the audit log shows it.
func expiryText(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
