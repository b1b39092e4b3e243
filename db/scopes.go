package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The scope catalog (migration 0009, table scopes) lists the scopes keys
// may carry. Scopes are free text to the services that check them, so
// without a catalog anyone could mint any power a service trusts; the
// catalog says who may grant each one and whether an admin must approve it.

// Scope is one catalog entry.
type Scope struct {
	ID          int64
	Name        string
	Description string
	// AdminOnly: only admins may put the scope on a key (grant_role
	// 'admin'); otherwise members may too.
	AdminOnly bool
	// NeedsApproval: a member's key asking for it waits for an admin.
	NeedsApproval bool
	CreatedAt     time.Time
	RetiredAt     *time.Time
	// Keys counts the unrevoked keys carrying the scope, granted or
	// waiting for approval (ListScopes only).
	Keys int
}

// Retired reports whether the scope can no longer be granted.
func (sc Scope) Retired() bool { return sc.RetiredAt != nil }

// Group is the part of the name before the first ':' ("billing" for
// "billing:read"), or "" for an ungrouped scope: the forms group their
// checkboxes by it.
func (sc Scope) Group() string {
	g, _, ok := strings.Cut(sc.Name, ":")
	if !ok {
		return ""
	}
	return g
}

// ScopeInput is what an admin sets on a catalog entry.
type ScopeInput struct {
	Name          string
	Description   string
	AdminOnly     bool
	NeedsApproval bool
}

// MaxScopeDescriptionLength caps a catalog description.
const MaxScopeDescriptionLength = 300

// Audit actions of the catalog.
const (
	ActionScopeCreate  = "scope.created"
	ActionScopeUpdate  = "scope.updated"
	ActionScopeRename  = "scope.renamed"
	ActionScopeRetire  = "scope.retired"
	ActionScopeRestore = "scope.restored"
)

// ErrScopeNotFound answers a catalog name that does not exist.
var ErrScopeNotFound = Errorf(ErrNotFound, "Scope not found.")

// grantRole is the stored grant_role of in.
func (in ScopeInput) grantRole() string {
	if in.AdminOnly {
		return string(RoleAdmin)
	}
	return string(RoleMember)
}

// checkScopeInput trims and validates in, reporting by form field.
func checkScopeInput(in ScopeInput, ve *ValidationError) ScopeInput {
	in.Name = strings.TrimSpace(in.Name)
	ve.AddErr("name", checkScope(in.Name))
	in.Description = checkFreeText("description", in.Description, MaxScopeDescriptionLength, ve)
	return in
}

// scopeKeysCond matches unrevoked keys carrying the scope named by the
// parameter (twice), granted or pending; like keyHasScopeCond, padding
// with spaces matches whole scopes only.
func (s *Store) scopeKeysCond() string {
	return `k.revoked_at IS NULL AND (` +
		s.d.strpos + `(' ' || k.scopes || ' ', ' ' || ? || ' ') > 0 OR ` +
		s.d.strpos + `(' ' || k.pending_scopes || ' ', ' ' || ? || ' ') > 0)`
}

const selectScopeSQL = `SELECT id, name, description, grant_role, needs_approval, created_at, retired_at FROM scopes`

func scanScope(r rowScanner, extra ...any) (Scope, error) {
	var (
		sc       Scope
		role     string
		approval int64
		created  int64
		retired  sql.NullInt64
	)
	if err := r.Scan(append([]any{&sc.ID, &sc.Name, &sc.Description, &role, &approval, &created, &retired}, extra...)...); err != nil {
		return Scope{}, err
	}
	sc.AdminOnly = role == string(RoleAdmin)
	sc.NeedsApproval = approval != 0
	sc.CreatedAt = fromMillis(created)
	sc.RetiredAt = timePtr(retired)
	return sc, nil
}

// ListScopes returns the whole catalog by name, retired scopes included,
// each with how many unrevoked keys carry it.
func (s *Store) ListScopes(ctx context.Context) ([]Scope, error) {
	q := `SELECT sc.id, sc.name, sc.description, sc.grant_role, sc.needs_approval, sc.created_at, sc.retired_at,
		(SELECT COUNT(*) FROM api_keys k WHERE ` + strings.ReplaceAll(s.scopeKeysCond(), "?", "sc.name") + `)
		FROM scopes sc ORDER BY sc.name`
	return listScopes(ctx, s.r, q, true)
}

// catalog reads the catalog through q (a write transaction checking a grant).
func catalog(ctx context.Context, q querier) ([]Scope, error) {
	return listScopes(ctx, q, selectScopeSQL+` ORDER BY name`, false)
}

// listScopes runs query, whose rows are selectScopeSQL's columns and,
// withCount, the number of keys carrying the scope.
func listScopes(ctx context.Context, q querier, query string, withCount bool) ([]Scope, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("db: list scopes: %w", err)
	}
	defer rows.Close()
	var out []Scope
	for rows.Next() {
		var sc Scope
		var n int
		var extra []any
		if withCount {
			extra = append(extra, &n)
		}
		if sc, err = scanScope(rows, extra...); err != nil {
			return nil, fmt.Errorf("db: list scopes: %w", err)
		}
		sc.Keys = n
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list scopes: %w", err)
	}
	return out, nil
}

// GetScope returns the catalog entry named name.
func (s *Store) GetScope(ctx context.Context, name string) (Scope, error) {
	return getScope(ctx, s.r, name)
}

func getScope(ctx context.Context, q querier, name string) (Scope, error) {
	sc, err := scanScope(q.QueryRowContext(ctx, selectScopeSQL+` WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Scope{}, ErrScopeNotFound
	}
	if err != nil {
		return Scope{}, fmt.Errorf("db: get scope %q: %w", name, err)
	}
	return sc, nil
}

// ScopeKeys lists the unrevoked keys carrying scope name (granted or
// pending), newest first: what a rename or a retirement affects.
func (s *Store) ScopeKeys(ctx context.Context, name string) ([]Key, error) {
	return scopeKeys(ctx, s, s.r, name)
}

func scopeKeys(ctx context.Context, s *Store, q querier, name string) ([]Key, error) {
	return queryKeys(ctx, q, fmt.Sprintf("keys with scope %q", name),
		selectKeySQL+` WHERE `+s.scopeKeysCond()+` ORDER BY k.id DESC`, name, name)
}

const insertScopeSQL = `INSERT INTO scopes (name, description, grant_role, needs_approval, created_at)
	VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id`

var errScopeExists = &FieldError{Message: "A scope with this name is already in the catalog."}

// CreateScope adds a scope to the catalog.
func (s *Store) CreateScope(ctx context.Context, in ScopeInput, actor Actor) (Scope, error) {
	var ve ValidationError
	in = checkScopeInput(in, &ve)
	if err := ve.Err(); err != nil {
		return Scope{}, err
	}
	var sc Scope
	err := s.inWriteTx(ctx, "create scope", func(tx *Tx, now time.Time) error {
		var id int64
		switch err := tx.QueryRowContext(ctx, insertScopeSQL, in.Name, in.Description, in.grantRole(),
			boolInt(in.NeedsApproval), toMillis(now)).Scan(&id); {
		case errors.Is(err, sql.ErrNoRows):
			ve.AddErr("name", errScopeExists)
			return ve.Err()
		case err != nil:
			return fmt.Errorf("db: create scope: %w", err)
		}
		e := actor.event(ActionScopeCreate, "scope", id, in.Name)
		e.Detail = scopeDetail(in)
		if err := insertAudit(ctx, tx, now, e); err != nil {
			return err
		}
		var err error
		sc, err = getScope(ctx, tx, in.Name)
		return err
	})
	return sc, err
}

func scopeDetail(in ScopeInput) map[string]string {
	return map[string]string{
		"grant":          in.grantRole(),
		"needs_approval": fmt.Sprint(in.NeedsApproval),
		"description":    in.Description,
	}
}

const updateScopeSQL = `UPDATE scopes SET description = ?, grant_role = ?, needs_approval = ? WHERE id = ?`

// UpdateScope changes a scope's description, who may grant it and whether
// it needs approval (in.Name names it; use RenameScope to rename). Keys
// that carry it keep it: the rules apply to grants made from now on.
func (s *Store) UpdateScope(ctx context.Context, in ScopeInput, actor Actor) (Scope, error) {
	var ve ValidationError
	in = checkScopeInput(in, &ve)
	if err := ve.Err(); err != nil {
		return Scope{}, err
	}
	var sc Scope
	err := s.inWriteTx(ctx, "update scope", func(tx *Tx, now time.Time) error {
		old, err := getScope(ctx, tx, in.Name)
		if err != nil {
			return err
		}
		sc = old
		if old.Description == in.Description && old.AdminOnly == in.AdminOnly && old.NeedsApproval == in.NeedsApproval {
			return nil
		}
		if _, err := tx.ExecContext(ctx, updateScopeSQL, in.Description, in.grantRole(), boolInt(in.NeedsApproval), old.ID); err != nil {
			return fmt.Errorf("db: update scope %q: %w", in.Name, err)
		}
		e := actor.event(ActionScopeUpdate, "scope", old.ID, old.Name)
		e.Detail = scopeDetail(in)
		before := scopeDetail(ScopeInput{Description: old.Description, AdminOnly: old.AdminOnly, NeedsApproval: old.NeedsApproval})
		for k, v := range before {
			if e.Detail[k] == v {
				delete(e.Detail, k)
			} else {
				e.Detail["old_"+k] = v
			}
		}
		if err := insertAudit(ctx, tx, now, e); err != nil {
			return err
		}
		sc, err = getScope(ctx, tx, in.Name)
		return err
	})
	return sc, err
}

// RenameScope renames a catalog scope and the scope on every unrevoked key
// carrying it (granted or pending), in one transaction, so services see
// the new name on the next verification. It returns the keys renamed.
func (s *Store) RenameScope(ctx context.Context, name, newName string, actor Actor) ([]Key, error) {
	var ve ValidationError
	newName = strings.TrimSpace(newName)
	ve.AddErr("new_name", checkScope(newName))
	if err := ve.Err(); err != nil {
		return nil, err
	}
	var keys []Key
	err := s.inWriteTx(ctx, "rename scope", func(tx *Tx, now time.Time) error {
		sc, err := getScope(ctx, tx, name)
		if err != nil {
			return err
		}
		if newName == sc.Name {
			return nil
		}
		if _, err := getScope(ctx, tx, newName); err == nil {
			ve.AddErr("new_name", errScopeExists)
			return ve.Err()
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if keys, err = scopeKeys(ctx, s, tx, sc.Name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scopes SET name = ? WHERE id = ?`, newName, sc.ID); err != nil {
			return fmt.Errorf("db: rename scope %q: %w", name, err)
		}
		ids := make([]string, 0, len(keys))
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, setKeyScopesSQL,
				joinScopes(renameIn(k.Scopes, sc.Name, newName)), joinScopes(renameIn(k.PendingScopes, sc.Name, newName)), k.ID); err != nil {
				return fmt.Errorf("db: rename scope %q on key %d: %w", name, k.ID, err)
			}
			ids = append(ids, fmt.Sprint(k.ID))
		}
		e := actor.event(ActionScopeRename, "scope", sc.ID, newName)
		e.Detail = map[string]string{"old_name": sc.Name, "new_name": newName, "keys": strings.Join(ids, " ")}
		return insertAudit(ctx, tx, now, e)
	})
	if err == nil && len(keys) > 0 {
		s.keyChanged()
	}
	return keys, err
}

// renameIn returns scopes with old replaced by new, without duplicates.
func renameIn(scopes []string, old, new string) []string {
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		if sc == old {
			sc = new
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// SetScopeRetired retires a scope (it can no longer be granted; keys keep
// it until edited) or brings it back. It returns the unrevoked keys that
// carry it, for the page and the CLI to name.
func (s *Store) SetScopeRetired(ctx context.Context, name string, retired bool, actor Actor) ([]Key, error) {
	var keys []Key
	err := s.inWriteTx(ctx, "retire scope", func(tx *Tx, now time.Time) error {
		sc, err := getScope(ctx, tx, name)
		if err != nil {
			return err
		}
		if keys, err = scopeKeys(ctx, s, tx, sc.Name); err != nil {
			return err
		}
		if sc.Retired() == retired {
			return nil
		}
		at, action := sql.NullInt64{}, ActionScopeRestore
		if retired {
			at, action = sql.NullInt64{Int64: toMillis(now), Valid: true}, ActionScopeRetire
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scopes SET retired_at = ? WHERE id = ?`, at, sc.ID); err != nil {
			return fmt.Errorf("db: retire scope %q: %w", name, err)
		}
		e := actor.event(action, "scope", sc.ID, sc.Name)
		e.Detail = map[string]string{"keys": fmt.Sprint(len(keys))}
		return insertAudit(ctx, tx, now, e)
	})
	return keys, err
}

// inWriteTx runs fn in a write transaction and commits when it succeeds.
func (s *Store) inWriteTx(ctx context.Context, what string, fn func(tx *Tx, now time.Time) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: %s: %w", what, err)
	}
	defer tx.Rollback()
	if err := fn(tx, s.Now()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: %s: %w", what, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// joinScopes is the stored, space-separated form.
func joinScopes(scopes []string) string { return strings.Join(scopes, " ") }

// Catalog returns the catalog by name, retired scopes included, without
// the key counts (cheap enough for every create form).
func (s *Store) Catalog(ctx context.Context) ([]Scope, error) {
	return catalog(ctx, s.r)
}
