package web

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// shBlock is one ```sh block of a document and the line it starts on.
type shBlock struct {
	line int
	code string
}

// shBlocks returns the ```sh blocks of markdown in order. Blocks fenced
// otherwise (```text, ```crontab, ```json) are shown, not run.
func shBlocks(markdown string) []shBlock {
	var blocks []shBlock
	var cur *shBlock
	for i, l := range strings.Split(markdown, "\n") {
		switch {
		case cur == nil && strings.TrimSpace(l) == "```sh":
			cur = &shBlock{line: i + 2}
		case cur != nil && strings.TrimSpace(l) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.code += l + "\n"
		}
	}
	return blocks
}

// TestDocsAPIExamples runs docs/api.md's shell examples, in order, in one
// bash with `set -euo pipefail`, with real curl and jq against a real
// server, as a person following the document would: the walkthrough
// (create, roll with a one-hour grace, revoke the old key, read the audit
// log) and the weekly self-rotation script. Then it checks that they did
// what the document says. Without curl or jq it skips, unless
// KEYWARD_DOCS_TESTS=required (CI), where that is a failure.
func TestDocsAPIExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("KEYWARD_DOCS_TESTS") == "required" {
				t.Fatalf("KEYWARD_DOCS_TESTS=required but %s is not installed: docs/api.md's examples need bash, curl and jq", tool)
			}
			t.Skipf("docs/api.md's examples need %s (set KEYWARD_DOCS_TESTS=required to fail instead)", tool)
		}
	}
	md, err := os.ReadFile(filepath.Join("..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := shBlocks(string(md))
	if len(blocks) < 6 {
		t.Fatalf("docs/api.md: got %d sh blocks, want the walkthrough's and the self-rotation's (6 or more)", len(blocks))
	}

	a := newTestApp(t)
	admin := a.createUser("ops@example.com", db.RoleAdmin)
	token := a.token(admin, db.PermKeysRead, db.PermKeysWrite, db.PermAdminRead)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "billing-worker.key")

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, b := range blocks {
		fmt.Fprintf(&script, "echo '### docs/api.md line %d' >&2\n%s", b.line, b.code)
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LC_ALL=C",
		"KEYWARD_URL=" + a.http.URL, "KEYWARD_TOKEN=" + token, "KEY_FILE=" + keyFile}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docs/api.md's examples failed (%v); the last block named on stderr is the one that failed\nstdout:\n%s\nstderr:\n%s",
			err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("docs/api.md's examples printed:\n%s", out)

	// The walkthrough: one key created, rolled, the original revoked, and
	// the successor rolled by itself; the file holds the newest secret.
	ctx := context.Background()
	keys, err := a.store.ListKeys(ctx, db.ManagedBy(admin.ID), db.KeyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]int{}
	for _, k := range keys {
		if k.Name != "billing-worker" {
			t.Errorf("key %d: got name %q, want billing-worker", k.ID, k.Name)
		}
		status[string(k.Status(a.clock.Now()))]++
	}
	if len(keys) != 3 || status["revoked"] != 1 || status["expiring"] != 1 || status["active"] != 1 {
		t.Errorf("keys after the examples: got %d %v, want 3: the revoked original, the rolled one expiring in its grace, the self-rolled one active", len(keys), status)
	}
	secret, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.verify(strings.TrimSpace(string(secret)), ""); !got.Valid {
		t.Errorf("the key the self-rotation left in KEY_FILE: got %+v, want valid", got)
	}
	// Step 4's output: each step, made with the token.
	tok, err := a.store.ListAPITokens(ctx, admin.ID)
	if err != nil || len(tok) != 1 {
		t.Fatalf("tokens: %v %v", tok, err)
	}
	for _, action := range []string{"key.create", "key.roll", "key.revoke"} {
		line := regexp.MustCompile(`(?m)^\S+  ` + regexp.QuoteMeta(action) + `  key #\d+  token #` + fmt.Sprint(tok[0].ID) + `$`)
		if !line.MatchString(out) {
			t.Errorf("audit log step: got no line for %s with token #%d in\n%s", action, tok[0].ID, out)
		}
	}
}

// TestDocsAPIPermissions holds docs/api.md's permissions table to
// db.AllPermissions and the roles that hold each (db.RolePermissions).
func TestDocsAPIPermissions(t *testing.T) {
	md, err := os.ReadFile(filepath.Join("..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z]+:[a-z]+)` \\| [^|]+ \\| ([a-z, ]+) \\|$")
	got := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(md), -1) {
		got[m[1]] = m[2]
	}
	for _, p := range db.AllPermissions {
		var roles []string
		for _, r := range []db.Role{db.RoleMember, db.RoleAuditor, db.RoleAdmin} {
			for _, held := range db.RolePermissions(r) {
				if held == p {
					roles = append(roles, string(r))
				}
			}
		}
		if want := strings.Join(roles, ", "); got[string(p)] != want {
			t.Errorf("docs/api.md permissions table, %s: got roles %q, want %q", p, got[string(p)], want)
		}
	}
	if len(got) != len(db.AllPermissions) {
		t.Errorf("docs/api.md permissions table: got %d rows, want %d (db.AllPermissions)", len(got), len(db.AllPermissions))
	}
}
