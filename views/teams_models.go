package views

import "time"

// TeamRow is one team in a list.
type TeamRow struct {
	ID          int64
	Name        string
	Description string
	Members     int
	Keys        int
	// MyRole is the viewer's role ("maintainer", "member"), "" for an
	// admin who is not in the team.
	MyRole string
}

// TeamsPage is GET /teams: the viewer's teams (every team for an admin or
// an auditor), and for admins the form that creates one.
type TeamsPage struct {
	Layout
	Teams  []TeamRow
	CanAdd bool
	// AllTeams: the list is every team (an admin or an auditor), so an
	// empty one means there are none, not that the viewer is in none.
	AllTeams bool
	// ReadOnlyNote, when set, says why the page offers no actions.
	ReadOnlyNote string
	AddName      string
	AddDesc      string
	Errors       FieldErrors // "name", "description"
}

// TeamMemberRow is one person of a team.
type TeamMemberRow struct {
	UserID   int64
	Email    string
	Role     string
	AddedAt  time.Time
	Disabled bool
}

// TeamPage is GET /teams/{id}: its people and its keys. CanManage (a
// maintainer or an admin) adds the member forms.
type TeamPage struct {
	Layout
	Team      TeamRow
	Members   []TeamMemberRow
	Keys      []KeyRow
	CanManage bool
	// ReadOnlyNote, when set (an auditor), says why the page offers no
	// actions.
	ReadOnlyNote string
	AddEmail     string
	AddRole      string
	Errors       FieldErrors // "email", "role"
}

// TransferForm is the key page's "Transfer" section: the teams the viewer
// may give the key to and, for admins, a person.
type TransferForm struct {
	Teams    []TeamRow
	ToPerson bool // the viewer is an admin
	Team     string
	User     string
	Errors   FieldErrors // "team", "user"
}

// DisableUserPage is the step before disabling a person who owns working
// personal keys: give them to a team or a person first, or let them fail.
type DisableUserPage struct {
	Layout
	UserID int64
	Email  string
	Keys   []KeyRow
	Teams  []TeamRow
	Choice string // "team", "user", "fail"
	Team   string
	User   string
	Errors FieldErrors // "team", "user"
}
