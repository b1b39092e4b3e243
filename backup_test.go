package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// TestBackupUnderLoad runs `keyward backup FILE` while the server answers
// verifications and the CLI creates keys. The copy passes PRAGMA
// integrity_check, and a second server started on it (another process,
// another port) verifies every key that existed when the backup began.
func TestBackupUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	bin := buildKeyward(t)
	dbPath, keys := newProcDB(t, bin, 4)
	srv := startKeyward(t, bin, dbPath)

	load := startLoad(srv.url, keys, 16)
	stopCreating := make(chan struct{})
	created := createKeysDuring(bin, dbPath, stopCreating)
	time.Sleep(time.Second)
	// Keys created so far must be in the copy; the ones created meanwhile
	// may or may not be.
	before := countKeys(t, dbPath)

	backup := filepath.Join(t.TempDir(), "backup.db")
	start := time.Now()
	mustKeyward(t, bin, "", "backup", backup, "--db", dbPath)
	took := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	close(stopCreating)
	acked, rate := load.finish()
	created()
	for _, err := range load.errs {
		t.Errorf("verification during the backup: %v", err)
	}
	t.Logf("backup took %s while serving %.0f verifications/s (%d in all)", took.Round(time.Millisecond), rate, acked)

	openChecked(t, backup).Close()
	if restored := countKeys(t, backup); restored < before {
		t.Errorf("keys in the backup: got %d, want at least the %d that existed when it began", restored, before)
	}

	second := startKeyward(t, bin, backup)
	if second.url == srv.url {
		t.Fatalf("second server on the same address %s", srv.url)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, k := range keys {
		ok, err := verifyOnce(client, second.url, k)
		if err != nil || !ok {
			t.Errorf("key %s… on the restored copy: got valid=%v (%v), want valid", k[:8], ok, err)
		}
	}
}

// countKeys counts the keys in the database at path.
func countKeys(t *testing.T, path string) int {
	t.Helper()
	store, err := db.Open(t.Context(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	n, err := store.CountKeys(t.Context(), db.AnyOwner(), db.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBackupFileMode: a backup holds password hashes, emails and the audit
// log, so `keyward backup` writes it readable by its owner only (0600),
// whatever the umask, and leaves no companion file (-journal, -wal) beside
// it.
func TestBackupFileMode(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", true)
	c.createKey("--user", "ann@example.com", "--name", "kept")
	for _, umask := range []int{0o022, 0o002, 0o000} {
		t.Run(fmt.Sprintf("umask %03o", umask), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			dir := t.TempDir()
			file := filepath.Join(dir, "backup.db")
			c.ok("", "backup", file)
			st, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Mode().Perm(); got != 0o600 {
				t.Errorf("backup mode: got %04o, want 0600", got)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("files beside the backup: got %v, want only backup.db", names)
			}
		})
	}
}
