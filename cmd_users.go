package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward/db"
)

// `keyward users list` and `users invite`, locally and with --server, and
// the remote forms of `users role|disable|enable`. Like the key commands,
// both sides build the same view (userView) and print it with the same
// functions, so that their output is the same bytes.

// userView is a person as the CLI prints them.
type userView struct {
	ID          int64
	Email       string
	Role        string
	CreatedAt   time.Time
	DisabledAt  *time.Time
	LastLoginAt *time.Time
	ActiveKeys  int
}

// userJSON is one person in `users list --json`; scripts rely on these
// names, the management API's.
type userJSON struct {
	ID          int64   `json:"id"`
	Email       string  `json:"email"`
	Role        string  `json:"role"`
	CreatedAt   string  `json:"created_at"`
	DisabledAt  *string `json:"disabled_at"`
	LastLoginAt *string `json:"last_login_at"`
	ActiveKeys  int     `json:"active_keys"`
}

func (u userView) json() userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339),
		DisabledAt: rfc3339(u.DisabledAt), LastLoginAt: rfc3339(u.LastLoginAt), ActiveKeys: u.ActiveKeys}
}

func writeUsersTable(w io.Writer, users []userView) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tSTATUS\tACTIVE KEYS\tCREATED\tLAST LOGIN")
	for _, u := range users {
		status := "active"
		if u.DisabledAt != nil {
			status = "disabled"
		}
		created := u.CreatedAt
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", u.ID, u.Email, u.Role, status, u.ActiveKeys,
			formatTime(&created, ""), formatTime(u.LastLoginAt, "never"))
	}
	return tw.Flush()
}

// usersList prints every person, by email, with how many of their keys
// would verify now.
func (a *app) usersList(ctx context.Context, args []string) error {
	fs := a.newFlagSet("users list")
	asJSON := fs.Bool("json", false, "")
	pos, err := a.parse(fs, args, true, "user")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("users list takes no arguments, got %q", pos[0])
	}
	var users []userView
	rc, err := a.remote()
	if err != nil {
		return err
	}
	if rc != nil {
		if users, err = rc.users(ctx); err != nil {
			return err
		}
	} else {
		store, _, err := a.openStore(ctx, false)
		if err != nil {
			return err
		}
		defer store.Close()
		list, err := store.ListUsers(ctx)
		if err != nil {
			return err
		}
		for _, u := range list {
			users = append(users, userView{ID: u.ID, Email: u.Email, Role: string(u.Role), CreatedAt: u.CreatedAt,
				DisabledAt: u.DisabledAt, LastLoginAt: u.LastLoginAt, ActiveKeys: u.ActiveKeys})
		}
	}
	if *asJSON {
		out := make([]userJSON, 0, len(users))
		for _, u := range users {
			out = append(out, u.json())
		}
		return writeJSON(a.stdout, out)
	}
	if len(users) == 0 {
		fmt.Fprintln(a.stderr, "No users yet.")
		return nil
	}
	return writeUsersTable(a.stdout, users)
}

// usersInvite makes a one-time link for a new person to set their own
// password, and prints it alone on stdout: it is a credential until used,
// and shown only this once.
func (a *app) usersInvite(ctx context.Context, args []string) error {
	fs := a.newFlagSet("users invite")
	email := fs.String("email", "", "")
	admin := fs.Bool("admin", false, "")
	auditor := fs.Bool("auditor", false, "")
	pos, err := a.parse(fs, args, true, "user")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("users invite takes no arguments; give the address with --email")
	}
	if *admin && *auditor {
		return usagef("users invite takes --admin or --auditor, not both")
	}
	if strings.TrimSpace(*email) == "" {
		return usagef("users invite needs --email")
	}
	role := db.RoleMember
	switch {
	case *admin:
		role = db.RoleAdmin
	case *auditor:
		role = db.RoleAuditor
	}
	rc, err := a.remote()
	if err != nil {
		return err
	}
	var link, invited string
	var expires time.Time
	// hand says who passes the link on: the admin, or, with e-mail
	// settings, the server that sends the invite from the outbox.
	hand := "send them the link on stdout"
	if rc != nil {
		var out struct {
			Invite struct {
				Email     string    `json:"email"`
				ExpiresAt time.Time `json:"expires_at"`
			} `json:"invite"`
			Link string `json:"link"`
		}
		body := map[string]string{"email": *email, "role": string(role)}
		if err := rc.do(ctx, request{method: http.MethodPost, path: "/api/v1/admin/invites", body: body}, &out); err != nil {
			return err
		}
		link, invited, expires = out.Link, out.Invite.Email, out.Invite.ExpiresAt
	} else {
		store, cfg, err := a.openStore(ctx, false)
		if err != nil {
			return err
		}
		defer store.Close()
		token, inv, err := store.CreateInvite(ctx, *email, role, db.CLIActor())
		if err != nil {
			return err
		}
		base := cfg.BaseURL
		if base == "" {
			base = "http://" + cfg.Addr
			fmt.Fprintf(a.stderr, "No --base-url (KEYWARD_BASE_URL): the link assumes %s.\n", base)
		}
		link, invited, expires = base+"/invite/"+token, inv.Email, inv.ExpiresAt
		if cfg.SMTP != nil {
			hand = "a server with these e-mail settings mails them the link, which is on stdout too"
		}
	}
	fmt.Fprintln(a.stdout, link)
	fmt.Fprintf(a.stderr, "Invited %s as %s: %s. It works once, until %s, and is not shown again.\n",
		invited, role, hand, expires.UTC().Format(time.RFC3339))
	return nil
}

// remoteUser is the management API's user (APIUserSummary).
type remoteUser struct {
	ID          int64      `json:"id"`
	Email       string     `json:"email"`
	Role        string     `json:"role"`
	CreatedAt   time.Time  `json:"created_at"`
	DisabledAt  *time.Time `json:"disabled_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
	ActiveKeys  int        `json:"active_keys"`
}

// users lists every person through the management API.
func (rc *remoteClient) users(ctx context.Context) ([]userView, error) {
	list, err := remoteListAll[remoteUser](ctx, rc, "/api/v1/admin/users", nil)
	if err != nil {
		return nil, err
	}
	out := make([]userView, len(list))
	for i, u := range list {
		out[i] = userView(u)
	}
	return out, nil
}

// userByEmail finds a person by email on the server: the API names users
// by id, people by address.
func (rc *remoteClient) userByEmail(ctx context.Context, email string) (userView, error) {
	users, err := rc.users(ctx)
	if err != nil {
		return userView{}, err
	}
	want := db.NormalizeEmail(email)
	for _, u := range users {
		if db.NormalizeEmail(u.Email) == want {
			return u, nil
		}
	}
	return userView{}, fmt.Errorf("no user has the email %s", want)
}

// userAction posts to /api/v1/admin/users/{id}/ACTION.
func (rc *remoteClient) userAction(ctx context.Context, id int64, action string, body any) error {
	path := "/api/v1/admin/users/" + strconv.FormatInt(id, 10) + "/" + action
	return rc.do(ctx, request{method: http.MethodPost, path: path, body: body}, nil)
}

// printUserDisabled is the one output of user disable/enable.
func (a *app) printUserDisabled(email string, disabled, already bool) {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	switch {
	case already:
		fmt.Fprintf(a.stderr, "%s is already %sd.\n", email, verb)
	case disabled:
		fmt.Fprintf(a.stderr, "Disabled %s: their sessions ended and their keys no longer verify.\n", email)
	default:
		fmt.Fprintf(a.stderr, "Enabled %s: they can sign in and their keys verify again.\n", email)
	}
}

// printUserRole is the one output of user role.
func (a *app) printUserRole(email string, role db.Role) {
	fmt.Fprintf(a.stderr, "%s is now %s. A signed-in browser gets the new role on its next request.\n", email, role)
}
