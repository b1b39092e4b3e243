package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stackBenches are the whole-stack benchmarks that variantMicro compares
// across builds: one request through every middleware, the router and the
// handler, without the network, behind a trusted proxy with
// X-Forwarded-For as in the load test. They live in variantBenchFile,
// which is copied into every build, so that all builds run the same code.
var stackBenches = []string{"BenchmarkVariantVerify", "BenchmarkVariantForwardAuth"}

const variantBenchFile = "bench/run/testdata/variant_bench_test.go.txt"

// The two run lengths of variantMicro: the difference of their CPU times
// is the cost of stackBig-stackSmall requests, free of the set-up (a
// SQLite database, a server) that every run pays once.
const stackSmall, stackBig = 5_000, 50_000

// variantMicro measures the CPU time one request costs in-process, for the
// current build and every variant: each build's web test binary runs each
// Stack benchmark for stackSmall and stackBig iterations, and the CPU time
// the process used (user + system, from its rusage) is compared. Unlike
// ns/op, which is wall time, this does not grow when other work on the
// machine takes the CPU away. Builds take turns, rounds times.
//
// The current build is HEAD, extracted like the variants: uncommitted
// changes are not measured here.
func (h *harness) variantMicro(ctx context.Context) error {
	cur := variant{Name: "current", Rev: "HEAD", Dir: h.path("src-current")}
	if err := os.RemoveAll(cur.Dir); err != nil {
		return err
	}
	if err := os.MkdirAll(cur.Dir, 0o700); err != nil {
		return err
	}
	if err := gitExtract(ctx, h.root, cur.Rev, cur.Dir); err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(h.root, variantBenchFile))
	if err != nil {
		return err
	}
	builds := append([]variant{cur}, h.variants...)
	bins := map[string]string{}
	for _, b := range builds {
		if err := os.WriteFile(filepath.Join(b.Dir, "web", "zz_variant_bench_test.go"), src, 0o600); err != nil {
			return err
		}
		bin := h.path("stack-" + b.Name + ".test")
		progress("variant micro: building %s's web tests", b.Name)
		if err := runCmd(ctx, buildTimeout, b.Dir, os.Environ(), "go", "test", "-c", "-o", bin, "./web/"); err != nil {
			return fmt.Errorf("variant %s: %w", b.Name, err)
		}
		bins[b.Name] = bin
	}
	for r := range h.opt.rounds {
		for _, b := range builds {
			for _, bench := range stackBenches {
				small, _, err := runStack(ctx, bins[b.Name], filepath.Join(b.Dir, "web"), bench, stackSmall)
				if err != nil {
					return fmt.Errorf("variant %s: %w", b.Name, err)
				}
				big, res, err := runStack(ctx, bins[b.Name], filepath.Join(b.Dir, "web"), bench, stackBig)
				if err != nil {
					return fmt.Errorf("variant %s: %w", b.Name, err)
				}
				res.Pkg, res.Name = b.Name, bench
				res.NsOp = float64(big-small) / float64(stackBig-stackSmall)
				h.res.VariantMicro = append(h.res.VariantMicro, res)
				progress("variant micro round %d: %s %s: %.0f ns CPU/op", r+1, b.Name, bench, res.NsOp)
			}
		}
	}
	return nil
}

// runStack runs one Stack benchmark for n iterations and returns the CPU
// time the test process used, with its -benchmem figures.
func runStack(ctx context.Context, bin, dir, bench string, n int) (time.Duration, microResult, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, bin, "-test.run", "^$", "-test.bench", "^"+bench+"$",
		"-test.benchtime", strconv.Itoa(n)+"x", "-test.benchmem", "-test.count", "1")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, microResult{}, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), bench, err, out)
	}
	var res microResult
	for _, line := range splitLines(string(out)) {
		if m := reBench.FindStringSubmatch(line); m != nil {
			res.N, _ = strconv.ParseInt(m[2], 10, 64)
			res.BOp, _ = strconv.ParseFloat(m[4], 64)
			res.AllocsOp, _ = strconv.ParseFloat(m[5], 64)
		}
	}
	if res.N != int64(n) {
		return 0, res, fmt.Errorf("%s %s: no result for %d iterations in\n%s", filepath.Base(bin), bench, n, out)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), res, nil
}

// writeVariantMicro reports the in-process CPU time per request of every
// build: the median over the rounds, with the lowest and highest, and the
// difference from the current build; B/op and allocs/op do not vary.
func (h *harness) writeVariantMicro(w func(string, ...any)) {
	if len(h.res.VariantMicro) == 0 {
		return
	}
	w("\nIn-process CPU per request of every build compared (`-variants`; the current build is HEAD): each build's\n")
	w("`web` test binary, with `%s` added, runs each benchmark (a valid key, behind a trusted proxy\n", variantBenchFile)
	w("with `X-Forwarded-For`, as in the load test) for %d and for %d requests, and the difference of the CPU time the process used\n", stackSmall, stackBig)
	w("(user + system, from its rusage; set-up cancels out) is divided by %d. Builds take turns, %d rounds;\n", stackBig-stackSmall, h.opt.rounds)
	w("the median, with the lowest and highest round, and Δ against the current build.\n\n")
	w("| Benchmark | Build | Commit | Median CPU ns/op (range) | Δ ns/op | B/op | allocs/op |\n|---|---|---|---|---|---|---|\n")
	for _, bench := range stackBenches {
		var cur float64
		for _, name := range h.variantNames() {
			var ns []float64
			var last microResult
			for _, m := range h.res.VariantMicro {
				if m.Pkg == name && m.Name == bench {
					ns = append(ns, m.NsOp)
					last = m
				}
			}
			if len(ns) == 0 {
				continue
			}
			med := median(ns)
			if name == "current" {
				cur = med
			}
			w("| %s | %s | %s | %.0f (%.0f–%.0f) | %+.0f | %.0f | %.0f |\n", bench, name, h.variantRev(name),
				med, slices.Min(ns), slices.Max(ns), med-cur, last.BOp, last.AllocsOp)
		}
	}
}

func splitLines(s string) []string { return strings.Split(s, "\n") }
