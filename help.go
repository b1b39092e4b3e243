package main

import (
	"fmt"
	"io"
)

const helpOverview = `Keyward: a self-hosted API-key manager.

Usage:
  keyward [serve]                 serve the dashboard and the key API (the default)
  keyward user add --email E [--admin|--auditor]
                                  create a user; the password is read from stdin,
                                  or generated and printed alone on stdout
  keyward user role E ROLE        make a user an admin, an auditor or a member
  keyward user disable E          stop a user: sessions end, keys stop working
  keyward user enable E           let a disabled user back in
  keyward keys create --user E --name N [--expires 30d] [--scopes a,b] [--description D]
                                  create a key and print it alone on stdout, once
  keyward keys list [--user E] [--status S] [--stale] [--json]
                                  list keys as a table, or as JSON for scripts
  keyward keys edit ID [--name N] [--description D] [--expires WHEN] [--json]
                                  change a key after its creation
  keyward keys roll ID [--grace 1h]
                                  replace a key; print the new one alone on stdout
  keyward keys disable ID [--reason R] | keys enable ID
                                  stop a key for now, or let it work again
  keyward keys revoke ID [--reason R]
                                  revoke a key for good
  keyward users list|invite|role|disable|enable
                                  people (users is user: both names work)
  keyward --server URL keys …|users …
                                  the same commands against a Keyward's management
                                  API, with the token in KEYWARD_TOKEN
  keyward scopes list|add|retire  the scope catalog: which scopes keys may carry
  keyward keys transfer ID --to-team T | --to-user E
                                  give a key to a team or another person
  keyward teams list [--json]     list teams with their member and key counts
  keyward teams add NAME [--description D]
                                  create a team (a key owner that outlives people)
  keyward teams member add TEAM --email E [--maintainer]
  keyward teams member remove TEAM --email E
                                  add or remove a person (maintainers manage the
                                  team's keys and people; members see them)
  keyward tokens create --user E --name N [--permissions P,Q] [--expires 90d]
                                  create a management token and print it alone
                                  on stdout, once
  keyward tokens list [--user E] [--json]
                                  list management tokens
  keyward tokens revoke ID        revoke a management token
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

const helpUser = `Usage (users is the same command as user):
  keyward user add --email E [--admin|--auditor]
  keyward users list [--json]
  keyward users invite --email E [--admin|--auditor]
  keyward user role E admin|auditor|member
  keyward user disable E
  keyward user enable E

user add creates a member (an admin with --admin, an auditor with
--auditor: they read every admin page, key and audit event and change
nothing). The first line of
stdin is the password, e.g.
    printf '%s\n' "$PASSWORD" | keyward user add --email ann@example.com
When stdin is a terminal or empty (</dev/null), a random password is
generated and printed alone on stdout; an empty line is refused.
Passwords need at least 15 characters and must not be easy to guess.

users list prints ID, EMAIL, ROLE, STATUS, ACTIVE KEYS (keys that would
verify now), CREATED and LAST LOGIN (UTC), by email.
  --json     an array of objects with id, email, role, created_at,
             disabled_at, last_login_at (RFC 3339 or null) and active_keys

users invite prints a one-time link alone on stdout for the person to set
their own password (a member, an admin with --admin, an auditor with
--auditor). It is shown once; a new invite to the address replaces it.
Locally the link starts with --base-url (KEYWARD_BASE_URL).

user role gives a user another role; it applies on their next request.
The last active admin keeps the role.

user disable ends the user's sessions at once and makes their keys fail
verification; user enable reverses it. The last active admin cannot be
disabled.

Remote (--server URL, or KEYWARD_SERVER): list, invite, role, disable and
enable call that Keyward's management API with the token in KEYWARD_TOKEN
(admin:read to list, admin:write for the rest), with the same output. There
is no flag for the token, so it stays out of shell history and ps. add runs
locally only (a password belongs on the server's host; invite instead).
`

// #nosec G101 -- help text that names KEYWARD_TOKEN, not a credential.
var helpKeys = `Usage:
  keyward keys create --user E --name N [--team T] [--expires WHEN] [--scopes a,b] [--description D]
  keyward keys list [--user E] [--status S] [--stale] [--json]
  keyward keys edit ID [--name N] [--description D] [--expires WHEN] [--json]
  keyward keys roll ID [--grace 0|1h|24h|7d]
  keyward keys disable ID [--reason R]
  keyward keys enable ID
  keyward keys revoke ID [--reason R]
  keyward keys transfer ID --to-team T | --to-user E

keys create prints the new key alone on stdout; it is never shown again.
  --expires  never (default), a duration (30d, 12h, 90m), a date (2027-01-31,
             the key expires at the start of that day, UTC) or an RFC 3339 time
  --scopes   comma-separated scopes of the catalog (keyward scopes list);
             the command line grants as an admin, so approval scopes need
             no approval and admin-only ones are allowed
  --team     the key belongs to team T (services see owner team:T); the
             --user creating it must be a maintainer of T

keys list prints ID, USER (the owner: an email, or team:NAME), NAME, HINT,
STATUS, CREATED, LAST USED and EXPIRES (times in UTC), newest first.
  --user     the keys E manages: their own and their teams' where they
             are a maintainer
  --status   active, expiring, pending, expired, disabled or revoked (a disabled
             user's keys are disabled: they fail verification)
  --stale    only keys neither revoked nor expired (disabled ones included)
             unused for the stale threshold (default 90 days) or never used
             and older than 30 days: the candidates for revocation
  --json     an array of objects with id, user, name, hint, scopes,
             created_at, expires_at, last_used_at (RFC 3339 or null), status,
             owner (an email or team:NAME) and owner_type (user or team);
             user is the person who made the key

keys edit changes only what its flags give, audited with each value before
and after, and prints the key as keys list does (--json: one object with
the same fields). A revoked key cannot be edited. The expiry may always be
brought forward; it moves later only within the maximum key lifetime
counted from the key's creation (never, for a key that was rolled), and
"never" only when no maximum is set.
` + keyEditHelp() + `
keys roll replaces a key with a new one of the same name, scopes, limits
and owner, prints the new key alone on stdout (it is never shown again)
and tells on stderr until when the old one works.
  --grace    how long the old key keeps working, from 0 (the default: it
             stops now) to 7d, e.g. 1h or 24h, and within the maximum key
             lifetime. A key is rolled once; a disabled, revoked or pending
             key is not rolled.

keys disable stops a key at once (verification answers DISABLED) and
records --reason; keys enable lets it work again. Both say so, and change
nothing, when the key is already in that state. A revoked key stays revoked.

keys revoke ends a key for good. A running server stops accepting it within
half a second (it checks the database for changes made outside it four
times a second).

Remote (--server URL, or KEYWARD_SERVER): create, list, edit, roll,
disable, enable and revoke call that Keyward's management API instead of
opening the database, with the same output. They act as the person whose
management token is in KEYWARD_TOKEN (create one on your Account page);
there is no flag for the token, so it stays out of shell history and ps.
create makes the key for that person (--user may be left out, or must
name them); list shows every key when the token carries admin:read, else
the person's own. An http:// server other than localhost is refused unless
--insecure-http is given. An error the server answers prints its detail
and code, e.g. "keyward: Key not found. (404 NOT_FOUND)". transfer runs
locally only.

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

const helpScopes = `Usage:
  keyward scopes list [--json]
  keyward scopes add NAME [--description D] [--admin-only] [--needs-approval]
  keyward scopes retire NAME

Keys may carry only the scopes of the catalog (unless an admin allows
scopes outside it on /admin/scopes). The command line acts as an admin.
scopes list prints NAME, GRANT (members or admins), APPROVAL, KEYS (how
many unrevoked keys carry it), STATE and DESCRIPTION.
  --json            an array of objects with name, description, grant
                    ("member" or "admin"), needs_approval, retired_at
                    (RFC 3339 or null) and keys
scopes add publishes a scope: lowercase letters, digits and : . _ -
  --admin-only      only admins may grant it (members cannot pick it)
  --needs-approval  a member's key asking for it waits for an admin
scopes retire stops the scope being granted; keys carrying it keep it, and
are listed on stderr.
`

// #nosec G101 -- help text about management tokens, not a credential.
const helpTokens = `Usage:
  keyward tokens create --user E --name N [--permissions P,Q] [--expires WHEN]
  keyward tokens list [--user E] [--json]
  keyward tokens revoke ID

Management tokens (kwt_…) authenticate scripts on the management API
(/api/v1, see /api/v1/openapi.json) as the person they belong to. People
create their own on the Account page; these commands are for the operator.
The API itself never creates tokens: a stolen token cannot mint another.
tokens create prints the new token alone on stdout; it is never shown again.
  --permissions  comma-separated, from keys:read, keys:write, admin:read and
                 admin:write (default keys:read,keys:write), within what the
                 person's role holds; a token is cut to the role at every use
  --expires      "never", a duration like 90d or 12h, a date (2027-01-31) or an
                 RFC 3339 time; at most a year (default 90d)
tokens list prints ID, USER, NAME, HINT, PERMISSIONS, STATUS (active,
expired or revoked), EXPIRES and LAST USED, newest first per person.
  --user    only E's tokens
  --json    an array of objects with id, user, name, hint, permissions,
            created_at, expires_at, last_used_at, last_used_ip, revoked_at
            (RFC 3339 or null) and status
tokens revoke ends a token for good; a running server refuses it from its
next call.
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
	"users":   helpUser,
	"keys":    helpKeys,
	"scopes":  helpScopes,
	"teams":   helpTeams,
	"tokens":  helpTokens,
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
