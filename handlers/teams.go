package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/views"
)

// errTeamNotFound is the one answer for a team that does not exist and for
// one the viewer is not in: the same message either way.
var errTeamNotFound = db.Errorf(db.ErrNotFound, "Team not found.")

// TeamsList is GET /teams: the viewer's teams; every team for an admin, and
// for an auditor, who reviews every key and so every team that owns keys.
func (h *Handler) TeamsList(c echo.Context) error {
	m, err := h.teamsPage(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.TeamsView(m))
}

func (h *Handler) teamsPage(c echo.Context) (views.TeamsPage, error) {
	u := currentUser(c)
	m := views.TeamsPage{Layout: h.layout(c, "Teams", "teams"), CanAdd: u.IsAdmin(), AllTeams: u.CanReadAdmin()}
	if u.Role == db.RoleAuditor {
		m.ReadOnlyNote = auditorTeamNote
	}
	mine, err := h.Store.UserTeams(ctx(c), u.ID)
	if err != nil {
		return m, err
	}
	teams := mine
	if m.AllTeams {
		if teams, err = h.Store.ListTeams(ctx(c)); err != nil {
			return m, err
		}
	}
	roles := make(map[int64]db.TeamRole, len(mine))
	for _, t := range mine {
		roles[t.ID] = t.MyRole
	}
	for _, t := range teams {
		m.Teams = append(m.Teams, teamRow(t, roles[t.ID]))
	}
	return m, nil
}

func teamRow(t db.Team, role db.TeamRole) views.TeamRow {
	return views.TeamRow{ID: t.ID, Name: t.Name, Description: t.Description,
		Members: t.Members, Keys: t.Keys, MyRole: string(role)}
}

// TeamCreate is POST /teams (admins): a new team, shown with its form
// errors on the list when the name is taken or malformed.
func (h *Handler) TeamCreate(c echo.Context) error {
	name, desc := c.FormValue("name"), c.FormValue("description")
	t, err := h.Store.CreateTeam(ctx(c), name, desc, actor(c))
	if fe := db.FieldErrors(err); fe != nil {
		m, perr := h.teamsPage(c)
		if perr != nil {
			return perr
		}
		m.AddName, m.AddDesc, m.Errors = name, desc, fe
		return render(c, http.StatusUnprocessableEntity, views.TeamsView(m))
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", "Team "+t.Name+" created. Add its people next.")
	return redirect(c, "/teams/"+strconv.FormatInt(t.ID, 10))
}

// auditorTeamNote says why an auditor's team pages offer no actions.
const auditorTeamNote = "Read-only: as an auditor you see every team, its people and its keys; its maintainers and administrators change it."

// teamFor loads the {id} team if the viewer may see it (a member, an admin
// or an auditor) and reports whether they may manage it (a maintainer or an
// admin). manage: a viewer who may not manage it gets 404 like an outsider,
// so a crafted POST learns nothing.
func (h *Handler) teamFor(c echo.Context, manage bool) (db.Team, bool, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return db.Team{}, false, errTeamNotFound
	}
	u := currentUser(c)
	return h.teamAccess(ctx(c), id, u.ID, u.CanReadAdmin(), u.IsAdmin(), manage)
}

// teamAccess is the one rule of who sees and manages team id, for the
// dashboard and the management API alike: its people see it and its
// maintainers manage it; readAll (admins and auditors) sees every team and
// manageAll (admins) manages every team. Whoever may not see it (or, with
// manage, manage it) gets the outsider's 404.
func (h *Handler) teamAccess(ctx context.Context, id, userID int64, readAll, manageAll, manage bool) (db.Team, bool, error) {
	role, err := h.Store.TeamRoleOf(ctx, id, userID)
	if err != nil {
		return db.Team{}, false, err
	}
	canManage := manageAll || role == db.TeamMaintainer
	if (role == "" && !readAll) || (manage && !canManage) {
		return db.Team{}, false, errTeamNotFound
	}
	t, err := h.Store.GetTeam(ctx, id)
	if err != nil {
		return db.Team{}, false, err
	}
	t.MyRole = role
	return t, canManage, nil
}

// TeamShow is GET /teams/{id}: its people and its keys.
func (h *Handler) TeamShow(c echo.Context) error {
	t, canManage, err := h.teamFor(c, false)
	if err != nil {
		return err
	}
	m, err := h.teamPage(c, t, canManage)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.TeamView(m))
}

func (h *Handler) teamPage(c echo.Context, t db.Team, canManage bool) (views.TeamPage, error) {
	m := views.TeamPage{Layout: h.layout(c, "Team "+t.Name, "teams"), Team: teamRow(t, t.MyRole), CanManage: canManage}
	if !canManage && currentUser(c).Role == db.RoleAuditor {
		m.ReadOnlyNote = auditorTeamNote
	}
	members, err := h.Store.TeamMembers(ctx(c), t.ID)
	if err != nil {
		return m, err
	}
	for _, p := range members {
		m.Members = append(m.Members, views.TeamMemberRow{UserID: p.UserID, Email: p.Email,
			Role: string(p.Role), AddedAt: p.AddedAt, Disabled: p.Disabled})
	}
	keys, err := h.Store.ListKeys(ctx(c), db.AnyOwner(), db.KeyFilter{TeamID: t.ID, Limit: db.MaxKeyLimit})
	if err != nil {
		return m, err
	}
	now := h.now()
	for _, k := range keys {
		m.Keys = append(m.Keys, keyRow(k, now))
	}
	return m, nil
}

// TeamMemberAdd is POST /teams/{id}/members (maintainers and admins).
func (h *Handler) TeamMemberAdd(c echo.Context) error {
	t, canManage, err := h.teamFor(c, true)
	if err != nil {
		return err
	}
	email, role := c.FormValue("email"), c.FormValue("role")
	err = h.Store.AddTeamMember(ctx(c), t.ID, email, db.TeamRole(role), actor(c))
	if fe := db.FieldErrors(err); fe != nil {
		m, perr := h.teamPage(c, t, canManage)
		if perr != nil {
			return perr
		}
		m.AddEmail, m.AddRole, m.Errors = email, role, fe
		return render(c, http.StatusUnprocessableEntity, views.TeamView(m))
	}
	if err != nil {
		return err
	}
	h.flash(c, "success", db.NormalizeEmail(email)+" was added to team "+t.Name+".")
	return redirect(c, teamURL(t.ID))
}

// TeamMemberRole is POST /teams/{id}/members/{user}/role.
func (h *Handler) TeamMemberRole(c echo.Context) error {
	return h.memberAction(c, func(t db.Team, userID int64) (string, error) {
		role, ok := db.ParseTeamRole(c.FormValue("role"))
		if !ok {
			return "", BadRequest("INVALID_ROLE", "Choose maintainer or member.")
		}
		return "Role changed to " + string(role) + ".", h.Store.SetTeamMemberRole(ctx(c), t.ID, userID, role, actor(c))
	})
}

// TeamMemberRemove is POST /teams/{id}/members/{user}/remove.
func (h *Handler) TeamMemberRemove(c echo.Context) error {
	return h.memberAction(c, func(t db.Team, userID int64) (string, error) {
		return "Removed from team " + t.Name + ".", h.Store.RemoveTeamMember(ctx(c), t.ID, userID, actor(c))
	})
}

// memberAction runs fn on the {user} member of a team the viewer manages.
func (h *Handler) memberAction(c echo.Context, fn func(t db.Team, userID int64) (string, error)) error {
	t, _, err := h.teamFor(c, true)
	if err != nil {
		return err
	}
	userID, err := strconv.ParseInt(c.Param("user"), 10, 64)
	if err != nil || userID <= 0 {
		return db.Errorf(db.ErrNotFound, "That person is not a member of this team.")
	}
	msg, err := fn(t, userID)
	if err != nil {
		return err
	}
	h.flash(c, "success", msg)
	return redirect(c, teamURL(t.ID))
}

func teamURL(id int64) string { return "/teams/" + strconv.FormatInt(id, 10) }
