package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/keyward/keyward/db"
)

// dbCommand dispatches `keyward db copy`.
func (a *app) dbCommand(ctx context.Context, args []string) error {
	rest, err := a.parse(a.newFlagSet("db"), args, false, "db")
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("db needs a command: copy")
	}
	switch rest[0] {
	case "copy":
		return a.dbCopy(ctx, rest[1:])
	default:
		return usagef("unknown command \"db %s\" (want copy)", rest[0])
	}
}

// dbCopy moves a SQLite installation to an empty PostgreSQL database:
// every table, ids kept, in one transaction checked table by table
// (db.Copy). Only SQLite to PostgreSQL: a SQLite file is copied with
// `keyward backup`, and a PostgreSQL database with pg_dump.
//
// Both databases are named without their password in every message
// (Store.Target, db.RedactTarget).
func (a *app) dbCopy(ctx context.Context, args []string) error {
	fs := a.newFlagSet("db copy")
	from := fs.String("from", "", "")
	to := fs.String("to", "", "")
	pos, err := a.parse(fs, args, true, "db")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("db copy takes no arguments; name the databases with --from and --to")
	}
	src := *from
	if src == "" {
		configured, source := a.g.db.resolve(a.env)
		if db.IsPostgres(configured) {
			return usagef("db copy needs --from: %s names PostgreSQL, and the copy reads a SQLite file", source)
		}
		src = configured
	}
	switch {
	case db.IsPostgres(src):
		return usagef("--from %s is PostgreSQL: db copy reads a SQLite file (copy a PostgreSQL database with pg_dump and pg_restore)", db.RedactTarget(src))
	case *to == "":
		return usagef("db copy needs --to postgres://USER@HOST/DATABASE, an empty PostgreSQL database")
	case !db.IsPostgres(*to):
		return usagef("--to %s is not a PostgreSQL URL: db copy writes to PostgreSQL (postgres://…); to copy a SQLite file, use keyward backup", *to)
	}
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no database at %s: point --from (or --db) at the SQLite file to copy", src)
	}
	source, err := a.openDB(ctx, src)
	if err != nil {
		return err
	}
	defer source.Close()
	target, err := a.openDB(ctx, *to)
	if err != nil {
		return err
	}
	defer target.Close()

	rep, err := db.Copy(ctx, source, target, db.CopyOptions{})
	if err != nil {
		return err
	}
	width := 0
	for _, t := range rep.Tables {
		width = max(width, len(t.Name))
	}
	for _, t := range rep.Tables {
		fmt.Fprintf(a.stderr, "  %-*s %9d %s  sha256:%s\n", width, t.Name, t.Rows, rowsWord(t.Rows), t.Checksum)
	}
	fmt.Fprintf(a.stderr, "Copied %d tables, %d rows, from %s to %s in one transaction in %s: "+
		"each table's row count and checksum match the source. "+
		"Point --db (KEYWARD_DB) of every instance at the PostgreSQL database and start them.\n",
		len(rep.Tables), rep.Rows(), rep.From, rep.To, rep.Elapsed.Round(time.Millisecond))
	return nil
}

func rowsWord(n int64) string {
	if n == 1 {
		return "row "
	}
	return "rows"
}
