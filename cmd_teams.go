package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward/db"
)

// teams dispatches `keyward teams list|add|member`.
func (a *app) teams(ctx context.Context, args []string) error {
	rest, err := a.parse(a.newFlagSet("teams"), args, false, "teams")
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("teams needs a command: list, add or member")
	}
	switch rest[0] {
	case "list":
		return a.teamsList(ctx, rest[1:])
	case "add":
		return a.teamsAdd(ctx, rest[1:])
	case "member":
		return a.teamsMember(ctx, rest[1:])
	default:
		return usagef("unknown command \"teams %s\" (want list, add or member)", rest[0])
	}
}

// teamJSON is one team in `teams list --json`; scripts rely on these names.
type teamJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Owner       string `json:"owner"`
	Description string `json:"description"`
	Members     int    `json:"members"`
	Keys        int    `json:"keys"`
	CreatedAt   string `json:"created_at"`
}

// teamsList prints every team with its member and (unrevoked) key counts.
func (a *app) teamsList(ctx context.Context, args []string) error {
	fs := a.newFlagSet("teams list")
	asJSON := fs.Bool("json", false, "")
	pos, err := a.parse(fs, args, true, "teams")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("teams list takes no arguments, got %q", pos[0])
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	teams, err := store.ListTeams(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]teamJSON, 0, len(teams))
		for _, t := range teams {
			out = append(out, teamJSON{ID: t.ID, Name: t.Name, Owner: "team:" + t.Name, Description: t.Description,
				Members: t.Members, Keys: t.Keys, CreatedAt: t.CreatedAt.UTC().Format(time.RFC3339)})
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(teams) == 0 {
		fmt.Fprintln(a.stderr, "No teams yet. Create one with: keyward teams add NAME")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tMEMBERS\tKEYS\tDESCRIPTION")
	for _, t := range teams {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\n", t.ID, t.Name, t.Members, t.Keys, oneLine(t.Description))
	}
	return tw.Flush()
}

// teamsAdd creates a team.
func (a *app) teamsAdd(ctx context.Context, args []string) error {
	fs := a.newFlagSet("teams add")
	description := fs.String("description", "", "")
	pos, err := a.parse(fs, args, true, "teams")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("teams add needs one team name (lowercase letters, digits and . _ -)")
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	t, err := store.CreateTeam(ctx, pos[0], *description, db.CLIActor())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "Created team %s (id %d). Services see its keys' owner as team:%s.\n", t.Name, t.ID, t.Name)
	return nil
}

// teamsMember dispatches `teams member add|remove TEAM --email E`.
func (a *app) teamsMember(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "remove") {
		return usagef("teams member needs add or remove, then a team name and --email")
	}
	verb := args[0]
	fs := a.newFlagSet("teams member " + verb)
	email := fs.String("email", "", "")
	var maintainer *bool
	if verb == "add" {
		maintainer = fs.Bool("maintainer", false, "")
	}
	pos, err := a.parse(fs, args[1:], true, "teams")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("teams member %s needs one team name", verb)
	}
	if strings.TrimSpace(*email) == "" {
		return usagef("teams member %s needs --email", verb)
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	t, err := teamByName(ctx, store, pos[0])
	if err != nil {
		return err
	}
	if verb == "add" {
		role := db.TeamMember
		if *maintainer {
			role = db.TeamMaintainer
		}
		if err := store.AddTeamMember(ctx, t.ID, *email, role, db.CLIActor()); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "Added %s to team %s as %s.\n", db.NormalizeEmail(*email), t.Name, role)
		return nil
	}
	u, err := userByEmail(ctx, store, *email)
	if err != nil {
		return err
	}
	if err := store.RemoveTeamMember(ctx, t.ID, u.ID, db.CLIActor()); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "Removed %s from team %s. The team's keys stay the team's.\n", u.Email, t.Name)
	return nil
}

// teamByName finds a team, with an error naming the flag's value.
func teamByName(ctx context.Context, store *db.Store, name string) (db.Team, error) {
	t, err := store.GetTeamByName(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return db.Team{}, fmt.Errorf("no team is named %s (see keyward teams list)", strings.ToLower(strings.TrimSpace(name)))
	}
	return t, err
}

// keysTransfer gives a key to a team or a person (`keys transfer ID
// --to-team T | --to-user E`). The key keeps its id, secret and history.
func (a *app) keysTransfer(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keys transfer")
	toTeam := fs.String("to-team", "", "")
	toUser := fs.String("to-user", "", "")
	pos, err := a.parse(fs, args, true, "keys")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys transfer needs one key ID (see keys list)")
	}
	id, err := parseKeyID(pos[0])
	if err != nil {
		return err
	}
	if (*toTeam == "") == (*toUser == "") {
		return usagef("keys transfer needs exactly one of --to-team or --to-user")
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	var to db.TransferTarget
	if *toTeam != "" {
		t, err := teamByName(ctx, store, *toTeam)
		if err != nil {
			return err
		}
		to.TeamID = t.ID
	} else {
		u, err := userByEmail(ctx, store, *toUser)
		if err != nil {
			return err
		}
		to.UserID = u.ID
	}
	k, err := store.TransferKey(ctx, db.AnyOwner(), id, to, db.CLIActor())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "Key %d %q now belongs to %s. A running server answers the new owner within seconds.\n",
		k.ID, k.Name, k.Owner())
	return nil
}
