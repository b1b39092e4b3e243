package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// mirrored reads the actions (and targets) of the mirror file's lines.
func mirrored(t *testing.T, path string) []db.AuditRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []db.AuditRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r db.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("mirror line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func actionsOf(recs []db.AuditRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Action)
	}
	return out
}

// TestAuditMirrorCLIAndServe: the commands' events and the server's reach
// the mirror file; the server's last ones (written by the usage flush on
// the way out) are there once it has stopped.
func TestAuditMirrorCLIAndServe(t *testing.T) {
	c := newCLI(t)
	path := filepath.Join(t.TempDir(), "siem", "audit.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	c.env["KEYWARD_AUDIT_MIRROR"] = path
	c.addUser("ann@example.com", false)
	key := c.createKey("--user", "ann@example.com", "--name", "svc")
	if got, want := strings.Join(actionsOf(mirrored(t, path)), " "), "user.create key.create"; got != want {
		t.Fatalf("after two commands: got %q, want %q", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mirror file: got mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}

	s := c.startServe()
	resp, err := http.Post(s.url+"/api/v1/keys/verify", "application/json", strings.NewReader(`{"key": "`+key+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve: exit %d; stderr:\n%s", code, s.stderr)
	}
	recs := mirrored(t, path)
	if got, want := strings.Join(actionsOf(recs), " "), "user.create key.create key.new_ip"; got != want {
		t.Errorf("after serving one verification: got %q, want %q (the shutdown flush's event)", got, want)
	}
	if last := recs[len(recs)-1]; last.IP != "127.0.0.1" || last.TargetType != "key" || last.ID <= recs[1].ID {
		t.Errorf("key.new_ip line: got %+v, want the key's new address with a later id", last)
	}

	// A command's "stdout" mirror goes to stderr: stdout is the key alone.
	c.env["KEYWARD_AUDIT_MIRROR"] = "stdout"
	r := c.ok("", "keys", "create", "--user", "ann@example.com", "--name", "second")
	if strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(r.stdout, "kw_") {
		t.Errorf("stdout: got %q, want the new key alone", r.stdout)
	}
	if !strings.Contains(r.stderr, `"action":"key.create"`) || !strings.Contains(r.stderr, `"target":"second"`) {
		t.Errorf("stderr: got %q, want the key.create line", r.stderr)
	}
}

func TestAuditMirrorBadPath(t *testing.T) {
	c := newCLI(t)
	c.addUser("ann@example.com", false)
	c.env["KEYWARD_AUDIT_MIRROR"] = filepath.Join(t.TempDir(), "missing", "dir", "audit.jsonl")
	r := c.run("", "keys", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "KEYWARD_AUDIT_MIRROR") {
		t.Errorf("got exit %d, stderr %q; want a failure naming the setting", r.code, r.stderr)
	}
}
