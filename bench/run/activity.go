package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The anomaly job phase: one evaluation of an hour over 100,000 keys with
// 30 days of hourly buckets (db's BenchmarkEvaluateActivityHour), on
// SQLite and, when a server is given, PostgreSQL. The benchmark seeds its
// data once and keeps it (bench/out/data, and a database on the server),
// so the first run takes minutes longer than the next ones.

// activityTarget is the bound on one evaluation.
const activityTarget = 2 * time.Second

// activityRun is one engine's figures.
type activityRun struct {
	Engine string
	// First: the hour's first evaluation, opening its alerts; Again: a
	// later run of the same hour, deciding the same findings.
	First, Again time.Duration
	KeysInHour   int64
	Alerts       int64
}

type activityResult struct {
	Runs []activityRun
	// Skipped says why PostgreSQL was not measured ("" when it was).
	Skipped string
}

var reActivity = regexp.MustCompile(`^BenchmarkEvaluateActivityHour/(\w+)/(first|again)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op(.*)$`)

// activity runs the benchmark and records its figures.
func (h *harness) activity(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkEvaluateActivityHour$",
		"-benchtime", "3x", "-count", "1", "-timeout", "60m", "./db/")
	cmd.Dir = h.root
	cmd.Env = append(os.Environ(), "KEYWARD_BENCH_DATA="+filepath.Join(h.outDir, "data"))
	if h.opt.postgres != "" {
		cmd.Env = append(cmd.Env, "KEYWARD_TEST_POSTGRES="+h.opt.postgres)
	} else {
		h.res.Activity.Skipped = "no PostgreSQL server given"
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	progress("go test -bench EvaluateActivityHour ./db/ (seeds 100,000 keys × 30 days on its first run)")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test -bench EvaluateActivityHour: %w\n%s", err, out.String())
	}
	h.res.Activity.Runs = parseActivity(out.String())
	if len(h.res.Activity.Runs) == 0 {
		return fmt.Errorf("go test -bench EvaluateActivityHour printed no figures:\n%s", out.String())
	}
	return nil
}

// parseActivity reads the benchmark's result lines, per engine in the
// order they ran.
func parseActivity(out string) []activityRun {
	runs := map[string]*activityRun{}
	var order []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := reActivity.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		r, ok := runs[m[1]]
		if !ok {
			r = &activityRun{Engine: m[1]}
			runs[m[1]] = r
			order = append(order, m[1])
		}
		ns, _ := strconv.ParseFloat(m[3], 64)
		if m[2] == "first" {
			r.First = time.Duration(ns)
			r.KeysInHour, r.Alerts = metric(m[4], "keys_in_hour"), metric(m[4], "alerts")
		} else {
			r.Again = time.Duration(ns)
		}
	}
	var list []activityRun
	for _, e := range order {
		list = append(list, *runs[e])
	}
	return list
}

// metric reads a custom benchmark metric ("9000 keys_in_hour") from the
// rest of a result line.
func metric(rest, unit string) int64 {
	f := strings.Fields(rest)
	for i := 1; i < len(f); i++ {
		if f[i] == unit {
			n, _ := strconv.ParseFloat(f[i-1], 64)
			return int64(n)
		}
	}
	return 0
}

// writeActivitySummary adds the anomaly job's rows to the summary.
func (h *harness) writeActivitySummary(w func(string, ...any)) {
	for _, r := range h.res.Activity.Runs {
		worst := max(r.First, r.Again)
		w("| 13 | Anomaly job: one evaluation of an hour, 100,000 keys × 30 days of hourly buckets, %s (first %s, again %s) | %s | ≤ 2 s | %s |\n",
			engineLabel(r.Engine), ms(r.First), ms(r.Again), ms(worst), verdictMax(worst.Seconds(), activityTarget.Seconds(), " s"))
	}
}

// writeActivity is the anomaly job's section.
func (h *harness) writeActivity(w func(string, ...any)) {
	a := h.res.Activity
	w("## 13. Anomaly job\n\n")
	w("`BenchmarkEvaluateActivityHour` (db) evaluates the anomaly rules (spike, dormancy, dead key, many addresses)\n")
	w("over one hour of an installation with 100,000 keys and 30 days of hourly buckets: every key used in 2 hours\n")
	w("of each day, 2%% of keys busy every hour, 1%% revoked a week ago and half of those still presented, and in the\n")
	w("evaluated hour 100 spikes, 50 keys from 30 addresses and 100 returns after 40 days (about 7.5 million hourly\n")
	w("buckets, 3 million daily counts, 1.7 million address rows, seeded once into `bench/out/data`). *First* is the\n")
	w("hour's first evaluation, which opens its alerts; *again* is each 5-minute run after it, deciding the same\n")
	w("findings against those alerts. The job runs in the background, never on a request.\n\n")
	w("| Engine | Keys in the hour | Alerts opened | First | Again | Target |\n|---|---|---|---|---|---|\n")
	for _, r := range a.Runs {
		w("| %s | %d | %d | %s | %s | ≤ 2 s |\n", engineLabel(r.Engine), r.KeysInHour, r.Alerts, ms(r.First), ms(r.Again))
	}
	if a.Skipped != "" {
		w("\nPostgreSQL not measured: %s.\n", a.Skipped)
	}
}

func engineLabel(engine string) string {
	if engine == "postgres" {
		return "PostgreSQL"
	}
	return "SQLite"
}
