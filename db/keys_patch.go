package db

import (
	"context"
	"net/netip"
	"time"
)

// KeyPatch is a change to several parts of a key at once (PATCH
// /api/v1/keys/{id}). A nil field leaves its part as it is.
type KeyPatch struct {
	Edit       KeyEdit
	Scopes     *[]string
	AllowedIPs *[]netip.Prefix
	Meta       *string
}

// PatchKey applies p in one transaction: every part is checked before
// anything is written, and a refusal of any part (a scope the editor may
// not grant, an expiry past the policy's cap) writes none of them. Each
// part is audited as its own method audits it (EditKey, SetKeyScopes,
// SetKeyLimits), so the log reads the same whichever way a key changed.
func (s *Store) PatchKey(ctx context.Context, access KeyAccess, id int64, p KeyPatch, actor Actor) (Key, error) {
	var ve ValidationError
	var changes []keyChange
	if p.Edit.Name != nil || p.Edit.Description != nil || p.Edit.SetExpiry {
		changes = append(changes, s.editKeyChange(ctx, p.Edit, actor, &ve))
	}
	if p.Scopes != nil {
		var sve ValidationError
		changes = append(changes, scopesChange(ctx, *p.Scopes, actor, &sve))
		mergeFields(&ve, sve)
	}
	if p.AllowedIPs != nil || p.Meta != nil {
		var lve ValidationError
		changes = append(changes, limitsChange(ctx, p.AllowedIPs, p.Meta, actor, &lve))
		mergeFields(&ve, lve)
	}
	if err := ve.Err(); err != nil {
		return Key{}, err
	}
	if len(changes) == 0 {
		return s.GetKey(ctx, access, id)
	}
	return s.changeKey(ctx, access, id, func(tx *Tx, k Key, now time.Time) (bool, error) {
		changed := false
		for _, fn := range changes {
			c, err := fn(tx, k, now)
			if err != nil {
				return false, err
			}
			if c {
				changed = true
				// The next part compares with the key as it is now.
				if k, err = getKey(ctx, tx, AnyOwner(), id); err != nil {
					return false, err
				}
			}
		}
		return changed, nil
	})
}

// mergeFields adds from's problems to ve (the first message per field
// wins; the parts check different fields).
func mergeFields(ve *ValidationError, from ValidationError) {
	for f, msg := range from.Fields {
		ve.Add(f, msg)
	}
}
