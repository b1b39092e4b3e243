package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// TeamRoleOf returns userID's role in team teamID, "" when not a member.
func (s *Store) TeamRoleOf(ctx context.Context, teamID, userID int64) (TeamRole, error) {
	return teamRoleOf(ctx, s.r, teamID, userID)
}

func teamRoleOf(ctx context.Context, q querier, teamID, userID int64) (TeamRole, error) {
	var role string
	err := q.QueryRowContext(ctx, memberRoleSQL, teamID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("db: team role: %w", err)
	}
	return TeamRole(role), nil
}

// TeamMembers lists the people of team teamID, maintainers first.
func (s *Store) TeamMembers(ctx context.Context, teamID int64) ([]TeamMemberInfo, error) {
	rows, err := s.r.QueryContext(ctx, teamMembersSQL, teamID)
	if err != nil {
		return nil, fmt.Errorf("db: team members: %w", err)
	}
	defer rows.Close()
	var out []TeamMemberInfo
	for rows.Next() {
		var m TeamMemberInfo
		var added int64
		var disabled sql.NullInt64
		if err := rows.Scan(&m.UserID, &m.Email, &m.Role, &added, &disabled); err != nil {
			return nil, fmt.Errorf("db: scan team member: %w", err)
		}
		m.AddedAt, m.Disabled = fromMillis(added), disabled.Valid
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: team members: %w", err)
	}
	return out, nil
}

// AddTeamMember adds the person with email to team teamID with role. A
// disabled person cannot be added; someone already in the team is a field
// error (change their role instead).
func (s *Store) AddTeamMember(ctx context.Context, teamID int64, email string, role TeamRole, actor Actor) error {
	if _, ok := ParseTeamRole(string(role)); !ok {
		var ve ValidationError
		ve.Add("role", "Choose maintainer or member.")
		return ve.Err()
	}
	return s.teamWrite(ctx, false, func(tx *Tx, now time.Time) error {
		t, err := getTeam(ctx, tx, getTeamSQL, teamID)
		if err != nil {
			return err
		}
		var ve ValidationError
		u, err := scanUser(tx.QueryRowContext(ctx, getUserByEmailSQL, NormalizeEmail(email)))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			ve.Add("email", "No person with this email has an account.")
			return ve.Err()
		case err != nil:
			return fmt.Errorf("db: add team member: %w", err)
		case u.Disabled():
			ve.Add("email", u.Email+" is disabled and cannot join a team.")
			return ve.Err()
		}
		current, err := teamRoleOf(ctx, tx, teamID, u.ID)
		if err != nil {
			return err
		}
		if current != "" {
			ve.Add("email", fmt.Sprintf("%s is already a %s of this team.", u.Email, current))
			return ve.Err()
		}
		if _, err := tx.ExecContext(ctx, insertMemberSQL, teamID, u.ID, string(role), toMillis(now)); err != nil {
			return fmt.Errorf("db: add team member: %w", err)
		}
		e := actor.event(ActionTeamMemberAdd, targetTeam, teamID, t.Name)
		e.Detail = map[string]string{"member": u.Email, "role": string(role)}
		return insertAudit(ctx, tx, now, e)
	})
}

// SetTeamMemberRole changes a member's role in a team.
func (s *Store) SetTeamMemberRole(ctx context.Context, teamID, userID int64, role TeamRole, actor Actor) error {
	if _, ok := ParseTeamRole(string(role)); !ok {
		var ve ValidationError
		ve.Add("role", "Choose maintainer or member.")
		return ve.Err()
	}
	return s.memberChange(ctx, teamID, userID, func(tx *Tx, now time.Time, team, email string, old TeamRole) error {
		if old == role {
			return nil
		}
		if _, err := tx.ExecContext(ctx, updateMemberSQL, string(role), teamID, userID); err != nil {
			return fmt.Errorf("db: set team role: %w", err)
		}
		e := actor.event(ActionTeamMemberRole, targetTeam, teamID, team)
		e.Detail = map[string]string{"member": email, "old": string(old), "new": string(role)}
		return insertAudit(ctx, tx, now, e)
	})
}

// RemoveTeamMember takes a person out of a team. The team's keys stay the
// team's, including those the person made.
func (s *Store) RemoveTeamMember(ctx context.Context, teamID, userID int64, actor Actor) error {
	return s.memberChange(ctx, teamID, userID, func(tx *Tx, now time.Time, team, email string, old TeamRole) error {
		if _, err := tx.ExecContext(ctx, deleteMemberSQL, teamID, userID); err != nil {
			return fmt.Errorf("db: remove team member: %w", err)
		}
		e := actor.event(ActionTeamMemberRemove, targetTeam, teamID, team)
		e.Detail = map[string]string{"member": email, "old": string(old)}
		return insertAudit(ctx, tx, now, e)
	})
}

// memberChange loads an existing membership in a write transaction and
// lets fn change it.
func (s *Store) memberChange(ctx context.Context, teamID, userID int64,
	fn func(tx *Tx, now time.Time, team, email string, old TeamRole) error) error {
	return s.teamWrite(ctx, false, func(tx *Tx, now time.Time) error {
		var team, email string
		if err := tx.QueryRowContext(ctx, teamNameByIDSQL, teamID).Scan(&team); errors.Is(err, sql.ErrNoRows) {
			return errTeamNotFound
		} else if err != nil {
			return fmt.Errorf("db: team member: %w", err)
		}
		old, err := teamRoleOf(ctx, tx, teamID, userID)
		if err != nil {
			return err
		}
		if old == "" {
			return Errorf(ErrNotFound, teamMemberNotFoundMsg)
		}
		if err := tx.QueryRowContext(ctx, userEmailByIDSQL, userID).Scan(&email); err != nil {
			return fmt.Errorf("db: team member: %w", err)
		}
		return fn(tx, now, team, email, old)
	})
}
