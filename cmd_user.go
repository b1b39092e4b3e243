package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/keyward/keyward/db"
)

// user dispatches `keyward user add|list|invite|role|disable|enable`
// (`keyward users …` is the same command).
func (a *app) user(ctx context.Context, args []string) error {
	rest, err := a.parse(a.newFlagSet("user"), args, false, "user")
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("user needs a command: %s", userCommands)
	}
	switch rest[0] {
	case "add":
		return a.userAdd(ctx, rest[1:])
	case "list":
		return a.usersList(ctx, rest[1:])
	case "invite":
		return a.usersInvite(ctx, rest[1:])
	case "role":
		return a.userRole(ctx, rest[1:])
	case "disable":
		return a.userSetDisabled(ctx, rest[1:], true)
	case "enable":
		return a.userSetDisabled(ctx, rest[1:], false)
	default:
		return usagef("unknown command \"user %s\" (want %s)", rest[0], userCommands)
	}
}

// userCommands lists the user subcommands for messages.
const userCommands = "add, list, invite, role, disable or enable"

// userAdd creates a user. The password comes from the first line of stdin,
// so that it never appears in the process list or shell history; without
// one, a random password is generated and printed alone on stdout.
func (a *app) userAdd(ctx context.Context, args []string) error {
	fs := a.newFlagSet("user add")
	email := fs.String("email", "", "")
	admin := fs.Bool("admin", false, "")
	auditor := fs.Bool("auditor", false, "")
	pos, err := a.parse(fs, args, true, "user")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("user add takes no arguments; give the address with --email")
	}
	if *admin && *auditor {
		return usagef("user add takes --admin or --auditor, not both")
	}
	if strings.TrimSpace(*email) == "" {
		return usagef("user add needs --email")
	}
	password, given, err := readPasswordLine(a.stdin)
	if err != nil {
		return err
	}
	if !given {
		if password, err = db.GeneratePassword(*email); err != nil {
			return err
		}
	}
	store, _, err := a.openStore(ctx, true)
	if err != nil {
		return err
	}
	defer store.Close()

	role := db.RoleMember
	switch {
	case *admin:
		role = db.RoleAdmin
	case *auditor:
		role = db.RoleAuditor
	}
	u, err := store.CreateUser(ctx, *email, password, role, db.CLIActor())
	if err != nil {
		return err
	}
	if !given {
		fmt.Fprintln(a.stdout, password)
	}
	fmt.Fprintf(a.stderr, "Created %s %s (user %d).\n", u.Role, u.Email, u.ID)
	if !given {
		fmt.Fprintln(a.stderr, "The generated password is on stdout; it is not shown again.")
	}
	return nil
}

// maxPasswordInput bounds what is read from stdin; longer than any allowed
// password, so an overlong one is refused by the length rule.
const maxPasswordInput = 4096

// readPasswordLine returns the first line of r without its line ending.
// given is false when r is a terminal or ends before any byte: then the
// caller generates a password. An empty line is a given (empty) password
// and is refused as too short, rather than silently replaced.
func readPasswordLine(r io.Reader) (password string, given bool, err error) {
	if r == nil {
		return "", false, nil
	}
	if f, ok := r.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return "", false, nil
		}
	}
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordInput)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("read the password from stdin: %w", err)
	}
	if line == "" {
		return "", false, nil
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	return line, true, nil
}

// userSetDisabled disables or re-enables the user with the given email.
func (a *app) userSetDisabled(ctx context.Context, args []string, disabled bool) error {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	pos, err := a.parse(a.newFlagSet("user "+verb), args, true, "user")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("user %s needs one email address", verb)
	}
	rc, err := a.remote()
	if err != nil {
		return err
	}
	if rc != nil {
		u, err := rc.userByEmail(ctx, pos[0])
		if err != nil {
			return err
		}
		if already := (u.DisabledAt != nil) == disabled; !already {
			if err := rc.userAction(ctx, u.ID, verb, nil); err != nil {
				return err
			}
		}
		a.printUserDisabled(u.Email, disabled, (u.DisabledAt != nil) == disabled)
		return nil
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()

	u, err := userByEmail(ctx, store, pos[0])
	if err != nil {
		return err
	}
	if u.Disabled() != disabled {
		if err := store.SetUserDisabled(ctx, u.ID, disabled, db.CLIActor()); err != nil {
			return err
		}
	}
	a.printUserDisabled(u.Email, disabled, u.Disabled() == disabled)
	return nil
}

// userByEmail finds a user, naming the address when there is none.
func userByEmail(ctx context.Context, store *db.Store, email string) (db.User, error) {
	u, err := store.GetUserByEmail(ctx, email)
	if errors.Is(err, db.ErrNotFound) {
		return db.User{}, fmt.Errorf("no user has the email %s", db.NormalizeEmail(email))
	}
	return u, err
}

// userRole gives the user with the given email a role: admin, auditor or
// member. The rules are the users page's (db.SetUserRole): the last active
// admin keeps the role.
func (a *app) userRole(ctx context.Context, args []string) error {
	pos, err := a.parse(a.newFlagSet("user role"), args, true, "user")
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("user role needs an email and a role: admin, auditor or member")
	}
	role := db.Role(strings.ToLower(pos[1]))
	if !role.Valid() {
		return usagef("%q is not a role: use admin, auditor or member", pos[1])
	}
	rc, err := a.remote()
	if err != nil {
		return err
	}
	if rc != nil {
		u, err := rc.userByEmail(ctx, pos[0])
		if err != nil {
			return err
		}
		if err := rc.userAction(ctx, u.ID, "role", map[string]string{"role": string(role)}); err != nil {
			return err
		}
		a.printUserRole(u.Email, role)
		return nil
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	u, err := userByEmail(ctx, store, pos[0])
	if err != nil {
		return err
	}
	if err := store.SetUserRole(ctx, u.ID, role, db.CLIActor()); err != nil {
		return err
	}
	a.printUserRole(u.Email, role)
	return nil
}
