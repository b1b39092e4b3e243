package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// variant is Keyward built from another git revision and measured beside
// the current build in the same rounds (-variants). It is how a hand-written
// optimisation is held to its figure: build the commit before it was
// removed (or added) and compare, under the same load at the same moments.
type variant struct {
	Name, Rev string
	Dir       string // the revision's source tree, from git archive
	Binary    string
}

var variantName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// parseVariants reads -variants: comma-separated NAME=REV pairs, where REV
// is anything git rev-parse accepts (a commit, a tag, HEAD~3).
func parseVariants(s string) ([]variant, error) {
	var out []variant
	seen := map[string]bool{"current": true}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, rev, ok := strings.Cut(part, "=")
		if !ok || !variantName.MatchString(name) || rev == "" {
			return nil, fmt.Errorf("-variants: %q is not NAME=REV (NAME in lower-case letters, digits and -)", part)
		}
		if seen[name] {
			return nil, fmt.Errorf("-variants: the name %q is used twice (or is the current build's)", name)
		}
		seen[name] = true
		out = append(out, variant{Name: name, Rev: rev})
	}
	return out, nil
}

// buildVariants extracts each revision with git archive (the work tree and
// the index are left alone) and builds it as `make build` does.
func (h *harness) buildVariants(ctx context.Context) error {
	for i := range h.variants {
		v := &h.variants[i]
		full, err := exec.CommandContext(ctx, "git", "rev-parse", "--verify", v.Rev+"^{commit}").Output()
		if err != nil {
			return fmt.Errorf("variant %s: %q is not a commit: %w", v.Name, v.Rev, err)
		}
		v.Rev = strings.TrimSpace(string(full))[:12]
		v.Dir = h.path("src-" + v.Name)
		if err := os.RemoveAll(v.Dir); err != nil {
			return err
		}
		if err := os.MkdirAll(v.Dir, 0o700); err != nil {
			return err
		}
		if err := gitExtract(ctx, h.root, v.Rev, v.Dir); err != nil {
			return fmt.Errorf("variant %s: %w", v.Name, err)
		}
		v.Binary = h.path("keyward-" + v.Name)
		progress("variant %s: building %s", v.Name, v.Rev)
		if err := runCmd(ctx, buildTimeout, v.Dir, os.Environ(), "go", "build", "-trimpath",
			"-ldflags", "-s -w -X main.version=bench-"+v.Name, "-o", v.Binary, "."); err != nil {
			return fmt.Errorf("variant %s: %w", v.Name, err)
		}
	}
	return nil
}

// gitExtract writes the tree of rev into dir (git archive piped to tar).
func gitExtract(ctx context.Context, root, rev, dir string) error {
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", rev)
	archive.Dir = root
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	var errs strings.Builder
	archive.Stderr, untar.Stderr = &errs, &errs
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		_ = untar.Wait() // the archive's error is the news
		return fmt.Errorf("git archive %s: %w: %s", rev, err, errs.String())
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("tar: %w: %s", err, errs.String())
	}
	return nil
}

// copyDB copies a closed SQLite database (the seed's) to dst, so that each
// variant records its usage in a file of its own and the usage accounting
// of the current build stays exact.
func copyDB(src, dst string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(dst + suffix); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	for _, suffix := range []string{"", "-wal"} {
		in, err := os.Open(src + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		if err != nil {
			return err
		}
		out, err := os.OpenFile(dst+suffix, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			in.Close()
			return err
		}
		_, err = io.Copy(out, in)
		in.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// startVariants starts one server per variant, each on its own copy of
// the verify database, and prechecks it like the current build.
func (h *harness) startVariants(copies map[string]string) ([]*server, error) {
	var out []*server
	for _, v := range h.variants {
		s, err := h.startKeywardBinary(v.Binary, "keyward-verify-"+v.Name, copies[v.Name])
		if err != nil {
			return out, err
		}
		out = append(out, s)
		if _, err := s.waitHealthy(10 * time.Second); err != nil {
			return out, err
		}
		if err := h.precheck(s); err != nil {
			return out, fmt.Errorf("variant %s: %w", v.Name, err)
		}
	}
	return out, nil
}

// variantNames is the current build followed by every variant, as the
// report lists them.
func (h *harness) variantNames() []string {
	names := []string{"current"}
	for _, v := range h.variants {
		names = append(names, v.Name)
	}
	return names
}

func (h *harness) variantRev(name string) string {
	for _, v := range h.variants {
		if v.Name == name {
			return v.Rev
		}
	}
	return h.res.Commit
}

// variantsDBCopies copies the seeded verify database for every variant
// before any server has touched it.
func (h *harness) variantsDBCopies() (map[string]string, error) {
	copies := map[string]string{}
	for _, v := range h.variants {
		dst := filepath.Join(h.outDir, "verify-"+v.Name+".db")
		if err := copyDB(h.path("verify.db"), dst); err != nil {
			return nil, fmt.Errorf("variant %s: copy database: %w", v.Name, err)
		}
		copies[v.Name] = dst
	}
	return copies, nil
}

// writeVariants reports every build's throughput against the bare server
// and its CPU per request, per endpoint: medians over the rounds, with each
// round's value, and the difference from the current build.
func (h *harness) writeVariants(w func(string, ...any), t endpointResult) {
	if len(h.variants) == 0 {
		return
	}
	w("Builds compared in the same rounds (`-variants`; each ran right after the current build and before\n")
	w("the bare server, on its own copy of the seeded database). Δ is against the current build: a positive\n")
	w("ratio Δ means that build is faster, a positive CPU Δ that it spends more per request.\n\n")
	w("| Build | Commit | Median ratio (each round) | Δ ratio | Median CPU/req (each round) | Δ CPU/req |\n|---|---|---|---|---|---|\n")
	cur := t.variantStats(-1)
	for i, name := range h.variantNames() {
		st := t.variantStats(i - 1)
		w("| %s | %s | %.3f (%s) | %+.3f | %s (%s) | %+.1f%% |\n", name, h.variantRev(name),
			st.ratio, joinFloats(st.ratios), st.ratio-cur.ratio, us(st.cpu), joinDurations(st.cpus),
			100*(float64(st.cpu)-float64(cur.cpu))/float64(cur.cpu))
	}
	w("\n")
}

type buildStats struct {
	ratios []float64
	cpus   []time.Duration
	ratio  float64
	cpu    time.Duration
}

// variantStats summarizes build i of every round: -1 is the current build,
// 0… the variants.
func (t endpointResult) variantStats(i int) buildStats {
	var st buildStats
	for _, rd := range t.Rounds {
		res := rd.Keyward
		if i >= 0 {
			res = rd.Variants[i]
		}
		st.ratios = append(st.ratios, res.RPS/rd.Bare.RPS)
		st.cpus = append(st.cpus, res.CPUPerReq)
	}
	st.ratio, st.cpu = median(st.ratios), median(st.cpus)
	return st
}

func joinFloats(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(s, ", ")
}

func joinDurations(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond)))
	}
	return strings.Join(s, ", ") + " µs"
}
