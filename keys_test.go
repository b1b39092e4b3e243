package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

func TestKeysListJSON(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.addUser("bob@example.com", false)
	c.createKey("--user", "ann@example.com", "--name", "first")
	c.ok("", "scopes", "add", "read")
	c.createKey("--user", "bob@example.com", "--name", "second", "--expires", "2027-01-31", "--scopes", "read")

	keys := c.listJSON()
	if len(keys) != 2 {
		t.Fatalf("got %d keys, want 2", len(keys))
	}
	for _, field := range []string{"id", "user", "name", "hint", "scopes", "created_at", "expires_at", "last_used_at", "status"} {
		for i, k := range keys {
			if _, ok := k[field]; !ok {
				t.Errorf("key %d has no %q field: %v", i, field, k)
			}
		}
	}
	newest, oldest := keys[0], keys[1]
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"newest name", newest["name"], "second"},
		{"newest user", newest["user"], "bob@example.com"},
		{"newest expires_at", newest["expires_at"], "2027-01-31T00:00:00Z"},
		{"newest status", newest["status"], "active"},
		{"oldest name", oldest["name"], "first"},
		{"oldest expires_at", oldest["expires_at"], nil},
		{"oldest last_used_at", oldest["last_used_at"], nil},
		{"oldest created_at", oldest["created_at"], c.now.Format(time.RFC3339)},
		{"oldest scopes", oldest["scopes"], []any{}},
	}
	for _, ck := range checks {
		if !equalJSON(ck.got, ck.want) {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if id, ok := newest["id"].(float64); !ok || id <= 0 {
		t.Errorf("got id %v, want a positive number", newest["id"])
	}

	if got := c.listJSON("--user", "ann@example.com"); len(got) != 1 || got[0]["name"] != "first" {
		t.Errorf("keys list --user ann: got %v, want only \"first\"", got)
	}
	c.addUser("cy@example.com", false)
	r := c.ok("", "keys", "list", "--json", "--user", "cy@example.com")
	if r.stdout != "[]\n" {
		t.Errorf("got %q for a user without keys, want \"[]\\n\"", r.stdout)
	}
}

func TestKeysListTable(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	key := c.createKey("--user", "ann@example.com", "--name", "CI deploy", "--expires", "2027-01-31")
	r := c.ok("", "keys", "list")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want a header and one row:\n%s", len(lines), r.stdout)
	}
	header := strings.Join(strings.Fields(lines[0]), " ")
	if want := "ID USER NAME HINT STATUS CREATED LAST USED EXPIRES"; header != want {
		t.Errorf("got header %q, want %q", header, want)
	}
	for _, want := range []string{"ann@example.com", "CI deploy", db.KeyHint(key), "active", "2026-03-01 12:00", "never", "2027-01-31 00:00"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q does not contain %q", lines[1], want)
		}
	}
	if strings.Contains(r.stdout, key) {
		t.Errorf("the table shows the whole key")
	}

	r = c.ok("", "keys", "list", "--status", "revoked")
	if r.stdout != "" || !strings.Contains(r.stderr, "No keys") {
		t.Errorf("empty table: got stdout %q stderr %q, want nothing and a note on stderr", r.stdout, r.stderr)
	}
}

func TestKeysListStale(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.createKey("--user", "ann@example.com", "--name", "old")
	c.now = c.now.Add(time.Duration(db.DefaultNeverUsedDays+1) * 24 * time.Hour)
	c.createKey("--user", "ann@example.com", "--name", "new")

	got := c.listJSON("--stale")
	if len(got) != 1 || got[0]["name"] != "old" {
		t.Errorf("keys list --stale: got %v, want only \"old\"", got)
	}
	if all := c.listJSON(); len(all) != 2 {
		t.Errorf("keys list: got %d keys, want 2", len(all))
	}
}

func TestKeysRevoke(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.createKey("--user", "ann@example.com", "--name", "leaky")
	id := c.listJSON()[0]["id"].(float64)
	idArg := strconv.FormatInt(int64(id), 10)

	r := c.ok("", "keys", "revoke", idArg, "--reason", "leaked in a log")
	if r.stdout != "" {
		t.Errorf("got stdout %q, want nothing", r.stdout)
	}
	if got := c.listJSON()[0]["status"]; got != "revoked" {
		t.Errorf("got status %v after revoke, want revoked", got)
	}
	if got := c.listJSON("--status", "revoked"); len(got) != 1 {
		t.Errorf("keys list --status revoked: got %d keys, want 1", len(got))
	}
	if got := c.listJSON("--status", "active"); len(got) != 0 {
		t.Errorf("keys list --status active: got %d keys, want 0", len(got))
	}

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"again", []string{idArg}, 1, "already revoked"},
		{"unknown id", []string{"999"}, 1, "Key not found."},
		{"not a number", []string{"kw_abc"}, 2, "is not a key ID"},
		{"no id", nil, 2, "needs one key ID"},
		{"two ids", []string{"1", "2"}, 2, "needs one key ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFailure(t, c.run("", append([]string{"keys", "revoke"}, tt.args...)...), tt.code, tt.want)
		})
	}
}

func TestKeysListErrors(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	wantFailure(t, c.run("", "keys", "list", "--status", "sleeping"), 1, "--status: \"sleeping\"")
	wantFailure(t, c.run("", "keys", "list", "--user", "zed@example.com"), 1, "no user has the email")
	wantFailure(t, c.run("", "keys", "list", "extra"), 2, "takes no arguments")
	wantFailure(t, c.run("", "keys", "rotate"), 2, "keys rotate")
	wantFailure(t, c.run("", "keys"), 2, "create, list, edit, roll, disable, enable, revoke or transfer")
}

func TestCommandsNeedExistingDatabase(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{"keys", "list"},
		{"keys", "revoke", "1"},
		{"user", "disable", "ann@example.com"},
		{"backup", filepath.Join(t.TempDir(), "b.db")},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			wantFailure(t, c.run("", args...), 1, "no database at "+c.dbPath)
		})
	}
	if _, err := os.Stat(c.dbPath); !os.IsNotExist(err) {
		t.Errorf("got %v from stat, want the database not to be created", err)
	}
}

func TestBackup(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	c.createKey("--user", "ann@example.com", "--name", "kept")
	file := filepath.Join(t.TempDir(), "backup.db")
	r := c.ok("", "backup", file)
	if r.stdout != "" {
		t.Errorf("got stdout %q, want nothing", r.stdout)
	}

	restored := newCLI(t)
	restored.dbPath = file
	restored.env["KEYWARD_DB"] = file
	if got := restored.listJSON(); len(got) != 1 || got[0]["name"] != "kept" {
		t.Errorf("keys in the backup: got %v, want only \"kept\"", got)
	}

	wantFailure(t, c.run("", "backup", file), 1, "already exists")
	wantFailure(t, c.run("", "backup"), 2, "one FILE")
}

// TestKeysListOwnerDisabled: a disabled user's keys fail verification, so
// keys list calls them disabled (in the table, in --json and for --status),
// as the admin key list and verification's DISABLED code do; revoked stays
// revoked. Enabling the user gives every key its own status back.
func TestKeysListOwnerDisabled(t *testing.T) {
	ctx := context.Background()
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	c.addUser("bob@example.com", false)
	c.createKey("--user", "bob@example.com", "--name", "bob-plain")
	c.createKey("--user", "bob@example.com", "--name", "bob-off")
	c.createKey("--user", "bob@example.com", "--name", "bob-expired", "--expires", "1d")
	c.createKey("--user", "bob@example.com", "--name", "bob-revoked")
	c.createKey("--user", "ann@example.com", "--name", "ann-plain")
	byName := map[string]int64{}
	for _, k := range c.listJSON() {
		byName[k["name"].(string)] = int64(k["id"].(float64))
	}
	store := c.store()
	if _, err := store.SetKeyDisabled(ctx, db.AnyOwner(), byName["bob-off"], true, "", db.CLIActor()); err != nil {
		t.Fatal(err)
	}
	c.ok("", "keys", "revoke", strconv.FormatInt(byName["bob-revoked"], 10))
	c.now = c.now.Add(2 * 24 * time.Hour)

	// statuses maps each key's name to its STATUS column and its status field.
	statuses := func(t *testing.T, args ...string) (table, js map[string]string) {
		t.Helper()
		table, js = map[string]string{}, map[string]string{}
		r := c.ok("", append([]string{"keys", "list"}, args...)...)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		for _, line := range lines[min(1, len(lines)):] {
			if f := strings.Fields(line); len(f) > 4 {
				table[f[2]] = f[4]
			}
		}
		for _, k := range c.listJSON(args...) {
			js[k["name"].(string)] = k["status"].(string)
		}
		return table, js
	}

	tests := []struct {
		name string
		run  func(t *testing.T)
		want map[string]string
	}{
		{"owner disabled", func(t *testing.T) { c.ok("", "user", "disable", "bob@example.com") }, map[string]string{
			"bob-plain": "disabled", "bob-off": "disabled", "bob-expired": "disabled", "bob-revoked": "revoked", "ann-plain": "active",
		}},
		{"owner enabled again", func(t *testing.T) { c.ok("", "user", "enable", "bob@example.com") }, map[string]string{
			"bob-plain": "active", "bob-off": "disabled", "bob-expired": "expired", "bob-revoked": "revoked", "ann-plain": "active",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t)
			table, js := statuses(t)
			for name, want := range tt.want {
				if table[name] != want {
					t.Errorf("table status of %s: got %q, want %q", name, table[name], want)
				}
				if js[name] != want {
					t.Errorf("--json status of %s: got %q, want %q", name, js[name], want)
				}
			}
			// --status lists exactly the keys that show that status, and
			// agrees with the filter the admin key list uses.
			for _, status := range []string{"active", "expired", "disabled", "revoked"} {
				var want []string
				for name, st := range tt.want {
					if st == status {
						want = append(want, name)
					}
				}
				_, got := statuses(t, "--status", status)
				if gotNames := slices.Sorted(maps.Keys(got)); !slices.Equal(gotNames, slices.Sorted(slices.Values(want))) {
					t.Errorf("--status %s: got %q, want %q", status, gotNames, slices.Sorted(slices.Values(want)))
				}
				n, err := store.CountKeys(ctx, db.AnyOwner(), db.KeyFilter{Status: db.KeyStatus(status)})
				if err != nil || n != len(want) {
					t.Errorf("admin filter status=%s: got %d (%v), want %d", status, n, err, len(want))
				}
			}
		})
	}
}
