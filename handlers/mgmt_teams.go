package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward/db"
)

// Teams through the management API, under the dashboard's rule
// (teamAccess): a person sees their teams and manages those they maintain;
// the admin side's permissions stand for the dashboard's roles, so a
// token with admin:read sees every team and one with admin:write manages
// every team. A team the caller may not see, or manage where managing is
// asked, is 404, as for an outsider.

// APITeam is a team as lists show it.
type APITeam struct {
	ID          int64     `json:"id" example:"4"`
	Name        string    `json:"name" example:"payments"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	Members     int       `json:"members" doc:"How many people are in it."`
	Keys        int       `json:"keys" doc:"Its keys that are not revoked."`
	MyRole      *string   `json:"my_role" nullable:"true" doc:"The caller's role in the team (maintainer or member); null when not in it."`
}

func apiTeam(t db.Team) APITeam {
	out := APITeam{ID: t.ID, Name: t.Name, Description: t.Description, CreatedAt: t.CreatedAt, Members: t.Members, Keys: t.Keys}
	if t.MyRole != "" {
		r := string(t.MyRole)
		out.MyRole = &r
	}
	return out
}

// APITeamMember is one person in a team.
type APITeamMember struct {
	UserID   int64     `json:"user_id" example:"7"`
	Email    string    `json:"email" example:"ann@example.com"`
	Role     string    `json:"role" enum:"maintainer,member"`
	AddedAt  time.Time `json:"added_at"`
	Disabled bool      `json:"disabled" doc:"The person's account is disabled."`
}

// APITeamDetail is a team with its people.
type APITeamDetail struct {
	APITeam
	CanManage bool            `json:"can_manage" doc:"Whether the caller may change its people (a maintainer, or a token with admin:write)."`
	People    []APITeamMember `json:"people" doc:"Its people, maintainers first."`
}

// TeamListOutput is GET /teams.
type TeamListOutput struct {
	Body struct {
		Items      []APITeam `json:"items"`
		NextCursor *string   `json:"next_cursor" nullable:"true"`
	}
}

// TeamOutput is one team with its people.
type TeamOutput struct {
	Body APITeamDetail
}

// TeamIDPath is the {id} of a team.
type TeamIDPath struct {
	ID int64 `path:"id" minimum:"1" doc:"The team's id."`
}

// TeamMemberPath is a person of a team.
type TeamMemberPath struct {
	TeamIDPath
	UserID int64 `path:"user_id" minimum:"1" doc:"The person's user id."`
}

// TeamCreateInput is POST /teams.
type TeamCreateInput struct {
	Body struct {
		Name        string `json:"name" maxLength:"63" example:"payments" doc:"A lowercase slug (letters, digits, . _ -): keys it owns are owned by team:NAME."`
		Description string `json:"description,omitempty" maxLength:"500"`
	}
}

// TeamMemberAddInput is POST /teams/{id}/members.
type TeamMemberAddInput struct {
	TeamIDPath
	Body struct {
		Email string `json:"email" maxLength:"254" example:"bea@example.com" doc:"A person with an account."`
		Role  string `json:"role" enum:"maintainer,member" doc:"Maintainers manage the team's keys and people; members see its keys."`
	}
}

// TeamMemberRoleInput is POST /teams/{id}/members/{user_id}/role.
type TeamMemberRoleInput struct {
	TeamMemberPath
	Body struct {
		Role string `json:"role" enum:"maintainer,member"`
	}
}

func (h *Handler) registerTeams(api huma.API) {
	op := tokenOp("list-teams", http.MethodGet, "/api/v1/teams", "List teams", db.PermKeysRead, "Teams")
	op.Description = "The caller's teams, by name; every team for a token with admin:read."
	huma.Register(api, op, h.APITeamsList)

	op = tokenOp("create-team", http.MethodPost, "/api/v1/teams", "Create a team", db.PermAdminWrite, "Teams")
	op.DefaultStatus = http.StatusCreated
	huma.Register(api, op, h.APITeamCreate)

	op = tokenOp("get-team", http.MethodGet, "/api/v1/teams/{id}", "A team and its people", db.PermKeysRead, "Teams")
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(api, op, h.APITeamGet)

	op = tokenOp("add-team-member", http.MethodPost, "/api/v1/teams/{id}/members", "Add a person to a team", db.PermKeysWrite, "Teams")
	op.Description = "For the team's maintainers, and tokens with admin:write."
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(api, op, h.APITeamMemberAdd)

	op = tokenOp("set-team-member-role", http.MethodPost, "/api/v1/teams/{id}/members/{user_id}/role",
		"Change a person's role in a team", db.PermKeysWrite, "Teams")
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(api, op, h.APITeamMemberRole)

	op = tokenOp("remove-team-member", http.MethodPost, "/api/v1/teams/{id}/members/{user_id}/remove",
		"Take a person out of a team", db.PermKeysWrite, "Teams")
	op.Description = "The team's keys stay the team's, including those the person made."
	op.Errors = append(op.Errors, http.StatusNotFound)
	huma.Register(api, op, h.APITeamMemberRemove)
}

// APITeamsList is GET /api/v1/teams.
func (h *Handler) APITeamsList(ctx context.Context, in *AdminPageQuery) (*TeamListOutput, error) {
	c := callerFrom(ctx)
	mine, err := h.Store.UserTeams(ctx, c.User.ID)
	if err != nil {
		return nil, err
	}
	teams := mine
	if c.Token.Has(db.PermAdminRead) {
		if teams, err = h.Store.ListTeams(ctx); err != nil {
			return nil, err
		}
		roles := make(map[int64]db.TeamRole, len(mine))
		for _, t := range mine {
			roles[t.ID] = t.MyRole
		}
		for i := range teams {
			teams[i].MyRole = roles[teams[i].ID]
		}
	}
	page, next, err := pageAfter(teams, func(t db.Team) string { return t.Name }, "team", in.Cursor, in.Limit)
	if err != nil {
		return nil, err
	}
	out := &TeamListOutput{}
	out.Body.NextCursor = next
	out.Body.Items = make([]APITeam, len(page))
	for i, t := range page {
		out.Body.Items[i] = apiTeam(t)
	}
	return out, nil
}

// APITeamCreate is POST /api/v1/teams.
func (h *Handler) APITeamCreate(ctx context.Context, in *TeamCreateInput) (*TeamOutput, error) {
	t, err := h.Store.CreateTeam(ctx, in.Body.Name, in.Body.Description, callerFrom(ctx).Actor())
	if err != nil {
		return nil, err
	}
	return h.teamOutput(ctx, t, true)
}

// APITeamGet is GET /api/v1/teams/{id}.
func (h *Handler) APITeamGet(ctx context.Context, in *TeamIDPath) (*TeamOutput, error) {
	t, canManage, err := h.apiTeamAccess(ctx, in.ID, false)
	if err != nil {
		return nil, err
	}
	return h.teamOutput(ctx, t, canManage)
}

// APITeamMemberAdd is POST /api/v1/teams/{id}/members.
func (h *Handler) APITeamMemberAdd(ctx context.Context, in *TeamMemberAddInput) (*TeamOutput, error) {
	return h.teamChange(ctx, in.ID, func(actor db.Actor) error {
		return h.Store.AddTeamMember(ctx, in.ID, in.Body.Email, db.TeamRole(in.Body.Role), actor)
	})
}

// APITeamMemberRole is POST /api/v1/teams/{id}/members/{user_id}/role.
func (h *Handler) APITeamMemberRole(ctx context.Context, in *TeamMemberRoleInput) (*TeamOutput, error) {
	return h.teamChange(ctx, in.ID, func(actor db.Actor) error {
		return h.Store.SetTeamMemberRole(ctx, in.ID, in.UserID, db.TeamRole(in.Body.Role), actor)
	})
}

// APITeamMemberRemove is POST /api/v1/teams/{id}/members/{user_id}/remove.
func (h *Handler) APITeamMemberRemove(ctx context.Context, in *TeamMemberPath) (*TeamOutput, error) {
	return h.teamChange(ctx, in.ID, func(actor db.Actor) error {
		return h.Store.RemoveTeamMember(ctx, in.ID, in.UserID, actor)
	})
}

// apiTeamAccess is teamAccess for the caller's token.
func (h *Handler) apiTeamAccess(ctx context.Context, id int64, manage bool) (db.Team, bool, error) {
	c := callerFrom(ctx)
	return h.teamAccess(ctx, id, c.User.ID, c.Token.Has(db.PermAdminRead), c.Token.Has(db.PermAdminWrite), manage)
}

// teamChange runs fn as the caller on a team they manage and answers the
// team as it is after.
func (h *Handler) teamChange(ctx context.Context, id int64, fn func(db.Actor) error) (*TeamOutput, error) {
	if _, _, err := h.apiTeamAccess(ctx, id, true); err != nil {
		return nil, err
	}
	if err := fn(callerFrom(ctx).Actor()); err != nil {
		return nil, err
	}
	t, canManage, err := h.apiTeamAccess(ctx, id, false)
	if errors.Is(err, db.ErrNotFound) {
		// A maintainer who took themselves out: the change is done and
		// they see the team as they left it, without a role in it.
		t, err = h.Store.GetTeam(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	return h.teamOutput(ctx, t, canManage)
}

func (h *Handler) teamOutput(ctx context.Context, t db.Team, canManage bool) (*TeamOutput, error) {
	people, err := h.Store.TeamMembers(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	out := &TeamOutput{Body: APITeamDetail{APITeam: apiTeam(t), CanManage: canManage, People: make([]APITeamMember, len(people))}}
	for i, p := range people {
		out.Body.People[i] = APITeamMember{UserID: p.UserID, Email: p.Email, Role: string(p.Role), AddedAt: p.AddedAt, Disabled: p.Disabled}
	}
	return out, nil
}
