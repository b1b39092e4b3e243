package main

import (
	"context"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/db/pgtest"
)

// newEngineCLI is newCLI on engine: "sqlite" (a file), or "postgres" (an
// empty database of KEYWARD_TEST_POSTGRES; skipped without it).
func newEngineCLI(t *testing.T, engine string) *cli {
	t.Helper()
	c := newCLI(t)
	if engine == "postgres" {
		target := pgtest.Database(t)
		c.dbPath, c.env["KEYWARD_DB"] = target, target
	}
	return c
}

// Helpers of the remote CLI's tests: a real `keyward serve` on the test's
// database, and the same CLI pointed at it with --server.

// apiToken makes a management token for email with perms (all the role
// holds when none are given), directly in the database, as the Account
// page would.
func (c *cli) apiToken(email string, perms ...db.Permission) string {
	c.t.Helper()
	ctx := context.Background()
	store := c.store()
	u, err := store.GetUserByEmail(ctx, email)
	if err != nil {
		c.t.Fatalf("token for %s: %v", email, err)
	}
	if len(perms) == 0 {
		perms = db.RolePermissions(u.Role)
	}
	exp := c.now.Add(30 * 24 * time.Hour)
	_, secret, err := store.CreateAPIToken(ctx, u.ID, db.APITokenInput{Name: "cli test", Permissions: perms, ExpiresAt: &exp}, db.CLIActor())
	if err != nil {
		c.t.Fatalf("token for %s: %v", email, err)
	}
	return secret
}

// remote returns a CLI environment that reaches server with token (none
// when empty). Its --db points at a file that does not exist, so that a
// command that opened the database instead of calling the server fails.
func (c *cli) remote(server, token string) *cli {
	env := maps.Clone(c.env)
	env["KEYWARD_DB"] = filepath.Join(c.t.TempDir(), "absent.db")
	env["KEYWARD_SERVER"] = server
	delete(env, "KEYWARD_TOKEN")
	if token != "" {
		env["KEYWARD_TOKEN"] = token
	}
	return &cli{t: c.t, dbPath: env["KEYWARD_DB"], env: env, now: c.now}
}
