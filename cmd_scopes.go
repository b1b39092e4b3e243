package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/keyward/keyward/db"
)

// scopes dispatches `keyward scopes list|add|retire`: the scope catalog,
// managed from the host as an admin would.
func (a *app) scopes(ctx context.Context, args []string) error {
	rest, err := a.parse(a.newFlagSet("scopes"), args, false, "scopes")
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("scopes needs a command: list, add or retire")
	}
	switch rest[0] {
	case "list":
		return a.scopesList(ctx, rest[1:])
	case "add":
		return a.scopesAdd(ctx, rest[1:])
	case "retire":
		return a.scopesRetire(ctx, rest[1:])
	default:
		return usagef("unknown command \"scopes %s\" (want list, add or retire)", rest[0])
	}
}

// scopeJSON is one catalog entry in scopes list --json.
type scopeJSON struct {
	Name          string  `json:"name"`
	Description   string  `json:"description"`
	Grant         string  `json:"grant"` // "member" or "admin"
	NeedsApproval bool    `json:"needs_approval"`
	RetiredAt     *string `json:"retired_at"`
	Keys          int     `json:"keys"`
}

// scopesList prints the catalog as a table, or as JSON for scripts.
func (a *app) scopesList(ctx context.Context, args []string) error {
	fs := a.newFlagSet("scopes list")
	asJSON := fs.Bool("json", false, "")
	pos, err := a.parse(fs, args, true, "scopes")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("scopes list takes no arguments, got %q", pos[0])
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	list, err := store.ListScopes(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]scopeJSON, 0, len(list))
		for _, sc := range list {
			grant := string(db.RoleMember)
			if sc.AdminOnly {
				grant = string(db.RoleAdmin)
			}
			out = append(out, scopeJSON{Name: sc.Name, Description: sc.Description, Grant: grant,
				NeedsApproval: sc.NeedsApproval, RetiredAt: rfc3339(sc.RetiredAt), Keys: sc.Keys})
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tGRANT\tAPPROVAL\tKEYS\tSTATE\tDESCRIPTION")
	for _, sc := range list {
		grant, approval, state := "members", "no", "active"
		if sc.AdminOnly {
			grant = "admins"
		}
		if sc.NeedsApproval {
			approval = "yes"
		}
		if sc.Retired() {
			state = "retired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", sc.Name, grant, approval, sc.Keys, state, oneLine(sc.Description))
	}
	return tw.Flush()
}

// scopesAdd adds a scope to the catalog.
func (a *app) scopesAdd(ctx context.Context, args []string) error {
	fs := a.newFlagSet("scopes add")
	description := fs.String("description", "", "")
	adminOnly := fs.Bool("admin-only", false, "")
	approval := fs.Bool("needs-approval", false, "")
	pos, err := a.parse(fs, args, true, "scopes")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("scopes add needs one scope NAME")
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	sc, err := store.CreateScope(ctx, db.ScopeInput{Name: pos[0], Description: *description,
		AdminOnly: *adminOnly, NeedsApproval: *approval}, db.CLIActor())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "Added %q to the catalog.\n", sc.Name)
	return nil
}

// scopesRetire retires a scope and names, on stderr, the keys that keep it.
func (a *app) scopesRetire(ctx context.Context, args []string) error {
	pos, err := a.parse(a.newFlagSet("scopes retire"), args, true, "scopes")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("scopes retire needs one scope NAME")
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := store.SetScopeRetired(ctx, pos[0], true, db.CLIActor())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "Retired %q: no key can be given it any more. %d key(s) carry it and keep it until edited:\n", pos[0], len(keys))
	for _, k := range keys {
		fmt.Fprintf(a.stderr, "  %d\t%s\t%s\n", k.ID, k.Name, k.Owner())
	}
	return nil
}
