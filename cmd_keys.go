package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
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

// printCreated is the one output of keys create, local or remote: the
// secret alone on stdout, what was made on stderr.
func (a *app) printCreated(k keyView, secret string) {
	fmt.Fprintln(a.stdout, secret)
	exp := "never"
	if k.ExpiresAt != nil {
		exp = k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(a.stderr, "Created key %d %q for %s (expires: %s). It is not shown again.\n",
		k.ID, k.Name, k.Owner, exp)
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

// keyView is a key as the CLI prints it, read from the database
// (keyViewOf) or from a server's management API (remoteKey.view). Both
// print through the same functions below, so that a command run locally
// and the same command run with --server write the same bytes.
type keyView struct {
	ID         int64
	User       string
	Name       string
	Hint       string
	Scopes     []string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	Status     db.KeyStatus
	Owner      string
	OwnerType  string
}

// keyViewOf is k as printed at now (its status depends on the time).
func keyViewOf(k db.Key, now time.Time) keyView {
	return keyView{ID: k.ID, User: k.OwnerEmail, Name: k.Name, Hint: k.Hint, Scopes: k.Scopes,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt,
		Status: k.Status(now), Owner: k.Owner(), OwnerType: k.OwnerType()}
}

func keyViewsOf(keys []db.Key, now time.Time) []keyView {
	out := make([]keyView, len(keys))
	for i, k := range keys {
		out[i] = keyViewOf(k, now)
	}
	return out
}

// keyJSON is one key in `keys list --json`; scripts rely on these names.
// Times are RFC 3339 in UTC, or null.
type keyJSON struct {
	ID         int64        `json:"id"`
	User       string       `json:"user"`
	Name       string       `json:"name"`
	Hint       string       `json:"hint"`
	Scopes     []string     `json:"scopes"`
	CreatedAt  string       `json:"created_at"`
	ExpiresAt  *string      `json:"expires_at"`
	LastUsedAt *string      `json:"last_used_at"`
	Status     db.KeyStatus `json:"status"`
	// Owner is the owner as services see it (user's email, or
	// "team:NAME"); User stays the person who made the key.
	Owner     string `json:"owner"`
	OwnerType string `json:"owner_type"`
}

func writeKeysJSON(w io.Writer, keys []keyView) error {
	out := make([]keyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.json())
	}
	return writeJSON(w, out)
}

// writeJSON writes v indented, as every --json output is.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// json is k as `keys list --json` (and `keys edit --json`) print it.
func (k keyView) json() keyJSON {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return keyJSON{
		ID:         k.ID,
		User:       k.User,
		Name:       k.Name,
		Hint:       k.Hint,
		Scopes:     scopes,
		CreatedAt:  k.CreatedAt.UTC().Format(time.RFC3339),
		ExpiresAt:  rfc3339(k.ExpiresAt),
		LastUsedAt: rfc3339(k.LastUsedAt),
		Status:     k.Status,
		Owner:      k.Owner,
		OwnerType:  k.OwnerType,
	}
}

func rfc3339(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

// tableTime is the table's time format, always in UTC (as the help says).
const tableTime = "2006-01-02 15:04"

func formatTime(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(tableTime)
}

func writeKeysTable(w io.Writer, keys []keyView) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tNAME\tHINT\tSTATUS\tCREATED\tLAST USED\tEXPIRES")
	for _, k := range keys {
		created := k.CreatedAt
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			k.ID, k.Owner, k.Name, k.Hint, k.Status,
			formatTime(&created, ""), formatTime(k.LastUsedAt, "never"), formatTime(k.ExpiresAt, "never"))
	}
	return tw.Flush()
}

// printKeys prints keys as keys list does: JSON, or a table (a note on
// stderr when there are none).
func (a *app) printKeys(keys []keyView, asJSON bool) error {
	if asJSON {
		return writeKeysJSON(a.stdout, keys)
	}
	if len(keys) == 0 {
		fmt.Fprintln(a.stderr, "No keys found.")
		return nil
	}
	return writeKeysTable(a.stdout, keys)
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

// printRevoked is the one output of keys revoke, local or remote.
func (a *app) printRevoked(k keyView) {
	fmt.Fprintf(a.stderr, "Revoked key %d %q of %s. A running server refuses it within seconds.\n",
		k.ID, k.Name, k.User)
}

// parseKeyID reads a key id argument.
func parseKeyID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%q is not a key ID: use the number in the ID column of keys list", s)
	}
	return id, nil
}
