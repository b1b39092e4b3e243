package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Team audit actions. They are stored as-is, so they never change once
// shipped.
const (
	ActionTeamCreate        = "team.created"
	ActionTeamUpdate        = "team.updated"
	ActionTeamDelete        = "team.deleted"
	ActionTeamMemberAdd     = "team.member_added"
	ActionTeamMemberRole    = "team.member_role"
	ActionTeamMemberRemove  = "team.member_removed"
	ActionKeyTransfer       = "key.transfer"
	targetTeam              = "team"
	teamNotFoundMessage     = "Team not found."
	teamMemberNotFoundMsg   = "That person is not a member of this team."
	maxTeamDescriptionRunes = 500
)

// teamActions lists the team actions for Actions (the audit filter).
var teamActions = []string{ActionTeamCreate, ActionTeamUpdate, ActionTeamDelete,
	ActionTeamMemberAdd, ActionTeamMemberRole, ActionTeamMemberRemove, ActionKeyTransfer}

func init() {
	actionLabels[ActionTeamCreate] = "Team created"
	actionLabels[ActionTeamUpdate] = "Team changed"
	actionLabels[ActionTeamDelete] = "Team deleted"
	actionLabels[ActionTeamMemberAdd] = "Team member added"
	actionLabels[ActionTeamMemberRole] = "Team role changed"
	actionLabels[ActionTeamMemberRemove] = "Team member removed"
	actionLabels[ActionKeyTransfer] = "Key transferred"
}

// TeamRole is a person's role in a team: maintainers manage the team's keys
// and members; members see the team's keys.
type TeamRole string

// Team roles.
const (
	TeamMaintainer TeamRole = "maintainer"
	TeamMember     TeamRole = "member"
)

// ParseTeamRole reads a role as a form or the CLI spells it.
func ParseTeamRole(s string) (TeamRole, bool) {
	switch r := TeamRole(strings.TrimSpace(s)); r {
	case TeamMaintainer, TeamMember:
		return r, true
	}
	return "", false
}

// Team is a group of people that owns keys which outlive any one of them.
type Team struct {
	ID          int64
	Name        string
	Description string
	CreatedAt   time.Time
	Members     int
	// Keys counts the team's keys that are not revoked.
	Keys int
	// MyRole is the asking person's role in the team ("" when not a
	// member), filled by UserTeams.
	MyRole TeamRole
}

// TeamMemberInfo is one person in a team.
type TeamMemberInfo struct {
	UserID   int64
	Email    string
	Role     TeamRole
	AddedAt  time.Time
	Disabled bool
}

// teamNamePattern is a team's name: a lower-case slug, because it is part
// of the owner "team:NAME" that services compare byte for byte.
var teamNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// checkTeamInput normalizes a name (trimmed, lower-cased) and description.
func checkTeamInput(name, description string) (string, string, error) {
	var ve ValidationError
	name = strings.ToLower(strings.TrimSpace(name))
	if !teamNamePattern.MatchString(name) {
		ve.Add("name", "Use 1 to 63 characters: lowercase letters, digits and . _ - (starting with a letter or digit).")
	}
	description = checkFreeText("description", description, maxTeamDescriptionRunes, &ve)
	return name, description, ve.Err()
}

const (
	teamColumns = `t.id, t.name, t.description, t.created_at,
		(SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id),
		(SELECT COUNT(*) FROM api_keys k WHERE k.team_id = t.id AND k.revoked_at IS NULL)`
	listTeamsSQL    = `SELECT ` + teamColumns + `, '' FROM teams t ORDER BY t.name`
	userTeamsSQL    = `SELECT ` + teamColumns + `, tm.role FROM teams t JOIN team_members tm ON tm.team_id = t.id WHERE tm.user_id = ? ORDER BY t.name`
	getTeamSQL      = `SELECT ` + teamColumns + `, '' FROM teams t WHERE t.id = ?`
	getTeamByName   = `SELECT ` + teamColumns + `, '' FROM teams t WHERE t.name = ?`
	teamNameTakenQ  = `SELECT COUNT(*) FROM teams WHERE name = ? AND id <> ?`
	insertTeamSQL   = `INSERT INTO teams (name, description, created_at) VALUES (?, ?, ?) RETURNING id`
	updateTeamSQL   = `UPDATE teams SET name = ?, description = ? WHERE id = ?`
	deleteTeamSQL   = `DELETE FROM teams WHERE id = ?`
	teamKeysLiveSQL = `SELECT COUNT(*) FROM api_keys WHERE team_id = ? AND revoked_at IS NULL`
	// A team's revoked keys keep their history but lose the team: the
	// owner falls back to the person who made or handed over the key.
	detachTeamKeysSQL = `UPDATE api_keys SET team_id = NULL WHERE team_id = ?`
	teamMembersSQL    = `SELECT u.id, u.email, m.role, m.added_at, u.disabled_at FROM team_members m
		JOIN users u ON u.id = m.user_id WHERE m.team_id = ? ORDER BY m.role, u.email`
	memberRoleSQL    = `SELECT role FROM team_members WHERE team_id = ? AND user_id = ?`
	insertMemberSQL  = `INSERT INTO team_members (team_id, user_id, role, added_at) VALUES (?, ?, ?, ?)`
	updateMemberSQL  = `UPDATE team_members SET role = ? WHERE team_id = ? AND user_id = ?`
	deleteMemberSQL  = `DELETE FROM team_members WHERE team_id = ? AND user_id = ?`
	teamNameByIDSQL  = `SELECT name FROM teams WHERE id = ?`
	userEmailByIDSQL = `SELECT email FROM users WHERE id = ?`
)

var errTeamNotFound = Errorf(ErrNotFound, teamNotFoundMessage)

func scanTeam(r rowScanner) (Team, error) {
	var t Team
	var created int64
	var role string
	if err := r.Scan(&t.ID, &t.Name, &t.Description, &created, &t.Members, &t.Keys, &role); err != nil {
		return Team{}, err
	}
	t.CreatedAt, t.MyRole = fromMillis(created), TeamRole(role)
	return t, nil
}

// queryTeams runs a team list query.
func (s *Store) queryTeams(ctx context.Context, query string, args ...any) ([]Team, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("db: list teams: %w", err)
	}
	defer rows.Close()
	var out []Team
	for rows.Next() {
		t, err := scanTeam(rows)
		if err != nil {
			return nil, fmt.Errorf("db: scan team: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: list teams: %w", err)
	}
	return out, nil
}

// ListTeams returns every team by name, with member and key counts.
func (s *Store) ListTeams(ctx context.Context) ([]Team, error) {
	return s.queryTeams(ctx, listTeamsSQL)
}

// UserTeams returns the teams userID belongs to, with their role in each.
func (s *Store) UserTeams(ctx context.Context, userID int64) ([]Team, error) {
	return s.queryTeams(ctx, userTeamsSQL, userID)
}

// GetTeam returns team id.
func (s *Store) GetTeam(ctx context.Context, id int64) (Team, error) {
	return getTeam(ctx, s.r, getTeamSQL, id)
}

// GetTeamByName returns the team named name (any case: names are stored
// lower-case).
func (s *Store) GetTeamByName(ctx context.Context, name string) (Team, error) {
	return getTeam(ctx, s.r, getTeamByName, strings.ToLower(strings.TrimSpace(name)))
}

func getTeam(ctx context.Context, q querier, query string, arg any) (Team, error) {
	t, err := scanTeam(q.QueryRowContext(ctx, query, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Team{}, errTeamNotFound
	}
	if err != nil {
		return Team{}, fmt.Errorf("db: get team: %w", err)
	}
	return t, nil
}

// teamWrite runs fn in a write transaction and commits, dropping the
// verification cache when keys may have changed owner name (rename).
func (s *Store) teamWrite(ctx context.Context, keysChanged bool, fn func(tx *Tx, now time.Time) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: team change: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx, s.Now()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: team change: %w", err)
	}
	if keysChanged {
		s.keyChanged()
	}
	return nil
}

// checkTeamNameFree refuses a name another team has, as a field error.
func checkTeamNameFree(ctx context.Context, tx *Tx, name string, id int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, teamNameTakenQ, name, id).Scan(&n); err != nil {
		return fmt.Errorf("db: team name: %w", err)
	}
	if n > 0 {
		var ve ValidationError
		ve.Add("name", fmt.Sprintf("A team named %q already exists.", name))
		return ve.Err()
	}
	return nil
}

// CreateTeam creates a team (name: a lower-case slug, unique).
func (s *Store) CreateTeam(ctx context.Context, name, description string, actor Actor) (Team, error) {
	name, description, err := checkTeamInput(name, description)
	if err != nil {
		return Team{}, err
	}
	var id int64
	err = s.teamWrite(ctx, false, func(tx *Tx, now time.Time) error {
		if err := checkTeamNameFree(ctx, tx, name, 0); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, insertTeamSQL, name, description, toMillis(now)).Scan(&id); err != nil {
			return fmt.Errorf("db: create team: %w", err)
		}
		return insertAudit(ctx, tx, now, actor.event(ActionTeamCreate, targetTeam, id, name))
	})
	if err != nil {
		return Team{}, err
	}
	return s.GetTeam(ctx, id)
}

// UpdateTeam renames a team or changes its description. A rename changes
// the owner ("team:NAME") services see for its keys, so caches drop them.
func (s *Store) UpdateTeam(ctx context.Context, id int64, name, description string, actor Actor) (Team, error) {
	name, description, err := checkTeamInput(name, description)
	if err != nil {
		return Team{}, err
	}
	err = s.teamWrite(ctx, true, func(tx *Tx, now time.Time) error {
		t, err := getTeam(ctx, tx, getTeamSQL, id)
		if err != nil {
			return err
		}
		if t.Name == name && t.Description == description {
			return nil
		}
		if err := checkTeamNameFree(ctx, tx, name, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, updateTeamSQL, name, description, id); err != nil {
			return fmt.Errorf("db: update team: %w", err)
		}
		e := actor.event(ActionTeamUpdate, targetTeam, id, name)
		e.Detail = map[string]string{}
		if t.Name != name {
			e.Detail["old"], e.Detail["new"] = t.Name, name
		}
		if t.Description != description {
			e.Detail["description"] = "changed"
		}
		return insertAudit(ctx, tx, now, e)
	})
	if err != nil {
		return Team{}, err
	}
	return s.GetTeam(ctx, id)
}

// DeleteTeam deletes a team that owns no unrevoked key: a working key must
// never lose its owner by accident. Its revoked keys go back to the person
// who made or handed them over, history kept.
func (s *Store) DeleteTeam(ctx context.Context, id int64, actor Actor) error {
	return s.teamWrite(ctx, true, func(tx *Tx, now time.Time) error {
		t, err := getTeam(ctx, tx, getTeamSQL, id)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, teamKeysLiveSQL, id).Scan(&n); err != nil {
			return fmt.Errorf("db: delete team: %w", err)
		}
		if n > 0 {
			return Errorf(ErrConflict, "Team %s still owns %d key(s) that are not revoked: transfer or revoke them first.", t.Name, n)
		}
		if _, err := tx.ExecContext(ctx, detachTeamKeysSQL, id); err != nil {
			return fmt.Errorf("db: delete team: %w", err)
		}
		if _, err := tx.ExecContext(ctx, deleteTeamSQL, id); err != nil {
			return fmt.Errorf("db: delete team: %w", err)
		}
		return insertAudit(ctx, tx, now, actor.event(ActionTeamDelete, targetTeam, id, t.Name))
	})
}
