package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward/db"
)

// tokens dispatches `keyward tokens create|list|revoke`: management tokens
// (kwt_…) made by the operator on the host, for a person who cannot sign
// in to the dashboard to make one (a bootstrap script, a locked-out admin).
func (a *app) tokens(ctx context.Context, args []string) error {
	rest, err := a.parse(a.newFlagSet("tokens"), args, false, "tokens")
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("tokens needs a command: create, list or revoke")
	}
	switch rest[0] {
	case "create":
		return a.tokensCreate(ctx, rest[1:])
	case "list":
		return a.tokensList(ctx, rest[1:])
	case "revoke":
		return a.tokensRevoke(ctx, rest[1:])
	default:
		return usagef("unknown command \"tokens %s\" (want create, list or revoke)", rest[0])
	}
}

// defaultTokenExpiry is the dashboard form's default too: a token that
// nobody remembers stops working on its own.
const defaultTokenExpiry = "90d"

// tokensCreate makes a token for --user and prints it alone on stdout,
// the only time it exists in plaintext. Its permissions must be within
// what the person's role holds, as on the Account page.
func (a *app) tokensCreate(ctx context.Context, args []string) error {
	fs := a.newFlagSet("tokens create")
	user := fs.String("user", "", "")
	name := fs.String("name", "", "")
	perms := fs.String("permissions", "keys:read,keys:write", "")
	expires := fs.String("expires", defaultTokenExpiry, "")
	pos, err := a.parse(fs, args, true, "tokens")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("tokens create takes no arguments, got %q (quote a name with spaces)", pos[0])
	}
	if strings.TrimSpace(*user) == "" {
		return usagef("tokens create needs --user")
	}
	permissions, err := db.ParsePermissions(strings.Split(*perms, ","))
	if err != nil {
		return fmt.Errorf("--permissions: %w", err)
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	expiresAt, err := parseExpiry(*expires, store.Now())
	if err != nil {
		return err
	}
	u, err := userByEmail(ctx, store, *user)
	if err != nil {
		return err
	}
	t, secret, err := store.CreateAPIToken(ctx, u.ID, db.APITokenInput{Name: *name, Permissions: permissions, ExpiresAt: expiresAt}, db.CLIActor())
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, secret)
	fmt.Fprintf(a.stderr, "Created management token %d %q for %s (%s; expires: %s). It is not shown again.\n",
		t.ID, t.Name, u.Email, joinPerms(t.Permissions), expiryText(t.ExpiresAt))
	return nil
}

// tokenJSON is one token in `tokens list --json`. Times are RFC 3339 in
// UTC, or null.
type tokenJSON struct {
	ID          int64    `json:"id"`
	User        string   `json:"user"`
	Name        string   `json:"name"`
	Hint        string   `json:"hint"`
	Permissions []string `json:"permissions"`
	CreatedAt   string   `json:"created_at"`
	ExpiresAt   *string  `json:"expires_at"`
	LastUsedAt  *string  `json:"last_used_at"`
	LastUsedIP  string   `json:"last_used_ip"`
	RevokedAt   *string  `json:"revoked_at"`
	Status      string   `json:"status"`
}

// tokensList prints the tokens of --user, or of everyone, newest first.
func (a *app) tokensList(ctx context.Context, args []string) error {
	fs := a.newFlagSet("tokens list")
	user := fs.String("user", "", "")
	asJSON := fs.Bool("json", false, "")
	pos, err := a.parse(fs, args, true, "tokens")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("tokens list takes no arguments, got %q", pos[0])
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	var people []db.User
	if *user != "" {
		u, err := userByEmail(ctx, store, *user)
		if err != nil {
			return err
		}
		people = append(people, u)
	} else {
		all, err := store.ListUsers(ctx)
		if err != nil {
			return err
		}
		for _, s := range all {
			people = append(people, s.User)
		}
	}
	now := store.Now()
	out := []tokenJSON{}
	for _, u := range people {
		list, err := store.ListAPITokens(ctx, u.ID)
		if err != nil {
			return err
		}
		for _, t := range list {
			out = append(out, tokenJSON{ID: t.ID, User: u.Email, Name: t.Name, Hint: t.Hint,
				Permissions: permNames(t.Permissions), CreatedAt: t.CreatedAt.UTC().Format(time.RFC3339),
				ExpiresAt: rfc3339(t.ExpiresAt), LastUsedAt: rfc3339(t.LastUsedAt), LastUsedIP: t.LastUsedIP,
				RevokedAt: rfc3339(t.RevokedAt), Status: t.Status(now)})
		}
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(a.stderr, "No management tokens found.")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tNAME\tHINT\tPERMISSIONS\tSTATUS\tEXPIRES\tLAST USED")
	for _, t := range out {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, oneLine(t.Name), t.Hint,
			strings.Join(t.Permissions, ","), t.Status, orText(t.ExpiresAt, "never"), orText(t.LastUsedAt, "never"))
	}
	return tw.Flush()
}

// tokensRevoke ends any person's token for good.
func (a *app) tokensRevoke(ctx context.Context, args []string) error {
	pos, err := a.parse(a.newFlagSet("tokens revoke"), args, true, "tokens")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("tokens revoke needs one token ID")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usagef("tokens revoke: %q is not a token ID (see keyward tokens list)", pos[0])
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	t, err := store.RevokeAPIToken(ctx, 0, id, db.CLIActor())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "Revoked management token %d %q. A running server refuses it from the next call.\n", t.ID, t.Name)
	return nil
}

func permNames(ps []db.Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

func joinPerms(ps []db.Permission) string { return strings.Join(permNames(ps), ",") }

func expiryText(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func orText(s *string, none string) string {
	if s == nil {
		return none
	}
	return *s
}
