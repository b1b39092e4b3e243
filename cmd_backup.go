package main

import (
	"context"
	"fmt"
	"os"

	"github.com/keyward/keyward/db"
)

// backup checks the database, then writes a consistent copy of it to FILE
// while the server may keep running (VACUUM INTO reads a snapshot).
func (a *app) backup(ctx context.Context, args []string) error {
	pos, err := a.parse(a.newFlagSet("backup"), args, true, "backup")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("backup needs one FILE to write")
	}
	file := pos[0]
	if cfg, err := a.g.load(a.env); err == nil && db.IsPostgres(cfg.DBPath) {
		// Not an error of this machine's making, and not one to retry:
		// the tool for the job is another. Exit 2, like a usage error.
		return usagef("keyward backup copies a SQLite database; %s is PostgreSQL: back it up with pg_dump (for example `pg_dump --format=custom --file=keyward.dump %s`) and restore with pg_restore; see docs/deploy.md",
			db.RedactTarget(cfg.DBPath), db.RedactTarget(cfg.DBPath))
	}
	store, cfg, err := a.openStore(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()

	// A copy of a damaged database would look like a good backup until the
	// day it is needed; say so now instead.
	res, err := store.IntegrityCheck(ctx)
	if err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("the integrity check of %s failed (%s); no backup written: copy the file while the server is stopped and investigate", cfg.DBPath, res)
	}
	if err := store.Backup(ctx, file); err != nil {
		return err
	}
	size := ""
	if st, err := os.Stat(file); err == nil {
		size = fmt.Sprintf(" (%d bytes)", st.Size())
	}
	fmt.Fprintf(a.stderr, "Backed up %s to %s%s.\n", cfg.DBPath, file, size)
	return nil
}
