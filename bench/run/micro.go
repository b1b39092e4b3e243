package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// microSets are the Go benchmarks the report includes, per package.
var microSets = []struct{ pkg, pattern, about string }{
	{"./db/", "^(BenchmarkParseAndHash|BenchmarkVerifyCacheHit|BenchmarkVerifyCacheHitAllowlist|BenchmarkRecordUse)$",
		"key parse + SHA-256, a cached verification (parallel), recording a use"},
	{"./views/", "^BenchmarkKeysPage$", "rendering /keys with 25 rows"},
	{"./handlers/", "^(BenchmarkAPIVerify|BenchmarkAPIForwardAuth)$",
		"the API handlers through Echo's router, no middleware"},
	{"./web/", "^(BenchmarkStackVerify|BenchmarkStackForwardAuth)$",
		"the API through the whole server: middleware, router, handler"},
}

var reBench = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+([0-9.]+) ns/op(?:\s+([0-9.]+) B/op)?(?:\s+([0-9.]+) allocs/op)?`)

// micro runs the microbenchmarks with -benchmem, one package at a time.
func (h *harness) micro(ctx context.Context) error {
	for _, set := range microSets {
		progress("go test -bench %s", set.pkg)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		cmd := exec.CommandContext(cctx, "go", "test", "-run", "^$", "-bench", set.pattern, "-benchmem", "-count", "1", set.pkg)
		cmd.Dir = h.root
		cmd.Env = os.Environ()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if err != nil {
			return fmt.Errorf("go test -bench %s: %w\n%s", set.pkg, err, out.String())
		}
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			m := reBench.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			r := microResult{Pkg: strings.Trim(set.pkg, "./"), Name: m[1]}
			r.N, _ = strconv.ParseInt(m[2], 10, 64)
			r.NsOp, _ = strconv.ParseFloat(m[3], 64)
			r.BOp, _ = strconv.ParseFloat(m[4], 64)
			r.AllocsOp, _ = strconv.ParseFloat(m[5], 64)
			h.res.Micro = append(h.res.Micro, r)
		}
	}
	if len(h.variants) > 0 {
		return h.variantMicro(ctx)
	}
	return nil
}
