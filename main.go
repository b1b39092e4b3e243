// Command keyward is a self-hosted API-key manager in one binary: a
// dashboard where people create and follow their API keys, a verify API and
// a forward-auth endpoint that services ask, and a CLI for operators.
//
// Everything a script reads (a key, a generated password, JSON) goes alone
// to stdout; every message goes to stderr; errors exit non-zero.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/keyward/keyward/db"
)

// version is set at build time with
// -ldflags "-X main.version=v1.2.3"; see versionString for the fallback.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal starts a graceful shutdown, restore the default
	// handling so that a second Ctrl-C stops a shutdown that hangs.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program behind main, with its inputs and outputs passed
// in so that tests drive it like a shell would. It returns the exit status.
func run(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{env: env, stdin: stdin, stdout: stdout, stderr: stderr}
	return a.run(ctx, args)
}

// app carries one invocation's streams and configuration.
type app struct {
	env            func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer

	// dbOptions are passed to db.Open; tests inject cheap argon2 parameters.
	dbOptions db.Options
	// onListen, when set, is called with the dashboard URL once the server
	// listens: tests use it to find a port chosen with --addr 127.0.0.1:0.
	onListen func(url string)

	g *globals
}

func (a *app) run(ctx context.Context, args []string) int {
	err := a.dispatch(ctx, args)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "keyward: %s\nRun 'keyward help' for usage.\n", oneLine(ue.msg))
		return 2
	default:
		fmt.Fprintf(a.stderr, "keyward: %s\n", oneLine(userMessage(err)))
		return 1
	}
}

// dispatch reads the global flags given before the subcommand, then hands
// the rest to the subcommand, whose own flag set accepts the global flags
// too. With no subcommand, keyward serves: `go run .` must just work.
func (a *app) dispatch(ctx context.Context, args []string) error {
	a.g = newGlobals()
	fs := a.newFlagSet("keyward")
	rest, err := a.parse(fs, args, false, "")
	if err != nil {
		return err
	}
	cmd := "serve"
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	a.dbOptions.Migrate = migrationFor(cmd)
	switch cmd {
	case "serve":
		return a.serve(ctx, rest)
	case "user", "users":
		return a.user(ctx, rest)
	case "keys":
		return a.keys(ctx, rest)
	case "scopes":
		return a.scopes(ctx, rest)
	case "teams":
		return a.teams(ctx, rest)
	case "tokens":
		return a.tokens(ctx, rest)
	case "backup":
		return a.backup(ctx, rest)
	case "db":
		return a.dbCommand(ctx, rest)
	case "version":
		return a.version(ctx, rest)
	case "help":
		return a.help(rest)
	default:
		return usagef("unknown command %q", cmd)
	}
}

// migrationFor is the one place that decides which command may change the
// schema of an existing database: only serve. An upgrade is then one
// deliberate act (starting the new version's server), and a CLI command of
// a newer version never changes the schema under an older server that is
// still running. Every command creates the schema of a new database.
func migrationFor(cmd string) db.Migration {
	if cmd == "serve" {
		return db.MigrateForward
	}
	return db.MigrateNewOnly
}

// newFlagSet returns a flag set with the global flags registered. It prints
// nothing itself: errors become one line from run, -h prints our own help.
func (a *app) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	a.g.register(fs)
	return fs
}

// errHelpShown ends a command after -h printed its help; the exit status is 0.
var errHelpShown = errors.New("help shown")

// parse parses args with fs and returns the positional arguments. With
// interspersed set, flags may follow positional arguments
// (`keys revoke 12 --reason leaked`), which the standard library would stop
// at; "--" still ends the flags. helpTopic names the help printed for -h.
func (a *app) parse(fs *flag.FlagSet, args []string, interspersed bool, helpTopic string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				a.writeHelp(a.stdout, helpTopic)
				return nil, errHelpShown
			}
			return nil, usagef("%s", err.Error())
		}
		rest := fs.Args()
		if !interspersed || len(rest) == 0 {
			return append(pos, rest...), nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// version prints the version alone on stdout, for scripts, and on stderr
// the schema this binary creates and, when the configured database exists,
// the schema it has. It reads the database without creating, migrating or
// changing it, so it is safe beside a running server and before the first
// start; a database it cannot read is reported, not an error.
func (a *app) version(ctx context.Context, args []string) error {
	fs := a.newFlagSet("version")
	pos, err := a.parse(fs, args, true, "")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("version takes no arguments")
	}
	fmt.Fprintln(a.stdout, versionString())
	fmt.Fprintf(a.stderr, "schema %s\n", schemaName(db.LatestMigration()))
	if path, _ := a.g.db.resolve(a.env); strings.TrimSpace(path) != "" {
		fmt.Fprintf(a.stderr, "database %s: %s\n", db.RedactTarget(path), describeSchema(ctx, path))
	}
	return nil
}

// schemaName shows a migration as a schema version: "4 (0004_key_changes.sql)".
func schemaName(migration string) string {
	return fmt.Sprintf("%d (%s)", db.MigrationNumber(migration), migration)
}

// describeSchema says what schema the database at path has, compared with
// this binary's, and what to do when they differ.
func describeSchema(ctx context.Context, path string) string {
	st, err := db.ReadSchema(ctx, path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "none yet (it is created on first run)"
	case err != nil:
		return "unreadable: " + oneLine(err.Error())
	case st.Foreign():
		return fmt.Sprintf("not a Keyward database (it has tables %s but no record of Keyward migrations)", strings.Join(st.Tables, ", "))
	case st.Empty():
		return "empty (it gets its schema on first run)"
	case len(st.Unknown) > 0:
		return fmt.Sprintf("schema %s, newer than this keyward (unknown migrations: %s): run the Keyward version that applied them, or restore a backup",
			schemaName(st.Current()), strings.Join(st.Unknown, ", "))
	case len(st.Missing) > 0:
		return fmt.Sprintf("schema %s, older than this keyward: start `keyward serve` of this version once to upgrade it", schemaName(st.Current()))
	default:
		return "schema " + schemaName(st.Current())
	}
}

// versionString is the version stamped with -ldflags (make build), else
// what the Go toolchain recorded about this build (buildVersion), so that a
// plain `go build` names the commit it was built from instead of claiming
// nothing.
func versionString() string {
	if version != "" {
		return version
	}
	bi, _ := readBuildInfo()
	return buildVersion(bi)
}

// readBuildInfo is debug.ReadBuildInfo; tests put a constructed one in.
var readBuildInfo = debug.ReadBuildInfo

// buildVersion says which code bi was built from. `go install
// module@v1.2.3` records the module version; `go build` in a git checkout
// (Go 1.24 and later) records a pseudo-version such as
// v0.0.0-20261126144814-fc1b8144be40, with "+dirty" for uncommitted
// changes: both are used as they are. A build that recorded only the VCS
// settings gives "dev-" and the first 12 characters of the revision, with
// "-dirty" when vcs.modified is true. With nothing recorded (`go run`,
// `go test`, -buildvcs=false) it is "dev".
func buildVersion(bi *debug.BuildInfo) string {
	if bi == nil {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	v := "dev-" + rev[:min(len(rev), 12)]
	if modified {
		v += "-dirty"
	}
	return v
}

// openStore opens the database for a command other than serve. Only
// `user add` may create it (to add the first admin before the first start):
// for the others a missing file means a wrong --db, and quietly creating an
// empty database there would hide the mistake.
//
// With --server set, a command that reached openStore has no remote form:
// it is refused rather than run against a local database the operator
// did not mean.
func (a *app) openStore(ctx context.Context, create bool) (*db.Store, config, error) {
	if server, src := a.g.server.resolve(a.env); strings.TrimSpace(server) != "" {
		return nil, config{}, fmt.Errorf("this command opens the database and has no remote form: run it on the server's host without %s", src)
	}
	cfg, err := a.g.load(a.env)
	if err != nil {
		return nil, config{}, err
	}
	if !create && !db.IsPostgres(cfg.DBPath) {
		if _, err := os.Stat(cfg.DBPath); errors.Is(err, os.ErrNotExist) {
			return nil, config{}, fmt.Errorf("no database at %s: run `keyward serve` once, or point --db (KEYWARD_DB) at the database file", cfg.DBPath)
		}
	}
	store, err := a.openDB(ctx, cfg.DBPath)
	if err != nil {
		return nil, config{}, err
	}
	if err := a.attachAuditMirror(store, cfg, false, newLogger(a.stderr, cfg.LogFormat)); err != nil {
		_ = store.Close() // the mirror's error is the one to report
		return nil, config{}, err
	}
	return store, cfg, nil
}

// openDB opens the database at path for every command, serve included,
// with the migration migrationFor chose for the command. A schema this
// binary may not use is reported as a *schemaRefusal, which says what to
// do about it.
//
// A PostgreSQL URL is named without its password (db.RedactTarget) in
// every message: they go to logs and terminals.
func (a *app) openDB(ctx context.Context, path string) (*db.Store, error) {
	store, err := db.Open(ctx, path, a.dbOptions)
	var se *db.SchemaError
	if errors.As(err, &se) {
		return nil, &schemaRefusal{path: db.RedactTarget(path), err: se}
	}
	if err != nil {
		if db.IsPostgres(path) {
			// db's message names the server (redacted) and the reason.
			return nil, err
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return store, nil
}

// schemaRefusal is a *db.SchemaError told to the operator: which schema
// the database has, which this keyward has, and the one way forward.
type schemaRefusal struct {
	path string
	err  *db.SchemaError
}

func (r *schemaRefusal) Error() string {
	e := r.err
	if e.TooNew() {
		return fmt.Sprintf("the database %s was upgraded by a newer Keyward: it records migrations this keyward (%s) does not know: %s. "+
			"The newest migration this keyward knows is %s (schema %d); the database is at schema %d. "+
			"Run the Keyward version that applied them (or a newer one), or restore a backup taken before that upgrade. Nothing was changed.",
			r.path, versionString(), strings.Join(e.Unknown, ", "), e.Latest, db.MigrationNumber(e.Latest), db.MigrationNumber(e.Current))
	}
	return fmt.Sprintf("the database %s has schema %s, older than this keyward (%s, schema %d), and only `keyward serve` upgrades a schema. "+
		"Start `keyward serve` of this version once (it applies %s at start-up), then run this command again. Nothing was changed.",
		r.path, schemaName(e.Current), versionString(), db.MigrationNumber(e.Latest), strings.Join(e.Missing, ", "))
}

func (r *schemaRefusal) Unwrap() error { return r.err }

// flagForField names the command-line flag behind a db validation field, so
// that `keys create` says "--expires: ..." rather than "expires_at: ...".
var flagForField = map[string]string{
	"email":       "--email",
	"password":    "password",
	"role":        "role",
	"name":        "--name",
	"description": "--description",
	"scopes":      "--scopes",
	"expires_at":  "--expires",
	"reason":      "--reason",
	"grace":       "--grace",
	"allowed_ips": "--allow-ip",
	"meta":        "--meta",
}

// userMessage is the one line an operator sees for err: the field messages
// of a validation error, the user-safe message of a *db.Error, or the error
// text (the operator runs the CLI on the host, so an internal error is
// theirs to read; no error carries a secret).
func userMessage(err error) string {
	if fields := db.FieldErrors(err); len(fields) > 0 {
		names := make([]string, 0, len(fields))
		for f := range fields {
			names = append(names, f)
		}
		sort.Strings(names)
		parts := make([]string, 0, len(names))
		for _, f := range names {
			label := flagForField[f]
			if label == "" {
				label = f
			}
			parts = append(parts, label+": "+fields[f])
		}
		return strings.Join(parts, "; ")
	}
	var de *db.Error
	if errors.As(err, &de) {
		return de.Message
	}
	return err.Error()
}

// oneLine keeps an error message on one line, as scripts expect.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
