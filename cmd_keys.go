package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/db"
)

// keys dispatches `keyward keys create|list|edit|roll|disable|enable|revoke|transfer`.
func (a *app) keys(ctx context.Context, args []string) error {
	rest, err := a.parse(a.newFlagSet("keys"), args, false, "keys")
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("keys needs a command: %s", keyCommands)
	}
	switch rest[0] {
	case "create":
		return a.keysCreate(ctx, rest[1:])
	case "list":
		return a.keysList(ctx, rest[1:])
	case "edit":
		return a.keysEdit(ctx, rest[1:])
	case "roll":
		return a.keysRoll(ctx, rest[1:])
	case "disable":
		return a.keysSetDisabled(ctx, rest[1:], true)
	case "enable":
		return a.keysSetDisabled(ctx, rest[1:], false)
	case "revoke":
		return a.keysRevoke(ctx, rest[1:])
	case "transfer":
		return a.keysTransfer(ctx, rest[1:])
	default:
		return usagef("unknown command \"keys %s\" (want %s)", rest[0], keyCommands)
	}
}

// keyCommands lists the keys subcommands for messages.
const keyCommands = "create, list, edit, roll, disable, enable, revoke or transfer"

// keysCreate creates a key and prints it alone on stdout: the only time its
// plaintext exists, since only its SHA-256 is stored.
func (a *app) keysCreate(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keys create")
	user := fs.String("user", "", "")
	name := fs.String("name", "", "")
	expires := fs.String("expires", "never", "")
	scopesArg := fs.String("scopes", "", "")
	description := fs.String("description", "", "")
	team := fs.String("team", "", "")
	pos, err := a.parse(fs, args, true, "keys")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("keys create takes no arguments, got %q (quote a name with spaces)", pos[0])
	}
	rc, err := a.remote()
	if err != nil {
		return err
	}
	if rc == nil && strings.TrimSpace(*user) == "" {
		return usagef("keys create needs --user")
	}
	scopes, err := db.ParseScopes(*scopesArg)
	if err != nil {
		return fmt.Errorf("--scopes: %w", err)
	}
	if rc != nil {
		expiresAt, err := parseExpiry(*expires, time.Now())
		if err != nil {
			return err
		}
		in := db.KeyInput{Name: *name, Description: *description, Scopes: scopes, ExpiresAt: expiresAt}
		return a.remoteKeysCreate(ctx, rc, *user, in, *expires, *team)
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
	in := db.KeyInput{
		Name:        *name,
		Description: *description,
		Scopes:      scopes,
		ExpiresAt:   expiresAt,
	}
	if *team != "" {
		// The key is the team's; --user is its creator, who must
		// maintain the team.
		t, err := teamByName(ctx, store, *team)
		if err != nil {
			return err
		}
		in.TeamID = t.ID
	}
	k, secret, err := store.CreateKey(ctx, u.ID, in, db.CLIActor())
	if err != nil {
		return err
	}
	a.printCreated(keyViewOf(k, store.Now()), secret)
	return nil
}

// parseExpiry reads --expires: "never", a number of days ("30d"), a Go
// duration ("12h", "90m"), a date ("2027-01-31", meaning its first instant
// in UTC) or an RFC 3339 time. A time in the past is left for CreateKey to
// refuse with its own message.
func parseExpiry(s string, now time.Time) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "never") {
		return nil, nil
	}
	bad := fmt.Errorf("--expires: %q is not \"never\", a duration like 30d or 12h, a date like 2027-01-31 or an RFC 3339 time", s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return nil, bad
		}
		t := now.AddDate(0, 0, days)
		return &t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return nil, bad
		}
		t := now.Add(d)
		return &t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return &t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		t = t.UTC()
		return &t, nil
	}
	return nil, bad
}

// keysList prints keys as a table for people or as JSON for scripts.
func (a *app) keysList(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keys list")
	user := fs.String("user", "", "")
	status := fs.String("status", "", "")
	stale := fs.Bool("stale", false, "")
	asJSON := fs.Bool("json", false, "")
	pos, err := a.parse(fs, args, true, "keys")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("keys list takes no arguments, got %q", pos[0])
	}
	filter := db.KeyFilter{Stale: *stale}
	if s := strings.ToLower(strings.TrimSpace(*status)); s != "" {
		st, ok := db.ParseKeyStatus(s)
		if !ok {
			names := make([]string, len(db.KeyStatuses))
			for i, v := range db.KeyStatuses {
				names[i] = string(v)
			}
			return fmt.Errorf("--status: %q is not one of %s", *status, strings.Join(names, ", "))
		}
		filter.Status = st
	}
	rc, err := a.remote()
	if err != nil {
		return err
	}
	if rc != nil {
		return a.remoteKeysList(ctx, rc, *user, filter, *asJSON)
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()

	access := db.AnyOwner()
	if *user != "" {
		u, err := userByEmail(ctx, store, *user)
		if err != nil {
			return err
		}
		access = db.OwnedBy(u.ID)
	}
	keys, err := listAllKeys(ctx, store, access, filter)
	if err != nil {
		return err
	}
	return a.printKeys(keyViewsOf(keys, store.Now()), *asJSON)
}

// listAllKeys pages through ListKeys, which caps each page, so that the CLI
// shows every matching key.
func listAllKeys(ctx context.Context, store *db.Store, access db.KeyAccess, f db.KeyFilter) ([]db.Key, error) {
	var all []db.Key
	f.Limit = db.MaxKeyLimit
	for {
		page, err := store.ListKeys(ctx, access, f)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < f.Limit {
			return all, nil
		}
		f.Offset += len(page)
	}
}

// keysRevoke revokes a key by id, from any owner.
func (a *app) keysRevoke(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keys revoke")
	reason := fs.String("reason", "", "")
	pos, err := a.parse(fs, args, true, "keys")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys revoke needs one key ID (see keys list)")
	}
	id, err := parseKeyID(pos[0])
	if err != nil {
		return err
	}
	rc, err := a.remote()
	if err != nil {
		return err
	}
	if rc != nil {
		return a.remoteKeysRevoke(ctx, rc, id, *reason)
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()

	k, err := store.RevokeKey(ctx, db.AnyOwner(), id, *reason, db.CLIActor())
	if err != nil {
		return err
	}
	a.printRevoked(keyViewOf(k, store.Now()))
	return nil
}

// parseKeyID reads a key id argument.
func parseKeyID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%q is not a key ID: use the number in the ID column of keys list", s)
	}
	return id, nil
}
