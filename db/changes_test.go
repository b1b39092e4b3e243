package db

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestListenerTroubleLogsOncePerOutage: while the database is away the
// change listener retries every few seconds; the log says once that it
// lost its connection and once that it listens again (with how many
// attempts failed), not once per attempt. The real outage under two
// instances (TestPostgresOutage in the root package) logged five
// warnings per instance for a 9-second outage before this.
func TestListenerTroubleLogsOncePerOutage(t *testing.T) {
	down := errors.New("connection refused")
	tests := []struct {
		name  string
		steps string // c: connected, l: lost
		want  []string
	}{
		{"first connection", "c", nil},
		{"first connection fails, then works", "llc", []string{"lost its connection", `listens again; cache dropped" failed_attempts=1`}},
		{"one outage of five attempts", "cllllllc", []string{"lost its connection", `listens again; cache dropped" failed_attempts=5`}},
		{"two outages", "clcllc", []string{"lost its connection", `listens again; cache dropped" failed_attempts=0`, "lost its connection", `listens again; cache dropped" failed_attempts=1`}},
		{"still away", "clll", []string{"lost its connection"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			var tr listenerTrouble
			for _, s := range tt.steps {
				if s == 'c' {
					tr.connected(log)
				} else {
					tr.lost(log, down)
				}
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if line != "" {
					got = append(got, line)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d log lines, want %d:\n%s", len(got), len(tt.want), buf.String())
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("line %d: got %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}
