package main

import (
	"fmt"
	"io"
)

const helpOverview = `Keyward: a self-hosted API-key manager.

Usage:
  keyward [serve]                 serve the dashboard and the key API (the default)
  keyward user add --email E [--admin]
                                  create a user; the password is read from stdin,
                                  or generated and printed alone on stdout
  keyward user disable E          stop a user: sessions end, keys stop working
  keyward user enable E           let a disabled user back in
  keyward keys create --user E --name N [--expires 30d] [--scopes a,b] [--description D]
                                  create a key and print it alone on stdout, once
  keyward keys list [--user E] [--status S] [--stale] [--json]
                                  list keys as a table, or as JSON for scripts
  keyward keys revoke ID [--reason R]
                                  revoke a key for good
  keyward keys transfer ID --to-team T | --to-user E
                                  give a key to a team or another person
  keyward teams list [--json]     list teams with their member and key counts
  keyward teams add NAME [--description D]
                                  create a team (a key owner that outlives people)
  keyward teams member add TEAM --email E [--maintainer]
  keyward teams member remove TEAM --email E
                                  add or remove a person (maintainers manage the
                                  team's keys and people; members see them)
  keyward backup FILE             write a consistent copy of the database to FILE
  keyward db copy --to postgres://… [--from FILE]
                                  move a SQLite database into an empty PostgreSQL one
  keyward version                 print the version and the schema versions
  keyward help [COMMAND]          show this help, or a command's

Secrets (a key, a generated password) go alone to stdout, messages to
stderr; errors exit non-zero. Run 'keyward help COMMAND' for details.
`

const helpServe = `Usage: keyward [serve] [global options]

Serves the dashboard, POST /api/v1/keys/verify, GET /api/v1/auth (forward
auth), /healthz and /metrics. While no admin exists, prints a one-time link
that creates the first admin. SIGINT or SIGTERM stop it gracefully: requests
in flight get 15 seconds to finish and recorded key usage is written.

At start-up it upgrades the database's schema to this version's. It is the
only command that does: the others refuse a database whose schema is older
than theirs, and every command refuses one a newer version has upgraded.
`

const helpUser = `Usage:
  keyward user add --email E [--admin]
  keyward user disable E
  keyward user enable E

user add creates a member (an admin with --admin). The first line of
stdin is the password, e.g.
    printf '%s\n' "$PASSWORD" | keyward user add --email ann@example.com
When stdin is a terminal or empty (</dev/null), a random password is
generated and printed alone on stdout; an empty line is refused.
Passwords need at least 15 characters and must not be easy to guess.

user disable ends the user's sessions at once and makes their keys fail
verification; user enable reverses it. The last active admin cannot be
disabled.
`

const helpKeys = `Usage:
  keyward keys create --user E --name N [--team T] [--expires WHEN] [--scopes a,b] [--description D]
  keyward keys list [--user E] [--status S] [--stale] [--json]
  keyward keys revoke ID [--reason R]
  keyward keys transfer ID --to-team T | --to-user E

keys create prints the new key alone on stdout; it is never shown again.
  --expires  never (default), a duration (30d, 12h, 90m), a date (2027-01-31,
             the key expires at the start of that day, UTC) or an RFC 3339 time
  --scopes   comma-separated: lowercase letters, digits and : . _ -
  --team     the key belongs to team T (services see owner team:T); the
             --user creating it must be a maintainer of T

keys list prints ID, USER (the owner: an email, or team:NAME), NAME, HINT,
STATUS, CREATED, LAST USED and EXPIRES (times in UTC), newest first.
  --user     the keys E manages: their own and their teams' where they
             are a maintainer
  --status   active, expiring, expired, disabled or revoked (a disabled
             user's keys are disabled: they fail verification)
  --stale    only keys neither revoked nor expired (disabled ones included)
             unused for the stale threshold (default 90 days) or never used
             and older than 30 days: the candidates for revocation
  --json     an array of objects with id, user, name, hint, scopes,
             created_at, expires_at, last_used_at (RFC 3339 or null), status,
             owner (an email or team:NAME) and owner_type (user or team);
             user is the person who made the key

keys revoke ends a key for good. A running server stops accepting it within
half a second (it checks the database for changes made outside it four
times a second).

keys transfer gives a key to a team (--to-team) or to another active person
(--to-user). The key keeps its id, secret, usage and history; services see
the new owner within seconds.
`

const helpTeams = `Usage:
  keyward teams list [--json]
  keyward teams add NAME [--description D]
  keyward teams member add TEAM --email E [--maintainer]
  keyward teams member remove TEAM --email E

A team owns keys that keep working when the people who made them leave.
Services see a team key's owner as team:NAME. Maintainers manage the
team's keys and people; members see the team's keys.
  NAME       lowercase letters, digits and . _ - (up to 63 characters)
  --json     an array of objects with id, name, owner, description,
             members, keys (not revoked) and created_at
A disabled person cannot be added. Removing a person leaves the team's
keys, including those they made, with the team.
`

const helpBackup = `Usage: keyward backup FILE

Checks the database's integrity, then writes a consistent copy to FILE
(which must not exist) while the server keeps running. FILE is readable by
its owner only (0600): it holds password hashes, emails and the audit log.
To restore, stop the server and copy FILE over the database file (--db).
`

const helpDB = `Usage: keyward db copy --to postgres://USER@HOST/DATABASE [--from FILE]

Copies every table of the SQLite database FILE (default: --db, when it is
a file) into an empty PostgreSQL database, in one transaction: users,
sessions, keys (same ids, hashes and states: they keep verifying), usage,
audit events, invites and reset links, settings, server secrets, sign-in
back-off and job leases. The target gets its schema from this keyward;
the source must be at this keyward's schema too (start this version's
keyward serve on it once if it is older).

Before committing, each table is read back from PostgreSQL and compared
with the source: row count and a SHA-256 of its rows. Any difference, or
any row already in the target, and nothing is written. Each table's rows
and checksum are printed on stderr; stdout stays empty.

The source is read as one consistent snapshot, so the copy can run while
a server writes to it, but what is written after the snapshot is not
copied: stop the server first, copy, then start the instances on
PostgreSQL. A password may be in the URL, but the process list shows
arguments: prefer PGPASSWORD or ~/.pgpass. Passwords are never printed.
`

const helpVersion = `Usage: keyward version

Prints the version alone on stdout. On stderr follow the schema this
keyward creates and, when the database (--db) exists, the schema it has,
read without creating or changing anything.
`

// helpTopics maps a command to its help; "" is the overview.
var helpTopics = map[string]string{
	"":        helpOverview,
	"serve":   helpServe,
	"user":    helpUser,
	"keys":    helpKeys,
	"teams":   helpTeams,
	"backup":  helpBackup,
	"db":      helpDB,
	"version": helpVersion,
}

// writeHelp prints the help for topic followed by the global options,
// which every command accepts.
func (a *app) writeHelp(w io.Writer, topic string) {
	fmt.Fprint(w, helpTopics[topic])
	fmt.Fprintln(w)
	a.g.writeHelp(w)
}

// help prints the overview or one command's help on stdout.
func (a *app) help(args []string) error {
	topic := ""
	if len(args) > 0 {
		topic = args[0]
	}
	if _, ok := helpTopics[topic]; !ok {
		return usagef("no help for %q", topic)
	}
	a.writeHelp(a.stdout, topic)
	return nil
}
