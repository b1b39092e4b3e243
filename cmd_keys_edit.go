package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/db"
)

// keyEditFlag is one flag of `keys edit`: its name, its help text and how
// its value becomes part of the edit. Every editable property of a key is
// one entry of keyEditFlags: registration, "was it given?", usage and help
// all read the table.
type keyEditFlag struct {
	name, help string
	apply      func(value string, now time.Time, p *keyEditPlan) error
}

// keyEditPlan is everything one `keys edit` changes, parsed and checked
// before anything is written. The name, description and expiry are one
// audited change (db.EditKey); scopes (the catalog's grant and approval
// rules, db.SetKeyScopes) and limits (db.SetKeyLimits) are changes of
// their own, as on the key page.
type keyEditPlan struct {
	ed         db.KeyEdit
	scopes     []string
	setScopes  bool
	allowed    []netip.Prefix
	setAllowed bool
	meta       string
	setMeta    bool
}

var keyEditFlags = []keyEditFlag{
	{"name", "a new name", func(v string, _ time.Time, p *keyEditPlan) error {
		p.ed.Name = &v
		return nil
	}},
	{"description", "a new description (\"\" clears it)", func(v string, _ time.Time, p *keyEditPlan) error {
		p.ed.Description = &v
		return nil
	}},
	{"expires", "never, a duration (30d, 12h), a date or an RFC 3339 time", func(v string, now time.Time, p *keyEditPlan) error {
		t, err := parseExpiry(v, now)
		if err != nil {
			return err
		}
		p.ed.SetExpiry, p.ed.ExpiresAt = true, t
		return nil
	}},
	{"scopes", "the key's scopes, comma-separated, from the catalog (\"\" removes all)", func(v string, _ time.Time, p *keyEditPlan) error {
		sc, err := db.ParseScopes(v)
		if err != nil {
			return fmt.Errorf("--scopes: %w", err)
		}
		p.scopes, p.setScopes = sc, true
		return nil
	}},
	{"allow-ip", "networks the key may be used from, comma-separated CIDRs or addresses (\"\": anywhere)", func(v string, _ time.Time, p *keyEditPlan) error {
		ips, err := db.ParseAllowedIPs(v)
		if err != nil {
			return fmt.Errorf("--allow-ip: %w", err)
		}
		p.allowed, p.setAllowed = ips, true
		return nil
	}},
	{"meta", "metadata returned to services, a JSON object (\"\" removes it)", func(v string, _ time.Time, p *keyEditPlan) error {
		m, err := db.CheckMeta(v)
		if err != nil {
			return fmt.Errorf("--meta: %w", err)
		}
		p.meta, p.setMeta = m, true
		return nil
	}},
}

// apply writes the plan: scopes first (the catalog may refuse them),
// then the limits, then the name, description and expiry.
func (p *keyEditPlan) apply(ctx context.Context, store *db.Store, id int64) (db.Key, error) {
	access, actor := db.AnyOwner(), db.CLIActor()
	k, err := store.GetKey(ctx, access, id)
	if err != nil {
		return db.Key{}, err
	}
	if p.setScopes {
		if k, err = store.SetKeyScopes(ctx, access, id, p.scopes, actor); err != nil {
			return db.Key{}, err
		}
	}
	if p.setAllowed || p.setMeta {
		allowed, meta := k.AllowedIPs, k.Meta
		if p.setAllowed {
			allowed = p.allowed
		}
		if p.setMeta {
			meta = p.meta
		}
		if k, err = store.SetKeyLimits(ctx, access, id, allowed, meta, actor); err != nil {
			return db.Key{}, err
		}
	}
	if p.ed != (db.KeyEdit{}) {
		if k, err = store.EditKey(ctx, access, id, p.ed, actor); err != nil {
			return db.Key{}, err
		}
	}
	return k, nil
}

// keysEdit changes a key after its creation, with the rules of the key
// page (db.EditKey): a revoked key is final; the expiry shortens freely and
// lengthens only within the lifetime policy counted from the key's
// creation. Only the flags given change anything. The CLI acts as an
// admin: any owner's key. The updated key is printed on stdout, as a
// table row or with --json as one object of `keys list --json`.
func (a *app) keysEdit(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keys edit")
	values := make(map[string]*string, len(keyEditFlags))
	for _, f := range keyEditFlags {
		values[f.name] = fs.String(f.name, "", "")
	}
	asJSON := fs.Bool("json", false, "")
	pos, err := a.parse(fs, args, true, "keys")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys edit needs one key ID (see keys list)")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usagef("%q is not a key ID: use the number in the ID column of keys list", pos[0])
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !anyEditFlag(given) {
		return usagef("keys edit needs at least one of %s", editFlagNames())
	}
	rc, err := a.remote()
	if err != nil {
		return err
	}
	if rc != nil {
		return a.remoteKeysEdit(ctx, rc, id, values, given, *asJSON)
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()

	var plan keyEditPlan
	for _, f := range keyEditFlags {
		if !given[f.name] {
			continue
		}
		if err := f.apply(*values[f.name], store.Now(), &plan); err != nil {
			return err
		}
	}
	k, err := plan.apply(ctx, store, id)
	if err != nil {
		return err
	}
	return a.printSavedKey(keyViewOf(k, store.Now()), *asJSON)
}

// printSavedKey reports an edited key: a note on stderr, the key on
// stdout as a table row or, with --json, one object of keys list --json.
func (a *app) printSavedKey(k keyView, asJSON bool) error {
	fmt.Fprintf(a.stderr, "Saved key %d %q of %s. A running server applies it within seconds.\n", k.ID, k.Name, k.Owner)
	if asJSON {
		return writeJSON(a.stdout, k.json())
	}
	return writeKeysTable(a.stdout, []keyView{k})
}

func anyEditFlag(given map[string]bool) bool {
	for _, f := range keyEditFlags {
		if given[f.name] {
			return true
		}
	}
	return false
}

// editFlagNames lists the edit flags for messages and help.
func editFlagNames() string {
	names := make([]string, len(keyEditFlags))
	for i, f := range keyEditFlags {
		names[i] = "--" + f.name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// keyEditHelp is the flags part of `keyward help keys` for keys edit.
func keyEditHelp() string {
	var b strings.Builder
	for _, f := range keyEditFlags {
		fmt.Fprintf(&b, "  --%-12s %s\n", f.name, f.help)
	}
	return b.String()
}
