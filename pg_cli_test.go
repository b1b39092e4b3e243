package main

import (
	"strings"
	"testing"
)

// TestPostgresCLIErrors: the CLI pointed at PostgreSQL never prints the
// password of the URL; backup refuses with pg_dump advice (exit 2); an
// unreachable server is one error line and exit 1.
func TestPostgresCLIErrors(t *testing.T) {
	const url = "postgres://keyward:s3cret@127.0.0.1:1/keyward?connect_timeout=5"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"backup", []string{"backup", "out.dump"}, 2, "back it up with pg_dump"},
		{"unreachable", []string{"keys", "list"}, 1, "cannot reach PostgreSQL at postgres://keyward:xxxxx@127.0.0.1:1/keyward"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			c.env["KEYWARD_DB"] = url
			r := c.run("", tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("got exit %d, want %d (stderr %q)", r.code, tt.wantCode, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("got stdout %q, want none", r.stdout)
			}
			if !strings.HasPrefix(r.stderr, "keyward: ") || !strings.Contains(strings.SplitN(r.stderr, "\n", 2)[0], tt.want) {
				t.Errorf("got stderr %q, want a first line \"keyward: …%s…\"", r.stderr, tt.want)
			}
			if strings.Contains(r.stderr, "s3cret") {
				t.Errorf("stderr %q shows the password", r.stderr)
			}
		})
	}
}
