package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// checkTeamMaintainer returns the owner name ("team:NAME") of team teamID
// if userID maintains it, else a field error on field.
func checkTeamMaintainer(ctx context.Context, q querier, teamID, userID int64, field string) (string, error) {
	var ve ValidationError
	var name string
	err := q.QueryRowContext(ctx, teamNameByIDSQL, teamID).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		ve.Add(field, "No such team.")
		return "", ve.Err()
	}
	if err != nil {
		return "", fmt.Errorf("db: team: %w", err)
	}
	role, err := teamRoleOf(ctx, q, teamID, userID)
	if err != nil {
		return "", err
	}
	if role != TeamMaintainer {
		ve.Add(field, "Only maintainers of team "+name+" can give it keys.")
		return "", ve.Err()
	}
	return teamOwner(name), nil
}

// disabledByManager reports whether a disabled key was disabled by someone
// who manages it (its owner, or a maintainer of its team), and not by an
// admin or the auto-disable policy: only such a disable is the managers'
// to lift (SetKeyDisabled) and blocks a roll with "enable it first".
func disabledByManager(ctx context.Context, q querier, k Key) (bool, error) {
	switch {
	case k.DisabledAt == nil || k.DisabledBy == 0:
		return false, nil
	case k.TeamID == 0:
		return k.DisabledBy == k.UserID, nil
	}
	role, err := teamRoleOf(ctx, q, k.TeamID, k.DisabledBy)
	return role == TeamMaintainer, err
}

// DisabledByManager is disabledByManager for the key page, which offers
// "Enable" to the key's managers only when they may lift the disable.
func (s *Store) DisabledByManager(ctx context.Context, k Key) (bool, error) {
	return disabledByManager(ctx, s.r, k)
}

// TransferTarget is the new owner of a transferred key: a team (TeamID) or
// a person (UserID), exactly one of them.
type TransferTarget struct {
	TeamID int64
	UserID int64
}

const (
	transferKeySQL     = `UPDATE api_keys SET team_id = ?, user_id = ? WHERE id = ?`
	activeUserEmailSQL = `SELECT email, disabled_at FROM users WHERE id = ?`
	personalKeysSQL    = `SELECT id FROM api_keys WHERE user_id = ? AND team_id IS NULL AND revoked_at IS NULL ORDER BY id`
)

// resolveTarget checks to inside tx and returns the owner name it gives
// ("team:NAME" or an email). access decides what is allowed: a key's
// manager gives keys to teams they maintain; only AnyOwner (an admin, the
// CLI) gives them to any team or to another person.
func resolveTarget(ctx context.Context, tx *Tx, access KeyAccess, to TransferTarget) (string, error) {
	var ve ValidationError
	switch {
	case (to.TeamID == 0) == (to.UserID == 0):
		ve.Add("team", "Choose a team or a person to transfer to.")
		return "", ve.Err()
	case to.TeamID != 0 && !access.all:
		return checkTeamMaintainer(ctx, tx, to.TeamID, access.userID, "team")
	case to.TeamID != 0:
		var name string
		if err := tx.QueryRowContext(ctx, teamNameByIDSQL, to.TeamID).Scan(&name); errors.Is(err, sql.ErrNoRows) {
			ve.Add("team", "No such team.")
			return "", ve.Err()
		} else if err != nil {
			return "", fmt.Errorf("db: transfer: %w", err)
		}
		return teamOwner(name), nil
	case !access.all:
		ve.Add("user", "Only an admin can give a key to another person.")
		return "", ve.Err()
	}
	var email string
	var disabled sql.NullInt64
	err := tx.QueryRowContext(ctx, activeUserEmailSQL, to.UserID).Scan(&email, &disabled)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		ve.Add("user", "No such person.")
	case err != nil:
		return "", fmt.Errorf("db: transfer: %w", err)
	case disabled.Valid:
		ve.Add("user", email+" is disabled and cannot receive keys.")
	}
	return email, ve.Err()
}

// transferKeyTx moves key k to the owner to names (already resolved) and
// audits it with the old and the new owner. The key keeps its id, so its
// usage, audit trail and last use stay with it. On a team key user_id
// stays the person who made or handed over the key.
func transferKeyTx(ctx context.Context, tx *Tx, k Key, to TransferTarget, newOwner string, now time.Time, actor Actor) error {
	if k.RevokedAt != nil {
		return Errorf(ErrConflict, errRevokedUnchangeable)
	}
	if k.Owner() == newOwner && (to.TeamID != 0) == (k.TeamID != 0) {
		var ve ValidationError
		field := "user"
		if to.TeamID != 0 {
			field = "team"
		}
		ve.Add(field, "The key already belongs to "+newOwner+".")
		return ve.Err()
	}
	userID := k.UserID
	if to.UserID != 0 {
		userID = to.UserID
	}
	if _, err := tx.ExecContext(ctx, transferKeySQL, nullID(to.TeamID), userID, k.ID); err != nil {
		return fmt.Errorf("db: transfer key %d: %w", k.ID, err)
	}
	e := actor.event(ActionKeyTransfer, "key", k.ID, k.Name)
	e.Detail = map[string]string{"old": k.Owner(), "new": newOwner}
	return insertAudit(ctx, tx, now, e)
}

// TransferKey gives key id to a team or a person. access must manage the
// key (ManagedBy, or AnyOwner for an admin or the CLI); a manager gives it
// to a team they maintain, AnyOwner to any team or to another active
// person. Verification sees the new owner at once.
func (s *Store) TransferKey(ctx context.Context, access KeyAccess, id int64, to TransferTarget, actor Actor) (Key, error) {
	return s.changeKey(ctx, access, id, func(tx *Tx, k Key, now time.Time) (bool, error) {
		owner, err := resolveTarget(ctx, tx, access, to)
		if err != nil {
			return false, err
		}
		return true, transferKeyTx(ctx, tx, k, to, owner, now, actor)
	})
}

// PersonalKeys returns userID's own keys that are not revoked (their team
// keys excluded): what disabling the person would stop.
func (s *Store) PersonalKeys(ctx context.Context, userID int64) ([]Key, error) {
	return queryKeys(ctx, s.r, "personal keys",
		selectKeySQL+` WHERE k.user_id = ? AND k.team_id IS NULL AND k.revoked_at IS NULL ORDER BY k.id`, userID)
}

// DisableUserTransferringKeys gives every unrevoked personal key of userID
// to to, then disables userID (SetUserDisabled's rules), in one
// transaction: either the keys move and the person is disabled, or
// nothing changes. It returns how many keys moved.
func (s *Store) DisableUserTransferringKeys(ctx context.Context, userID int64, to TransferTarget, actor Actor) (int, error) {
	if to.UserID == userID {
		var ve ValidationError
		ve.Add("user", "Choose someone other than the person being disabled.")
		return 0, ve.Err()
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("db: disable with transfer: %w", err)
	}
	defer tx.Rollback()
	now := s.Now()
	owner, err := resolveTarget(ctx, tx, AnyOwner(), to)
	if err != nil {
		return 0, err
	}
	ids, err := queryIDs(ctx, tx, personalKeysSQL, userID)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		k, err := getKey(ctx, tx, AnyOwner(), id)
		if err != nil {
			return 0, err
		}
		if err := transferKeyTx(ctx, tx, k, to, owner, now, actor); err != nil {
			return 0, err
		}
	}
	if _, err := s.setUserDisabledTx(ctx, tx, userID, true, now, actor); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("db: disable with transfer: %w", err)
	}
	s.keyChanged()
	return len(ids), nil
}

// queryIDs reads a one-column list of ids.
func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("db: ids: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("db: scan id: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: ids: %w", err)
	}
	return ids, nil
}
