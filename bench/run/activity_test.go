package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestActivityReport reads go test's output for the anomaly job and renders
// its rows and section.
func TestActivityReport(t *testing.T) {
	out := `goos: linux
BenchmarkEvaluateActivityHour/sqlite/first-2         	       3	 812345678 ns/op	      1650 alerts	      9987 keys_in_hour
BenchmarkEvaluateActivityHour/sqlite/again-2         	       3	 402000000 ns/op
BenchmarkEvaluateActivityHour/postgres/first-2       	       3	2412345678 ns/op	      1650 alerts	      9987 keys_in_hour
BenchmarkEvaluateActivityHour/postgres/again-2       	       3	1100000000 ns/op
PASS`
	runs := parseActivity(out)
	want := []activityRun{
		{Engine: "sqlite", First: 812345678, Again: 402 * time.Millisecond, KeysInHour: 9987, Alerts: 1650},
		{Engine: "postgres", First: 2412345678, Again: 1100 * time.Millisecond, KeysInHour: 9987, Alerts: 1650},
	}
	if len(runs) != len(want) {
		t.Fatalf("runs: got %+v, want %+v", runs, want)
	}
	for i := range want {
		if runs[i] != want[i] {
			t.Errorf("run %d: got %+v, want %+v", i, runs[i], want[i])
		}
	}
	h := &harness{res: &results{Activity: activityResult{Runs: runs}}}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	h.writeActivitySummary(w)
	h.writeActivity(w)
	for _, s := range []string{"SQLite (first 812 ms, again 402 ms) | 812 ms | ≤ 2 s | meets", "PostgreSQL (first", "| MISSES",
		"| SQLite | 9987 | 1650 |"} {
		if !strings.Contains(strings.ToLower(b.String()), strings.ToLower(s)) {
			t.Errorf("report lacks %q:\n%s", s, b.String())
		}
	}
}
