package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// option is one global option as a document shows it: its environment
// twin and its default ("" when there is none to show).
type option struct {
	env, def string
}

// TestREADMEConfigMatchesHelp holds the README's configuration table to the
// global options `keyward help` prints, and those to the flags every
// command parses: a flag added to config.go without a README row, a row
// for a flag that is gone, or an environment variable or default that
// differs, fails here.
func TestREADMEConfigMatchesHelp(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented, err := readmeOptions(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	help, err := helpOptions()
	if err != nil {
		t.Fatalf("keyward help: %v", err)
	}

	t.Run("help lists every flag", func(t *testing.T) {
		a := &app{g: newGlobals()}
		var registered []string
		a.newFlagSet("keyward").VisitAll(func(f *flag.Flag) { registered = append(registered, f.Name) })
		for _, name := range registered {
			if _, ok := help[name]; !ok {
				t.Errorf("keyward help: got no line for --%s, want one (every command accepts it)", name)
			}
		}
		for name := range help {
			if !slices.Contains(registered, name) {
				t.Errorf("keyward help: got a line for --%s, want none (no command accepts it)", name)
			}
		}
	})

	for _, name := range unionKeys(help, documented) {
		t.Run(name, func(t *testing.T) {
			want, inHelp := help[name]
			got, inREADME := documented[name]
			switch {
			case !inREADME:
				t.Fatalf("README configuration table: got no row for --%s, want one (keyward help: %s, default %s)",
					name, want.env, orNone(want.def))
			case !inHelp:
				t.Fatalf("README configuration table: got a row for --%s, want none (keyward help does not list it)", name)
			}
			if got.env != want.env {
				t.Errorf("README configuration table, --%s: got environment variable %s, want %s (keyward help)",
					name, got.env, want.env)
			}
			if got.def != want.def {
				t.Errorf("README configuration table, --%s: got default %s, want %s (keyward help)",
					name, orNone(got.def), orNone(want.def))
			}
		})
	}
}

// TestReadmeOptions checks the table parser on the shapes the README uses,
// so that a parsing slip cannot make TestREADMEConfigMatchesHelp pass.
func TestReadmeOptions(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    map[string]option
		wantErr string
	}{
		{
			name: "literal and prose defaults",
			doc: "# X\n\n## Configuration\n\ntext\n\n" +
				"| Flag | Environment | Default | Meaning |\n" +
				"|------|-------------|---------|---------|\n" +
				"| `--addr` | `KEYWARD_ADDR` | `localhost:8080` | Address, e.g. `:8080` \\| more. |\n" +
				"| `--base-url` | `KEYWARD_BASE_URL` | `http://` + the listen address | URL. |\n" +
				"| `--trusted-proxies` | `KEYWARD_TRUSTED_PROXIES` | none | Proxies. |\n" +
				"\nafter\n\n## Next\n\n| Flag | Environment | Default |\n|---|---|---|\n| `--other` | `X` | `y` |\n",
			want: map[string]option{
				"addr":            {env: "KEYWARD_ADDR", def: "localhost:8080"},
				"base-url":        {env: "KEYWARD_BASE_URL"},
				"trusted-proxies": {env: "KEYWARD_TRUSTED_PROXIES"},
			},
		},
		{
			name:    "no section",
			doc:     "# X\n\n## Usage\n",
			wantErr: `no "## Configuration" section`,
		},
		{
			name:    "no table",
			doc:     "## Configuration\n\nNothing here.\n",
			wantErr: "no table with Flag, Environment and Default columns",
		},
		{
			name: "duplicate row",
			doc: "## Configuration\n\n| Flag | Environment | Default |\n|---|---|---|\n" +
				"| `--db` | `KEYWARD_DB` | `a` |\n| `--db` | `KEYWARD_DB` | `b` |\n",
			wantErr: "--db has two rows",
		},
		{
			name: "flag cell without a flag",
			doc: "## Configuration\n\n| Flag | Environment | Default |\n|---|---|---|\n" +
				"| db | `KEYWARD_DB` | `a` |\n",
			wantErr: "flag cell",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readmeOptions(tt.doc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// helpOptions runs `keyward help` and reads its global options: lines
// "  --FLAG  ENV  DEFAULT", where "-" means no default.
func helpOptions() (map[string]option, error) {
	var stdout, stderr bytes.Buffer
	empty := func(string) string { return "" }
	if code := run(context.Background(), []string{"help"}, empty, strings.NewReader(""), &stdout, &stderr); code != 0 {
		return nil, fmt.Errorf("exit status %d: %s", code, stderr.String())
	}
	line := regexp.MustCompile(`^  --(\S+)\s+(\S+)\s+(\S.*)$`)
	out := map[string]option{}
	inOptions := false
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Global options") {
			inOptions = true
			continue
		}
		m := line.FindStringSubmatch(sc.Text())
		if !inOptions || m == nil {
			continue
		}
		def := strings.TrimSpace(m[3])
		if def == "-" {
			def = ""
		}
		out[m[1]] = option{env: m[2], def: def}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the help: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("found no global options in:\n%s", stdout.String())
	}
	return out, nil
}

// readmeOptions reads the first table of the README's "## Configuration"
// section. A Default cell that is one code span (`30m`) is a default; any
// other wording ("none", "`http://` + the listen address") says the option
// has no fixed default, which `keyward help` shows as "-".
func readmeOptions(doc string) (map[string]option, error) {
	lines := strings.Split(doc, "\n")
	start := slices.Index(lines, "## Configuration")
	if start < 0 {
		return nil, fmt.Errorf(`no "## Configuration" section`)
	}
	var rows [][]string
	for _, l := range lines[start+1:] {
		if strings.HasPrefix(l, "## ") {
			break
		}
		if strings.HasPrefix(l, "|") {
			rows = append(rows, tableCells(l))
		} else if len(rows) > 0 {
			break // the first table ended
		}
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("no table with Flag, Environment and Default columns in the Configuration section")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	fc, okF := col["Flag"]
	ec, okE := col["Environment"]
	dc, okD := col["Default"]
	if !okF || !okE || !okD {
		return nil, fmt.Errorf("no table with Flag, Environment and Default columns in the Configuration section (header %q)", rows[0])
	}
	codeSpan := regexp.MustCompile("^`([^`]+)`$")
	out := map[string]option{}
	for _, r := range rows[2:] { // rows[1] is the |---| line
		if len(r) <= max(fc, ec, dc) {
			return nil, fmt.Errorf("configuration row %q has too few cells", r)
		}
		f := codeSpan.FindStringSubmatch(r[fc])
		if f == nil || !strings.HasPrefix(f[1], "--") {
			return nil, fmt.Errorf("configuration row %q: the flag cell is not one `--flag`", r)
		}
		name := strings.TrimPrefix(f[1], "--")
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--%s has two rows in the configuration table", name)
		}
		var o option
		if e := codeSpan.FindStringSubmatch(r[ec]); e != nil {
			o.env = e[1]
		} else {
			o.env = r[ec]
		}
		if d := codeSpan.FindStringSubmatch(r[dc]); d != nil {
			o.def = d[1]
		}
		out[name] = o
	}
	return out, nil
}

// tableCells splits a Markdown table row into trimmed cells; "\|" is a
// pipe inside a cell.
func tableCells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimSuffix(strings.TrimPrefix(row, "|"), "|")
	parts := strings.Split(strings.ReplaceAll(row, `\|`, "\x00"), "|")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(strings.ReplaceAll(p, "\x00", "|"))
	}
	return parts
}

func unionKeys(a, b map[string]option) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func orNone(def string) string {
	if def == "" {
		return "(none)"
	}
	return def
}
