package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/db"
)

// keysRoll replaces a key with a new one of the same name, scopes and
// limits, and prints the new secret alone on stdout, once. The old key
// keeps working for --grace, then expires (db.RollKey). With --server the
// server rolls it (remoteKeysRoll).
func (a *app) keysRoll(ctx context.Context, args []string) error {
	fs := a.newFlagSet("keys roll")
	graceArg := fs.String("grace", "0", "")
	pos, err := a.parse(fs, args, true, "keys")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys roll needs one key ID (see keys list)")
	}
	id, err := parseKeyID(pos[0])
	if err != nil {
		return err
	}
	grace, err := parseGrace(*graceArg)
	if err != nil {
		return err
	}
	rc, err := a.remote()
	if err != nil {
		return err
	}
	if rc != nil {
		return a.remoteKeysRoll(ctx, rc, id, grace)
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()

	k, err := store.GetKey(ctx, db.AnyOwner(), id)
	if err != nil {
		return err
	}
	owner, err := rollOwner(ctx, store, k)
	if err != nil {
		return err
	}
	nk, secret, old, err := store.RollKey(ctx, owner, id, grace, db.CLIActor())
	if err != nil {
		return rollError(err)
	}
	a.printRolled(keyViewOf(nk, store.Now()), secret, keyViewOf(old, store.Now()))
	return nil
}

// printRolled is the one output of a roll, local or remote: the new
// secret alone on stdout, what happened on stderr.
func (a *app) printRolled(nk keyView, secret string, old keyView) {
	fmt.Fprintln(a.stdout, secret)
	until := "now"
	if old.ExpiresAt != nil {
		until = old.ExpiresAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(a.stderr, "Rolled key %d %q of %s into key %d; the old key works until %s. The new key is not shown again.\n",
		old.ID, old.Name, old.Owner, nk.ID, until)
}

// rollError names the successor when the key was rolled before: a key is
// rolled once, and its successor's secret was shown then.
func rollError(err error) error {
	if ac, ok := errors.AsType[*db.AlreadyCreatedError](err); ok {
		return fmt.Errorf("this key was already rolled into key %d %q; roll that one instead", ac.KeyID, ac.KeyName)
	}
	return err
}

// rollOwner is whom the command line rolls key k as. db.RollKey rolls
// only as someone who manages the key, since the new secret is their
// working credential: a personal key's owner; for a team key its creator
// while they still maintain the team, else the team's first active
// maintainer.
func rollOwner(ctx context.Context, store *db.Store, k db.Key) (int64, error) {
	if k.TeamID == 0 {
		return k.UserID, nil
	}
	members, err := store.TeamMembers(ctx, k.TeamID)
	if err != nil {
		return 0, err
	}
	first := int64(0)
	for _, m := range members {
		if m.Role != db.TeamMaintainer || m.Disabled {
			continue
		}
		if m.UserID == k.UserID {
			return m.UserID, nil
		}
		if first == 0 {
			first = m.UserID
		}
	}
	if first == 0 {
		return 0, fmt.Errorf("team %s has no active maintainer to roll its key as: add one with keyward teams member add %s --email E --maintainer",
			k.TeamName, k.TeamName)
	}
	return first, nil
}

// parseGrace reads --grace: 0 (the old key stops at once), a number of
// days ("7d") or a Go duration ("1h", "24h"). Which graces are allowed is
// the server's (or the database's) policy, which refuses the others.
func parseGrace(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("--grace: %q is not a duration like 0, 1h, 24h or 7d", s)
	if s == "0" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, bad
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, bad
	}
	return d, nil
}

// keysSetDisabled disables a key (it stops verifying at once; --reason is
// recorded) or enables it again. Asking for the state the key is in
// changes nothing and says so.
func (a *app) keysSetDisabled(ctx context.Context, args []string, disabled bool) error {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	fs := a.newFlagSet("keys " + verb)
	var reason *string
	if disabled {
		reason = fs.String("reason", "", "")
	}
	pos, err := a.parse(fs, args, true, "keys")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys %s needs one key ID (see keys list)", verb)
	}
	id, err := parseKeyID(pos[0])
	if err != nil {
		return err
	}
	why := ""
	if reason != nil {
		why = *reason
	}
	rc, err := a.remote()
	if err != nil {
		return err
	}
	if rc != nil {
		return a.remoteKeysSetDisabled(ctx, rc, id, disabled, why)
	}
	store, _, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()

	before, err := store.GetKey(ctx, db.AnyOwner(), id)
	if err != nil {
		return err
	}
	k, err := store.SetKeyDisabled(ctx, db.AnyOwner(), id, disabled, why, db.CLIActor())
	if err != nil {
		return err
	}
	a.printDisabled(keyViewOf(k, store.Now()), disabled, (before.DisabledAt != nil) == disabled)
	return nil
}

// printDisabled reports a disable or enable on stderr, local or remote.
func (a *app) printDisabled(k keyView, disabled, already bool) {
	switch {
	case already && disabled:
		fmt.Fprintf(a.stderr, "Key %d %q of %s is already disabled.\n", k.ID, k.Name, k.Owner)
	case already:
		fmt.Fprintf(a.stderr, "Key %d %q of %s is already enabled.\n", k.ID, k.Name, k.Owner)
	case disabled:
		fmt.Fprintf(a.stderr, "Disabled key %d %q of %s. A running server refuses it within seconds; keys enable %d undoes it.\n",
			k.ID, k.Name, k.Owner, k.ID)
	default:
		fmt.Fprintf(a.stderr, "Enabled key %d %q of %s: it is %s.\n", k.ID, k.Name, k.Owner, k.Status)
	}
}
