package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Who may put which scope on a key. The rules live here, in the store, and
// every path that adds scopes to a key (CreateKey, CreateKeyOnce,
// SetKeyScopes) applies them inside its write transaction, so that no
// form, htmx request, crafted POST or CLI call can go around them.

// SettingScopesOutsideCatalog names the setting that lets keys carry scopes
// the catalog does not list ("1"; absent or anything else: off).
const SettingScopesOutsideCatalog = "scopes_outside_catalog"

// errScopeRetired, errScopeUnknown and errScopeAdminOnly are the grant
// refusals, shown beside the scopes field.
func errScopeRetired(name string) string {
	return fmt.Sprintf("%q is retired and can no longer be granted.", name)
}

func errScopeUnknown(name string) string {
	return fmt.Sprintf("%q is not in the catalog.", name)
}

func errScopeAdminOnly(name string) string {
	return fmt.Sprintf("%q can be granted by admins only.", name)
}

// readScopesOutsideCatalog reads the setting through q.
func readScopesOutsideCatalog(ctx context.Context, q querier) (bool, error) {
	var v string
	switch err := q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, SettingScopesOutsideCatalog).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("db: read %s: %w", SettingScopesOutsideCatalog, err)
	}
	return v == "1", nil
}

// ScopesOutsideCatalog reports whether keys may carry scopes the catalog
// does not list. Off unless an admin turned it on.
func (s *Store) ScopesOutsideCatalog(ctx context.Context) (bool, error) {
	return readScopesOutsideCatalog(ctx, s.r)
}

// SetScopesOutsideCatalog turns the setting on or off, audited as a
// setting change with the old and new values.
func (s *Store) SetScopesOutsideCatalog(ctx context.Context, on bool, actor Actor) error {
	return s.inWriteTx(ctx, "set "+SettingScopesOutsideCatalog, func(tx *Tx, now time.Time) error {
		old, err := readScopesOutsideCatalog(ctx, tx)
		if err != nil || old == on {
			return err
		}
		v := fmt.Sprint(boolInt(on))
		if _, err := tx.ExecContext(ctx, upsertSettingSQL, SettingScopesOutsideCatalog, v, toMillis(now)); err != nil {
			return fmt.Errorf("db: set %s: %w", SettingScopesOutsideCatalog, err)
		}
		e := actor.event(ActionSettingChange, "setting", 0, SettingScopesOutsideCatalog)
		e.Detail = map[string]string{"setting": SettingScopesOutsideCatalog, "old": fmt.Sprint(boolInt(old)), "new": v}
		return insertAudit(ctx, tx, now, e)
	})
}

// granterRole is the role the grant rules apply to actor with: the
// signed-in user's role as stored now (not as the session remembers it),
// or admin for the CLI and Keyward itself (UserID 0), which act for the
// operator of the host.
func granterRole(ctx context.Context, q querier, actor Actor) (Role, error) {
	if actor.UserID == 0 {
		return RoleAdmin, nil
	}
	var role string
	switch err := q.QueryRowContext(ctx, `SELECT role FROM users WHERE id = ?`, actor.UserID).Scan(&role); {
	case errors.Is(err, sql.ErrNoRows):
		return "", errUserNotFound
	case err != nil:
		return "", fmt.Errorf("db: granter role: %w", err)
	}
	return Role(role), nil
}

// CheckGrantable reports whether role may put scopes on a key: nil, or a
// *ValidationError on the field "scopes" naming the first refused scope.
// Members may grant catalog scopes open to members; admins any catalog
// scope; nobody a retired one; a scope the catalog does not list only
// when the setting allows scopes outside the catalog.
func (s *Store) CheckGrantable(ctx context.Context, role Role, scopes []string) error {
	_, err := checkGrantable(ctx, s.r, role, scopes)
	return err
}

// checkGrantable is CheckGrantable through q; it also returns the scopes
// that need an admin's approval before they work. An admin's grant is that
// approval, so for admins the list is empty.
func checkGrantable(ctx context.Context, q querier, role Role, scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, nil
	}
	cat, err := catalog(ctx, q)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]Scope, len(cat))
	for _, sc := range cat {
		byName[sc.Name] = sc
	}
	var outsideOK, outsideRead bool
	var ve ValidationError
	var approval []string
	for _, name := range scopes {
		sc, ok := byName[name]
		switch {
		case !ok:
			if !outsideRead {
				if outsideOK, err = readScopesOutsideCatalog(ctx, q); err != nil {
					return nil, err
				}
				outsideRead = true
			}
			if !outsideOK {
				ve.Add("scopes", errScopeUnknown(name))
			}
		case sc.Retired():
			ve.Add("scopes", errScopeRetired(name))
		case sc.AdminOnly && role != RoleAdmin:
			ve.Add("scopes", errScopeAdminOnly(name))
		case sc.NeedsApproval && role != RoleAdmin:
			approval = append(approval, name)
		}
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	return approval, nil
}

// without returns the scopes of a not in b, in a's order.
func without(a, b []string) []string {
	var out []string
	for _, sc := range a {
		if !slices.Contains(b, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// union returns a followed by the scopes of b not in a.
func union(a, b []string) []string {
	return append(slices.Clone(a), without(b, a)...)
}

// Audit actions of scope changes and approval.
const (
	ActionKeyScopes           = "key.scopes_changed"
	ActionKeyApprovalRequest  = "key.approval_requested"
	ActionKeyApprove          = "key.approved"
	ActionKeyDeny             = "key.denied"
	ActionKeyApprovalWithdraw = "key.approval_withdrawn"
)

const (
	setKeyScopesSQL  = `UPDATE api_keys SET scopes = ?, pending_scopes = ? WHERE id = ?`
	setKeyPendingSQL = `UPDATE api_keys SET scopes = ?, pending_scopes = ?, pending_key = ?, pending_since = ?, pending_by = ? WHERE id = ?`
)

// pendingState is a key's approval columns as setKeyPendingSQL writes them.
type pendingState struct {
	scopes, pending []string
	key             bool
	since           *time.Time
	by              int64
}

func (p pendingState) write(ctx context.Context, tx *Tx, id int64) error {
	since := sql.NullInt64{}
	if p.since != nil && len(p.pending) > 0 {
		since = sql.NullInt64{Int64: toMillis(*p.since), Valid: true}
	}
	by := nullID(p.by)
	if len(p.pending) == 0 {
		p.key, by = false, sql.NullInt64{}
	}
	if _, err := tx.ExecContext(ctx, setKeyPendingSQL, joinScopes(p.scopes), joinScopes(p.pending),
		boolInt(p.key), since, by, id); err != nil {
		return fmt.Errorf("db: key %d approval state: %w", id, err)
	}
	return nil
}

// requestApproval runs inside createKey once key id is inserted with all
// the scopes asked for: the ones needing approval move to pending_scopes
// and the key waits (pending_key) until an admin decides.
func requestApproval(ctx context.Context, tx *Tx, id int64, name string, scopes, approval []string, now time.Time, actor Actor) error {
	p := pendingState{scopes: without(scopes, approval), pending: approval, key: true, since: &now, by: actor.UserID}
	if err := p.write(ctx, tx, id); err != nil {
		return err
	}
	e := actor.event(ActionKeyApprovalRequest, "key", id, name)
	e.Detail = map[string]string{"scopes": joinScopes(approval), "whole_key": "true"}
	return insertAudit(ctx, tx, now, e)
}
