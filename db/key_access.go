package db

import (
	"context"
	"fmt"
	"strings"
)

// KeyAccess restricts key queries to the keys a person may see or manage,
// in SQL, so that a handler cannot forget the check: a key outside it is
// simply not found.
//
// A person SEES their own personal keys and the keys of every team they
// belong to; they MANAGE (disable, enable, roll, revoke, edit, transfer)
// their own personal keys and the keys of the teams they maintain. A team
// key's user_id is only its creator (or whoever handed it over): it gives
// no access once the key is the team's.
type KeyAccess struct {
	userID int64
	all    bool
	// manage narrows the team keys to the teams the person maintains.
	manage bool
}

// ManagedBy limits queries to the keys userID may change: their personal
// keys and the keys of the teams they maintain.
func ManagedBy(userID int64) KeyAccess { return KeyAccess{userID: userID, manage: true} }

// VisibleTo limits queries to the keys userID may see: their personal keys
// and the keys of every team they belong to.
func VisibleTo(userID int64) KeyAccess { return KeyAccess{userID: userID} }

// OwnedBy is ManagedBy: the keys userID answers for.
func OwnedBy(userID int64) KeyAccess { return ManagedBy(userID) }

// AnyOwner lifts the restriction. Only for admins and the CLI.
func AnyOwner() KeyAccess { return KeyAccess{all: true} }

// All reports whether the access is unrestricted (an admin or the CLI).
func (a KeyAccess) All() bool { return a.all }

// The owner conditions for one key (getKey, checkKeyVisible: a lookup by
// id). Each side of the OR is indexed on its own (the personal side by
// api_keys_user_id, the team side by api_keys_team_id through the small
// team_members lookup); a bound "all" flag is left out of the SQL
// altogether, since the planner cannot see through it. Lists use
// listAccessWhere instead.
const (
	keyViewCond   = `((k.team_id IS NULL AND k.user_id = ?) OR k.team_id IN (SELECT team_id FROM team_members WHERE user_id = ?))`
	keyManageCond = `((k.team_id IS NULL AND k.user_id = ?) OR k.team_id IN (SELECT team_id FROM team_members WHERE user_id = ? AND role = 'maintainer'))`
)

// where gives the owner condition and its arguments, "" for AnyOwner.
func (a KeyAccess) where() (string, []any) {
	switch {
	case a.all:
		return "", nil
	case a.manage:
		return keyManageCond, []any{a.userID, a.userID}
	default:
		return keyViewCond, []any{a.userID, a.userID}
	}
}

// cond is where as an " AND …" suffix for a query that already has a
// WHERE clause.
func (a KeyAccess) cond() (string, []any) {
	w, args := a.where()
	if w == "" {
		return "", nil
	}
	return ` AND ` + w, args
}

const (
	// keyPersonalCond walks api_keys_user_id (user_id, id DESC) in list
	// order, so a page of a person's 20,000 keys reads 25 index entries.
	keyPersonalCond = `k.user_id = ? AND k.team_id IS NULL`
	accessTeamsSQL  = `SELECT team_id FROM team_members WHERE user_id = ?`
	manageTeamsSQL  = accessTeamsSQL + ` AND role = 'maintainer'`
)

// listAccessWhere is where for the list queries (ListKeys, CountKeys,
// KeyIDs, EachKey), with the person's teams read first. Most people are in
// no team: their condition is then the plain personal one, which the
// planner answers in list order from api_keys_user_id without sorting
// (the OR with a subquery made SQLite sort every key of the person: 10 to
// 25 ms for 20,000 keys, against under 1 ms). Someone in teams gets the
// two index ranges and a sort of their own and their teams' keys.
func (s *Store) listAccessWhere(ctx context.Context, a KeyAccess) (string, []any, error) {
	if a.all {
		return "", nil, nil
	}
	q := accessTeamsSQL
	if a.manage {
		q = manageTeamsSQL
	}
	teams, err := queryIDs(ctx, s.r, q, a.userID)
	if err != nil {
		return "", nil, fmt.Errorf("db: key access: %w", err)
	}
	if len(teams) == 0 {
		return keyPersonalCond, []any{a.userID}, nil
	}
	args := []any{a.userID}
	for _, id := range teams {
		args = append(args, id)
	}
	return `((` + keyPersonalCond + `) OR k.team_id IN (?` + strings.Repeat(", ?", len(teams)-1) + `))`, args, nil
}
