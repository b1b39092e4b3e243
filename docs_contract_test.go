package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// TestDocsVerifyContract holds the documented verify contract to the code:
// docs/integrations.md's table of refusal codes lists exactly db.VerifyCodes
// (the codes the verifier returns and /metrics counts), in their order, and
// the README names every code; both documents describe the fields added by
// issue 15. A code added to db without its documentation fails here.
func TestDocsVerifyContract(t *testing.T) {
	read := func(path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	integrations, readme := read("docs/integrations.md"), read("README.md")

	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\|")
	var table []string
	for _, m := range row.FindAllStringSubmatch(integrations, -1) {
		table = append(table, m[1])
	}
	var want []string
	for _, c := range db.VerifyCodes {
		want = append(want, string(c))
	}
	if strings.Join(table, " ") != strings.Join(want, " ") {
		t.Errorf("docs/integrations.md code table:\n got %v\nwant %v (db.VerifyCodes, in order)", table, want)
	}
	for _, c := range want {
		if !strings.Contains(readme, "`"+c+"`") {
			t.Errorf("README.md does not name the code %s", c)
		}
	}
	for doc, text := range map[string]string{"docs/integrations.md": integrations, "README.md": readme} {
		for _, term := range []string{`"owner_type"`, `"meta"`, `"ip"`, "X-Keyward-Owner-Type", "team:NAME"} {
			if !strings.Contains(text, term) {
				t.Errorf("%s does not mention %s", doc, term)
			}
		}
	}
}
