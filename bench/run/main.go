// Command run is Keyward's benchmark harness, driven by `make bench`. It
// builds the binary and the bench tools, seeds two databases, measures
// everything docs/benchmarks.md reports (verify throughput against a bare
// Echo server, usage freshness, revocation, pages at scale, sign-in under
// pressure, footprint, the same on PostgreSQL with two instances when a
// server is given, the notification outbox's throughput and its cost to
// the verify path, Go microbenchmarks) and writes that file. Everything
// runs on loopback and every load is bounded in time and count.
//
//	go run ./bench/run                 # what make bench runs
//	go run ./bench/run -profile        # CPU and allocation profiles of the
//	                                   # verify path under load, no report
//	go run ./bench/run -variants base=abc123,nojson=def456
//	                                   # also measure keyward built at those
//	                                   # commits, in the same rounds
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	out, doc       string
	rounds         int
	roundTime      time.Duration
	threads, conns int
	profile        bool
	phases         map[string]bool
	binary         string
	variants       string
	// postgres is the server the PostgreSQL phase uses (a postgres:// URL
	// of a role that may create databases); empty skips that phase.
	postgres string
}

// allPhases are the measurement steps, in the order they run.
var allPhases = []string{"footprint", "load", "pages", "postgres", "outbox", "refusals", "activity", "leaks", "micro"}

// harness carries the run's options, paths and results.
type harness struct {
	opt     options
	root    string // repository root
	outDir  string // absolute bench output directory
	wrkPath string
	// wrkKeys are the key lists wrk reads (valid, refused): the SQLite
	// seed's, or the PostgreSQL phase's while it runs.
	wrkKeys [2]string
	res     *results
	// variants are other builds measured beside this one (-variants).
	variants []variant
}

func (h *harness) path(name string) string { return filepath.Join(h.outDir, name) }

func main() {
	var o options
	flag.StringVar(&o.out, "out", "bench/out", "directory for binaries, databases, logs and profiles")
	flag.StringVar(&o.doc, "doc", "docs/benchmarks.md", "report to write")
	flag.IntVar(&o.rounds, "rounds", 5, "A/B rounds per endpoint (at least 3; one round varies by about ±0.08 on a shared 2-core machine, so the median of 5 is steadier)")
	flag.DurationVar(&o.roundTime, "round-time", 10*time.Second, "length of each wrk run")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.conns, "conns", 64, "wrk connections")
	flag.BoolVar(&o.profile, "profile", false, "profile the verify path under load instead of benchmarking")
	phases := flag.String("phases", strings.Join(allPhases, ","), "steps to run: footprint (with sign-in), load (throughput, freshness, revocation), pages, postgres (needs -postgres), outbox (notification throughput and the verify ratio with new-address webhooks), refusals (the verify ratio with 5% dead keys and refusal freshness), activity (the anomaly job over 100,000 keys), micro")
	flag.StringVar(&o.postgres, "postgres", firstSet(os.Getenv("KEYWARD_BENCH_POSTGRES"), os.Getenv("KEYWARD_TEST_POSTGRES")),
		"PostgreSQL server for the postgres phase: a postgres:// URL of a role that may create databases (default $KEYWARD_BENCH_POSTGRES, else $KEYWARD_TEST_POSTGRES; none skips the phase)")
	flag.StringVar(&o.binary, "binary", "", "measure this keyward binary instead of building one (for before/after comparisons)")
	flag.StringVar(&o.variants, "variants", "", "comma-separated NAME=REV: also build keyward at each git revision and measure it in the same throughput rounds and microbenchmark runs (e.g. with=HEAD~1)")
	flag.Parse()
	o.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if !slices.Contains(allPhases, p) {
				fmt.Fprintf(os.Stderr, "bench: unknown phase %q (want %s)\n", p, strings.Join(allPhases, ", "))
				os.Exit(2)
			}
			o.phases[p] = true
		}
	}
	if o.rounds < 3 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be at least 3")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	wrkPath, err := exec.LookPath("wrk")
	if err != nil {
		return errors.New("wrk is not installed: apt-get install wrk")
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return errors.New("run from the repository root (make bench does)")
	}
	outDir, err := filepath.Abs(o.out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return err
	}
	h := &harness{opt: o, root: root, outDir: outDir, wrkPath: wrkPath, res: &results{}}
	if h.variants, err = parseVariants(o.variants); err != nil {
		return err
	}
	start := time.Now()
	if err := h.environment(); err != nil {
		return err
	}
	if err := h.build(ctx); err != nil {
		return err
	}
	if err := h.seed(ctx); err != nil {
		return err
	}
	if o.profile {
		return h.profile(ctx)
	}
	steps := []struct {
		phase, name string
		fn          func(context.Context) error
	}{
		{"footprint", "footprint and sign-in", h.footprint},
		{"load", "verify load, freshness and revocation", h.verifyLoad},
		{"pages", "pages at scale", h.pages},
		{"postgres", "PostgreSQL", h.postgres},
		{"outbox", "notifications", h.outbox},
		{"refusals", "refusals counted per key", h.refusals},
		{"activity", "anomaly job", h.activity},
		{"leaks", "leak reports", h.leakReports},
		{"micro", "microbenchmarks", h.micro},
	}
	for _, s := range steps {
		if !o.phases[s.phase] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		h.phase(s.name)
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	h.res.Elapsed = time.Since(start)
	h.res.LoadAfter = loadAvg()
	if err := h.writeReport(); err != nil {
		return err
	}
	progress("wrote %s in %s", o.doc, h.res.Elapsed.Round(time.Second))
	return nil
}

// phase announces a step and notes the machine's load average at its start.
func (h *harness) phase(name string) {
	l := loadAvg()
	h.res.Phases = append(h.res.Phases, phaseLoad{Name: name, Load1: l})
	progress("==> %s (load average %s)", name, l)
}

// firstSet returns the first non-empty value.
func firstSet(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// environment records what the numbers were measured on, and how busy the
// machine was before anything of ours ran.
func (h *harness) environment() error {
	r := h.res
	r.Date = time.Now().UTC()
	r.Cores = runtime.NumCPU()
	r.CPU = cpuModel()
	if out, err := exec.Command("go", "version").Output(); err == nil {
		r.GoVersion = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		r.Kernel = strings.TrimSpace(string(b))
	}
	r.Commit = gitCommit(h.root)
	r.LoadBefore = loadAvg()
	busy, err := cpuBusy(3 * time.Second)
	if err != nil {
		return err
	}
	r.BusyBefore = busy
	progress("environment: %s, %d cores, %s, commit %s; load average %s, CPU %.0f%% busy before start",
		r.CPU, r.Cores, r.GoVersion, r.Commit, r.LoadBefore, busy*100)
	return nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// gitCommit reads the commit without touching git state: no index refresh
// (GIT_OPTIONAL_LOCKS=0), nothing written.
func gitCommit(root string) string {
	env := append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
	cmd := exec.Command("git", "rev-parse", "--short=12", "HEAD")
	cmd.Dir, cmd.Env = root, env
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	cmd = exec.Command("git", "status", "--porcelain", "--untracked-files=no")
	cmd.Dir, cmd.Env = root, env
	if st, err := cmd.Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		commit += " (with uncommitted changes)"
	}
	return commit
}

// buildTimeout bounds one go build. A cold -trimpath build compiles
// modernc.org/sqlite's generated C translation, which on a 2-core machine
// other work keeps busy took over 5 minutes.
const buildTimeout = 15 * time.Minute

// build compiles Keyward as `make build` does (stripped), once more
// unstripped for the size comparison, and the bench tools.
func (h *harness) build(ctx context.Context) error {
	h.phase("build")
	env := os.Environ()
	builds := [][]string{
		{"build", "-trimpath", "-ldflags", "-s -w -X main.version=bench", "-o", h.path("keyward"), "."},
		{"build", "-trimpath", "-ldflags", "-X main.version=bench", "-o", h.path("keyward-full"), "."},
		{"build", "-o", h.path("bare"), "./bench/bare"},
		{"build", "-o", h.path("seed"), "./bench/seed"},
	}
	if h.opt.binary != "" {
		b, err := os.ReadFile(h.opt.binary)
		if err != nil {
			return err
		}
		if err := os.WriteFile(h.path("keyward"), b, 0o700); err != nil {
			return err
		}
		_ = os.Remove(h.path("keyward-full"))
		builds = builds[2:]
	}
	if h.opt.profile {
		builds = append(builds, []string{"build", "-o", h.path("profserve"), "./bench/profserve"})
	}
	for _, args := range builds {
		if err := runCmd(ctx, buildTimeout, h.root, env, "go", args...); err != nil {
			return err
		}
	}
	return h.buildVariants(ctx)
}
